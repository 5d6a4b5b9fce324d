"""Serializers of the policies API."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers
from rest_framework.settings import api_settings

from accounts.models import Account, Group, Organization, Product
from policies.models import AccessRequest, Enforcement, Exemption, InactivityPolicy, PolicyMode
from policies.models.policies import POLICY_SCOPE, POLICY_SETTINGS
from policies.selectors.preview import SHOW_CHOICES
from policies.services.policies import validate_policy, validate_templates


class PolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = InactivityPolicy
        fields: tuple[str, ...] = (
            "id",
            "organization",
            "name",
            "mode",
            *POLICY_SCOPE,
            *POLICY_SETTINGS,
            "created_at",
            "updated_at",
        )
        read_only_fields: tuple[str, ...] = fields


def _field_errors(exc: DjangoValidationError) -> serializers.ValidationError:
    """A model's ValidationError as DRF's 400: field by field, ``non_field_errors`` for the rest."""
    return serializers.ValidationError(
        {(api_settings.NON_FIELD_ERRORS_KEY if k == "__all__" else k): v for k, v in exc.message_dict.items()}
    )


_M2M = ("products", "include_groups", "exclude_groups")


class PolicyWriteSerializer(PolicySerializer):
    """Create (POST) or change (PUT/PATCH) a policy with the admin's rules: the model's, the email
    templates', a valid cron, products and groups of the policy's organization; a new policy starts
    in preview, and its organization never changes."""

    organization = serializers.PrimaryKeyRelatedField(queryset=Organization.objects.all())
    products = serializers.PrimaryKeyRelatedField(many=True, queryset=Product.objects.all(), required=False)
    include_groups = serializers.PrimaryKeyRelatedField(many=True, queryset=Group.objects.all(), required=False)
    exclude_groups = serializers.PrimaryKeyRelatedField(many=True, queryset=Group.objects.all(), required=False)
    reason = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=1000, help_text="Recorded with the change."
    )

    class Meta(PolicySerializer.Meta):
        fields = (*PolicySerializer.Meta.fields, "reason")
        read_only_fields = ("id", "created_at", "updated_at")

    def validate(self, attrs):
        instance = self.instance
        if instance is None and attrs.get("mode", PolicyMode.PREVIEW) != PolicyMode.PREVIEW:
            raise serializers.ValidationError(
                {"mode": "A new policy starts in preview: read its preview, then change its mode."}
            )
        if instance is not None and "organization" in attrs and attrs["organization"] != instance.organization:
            raise serializers.ValidationError({"organization": "A policy's organization never changes."})
        policy = InactivityPolicy.objects.get(pk=instance.pk) if instance else InactivityPolicy()
        m2m = {name: attrs[name] for name in _M2M if name in attrs}
        for name, value in attrs.items():
            if name not in _M2M and name != "reason":
                setattr(policy, name, value)
        if instance is None:
            policy.mode = PolicyMode.PREVIEW
        try:
            policy.full_clean()
            validate_templates(policy)
            validate_policy(policy, m2m)
        except DjangoValidationError as exc:
            raise _field_errors(exc) from None
        self._unsaved = (policy, m2m)
        return attrs

    def unsaved(self) -> tuple[InactivityPolicy, dict]:
        """The validated policy (not saved) and its many-to-many values, for ``policy_save``."""
        return self._unsaved


class ExemptionSerializer(serializers.ModelSerializer):
    """Exactly one of ``account``, ``group``, ``email_pattern``; ``policy`` empty means every policy."""

    organization = serializers.PrimaryKeyRelatedField(queryset=Organization.objects.all())
    policy = serializers.PrimaryKeyRelatedField(
        queryset=InactivityPolicy.objects.all(), allow_null=True, required=False
    )
    account = serializers.PrimaryKeyRelatedField(queryset=Account.objects.all(), allow_null=True, required=False)
    group = serializers.PrimaryKeyRelatedField(queryset=Group.objects.all(), allow_null=True, required=False)
    state = serializers.SerializerMethodField()

    class Meta:
        model = Exemption
        fields = (
            "id",
            "organization",
            "kind",
            "policy",
            "account",
            "group",
            "email_pattern",
            "reason",
            "expires_at",
            "state",
            "created_by",
            "created_at",
        )
        read_only_fields = ("id", "state", "created_by", "created_at")

    def get_state(self, obj) -> str:
        return "active" if obj.expires_at is None or obj.expires_at > timezone.now() else "expired"

    def validate(self, attrs):
        """The model's own rules (Exemption.clean: one subject, a reason, a future expiry, one
        organization), reported field by field like DRF's own errors."""
        exemption = Exemption(**attrs)
        try:
            exemption.full_clean(exclude=["created_by"])
        except DjangoValidationError as exc:
            raise _field_errors(exc) from None
        self._unsaved = exemption
        return attrs

    def unsaved(self) -> Exemption:
        """The validated, unsaved exemption, for ``exemption_create``."""
        return self._unsaved


class EnforcementSerializer(serializers.ModelSerializer):
    """A policy's decision about one account. The restore-link nonce is never shown."""

    class Meta:
        model = Enforcement
        fields = (
            "id",
            "policy",
            "account",
            "status",
            "action",
            "reason",
            "inactive_since",
            "due_at",
            "warned_at",
            "warnings_sent",
            "executed_at",
            "removed",
            "error",
            "attempts",
            "run",
            "executed_run",
            "decided_by",
            "decision_note",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class AccessRequestSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccessRequest
        fields = (
            "id",
            "account",
            "enforcement",
            "kind",
            "email",
            "justification",
            "restores",
            "status",
            "decision_reason",
            "decided_by",
            "decided_at",
            "expires_at",
            "fulfilled_at",
            "attempts",
            "error",
            "correlation_id",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, help_text="Recorded in the audit trail.")


class OptionalReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, default="", help_text="Recorded in the audit trail."
    )


class ExportQuerySerializer(serializers.Serializer):
    organization = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(),
        required=False,
        help_text="The organization's id; may be left out when the portal mirrors only one.",
    )


class ImportRequestSerializer(ExportQuerySerializer):
    document = serializers.JSONField(help_text="A document from GET /api/policies/export/ (of any portal).")
    dry_run = serializers.BooleanField(
        default=True, help_text="true (the default): only say what would change. false: change it."
    )
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class ImportItemSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=(("policy", "policy"), ("exemption", "exemption")))
    name = serializers.CharField()
    outcome = serializers.ChoiceField(choices=(("create", "create"), ("change", "change"), ("unchanged", "unchanged")))
    changes = serializers.DictField(
        child=serializers.ListField(), help_text="For a change: each field's [current, imported] value."
    )


class ImportResultSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    applied = serializers.BooleanField()
    counts = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))
    items = ImportItemSerializer(many=True)


class ApproveSerializer(ReasonSerializer):
    remove_shared_groups = serializers.BooleanField(
        default=False,
        help_text="For product removals whose product comes through a group that also grants another product or an "
        "admin role: remove such groups anyway (the account loses all they grant). Without it such an item is "
        "refused (409) with the reason.",
    )


class PolicyRunRequestSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(default=False, help_text="Report what would happen, change nothing.")


class PolicyRunResultSerializer(serializers.Serializer):
    run = serializers.IntegerField(source="run.pk", help_text="The run's id (GET /api/runs/{id}/).")
    status = serializers.CharField(help_text="succeeded, refused (stale sync, run in progress) or halted (cap).")
    counts = serializers.DictField(child=serializers.IntegerField())
    message = serializers.CharField()
    correlation_id = serializers.CharField(source="run.correlation_id")


class DecisionOutcomeSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="What became of the item.")


class EnforcementDecisionSerializer(DecisionOutcomeSerializer):
    enforcement = EnforcementSerializer()


class AccessRequestDecisionSerializer(serializers.Serializer):
    access_request = AccessRequestSerializer()


# --- preview ---------------------------------------------------------------------------------------
class PreviewQuerySerializer(serializers.Serializer):
    show = serializers.ChoiceField(choices=SHOW_CHOICES, default="all", required=False)
    offset = serializers.IntegerField(min_value=0, max_value=10_000_000, default=0, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100, required=False)


class PreviewRowSerializer(serializers.Serializer):
    account = serializers.IntegerField(source="account_pk")
    account_id = serializers.CharField()
    name = serializers.CharField()
    email = serializers.CharField()
    managed = serializers.BooleanField()
    today = serializers.CharField(
        help_text="act, warn, cancel, wait (an import changed the account and no sync has confirmed it yet: "
        "a run leaves it alone), or empty: nothing today."
    )
    warned_at = serializers.DateTimeField(allow_null=True, help_text="An earlier warning (open enforcement).")
    warn_on = serializers.DateTimeField(allow_null=True, help_text="First warning within the horizon.")
    act_on = serializers.DateTimeField(allow_null=True, help_text="The action, if within the horizon.")
    due_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()
    products = serializers.ListField(child=serializers.CharField())
    needs_review = serializers.CharField(
        help_text="A product removal that frees no seat as planned, and why: the product comes through a group that "
        "also grants something else. Nothing is removed; the case goes to the review queue. Empty otherwise."
    )


class SeatSerializer(serializers.Serializer):
    product = serializers.CharField()
    today = serializers.IntegerField(help_text="Seats today's actions free.")
    horizon = serializers.IntegerField(help_text="Seats the actions within the horizon free.")
    seats_used = serializers.IntegerField(allow_null=True)
    seats_total = serializers.IntegerField(allow_null=True)
    needs_review_today = serializers.IntegerField(help_text="Acted on today, but the seat is not freed: needs review.")
    needs_review_horizon = serializers.IntegerField(help_text="The same within the horizon.")
    price_per_month = serializers.DecimalField(
        source="price.monthly",
        max_digits=12,
        decimal_places=2,
        allow_null=True,
        default=None,
        help_text="Price of one seat per month; null: no price is set for this product.",
    )
    currency = serializers.CharField(source="price.currency", allow_null=True, default=None)
    saving_per_month = serializers.DecimalField(
        source="monthly_horizon",
        max_digits=14,
        decimal_places=2,
        allow_null=True,
        help_text="What the seats freed within the horizon save per month (null: no price).",
    )
    saving_per_year = serializers.DecimalField(
        source="yearly_horizon", max_digits=16, decimal_places=2, allow_null=True
    )


class SavingSerializer(serializers.Serializer):
    currency = serializers.CharField()
    today_per_month = serializers.DecimalField(source="today", max_digits=16, decimal_places=2)
    per_month = serializers.DecimalField(source="monthly", max_digits=16, decimal_places=2)
    per_year = serializers.DecimalField(source="yearly", max_digits=18, decimal_places=2)


class PreviewSerializer(serializers.Serializer):
    """What the policy would decide now, and over the next days (the admin's preview page)."""

    policy = serializers.IntegerField(source="policy.pk")
    mode = serializers.CharField(source="policy.mode")
    now = serializers.DateTimeField()
    horizon_days = serializers.IntegerField()
    fresh = serializers.BooleanField(help_text="Whether the last complete sync is recent enough to act on.")
    stale_reason = serializers.CharField()
    scope_size = serializers.IntegerField()
    cap = serializers.IntegerField()
    over_cap = serializers.BooleanField(help_text="An enforcing run now would halt before acting.")
    today_counts = serializers.DictField(child=serializers.IntegerField())
    horizon_counts = serializers.DictField(child=serializers.IntegerField())
    seats = SeatSerializer(many=True)
    savings = SavingSerializer(
        many=True,
        source="saving_lines",
        help_text="Money the freed seats save, one entry per currency (never added across currencies): by today's "
        "actions, and by those within the horizon.",
    )
    products_without_price = serializers.ListField(
        child=serializers.CharField(), source="savings_horizon.unpriced_products"
    )
    show = serializers.CharField()
    count = serializers.IntegerField(help_text="Decisions shown for `show`, over all pages.")
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    decisions = PreviewRowSerializer(many=True)

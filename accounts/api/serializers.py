"""Serializers of the mirror's API. Reads only, apart from the bulk action request."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from accounts.bulk import BULK_ACTIONS, BulkActionError, bulk_options
from accounts.end_dates import parse_end_date
from accounts.filtersets import AccountFilterSet
from accounts.models import (
    AccessEndStatus,
    Account,
    Group,
    GroupProductGrant,
    Membership,
    MembershipEnd,
    Organization,
    Product,
    ProductAccess,
)
from governance.api.filters import MAX_ID
from governance.runs.models import TaskRun

# Most account ids one request may name; larger selections go by ``filters``.
BULK_MAX_IDS = 100_000


class ProductAccessSerializer(serializers.ModelSerializer):
    product_key = serializers.CharField(source="product.key", read_only=True)
    product_name = serializers.CharField(source="product.name", read_only=True)

    class Meta:
        model = ProductAccess
        fields = ("product", "product_key", "product_name", "last_active", "granted")
        read_only_fields = fields


class AccountGroupSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="group.id", read_only=True)
    group_id = serializers.CharField(source="group.group_id", read_only=True)
    name = serializers.CharField(source="group.name", read_only=True)

    class Meta:
        model = Membership
        fields = ("id", "group_id", "name")
        read_only_fields = fields


class AccessEndSerializer(serializers.ModelSerializer):
    """A membership given until a date; ``expire_access`` removes it then."""

    group = serializers.CharField(source="group.name", read_only=True)
    group_pk = serializers.IntegerField(source="group.id", read_only=True)

    class Meta:
        model = MembershipEnd
        fields = ("id", "group", "group_pk", "expires_at", "extension_status")
        read_only_fields = fields


class AccountSerializer(serializers.ModelSerializer):
    """An account with its product access and groups (prefetched per page: no query per row)."""

    products = ProductAccessSerializer(source="product_access", many=True, read_only=True)
    groups = AccountGroupSerializer(source="memberships", many=True, read_only=True)
    access_ends = AccessEndSerializer(
        source="membership_ends",
        many=True,
        read_only=True,
        help_text="Memberships given until a date (scheduled ends only), earliest first.",
    )
    access_until = serializers.SerializerMethodField(help_text="The earliest scheduled end, or null.")

    class Meta:
        model = Account
        fields = (
            "id",
            "organization",
            "account_id",
            "email",
            "name",
            "account_type",
            "status",
            "status_changed_at",
            "managed",
            "is_org_admin",
            "management_source",
            "added_to_org",
            "last_active",
            "billable",
            "licence_group_count",
            "restored_at",
            "first_seen_at",
            "last_synced_at",
            "products",
            "groups",
            "access_ends",
            "access_until",
            "return_on",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_access_until(self, obj) -> str | None:
        ends = [end for end in obj.membership_ends.all() if end.status == AccessEndStatus.SCHEDULED]
        return min(ends, key=lambda end: end.expires_at).expires_at.isoformat() if ends else None


class ReturnDateSerializer(serializers.Serializer):
    """``POST /api/accounts/{id}/return-date/``: the day the portal gives back what it took."""

    return_on = serializers.DateField(
        allow_null=True,
        help_text="YYYY-MM-DD, today or later (in the portal's TIME_ZONE); null clears the return date.",
    )
    reason = serializers.CharField(max_length=500, help_text="Recorded in the audit trail.")


class GroupGrantSerializer(serializers.ModelSerializer):
    product_key = serializers.CharField(source="product.key", read_only=True)

    class Meta:
        model = GroupProductGrant
        fields = ("product", "product_key", "roles")
        read_only_fields = fields


class GroupSerializer(serializers.ModelSerializer):
    grants = GroupGrantSerializer(many=True, read_only=True)

    class Meta:
        model = Group
        fields = (
            "id",
            "organization",
            "group_id",
            "name",
            "description",
            "directory_id",
            "external_synced",
            "managed_by",
            "member_count",
            "is_licence_group",
            "removed_at",
            "grants",
        )
        read_only_fields = fields


class MembershipSerializer(serializers.ModelSerializer):
    class Meta:
        model = Membership
        fields = ("id", "account", "group", "first_seen_at")
        read_only_fields = fields


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ("id", "organization", "key", "resource_id", "name", "seats_total", "seats_used", "seats_synced_at")
        read_only_fields = fields


class OrganizationSerializer(serializers.ModelSerializer):
    """Never the stored credentials: not even whether one is set beyond ``credentials_from_env``."""

    class Meta:
        model = Organization
        fields = (
            "id",
            "org_id",
            "name",
            "api_base",
            "site_url",
            "cloud_id",
            "directory_id",
            "credentials_from_env",
            "last_complete_sync_at",
            "created_at",
        )
        read_only_fields = fields


# --- bulk actions --------------------------------------------------------------------------------------
class FilterValueField(serializers.CharField):
    """A query-string value: text, a number, or a JSON boolean (``true`` means ``"true"``)."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return "true" if data else "false"
        return super().to_internal_value(data)


class BulkActionRequestSerializer(serializers.Serializer):
    """Which accounts (``account_ids``, or ``filters``: the account list's query parameters, as the
    admin's "select all N matching"), which action, and why."""

    action = serializers.ChoiceField(choices=[(name, spec.label) for name, spec in BULK_ACTIONS.items()])
    reason = serializers.CharField(max_length=1000, help_text="Recorded in the audit trail of every account.")
    account_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        min_length=1,
        max_length=BULK_MAX_IDS,
        help_text="Accounts by their portal id (`id`). Give this or `filters`.",
    )
    filters = serializers.DictField(
        child=FilterValueField(allow_blank=True, max_length=300),
        required=False,
        help_text="The accounts matching these filters of GET /api/accounts/ (e.g. "
        '`{"inactivity": "gt180", "managed": "true"}`), evaluated now. Give this or `account_ids`.',
    )
    group = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="For add_to_group and remove_from_group."
    )
    product = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="For remove_product_access."
    )
    expires_at = serializers.DateTimeField(
        required=False,
        help_text="For add_to_group: the membership is given until then (warned 7 and 1 days ahead, "
        "removed on the day by expire_access). UTC when no zone is given.",
    )

    def __init__(self, *args, now=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now

    def validate_filters(self, value):
        if not any(str(v).strip() for v in value.values()):
            raise serializers.ValidationError("Give at least one filter; to act on every account, say so by filter.")
        filterset = AccountFilterSet(value, queryset=Account.objects.all(), now=self.now)
        if not filterset.is_valid():
            raise serializers.ValidationError({name: list(errors) for name, errors in filterset.errors.items()})
        unknown = sorted(set(value) - set(filterset.filters))
        if unknown:
            raise serializers.ValidationError({name: ["Not a filter of the account list."] for name in unknown})
        self.filterset = filterset
        return value

    def validate(self, attrs):
        if ("account_ids" in attrs) == ("filters" in attrs):
            raise serializers.ValidationError({"account_ids": ["Give either account_ids or filters (not both)."]})
        spec = BULK_ACTIONS[attrs["action"]]
        if spec.needs and attrs.get(spec.needs) is None:
            raise serializers.ValidationError({spec.needs: [f"Required by {attrs['action']}."]})
        if attrs.get("expires_at") is not None:
            if attrs["action"] != "add_to_group":
                raise serializers.ValidationError({"expires_at": ["Only add_to_group takes an end date."]})
            try:
                parse_end_date(attrs["expires_at"], now=self.now)
            except ValueError as exc:
                raise serializers.ValidationError({"expires_at": [str(exc)]}) from None
        try:  # the service's own checks (unknown or IdP-synced group ...), before anything runs
            bulk_options(action=attrs["action"], params=self.params(attrs))
        except BulkActionError as exc:
            raise serializers.ValidationError({spec.needs or "non_field_errors": [str(exc)]}) from None
        return attrs

    @staticmethod
    def params(attrs) -> dict:
        params = {"reason": attrs["reason"]}
        for name in ("group", "product"):
            if attrs.get(name) is not None:
                params[name] = attrs[name]
        if attrs.get("expires_at") is not None:
            params["expires_at"] = attrs["expires_at"].isoformat()  # params travel to a background task
        return params

    def selected_account_ids(self) -> list[int]:
        """The selected accounts, in id order (what the admin's action hands the service)."""
        if "filters" in self.validated_data:
            return list(self.filterset.qs.order_by("pk").values_list("pk", flat=True))
        return list(dict.fromkeys(self.validated_data["account_ids"]))


class BulkResultSerializer(serializers.Serializer):
    account = serializers.IntegerField(source="account_pk", help_text="The account's portal id.")
    account_repr = serializers.CharField(source="account")
    outcome = serializers.ChoiceField(
        choices=["done", "skipped", "refused", "failed", "needs_review"],
        help_text="needs_review: left alone, the product comes through a group that also grants something else "
        "(the message names it).",
    )
    message = serializers.CharField()


class BulkRunSerializer(serializers.ModelSerializer):
    """A bulk action running (or run) in the background: poll until ``status`` is not running."""

    url = serializers.SerializerMethodField(help_text="This status, to poll.")

    class Meta:
        model = TaskRun
        fields = (
            "id",
            "status",
            "subject",
            "trigger",
            "started_at",
            "finished_at",
            "progress",
            "counts",
            "error",
            "log_excerpt",
            "correlation_id",
            "started_by",
            "url",
        )
        read_only_fields = fields

    def get_url(self, obj) -> str:
        return reverse("api:account-bulk-detail", args=[obj.pk], request=self.context.get("request"))


class BulkOutcomeSerializer(serializers.Serializer):
    """A bulk action carried out during the request: one result per account it started."""

    action = serializers.CharField()
    total = serializers.IntegerField()
    correlation_id = serializers.CharField(help_text="Find its audit events with ?correlation_id=.")
    counts = serializers.DictField(child=serializers.IntegerField(), source="count_dict")
    results = BulkResultSerializer(many=True)
    not_started = serializers.SerializerMethodField(
        help_text="Accounts not started within `BULK_ACTION_INLINE_BUDGET` seconds (a slow or rate-limited "
        "Atlassian): they go on in the background, in `continued_in`."
    )
    continued_in = BulkRunSerializer(
        allow_null=True, help_text="The background run doing the accounts not started; null when all were."
    )

    def get_not_started(self, outcome) -> int:
        return len(outcome.not_started)

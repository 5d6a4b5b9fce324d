"""``/api/onboarding-rules/``: list, create, change and preview onboarding rules, written through
``onboarding_rule_save`` (validated, audited, a new rule in preview) as in the admin."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import Group, Organization
from governance.api.actors import api_actor
from governance.api.filters import IdFilter
from governance.api.views import ReadViewSet
from policies.api.serializers import _field_errors
from policies.models import OnboardingRule, PolicyMode
from policies.models.onboarding import RULE_FIELDS
from policies.selectors.onboarding import SCOPES, onboarding_preview
from policies.services.onboarding import onboarding_rule_save, validate_rule

_M2M = ("member_of", "add_groups")
_BAD_INPUT = OpenApiResponse(description="Bad input: field errors.")


class OnboardingRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = OnboardingRule
        fields: tuple[str, ...] = (
            "id",
            *RULE_FIELDS,
            "created_at",
            "updated_at",
        )
        read_only_fields: tuple[str, ...] = fields


class OnboardingRuleWriteSerializer(OnboardingRuleSerializer):
    """Create (POST) or change (PUT/PATCH) a rule: the model's checks, groups of the rule's
    organization, at least one group to add; a new rule starts in preview; its organization never changes."""

    organization = serializers.PrimaryKeyRelatedField(queryset=Organization.objects.all())
    member_of = serializers.PrimaryKeyRelatedField(many=True, queryset=Group.objects.all(), required=False)
    add_groups = serializers.PrimaryKeyRelatedField(many=True, queryset=Group.objects.all(), required=False)
    reason = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=1000, help_text="Recorded with the change."
    )

    class Meta(OnboardingRuleSerializer.Meta):
        fields = (*OnboardingRuleSerializer.Meta.fields, "reason")
        read_only_fields = ("id", "created_at", "updated_at")

    def validate(self, attrs):
        instance = self.instance
        if instance is None and attrs.get("mode", PolicyMode.PREVIEW) != PolicyMode.PREVIEW:
            raise serializers.ValidationError(
                {"mode": "A new rule starts in preview: read its preview, then change its mode."}
            )
        if instance is None and not attrs.get("add_groups"):
            raise serializers.ValidationError({"add_groups": "Name at least one group to add the accounts to."})
        if instance is not None and "organization" in attrs and attrs["organization"] != instance.organization:
            raise serializers.ValidationError({"organization": "A rule's organization never changes."})
        rule = OnboardingRule.objects.get(pk=instance.pk) if instance else OnboardingRule()
        m2m = {name: attrs[name] for name in _M2M if name in attrs}
        for name, value in attrs.items():
            if name not in _M2M and name != "reason":
                setattr(rule, name, value)
        try:
            rule.full_clean()
            validate_rule(rule, m2m)
        except DjangoValidationError as exc:
            raise _field_errors(exc) from None
        self._unsaved = (rule, m2m)
        return attrs

    def unsaved(self) -> tuple[OnboardingRule, dict]:
        return self._unsaved


class OnboardingPreviewQuerySerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=SCOPES, default="new", required=False)
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100, required=False)


class OnboardingMatchSerializer(serializers.Serializer):
    account = serializers.IntegerField(source="account_pk")
    name = serializers.CharField(source="account")
    groups = serializers.ListField(child=serializers.CharField())


class OnboardingPreviewSerializer(serializers.Serializer):
    rule = serializers.IntegerField()
    mode = serializers.CharField()
    scope = serializers.CharField()
    count = serializers.IntegerField(help_text="Accounts that would get at least one group.")
    within_cap = serializers.IntegerField(help_text="Of those, how many one run would act on (or queue).")
    beyond_cap = serializers.IntegerField()
    exempt = serializers.IntegerField(help_text="Matching accounts an organization-wide exemption keeps out.")
    already_queued = serializers.IntegerField()
    accounts = OnboardingMatchSerializer(many=True, help_text="The first ``limit``, in the order a run takes them.")


class OnboardingRuleFilterSet(filters.FilterSet):
    organization = IdFilter(field_name="organization_id")
    enabled = filters.BooleanFilter()
    mode = filters.ChoiceFilter(choices=PolicyMode.choices)

    class Meta:
        model = OnboardingRule
        fields: list[str] = []


class OnboardingRuleViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, ReadViewSet):
    """Onboarding rules. Disable one with ``PATCH {"enabled": false}``."""

    queryset = OnboardingRule.objects.prefetch_related("member_of", "add_groups")
    serializer_class = OnboardingRuleSerializer
    filterset_class = OnboardingRuleFilterSet
    ordering = ("name",)
    ordering_fields = ("id", "name", "created_at", "updated_at")
    action_permissions = {"preview": ["policies.view_onboardingrule"]}

    def get_serializer_class(self):
        if self.action in ("create", "update", "partial_update"):
            return OnboardingRuleWriteSerializer
        return super().get_serializer_class()

    def _save(self, serializer):
        rule, m2m = serializer.unsaved()
        reason = serializer.validated_data.get("reason", "")
        serializer.instance = onboarding_rule_save(rule=rule, actor=api_actor(self.request), m2m=m2m, reason=reason)

    @extend_schema(
        summary="Create an onboarding rule (it starts in preview)",
        request=OnboardingRuleWriteSerializer,
        responses={201: OnboardingRuleSerializer, 400: _BAD_INPUT},
    )
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        self._save(serializer)

    @extend_schema(request=OnboardingRuleWriteSerializer, responses={200: OnboardingRuleSerializer, 400: _BAD_INPUT})
    def partial_update(self, request, *args, **kwargs):
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(request=OnboardingRuleWriteSerializer, responses={200: OnboardingRuleSerializer, 400: _BAD_INPUT})
    def update(self, request, *args, **kwargs):
        return super().update(request, *args, **kwargs)

    def perform_update(self, serializer):
        self._save(serializer)

    @extend_schema(
        summary="Who the rule would add to which groups",
        description="scope=new: accounts the sync first saw since the rule exists (what the after-sync runs "
        "concern); scope=existing: every account of the organization (what the bulk application would do).",
        parameters=[OnboardingPreviewQuerySerializer],
        responses={200: OnboardingPreviewSerializer},
        filters=False,
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def preview(self, request, pk=None):
        rule = self.get_object()
        query = OnboardingPreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        preview = onboarding_preview(rule, timezone.now(), scope=query.validated_data["scope"])
        limit = query.validated_data["limit"]
        data = {
            "rule": rule.pk,
            "mode": rule.mode,
            "scope": preview.scope,
            "count": len(preview.matches),
            "within_cap": len(preview.within_cap),
            "beyond_cap": preview.beyond_cap,
            "exempt": preview.exempt,
            "already_queued": preview.queued,
            "accounts": [
                {"account_pk": m.account_pk, "account": m.account, "groups": preview.names(m)}
                for m in preview.matches[:limit]
            ],
        }
        return Response(OnboardingPreviewSerializer(data).data)

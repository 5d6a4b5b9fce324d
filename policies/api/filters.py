"""Filter sets of the policies API: the parameters of the policies admin's list filters."""

import django_filters
from django.utils import timezone

from governance.api.filters import DayRangeFilter, IdFilter
from policies.models import AccessRequest, Enforcement, EnforcementStatus, Exemption, ExemptionKind, InactivityPolicy
from policies.models.access_requests import APPROVED_STATUSES, CLOSED_STATUSES, AccessRequestKind, AccessRequestStatus
from policies.models.policies import PolicyAction, PolicyMode

DECISIONS = (
    ("pending", "Pending: waiting for a decision"),
    ("in_progress", "Approved, being fulfilled"),
    ("failed", "Failed: needs a look"),
    ("closed", "Closed"),
)


class PolicyFilterSet(django_filters.rest_framework.FilterSet):
    organization = IdFilter(field_name="organization_id")
    enabled = django_filters.BooleanFilter()
    mode = django_filters.ChoiceFilter(choices=PolicyMode.choices)
    action = django_filters.ChoiceFilter(choices=PolicyAction.choices)

    class Meta:
        model = InactivityPolicy
        fields: list[str] = []


class ExemptionFilterSet(django_filters.rest_framework.FilterSet):
    organization = IdFilter(field_name="organization_id")
    policy = IdFilter(field_name="policy_id")
    account = IdFilter(field_name="account_id")
    group = IdFilter(field_name="group_id")
    kind = django_filters.ChoiceFilter(choices=ExemptionKind.choices)
    state = django_filters.ChoiceFilter(choices=(("active", "Active"), ("expired", "Expired")), method="filter_state")

    class Meta:
        model = Exemption
        fields: list[str] = []

    def filter_state(self, queryset, name, value):
        # The admin's ActiveFilter (policies.admin.exemptions).
        now = timezone.now()
        if value == "active":
            return queryset.unexpired(now)
        return queryset.filter(expires_at__lte=now)


class EnforcementFilterSet(django_filters.rest_framework.FilterSet):
    policy = IdFilter(field_name="policy_id")
    account = IdFilter(field_name="account_id")
    run = IdFilter(field_name="run_id")
    status = django_filters.ChoiceFilter(choices=EnforcementStatus.choices)
    action = django_filters.ChoiceFilter(choices=PolicyAction.choices)

    class Meta:
        model = Enforcement
        fields: list[str] = []


class AccessRequestFilterSet(django_filters.rest_framework.FilterSet):
    decision = django_filters.ChoiceFilter(
        label="Where the decision stands", choices=DECISIONS, method="filter_decision"
    )
    account = IdFilter(field_name="account_id")
    enforcement = IdFilter(field_name="enforcement_id")
    status = django_filters.ChoiceFilter(choices=AccessRequestStatus.choices)
    kind = django_filters.ChoiceFilter(choices=AccessRequestKind.choices)
    created_at_from = DayRangeFilter(field_name="created_at", bound="from")
    created_at_to = DayRangeFilter(field_name="created_at", bound="to")

    class Meta:
        model = AccessRequest
        fields: list[str] = []

    def filter_decision(self, queryset, name, value):
        # The access-request admin's DecisionFilter (policies.admin.access_requests).
        statuses = {
            "pending": (AccessRequestStatus.PENDING,),
            "in_progress": APPROVED_STATUSES,
            "failed": (AccessRequestStatus.FAILED,),
            "closed": CLOSED_STATUSES,
        }[value]
        return queryset.filter(status__in=statuses)

"""Filters over mirrored accounts: the one definition the admin's list filters and the API share.

Every to-many condition (product access, group membership) is a subquery rather than a join, so a
filtered list never needs ``DISTINCT`` and counts stay cheap at 100,000 accounts: ``EXISTS`` for
product access, ``id IN (members of the group)`` for groups (see :meth:`AccountFilterSet.filter_group`).
Inactivity is measured against ``now``, given when the filter set is built (per request), never
at import time. Upper apps contribute their own conditions through :func:`register_account_filter`
from their ``AppConfig.ready`` (policies: ``exempted``), since this app may not import them
(DESIGN.md 3); every filter set is then built with them.
"""

import copy
from datetime import datetime, timedelta
from typing import Any

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.models import Account, AccountStatus, AccountType, Group, Membership, Product, ProductAccess
from accounts.selectors.access_ends import accounts_ending_within

# (value in the query string, label, (older than N days, newer than M days)); None = open end.
INACTIVITY_BUCKETS = (
    ("lt30", "Active in the last 30 days", (None, 30)),
    ("30-90", "Inactive 30 to 90 days", (30, 90)),
    ("90-180", "Inactive 90 to 180 days", (90, 180)),
    ("gt180", "Inactive over 180 days", (180, None)),
    ("never", "Never active", None),
)
YES_NO = (("true", "Yes"), ("false", "No"))

# Filters upper apps contribute, by query-string name (register_account_filter). Read when a
# filter set is built, never copied into AccountFilterSet's class.
_contributed: dict[str, django_filters.Filter] = {}


def _yes_no(field_name: str, label: str, choices=YES_NO) -> django_filters.TypedChoiceFilter:
    # Not BooleanFilter: its widget turns "maybe" into "no filter" silently; a typo here must
    # be an error, not a list of every account.
    return django_filters.TypedChoiceFilter(
        field_name=field_name, label=label, choices=choices, coerce=lambda value: value == "true"
    )


def inactivity_q(bucket: str, now: datetime) -> Q:
    """The condition on ``last_active`` for one of :data:`INACTIVITY_BUCKETS`."""
    bounds = {value: days for value, _label, days in INACTIVITY_BUCKETS}[bucket]
    if bounds is None:
        return Q(last_active__isnull=True)
    older_than, newer_than = bounds
    condition = Q()
    if older_than is not None:
        condition &= Q(last_active__lt=now - timedelta(days=older_than))
    if newer_than is not None:
        condition &= Q(last_active__gte=now - timedelta(days=newer_than))
    return condition


class AccountFilterForm(forms.Form):
    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what Form.clean returns; its stub says it may be None
        if cleaned.get("product_inactive_days") is not None and not cleaned.get("product"):
            self.add_error("product_inactive_days", "Choose a product to measure inactivity in.")
        return cleaned


class AccountFilterSet(django_filters.FilterSet):
    """``?status=&inactivity=&product=&product_inactive_days=&group=&not_group=&managed=...``"""

    q = django_filters.CharFilter(label="Name, email or account id", method="filter_search")
    status = django_filters.ChoiceFilter(choices=AccountStatus.choices)
    inactivity = django_filters.ChoiceFilter(
        label="Last active", choices=[(v, label) for v, label, _ in INACTIVITY_BUCKETS], method="filter_inactivity"
    )
    product = django_filters.ModelChoiceFilter(
        queryset=Product.objects.all(),
        widget=forms.TextInput,
        method="filter_product",
        error_messages={"invalid_choice": "There is no product with id %(value)s."},
    )
    product_inactive_days = django_filters.NumberFilter(
        label="Inactive in that product for more than N days", min_value=0, method="filter_product_inactive_days"
    )
    # Text inputs, not <select>s: an organization has thousands of groups (DJANGO-NOTES 5).
    group = django_filters.ModelChoiceFilter(
        label="Member of group",
        queryset=Group.objects.all(),
        widget=forms.TextInput,
        method="filter_group",
        error_messages={"invalid_choice": "There is no group with id %(value)s."},
    )
    not_group = django_filters.ModelChoiceFilter(
        label="Not a member of group",
        queryset=Group.objects.all(),
        widget=forms.TextInput,
        method="filter_not_group",
        error_messages={"invalid_choice": "There is no group with id %(value)s."},
    )
    managed = _yes_no("managed", "Managed or external", (("true", "Managed"), ("false", "External")))
    account_type = django_filters.ChoiceFilter(choices=AccountType.choices)
    is_org_admin = _yes_no("is_org_admin", "Org admin")
    billable = _yes_no("billable", "Billable")
    access_ending_within = django_filters.NumberFilter(
        label="Access ending in the next N days", min_value=0, max_value=3660, method="filter_access_ending"
    )

    class Meta:
        model = Account
        fields: list[str] = []
        form = AccountFilterForm

    def __init__(self, data=None, queryset=None, *, now: datetime | None = None, **kwargs):
        super().__init__(data, queryset, **kwargs)
        self.now = now or timezone.now()
        for name, contributed in _contributed.items():
            # As django-filter does with the declared ones: a copy per filter set, bound to it.
            filter_ = copy.deepcopy(contributed)
            filter_.parent, filter_.model = self, self.queryset.model
            self.filters[name] = filter_

    @classmethod
    def all_filters(cls) -> dict[str, django_filters.Filter]:
        """The declared filters and the contributed ones, unbound (for choices and the API schema)."""
        return {**cls.base_filters, **_contributed}

    @staticmethod
    def search(queryset, term: str):
        """Each word must match the name or email (contains), or be the exact account id."""
        for word in term.split():
            queryset = queryset.filter(Q(name__icontains=word) | Q(email__icontains=word) | Q(account_id=word))
        return queryset

    def filter_search(self, queryset, name, value):
        return self.search(queryset, value)

    def filter_inactivity(self, queryset, name, value):
        return queryset.filter(inactivity_q(value, self.now))

    def filter_product(self, queryset, name, product):
        access = ProductAccess.objects.filter(account=OuterRef("pk"), product=product)
        days = self.form.cleaned_data.get("product_inactive_days")
        if days is not None:
            cutoff = self.now - timedelta(days=int(days))
            access = access.filter(Q(last_active__lt=cutoff) | Q(last_active__isnull=True))
        return queryset.filter(Exists(access))

    def filter_product_inactive_days(self, queryset, name, value):
        return queryset  # applied together with ``product`` in filter_product (same access row)

    @staticmethod
    def _members(group):
        # ``id IN (SELECT account_id ... WHERE group_id = %s)``, not a correlated EXISTS: the
        # database reads the group's members once from the (group, account) index. With EXISTS,
        # SQLite walked every account in name order probing the membership index for each, about
        # 80 ms of queries at 100,000 accounts for a 450-member group against 1 ms now
        # (bench_admin_list.py). Product access stays EXISTS: a product's users are most
        # accounts, where walking in page order and stopping after one page is the cheaper plan.
        return Membership.objects.filter(group=group).values("account_id")

    def filter_group(self, queryset, name, group):
        return queryset.filter(pk__in=self._members(group))

    def filter_not_group(self, queryset, name, group):
        return queryset.exclude(pk__in=self._members(group))

    def filter_access_ending(self, queryset, name, value):
        # A membership given until a date (accounts/models/ends.py) that ends within N days.
        return accounts_ending_within(queryset, int(value), self.now)


def register_account_filter(name: str, filter_: django_filters.Filter) -> None:
    """Adds ``?name=`` to every AccountFilterSet: the admin's sidebar, the API's account list and
    bulk actions on "all matching" then share it like the filters above. Called from an upper
    app's ``AppConfig.ready``; the filter reads ``self.parent.now`` for the instant."""
    if name in AccountFilterSet.base_filters:
        raise ValueError(f"AccountFilterSet already has a filter named {name!r}.")
    _contributed[name] = filter_

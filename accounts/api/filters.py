"""Filter sets of the mirror's smaller lists (accounts use ``accounts.filtersets.AccountFilterSet``,
the admin's own). Parameters follow the admin lists' filters; foreign keys are plain ids."""

import django_filters

from accounts.models import Group, Membership, Product
from governance.api.filters import IdFilter


class GroupFilterSet(django_filters.rest_framework.FilterSet):
    organization = IdFilter(field_name="organization_id")
    external_synced = django_filters.BooleanFilter()
    is_licence_group = django_filters.BooleanFilter()
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains", max_length=300)

    class Meta:
        model = Group
        fields: list[str] = []


class MembershipFilterSet(django_filters.rest_framework.FilterSet):
    account = IdFilter(field_name="account_id")
    group = IdFilter(field_name="group_id")

    class Meta:
        model = Membership
        fields: list[str] = []


class ProductFilterSet(django_filters.rest_framework.FilterSet):
    organization = IdFilter(field_name="organization_id")
    key = django_filters.CharFilter(max_length=64)

    class Meta:
        model = Product
        fields: list[str] = []

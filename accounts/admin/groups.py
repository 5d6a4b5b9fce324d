"""Groups: the list with what each group grants, and a group page whose member list is searched
and paged in the database (a group may have 35,000 members)."""

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Prefetch

from accounts.admin.paginators import CappedCountPaginator
from accounts.filtersets import AccountFilterSet
from accounts.models import Account, Group, GroupProductGrant
from governance.admin_tools import ReadOnlyAdminMixin

MEMBERS_PER_PAGE = 50


class GroupChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        grants = GroupProductGrant.objects.select_related("product").order_by("product__key")
        self.result_list = self.result_list.prefetch_related(Prefetch("grants", queryset=grants))


@admin.register(Group)
class GroupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: memberships change through the account list's bulk actions (services)."""

    list_display = ("name", "member_count", "products_granted", "external_synced", "is_licence_group", "removed_at")
    list_filter = ("external_synced", "is_licence_group")
    search_fields = ("name",)  # also feeds the group autocomplete of the account filters and actions
    list_select_related = ("organization",)
    ordering = ("name", "id")
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = None
    change_form_template = "admin/accounts/group/change_form.html"
    fields = (
        "name",
        "group_id",
        "organization",
        "description",
        "external_synced",
        "managed_by",
        "directory_id",
        "is_licence_group",
        "member_count",
        "removed_at",
    )

    def get_changelist(self, request, **kwargs):
        return GroupChangeList

    @admin.display(description="products granted")
    def products_granted(self, obj):
        return ", ".join(str(grant.product) for grant in obj.grants.all()) or "—"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(group_members(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)


def group_members(request, group: Group) -> dict:
    """One page of members, optionally searched (``?member_q=``, ``?member_page=``)."""
    term = request.GET.get("member_q", "").strip()
    members = Account.objects.filter(memberships__group=group).order_by("name", "id")
    if term:
        members = AccountFilterSet.search(members, term)
    paginator = CappedCountPaginator(members, MEMBERS_PER_PAGE)
    page = paginator.get_page(request.GET.get("member_page"))
    return {"member_page": page, "member_q": term, "member_paginator": paginator}

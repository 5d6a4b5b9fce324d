"""The account list and page: read-only (the mirror changes through services only), built to
stay fast at 100,000 accounts (DJANGO-NOTES 3), with bulk actions that call the services."""

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.db.models import Prefetch
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

from accounts.admin import filters
from accounts.admin.bulk_views import bulk_result_view, bulk_run_view, run_bulk_action
from accounts.admin.paginators import CappedCountPaginator
from accounts.admin.return_date import ReturnDateForm, may_set_return_date, return_date_view
from accounts.bulk import BULK_ACTIONS
from accounts.filtersets import AccountFilterSet
from accounts.importexport.admin import AccountImportExportMixin
from accounts.models import AccessEndStatus, Account, AccountType, MembershipEnd, ProductAccess
from accounts.selectors.account_page import account_details
from governance.admin_site import PortalAdminSite
from governance.admin_tools import ReadOnlyAdminMixin
from governance.admin_tools.cells import clipped


def _bulk_admin_action(name: str):
    """An admin action for ``BULK_ACTIONS[name]``, shown only to users holding its permission."""
    spec = BULK_ACTIONS[name]

    def action(modeladmin, request, queryset):
        return run_bulk_action(modeladmin, request, queryset, name)

    action.__name__ = f"bulk_{name}"
    # "activate_account" → ModelAdmin.has_activate_account_permission(request)
    return admin.action(description=f"{spec.label}…", permissions=[spec.permission.split(".", 1)[1]])(action)


class AccountChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        # Products of this page only: one query for the whole page, never one per row.
        access = ProductAccess.objects.select_related("product").order_by("product__key")
        self.result_list = self.result_list.prefetch_related(Prefetch("product_access", queryset=access))
        # "Access until" of this page's contractors: one more query for the page.
        ends = MembershipEnd.objects.filter(status=AccessEndStatus.SCHEDULED).order_by("expires_at")
        self.result_list = self.result_list.prefetch_related(Prefetch("membership_ends", queryset=ends))


@admin.register(Account)
class AccountAdmin(ReadOnlyAdminMixin, AccountImportExportMixin, admin.ModelAdmin):
    """Accounts: filters from AccountFilterSet, services-backed bulk actions, CSV import/export (mixin)."""

    admin_site: PortalAdminSite  # registered on admin.site, the portal's site: its filters and sections
    list_display = (
        "name_display",
        "email_display",
        "status_display",
        "kind",
        "last_active_display",
        "products",
        "licence_group_count",
        "billable",
        "access_until",
    )
    list_filter = (
        filters.StatusFilter,
        filters.InactivityFilter,
        filters.ProductFilter,
        filters.GroupFilter,
        filters.ManagedFilter,
        filters.AccountTypeFilter,
        filters.OrgAdminFilter,
        filters.BillableFilter,
        filters.AccessEndingFilter,
    )
    search_fields = ("name", "email", "=account_id")
    search_help_text = "Name or email contains each word, or the exact Atlassian account id."
    # Nothing in list_display follows a foreign key; products come from a per-page prefetch.
    list_select_related = ()
    ordering = ("name", "id")
    list_per_page = 100
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = [_bulk_admin_action(name) for name in BULK_ACTIONS]
    change_form_template = "admin/accounts/account/change_form.html"
    fieldsets = (
        (None, {"fields": ("name", "email", "account_id", "organization", "account_type")}),
        ("Status", {"fields": ("status", "status_changed_at", "billable", "licence_group_count", "restored_at")}),
        ("Management", {"fields": ("managed", "management_source", "is_org_admin")}),
        ("Activity", {"fields": ("last_active", "added_to_org", "first_seen_at", "last_synced_at", "imported_as_of")}),
    )

    # -- read-only: the mirror changes through services, never through a form ------------------
    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # Permissions named by the bulk actions (admin.action(permissions=[...])).
    def has_activate_account_permission(self, request):
        return request.user.has_perm("accounts.activate_account")

    def has_suspend_account_permission(self, request):
        return request.user.has_perm("accounts.suspend_account")

    def has_change_membership_permission(self, request):
        return request.user.has_perm("accounts.change_membership")

    # -- list -------------------------------------------------------------------------------------
    def get_changelist(self, request, **kwargs):
        return AccountChangeList

    def get_list_filter(self, request):
        # Filters other apps registered on the site (policies: "exempted").
        return (*self.list_filter, *self.admin_site.list_filters(Account))

    def get_search_results(self, request, queryset, search_term):
        return AccountFilterSet.search(queryset, search_term), False

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        """The status, and a marker when an import brought data no sync has confirmed yet (policies wait)."""
        if obj.imported_as_of is None:
            return obj.get_status_display()
        return format_html(
            '{} <small class="imported-unconfirmed" title="{}">imported, not yet synced</small>',
            obj.get_status_display(),
            f"From an Atlassian CSV export of {obj.imported_as_of:%Y-%m-%d}; policies leave this account alone "
            "until a sync confirms it.",
        )

    def action_checkbox(self, obj):
        """Django's own checkbox, written directly: rendering a form widget through the template
        engine for each of 100 rows was about a fifth of the list's time. Same HTML (a test compares)."""
        label = format_html(_("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            label,
        )

    # Compact cells (governance.admin_tools.cells): at 1280 px every column shows, rows stay one line.
    @admin.display(description="name", ordering="name")
    def name_display(self, obj):
        return clipped(obj.name or obj.account_id, width="m")

    @admin.display(description="email", ordering="email")
    def email_display(self, obj):
        return clipped(obj.email, width="m")

    @admin.display(description="access until")
    def access_until(self, obj):
        """The earliest end of a membership given until a date (prefetched per page); blank for most."""
        ends = getattr(obj, "_prefetched_objects_cache", {}).get("membership_ends")
        first = ends[0] if ends else None
        if first is None:
            return ""
        title = f"{first.group} until {first.expires_at:%Y-%m-%d %H:%M} UTC"
        return format_html('<span title="{}">{}</span>', title, f"{first.expires_at:%Y-%m-%d}")

    @admin.display(description="kind", ordering="managed")
    def kind(self, obj):
        """Managed or external for a person's account; otherwise what it is (app, customer)."""
        if obj.account_type != AccountType.ATLASSIAN:
            return obj.get_account_type_display()
        return "Managed" if obj.managed else "External"

    @admin.display(description="last active", ordering="last_active")
    def last_active_display(self, obj):
        if obj.last_active is None:
            return "never"
        days = (timezone.now() - obj.last_active).days
        ago = "today" if days <= 0 else ("1 day ago" if days == 1 else f"{days} days ago")
        return format_html('<span title="{}">{}</span>', f"{timezone.localdate(obj.last_active):%Y-%m-%d}", ago)

    @admin.display(description="products")
    def products(self, obj):
        return clipped(", ".join(str(access.product) for access in obj.product_access.all()) or "—", width="m")

    # -- account page -----------------------------------------------------------------------------
    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            # The audit trail follows the audit log's own permission (help desk does not read it).
            can_view_audit = request.user.has_perm("governance.view_auditevent")
            context.update(account_details(obj, with_audit_trail=can_view_audit))
            context["can_view_audit"] = can_view_audit
            context["audit_log_url"] = (
                reverse("admin:governance_auditevent_changelist") + f"?target_type=accounts.account&q={obj.pk}"
            )
            context["extra_sections"] = self.admin_site.page_sections(request, obj)  # e.g. policies' exemptions
            # This account's actions, each through the list's own confirmation page (count, reason).
            context["account_actions"] = [
                (name, description.split(" (")[0].rstrip("…") + "…")
                for name, (_func, _name, description) in self.get_actions(request).items()
                if name.startswith("bulk_")
            ]
            context["changelist_url"] = reverse("admin:accounts_account_changelist")
            if may_set_return_date(request):
                context["return_date_form"] = ReturnDateForm(initial={"return_on": obj.return_on})
                context["return_date_url"] = reverse("admin:accounts_account_return_date", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        status = self.admin_site.admin_view(self.bulk_run)
        result = self.admin_site.admin_view(self.bulk_result)
        return_date = self.admin_site.admin_view(return_date_view)
        return [
            path("<path:object_id>/return-date/", return_date, name="accounts_account_return_date"),
            path("bulk/<int:run_id>/", status, name="accounts_account_bulk_run"),
            path("bulk/result/<str:correlation_id>/", result, name="accounts_account_bulk_result"),
            *super().get_urls(),
        ]

    def bulk_run(self, request, run_id: int):
        return bulk_run_view(self, request, run_id)

    def bulk_result(self, request, correlation_id: str):
        return bulk_result_view(self, request, correlation_id)

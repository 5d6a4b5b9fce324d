"""Exemptions: created through ``exemption_create``, ended through ``exemption_expire``, never
edited or deleted, so the audit trail holds every exemption that ever protected someone."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from governance.audit.record import Actor
from policies.admin.forms import ExemptionForm, GuardedActionsMixin, confirm_with_reason, names, single_organization
from policies.models import Exemption
from policies.services.policies import exemption_create, exemption_expire


class ActiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("active", "Active"), ("expired", "Expired"))

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.unexpired(now)
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        return queryset


@admin.register(Exemption)
class ExemptionAdmin(GuardedActionsMixin, admin.ModelAdmin):
    form = ExemptionForm
    list_display = ("__str__", "kind", "policy", "organization", "reason", "expires_at", "state", "created_by")
    list_filter = ("kind", ActiveFilter, "organization", "policy")
    list_select_related = ("organization", "policy", "account", "group", "created_by")
    search_fields = ("reason", "email_pattern", "account__name", "account__email", "group__name")
    autocomplete_fields = ("policy", "account", "group")
    ordering = ("-created_at", "-id")
    show_facets = admin.ShowFacets.NEVER
    actions = ["expire_selected"]
    change_form_template = "admin/policies/exemption/change_form.html"
    fieldsets = (
        (None, {"fields": ("organization", "kind", "policy")}),
        (
            "Who",
            {
                "fields": ("account", "group", "email_pattern"),
                "description": "Exactly one: an account, a group (its members) or an email pattern.",
            },
        ),
        (None, {"fields": ("reason", "expires_at")}),
    )

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        return {**single_organization(), **initial}

    def has_change_permission(self, request, obj=None):
        # An exemption is never edited: expire it and create another. Without an object this is the
        # permission the "Expire now" action asks for.
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False  # expire instead: the row stays as evidence of who was protected, and why

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        fields = ("organization", "kind", "policy", "account", "group", "email_pattern", "reason", "expires_at")
        return (*fields, "created_by", "created_at")

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.fieldsets
        return (*self.fieldsets, ("Record", {"fields": ("created_by", "created_at")}))

    def save_model(self, request, obj, form, change):
        if change:  # not reached: has_change_permission refuses the POST first
            raise PermissionDenied
        obj.created_by = request.user
        exemption_create(exemption=obj, actor=Actor.from_request(request))

    @admin.display(description="state")
    def state(self, obj):
        if obj.expires_at is None:
            return "active"
        return "expired" if obj.expires_at <= timezone.now() else "active"

    @admin.action(description="Expire selected exemptions now…", permissions=["change"])
    def expire_selected(self, request, queryset):
        reason, response = confirm_with_reason(
            self,
            request,
            queryset,
            title="Expire exemptions",
            button="Expire now",
            intro="The policies may act on these accounts from their next run.",
        )
        if response is not None:
            return response
        now = timezone.now()
        actor = Actor.from_request(request)
        expired, skipped = [], []
        for exemption in queryset.select_related("organization", "account", "group"):
            if exemption.expires_at is not None and exemption.expires_at <= now:
                skipped.append(str(exemption))
                continue
            exemption_expire(exemption=exemption, actor=actor, reason=reason, now=now)
            expired.append(str(exemption))
        if expired:
            messages.success(request, f"Expired {len(expired)}: {names(expired)}.")
        if skipped:
            messages.warning(request, f"Already expired, left as they were: {names(skipped)}.")
        return None

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["can_expire"] = "expire_selected" in self.get_actions(request) and (
                obj.expires_at is None or obj.expires_at > timezone.now()
            )
            context["changelist_url"] = reverse("admin:policies_exemption_changelist")
        return super().render_change_form(request, context, add, change, form_url, obj)

"""Access requests, read-only, with the help desk's approve and reject actions (one or many at a
time, with a required reason), through the access-request services."""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.timesince import timesince

from governance.admin_tools import ReadOnlyAdminMixin
from governance.audit.record import Actor
from policies.access.services import AccessRefused, access_request_decide
from policies.admin.forms import GuardedActionsMixin, confirm_with_reason, names
from policies.models import AccessRequest
from policies.models.access_requests import APPROVED_STATUSES, CLOSED_STATUSES, AccessRequestStatus

DECIDE_PERMISSION = "policies.decide_accessrequest"


class DecisionFilter(admin.SimpleListFilter):
    title = "decision"
    parameter_name = "decision"

    def lookups(self, request, model_admin):
        return [
            ("pending", "Pending: waiting for a decision"),
            ("in_progress", "Approved, being fulfilled"),
            ("failed", "Failed: needs a look"),
            ("closed", "Closed"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "pending":
            return queryset.filter(status=AccessRequestStatus.PENDING)
        if value == "in_progress":
            return queryset.filter(status__in=APPROVED_STATUSES)
        if value == "failed":
            return queryset.filter(status=AccessRequestStatus.FAILED)
        if value == "closed":
            return queryset.filter(status__in=CLOSED_STATUSES)
        return queryset


@admin.register(AccessRequest)
class AccessRequestAdmin(ReadOnlyAdminMixin, GuardedActionsMixin, admin.ModelAdmin):
    list_display = ("__str__", "account", "kind", "status", "policy", "age", "expires_at", "decided_by")
    list_filter = (DecisionFilter, "status", "kind", "enforcement__policy")
    list_select_related = ("account", "enforcement__policy", "decided_by")
    search_fields = ("email", "account__name", "=correlation_id")
    search_help_text = "Email or name of the requester, or the exact correlation id."
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ["approve_selected", "reject_selected"]
    fieldsets = (
        (None, {"fields": ("account", "email", "kind", "status", "justification", "restores", "enforcement")}),
        ("Decision", {"fields": ("decision_reason", "decided_by", "decided_at", "expires_at")}),
        ("Fulfilment", {"fields": ("fulfilled_at", "attempts", "error")}),
        ("Trail", {"fields": ("correlation_id", "client_ip", "created_at", "updated_at")}),
    )
    readonly_fields = [name for fieldset in fieldsets for name in fieldset[1]["fields"]]

    # -- read-only: requests change through the access-request services -----------------------------
    def has_decide_permission(self, request) -> bool:
        return request.user.has_perm(DECIDE_PERMISSION)

    @admin.display(description="policy", ordering="enforcement__policy__name")
    def policy(self, obj):
        return obj.enforcement.policy

    @admin.display(description="age", ordering="created_at")
    def age(self, obj):
        return timesince(obj.created_at, timezone.now())

    # -- decisions ----------------------------------------------------------------------------------
    @admin.action(description="Approve selected (give access back)…", permissions=["decide"])
    def approve_selected(self, request, queryset):
        reason, response = confirm_with_reason(
            self,
            request,
            queryset,
            title="Approve access requests",
            button="Approve",
            intro="What each enforcement removed is given back in the background; the person is emailed the "
            "outcome. Pending requests are approved; failed ones are tried again; the others are left alone.",
        )
        if response is not None:
            return response
        allowed = (AccessRequestStatus.PENDING, AccessRequestStatus.FAILED)
        self._decide(request, queryset, approve=True, reason=reason, allowed=allowed)
        return None

    @admin.action(description="Reject selected…", permissions=["decide"])
    def reject_selected(self, request, queryset):
        reason, response = confirm_with_reason(
            self,
            request,
            queryset,
            title="Reject access requests",
            button="Reject",
            intro="Nothing is given back. The reason is emailed to each person. Only pending requests are considered.",
        )
        if response is not None:
            return response
        self._decide(request, queryset, approve=False, reason=reason, allowed=(AccessRequestStatus.PENDING,))
        return None

    def _decide(self, request, queryset, *, approve: bool, reason: str, allowed: tuple) -> None:
        actor = Actor.from_request(request)
        done, refused, skipped = [], [], []
        for access_request in queryset.select_related("account", "enforcement__policy").order_by("pk"):
            if access_request.status not in allowed:
                skipped.append(f"#{access_request.pk} ({access_request.get_status_display().lower()})")
                continue
            try:
                access_request_decide(access_request=access_request, approve=approve, actor=actor, reason=reason)
            except AccessRefused as exc:
                refused.append(f"#{access_request.pk} ({exc})")
                continue
            done.append(f"#{access_request.pk} {access_request.email or access_request.account}")
        if done:
            what = "Approved; access is given back in the background" if approve else "Rejected"
            messages.success(request, f"{what}: {len(done)} — {names(done)}.")
        if skipped:
            messages.warning(request, f"Left alone (not waiting for this decision): {len(skipped)} — {names(skipped)}.")
        if refused:
            messages.error(request, f"Not decided: {len(refused)} — {names(refused)}.")

"""Enforcements, read-only, and the review queue: approve or reject what review-mode policies
queued, one or many at a time, with a reason, through the review services."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.text import Truncator

from accounts.clients import MissingCredentials, client_for
from governance.admin_tools import ReadOnlyAdminMixin
from governance.admin_tools.cells import clipped, compact_time
from governance.audit.record import Actor
from policies.admin.forms import GuardedActionsMixin, confirm_with_reason, field_names, names
from policies.models import Enforcement, EnforcementStatus
from policies.services.review import ReviewRefused, enforcement_approve, enforcement_reject

REVIEW_PERMISSION = "policies.review_enforcement"
_OUTCOMES = {
    EnforcementStatus.DONE: (messages.SUCCESS, "Approved and carried out"),
    EnforcementStatus.CANCELLED: (messages.WARNING, "Approved, but no longer due, so cancelled"),
    EnforcementStatus.DUE: (messages.WARNING, "Approved; Atlassian failed for now, the next run retries"),
    EnforcementStatus.FAILED: (messages.ERROR, "Approved, but the action failed (see each enforcement)"),
    "skipped": (messages.WARNING, "Approved; another process is carrying it out"),
}


class NeedsDecisionFilter(admin.SimpleListFilter):
    """Product removals put in the queue because the product comes through a group that grants more."""

    title = "needs a decision"
    parameter_name = "needs_decision"

    def lookups(self, request, model_admin):
        return (("yes", "A group also grants other access"),)

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status=EnforcementStatus.AWAITING_REVIEW, removed__has_key="attention")
        return queryset


@admin.register(Enforcement)
class EnforcementAdmin(ReadOnlyAdminMixin, GuardedActionsMixin, admin.ModelAdmin):
    list_display = ("account", "policy", "status", "action_label", "due", "short_reason", "warned", "executed")
    list_filter = ("status", NeedsDecisionFilter, "policy", "action")
    list_select_related = ("account", "policy")
    search_fields = ("account__name", "account__email", "=account__account_id")
    search_help_text = "Name or email of the account, or its exact Atlassian account id."
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ["approve_selected", "approve_removing_shared_groups", "reject_selected"]
    change_list_template = "admin/policies/enforcement/change_list.html"
    change_form_template = "admin/policies/enforcement/change_form.html"
    fieldsets = (
        (None, {"fields": ("policy", "account", "status", "action", "reason")}),
        ("Dates", {"fields": ("inactive_since", "warned_at", "due_at", "executed_at", "created_at", "updated_at")}),
        ("Notices", {"fields": ("warnings_sent", "notice_pending", "notice_error", "notice_failures")}),
        ("Execution", {"fields": ("removed", "error", "attempts", "run", "executed_run")}),
        ("Review", {"fields": ("decided_by", "decision_note")}),
    )
    readonly_fields = field_names(fieldsets)

    # -- read-only: enforcements change through runs and the review services -----------------------
    def has_review_permission(self, request) -> bool:
        return request.user.has_perm(REVIEW_PERMISSION)

    @admin.display(description="action", ordering="action")
    def action_label(self, obj):
        """The policy action's name in words ("Remove product access"), not its code."""
        return obj.action_label

    @admin.display(description="due at", ordering="due_at")
    def due(self, obj):
        return compact_time(obj.due_at)

    @admin.display(description="warned at", ordering="warned_at")
    def warned(self, obj):
        return compact_time(obj.warned_at)

    @admin.display(description="executed at", ordering="executed_at")
    def executed(self, obj):
        return compact_time(obj.executed_at)

    @admin.display(description="reason")
    def short_reason(self, obj):
        return clipped(Truncator(obj.reason).chars(300), width="l", title=Truncator(obj.reason).chars(600))

    def changelist_view(self, request, extra_context=None):
        queue = reverse("admin:policies_enforcement_changelist") + f"?status__exact={EnforcementStatus.AWAITING_REVIEW}"
        extra_context = {
            **(extra_context or {}),
            "review_queue_url": queue,
            "review_queue_size": Enforcement.objects.filter(status=EnforcementStatus.AWAITING_REVIEW).count(),
        }
        return super().changelist_view(request, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["can_review"] = obj.status == EnforcementStatus.AWAITING_REVIEW and self.has_review_permission(
                request
            )
            context["changelist_url"] = reverse("admin:policies_enforcement_changelist")
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- review -------------------------------------------------------------------------------------
    @admin.action(description="Approve selected (act now)…", permissions=["review"])
    def approve_selected(self, request, queryset):
        return self._approve(
            request,
            queryset,
            title="Approve enforcements",
            button="Approve and act",
            intro="Each account still inactive is acted on now; one that became active again is cancelled. "
            "A product removal whose product comes through a group that also grants another product or an admin "
            "role is not approved: it stays in the queue with the reason. Only items awaiting review are considered.",
        )

    @admin.action(description="Approve selected, removing shared groups anyway…", permissions=["review"])
    def approve_removing_shared_groups(self, request, queryset):
        return self._approve(
            request,
            queryset,
            title="Approve enforcements, removing shared groups",
            button="Approve and remove the shared groups too",
            intro="For product removals whose product comes through a group that also grants another product, an "
            "admin role or the site-admin role: that group is removed as well, and the account loses everything it "
            "grants (given back by a restore or an undo). Otherwise the same as approving. Only items awaiting review "
            "are considered.",
            remove_shared_groups=True,
        )

    def _approve(self, request, queryset, *, title, button, intro, remove_shared_groups=False):
        reason, response = confirm_with_reason(self, request, queryset, title=title, button=button, intro=intro)
        if response is not None:
            return response
        actor = Actor.from_request(request)
        outcomes: dict[str, list] = {}
        refused: list[str] = []
        clients = {}
        try:
            for enforcement in _queue(queryset, outcomes):
                org = enforcement.policy.organization
                try:
                    if org.pk not in clients:
                        clients[org.pk] = client_for(org)
                    status = enforcement_approve(
                        enforcement=enforcement,
                        actor=actor,
                        reason=reason,
                        client=clients[org.pk],
                        remove_shared_groups=remove_shared_groups,
                    )
                except (ReviewRefused, MissingCredentials) as exc:
                    refused.append(f"{enforcement.account} ({exc})")
                    continue
                outcomes.setdefault(status, []).append(enforcement.account)
        finally:
            for client in clients.values():
                client.close()
        _report(request, outcomes, refused, refused_label="Not approved")
        return None

    @admin.action(description="Reject selected (never act)…", permissions=["review"])
    def reject_selected(self, request, queryset):
        reason, response = confirm_with_reason(
            self,
            request,
            queryset,
            title="Reject enforcements",
            button="Reject",
            intro="Nothing is done to these accounts. Only items awaiting review are considered.",
        )
        if response is not None:
            return response
        actor = Actor.from_request(request)
        outcomes: dict[str, list] = {}
        refused: list[str] = []
        for enforcement in _queue(queryset, outcomes):
            try:
                enforcement_reject(enforcement=enforcement, actor=actor, reason=reason)
            except ReviewRefused as exc:
                refused.append(f"{enforcement.account} ({exc})")
                continue
            outcomes.setdefault(EnforcementStatus.REJECTED, []).append(enforcement.account)
        _report(request, outcomes, refused, refused_label="Not rejected")
        return None


def _queue(queryset, outcomes: dict) -> list[Enforcement]:
    """The selected items awaiting review; the others are reported as left alone."""
    items = list(queryset.select_related("account", "policy__organization").order_by("pk"))
    waiting = [e for e in items if e.status == EnforcementStatus.AWAITING_REVIEW]
    others = [e for e in items if e.status != EnforcementStatus.AWAITING_REVIEW]
    if others:
        outcomes["not_waiting"] = [f"{e.account} ({e.get_status_display().lower()})" for e in others]
    return waiting


def _report(request, outcomes: dict, refused: list, *, refused_label: str) -> None:
    labels = {
        **_OUTCOMES,
        EnforcementStatus.REJECTED: (messages.SUCCESS, "Rejected"),
        "not_waiting": (messages.WARNING, "Not awaiting review, left alone"),
    }
    for key, items in outcomes.items():
        level, label = labels.get(key, (messages.INFO, str(key)))
        messages.add_message(request, level, f"{label}: {len(items)} — {names(items)}.")
    if refused:
        messages.error(request, f"{refused_label}: {len(refused)} — {names(refused)}.")

"""Access requests, read-only, with the help desk's approve and reject actions (one or many at a
time, with a required reason), through the access-request services."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from governance.admin_tools import ReadOnlyAdminMixin
from governance.audit.record import Actor
from policies.access.services import AccessRefused, access_request_decide, enqueue_fulfilments
from policies.admin.forms import GuardedActionsMixin, ReasonForm, confirm_with_reason, field_names, names
from policies.models import AccessRequest
from policies.models.access_requests import APPROVED_STATUSES, CLOSED_STATUSES, AccessRequestStatus

DECIDE_PERMISSION = "policies.decide_accessrequest"
# Which requests each decision applies to: a failed fulfilment may be approved again (tried again).
APPROVABLE = (AccessRequestStatus.PENDING, AccessRequestStatus.FAILED)
REJECTABLE = (AccessRequestStatus.PENDING,)


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
        (None, {"fields": ("account", "email", "kind", "status", "justification", "given_back", "enforcement")}),
        ("Decision", {"fields": ("decision_reason", "decided_by", "decided_at", "expires_at")}),
        ("Fulfilment", {"fields": ("fulfilled_at", "attempts", "error")}),
        ("Trail", {"fields": ("correlation_id", "client_ip", "created_at", "updated_at")}),
    )
    readonly_fields = field_names(fieldsets)

    # -- read-only: requests change through the access-request services -----------------------------
    def has_decide_permission(self, request) -> bool:
        return request.user.has_perm(DECIDE_PERMISSION)

    @admin.display(description="policy", ordering="enforcement__policy__name")
    def policy(self, obj):
        return obj.enforcement.policy

    @admin.display(description="age", ordering="created_at")
    def age(self, obj):
        return timesince(obj.created_at, timezone.now())

    @admin.display(description="what it gives back")
    def given_back(self, obj):
        """The request's ``restores`` (what the enforcement took, in words), as a short list."""
        restores = obj.restores or {}
        lines = []
        if restores.get("account_state"):
            lines.append(("Account", f"{restores['account_state']}, becomes active again"))
        if restores.get("products"):
            lines.append(("Products", ", ".join(restores["products"])))
        if restores.get("groups"):
            lines.append(("Groups", ", ".join(restores["groups"])))
        if restores.get("roles"):
            lines.append(("Direct product roles", str(restores["roles"])))
        if restores.get("policy"):
            when = f" on {restores['when_text']}" if restores.get("when_text") else ""
            lines.append(("Taken by", f"policy {restores['policy']}{when}"))
        if not lines:
            return "Nothing recorded"
        if obj.kind == "keep":
            lines.insert(0, ("Kept", "nothing is removed; the policy's action is cancelled"))
        return format_html('<dl class="given-back">{}</dl>', format_html_join("", "<dt>{}</dt><dd>{}</dd>", lines))

    # -- the decision on the request's own page -----------------------------------------------------
    def get_urls(self):
        decide = path(
            "<path:object_id>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name="policies_accessrequest_decide",
        )
        return [decide, *super().get_urls()]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and self.has_decide_permission(request):
            context["can_approve"] = obj.status in APPROVABLE
            context["can_reject"] = obj.status in REJECTABLE
            if context["can_approve"] or context["can_reject"]:
                context["can_decide"] = True
                context["decide_url"] = reverse("admin:policies_accessrequest_decide", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def decide_view(self, request, object_id):
        """Approve or reject one request from its page, with the reason typed there."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_decide_permission(request):
            raise PermissionDenied
        access_request = get_object_or_404(AccessRequest, pk=object_id)
        decision = request.POST.get("decision")
        if decision not in ("approve", "reject"):
            return HttpResponseBadRequest("Say approve or reject.")
        page = reverse("admin:policies_accessrequest_change", args=[access_request.pk])
        form = ReasonForm(request.POST)
        if not form.is_valid():
            messages.error(request, " ".join(str(error) for error in form.errors["reason"]))
            return HttpResponseRedirect(page)
        approve = decision == "approve"
        queryset = AccessRequest.objects.filter(pk=access_request.pk)
        allowed = APPROVABLE if approve else REJECTABLE
        self._decide(request, queryset, approve=approve, reason=form.cleaned_data["reason"], allowed=allowed)
        return HttpResponseRedirect(page)

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
        self._decide(request, queryset, approve=True, reason=reason, allowed=APPROVABLE)
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
        self._decide(request, queryset, approve=False, reason=reason, allowed=REJECTABLE)
        return None

    def _decide(self, request, queryset, *, approve: bool, reason: str, allowed: tuple) -> None:
        actor = Actor.from_request(request)
        done, refused, skipped = [], [], []
        approved: list[int] = []
        for access_request in queryset.select_related("account", "enforcement__policy").order_by("pk"):
            if access_request.status not in allowed:
                skipped.append(f"#{access_request.pk} ({access_request.get_status_display().lower()})")
                continue
            try:
                # Approved ones are fulfilled together, several at a time (one task, below).
                access_request_decide(
                    access_request=access_request, approve=approve, actor=actor, reason=reason, enqueue=False
                )
            except AccessRefused as exc:
                refused.append(f"#{access_request.pk} ({exc})")
                continue
            if approve:
                approved.append(access_request.pk)
            done.append(f"#{access_request.pk} {access_request.email or access_request.account}")
        if approved:
            enqueue_fulfilments(approved, actor)
        if done:
            what = "Approved; access is given back in the background" if approve else "Rejected"
            messages.success(request, f"{what}: {len(done)} — {names(done)}.")
        if skipped:
            messages.warning(request, f"Left alone (not waiting for this decision): {len(skipped)} — {names(skipped)}.")
        if refused:
            messages.error(request, f"Not decided: {len(refused)} — {names(refused)}.")

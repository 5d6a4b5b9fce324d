"""Run history of policies: read-only rows with their counts, a CSV of the accounts each run
touched, and "Undo this run", which gives back what it removed through the same services."""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from accounts.clients import MissingCredentials, client_for
from accounts.models import Organization
from accounts.selectors.prices import Savings
from governance.admin_tools import ReadOnlyAdminMixin
from governance.admin_tools.filters import DateRangeFilter
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor, record_event
from governance.csvexport import streaming_csv_response
from governance.runs.models import TaskRun
from policies.admin.forms import ReasonForm
from policies.idp import IDP_HEADER, idp_enforcements, idp_rows
from policies.models import Enforcement, EnforcementStatus, InactivityPolicy, PolicyRun
from policies.selectors.run_savings import run_savings
from policies.services.review import run_undo

RUN_PERMISSION = "policies.run_policy"
AFFECTED_HEADER = (
    "enforcement",
    "atlassian_account_id",
    "name",
    "email",
    "policy",
    "action",
    "status",
    "opened_by_this_run",
    "executed_by_this_run",
    "due_at",
    "executed_at",
    "reason",
    "removed",
    "saving_per_month",
    "saving_per_year",
    "products_without_price",
)
UNDO_SHOWN = 100


def policy_pk(run) -> int | None:
    """Policy runs are named ``policy:<pk> <name>`` (policies.services.runs)."""
    head = (run.subject or "").split(" ", 1)[0]
    _, _, pk = head.partition("policy:")
    return int(pk) if pk.isdigit() else None


class PolicyFilter(admin.SimpleListFilter):
    title = "policy"
    parameter_name = "policy"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in InactivityPolicy.objects.order_by("name").values_list("pk", "name")]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(subject__startswith=f"policy:{value} ")
        return queryset


@admin.register(PolicyRun)
class PolicyRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("started_at", "policy", "trigger", "outcome", "summary", "message", "started_by")
    list_filter = ("status", "dry_run", "trigger", PolicyFilter, ("started_at", DateRangeFilter))
    search_fields = ("=correlation_id", "subject")
    ordering = ("-started_at", "-id")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = None
    change_form_template = "admin/policies/policyrun/change_form.html"
    fields = (
        "subject",
        "organization",
        "trigger",
        "status",
        "started_at",
        "finished_at",
        "started_by",
        "dry_run",
        "error",
        "correlation_id",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(name="policy")

    def has_undo_permission(self, request) -> bool:
        return request.user.has_perm(RUN_PERMISSION)

    # -- list ---------------------------------------------------------------------------------------
    @admin.display(description="policy", ordering="subject")
    def policy(self, obj):
        pk = policy_pk(obj)
        name = (obj.subject or "").partition(" ")[2] or obj.subject
        if pk is None:
            return name
        return format_html('<a href="{}">{}</a>', reverse("admin:policies_inactivitypolicy_change", args=[pk]), name)

    @admin.display(description="status", ordering="status")
    def outcome(self, obj):
        """The status, and a dry run (or a run in preview mode) marked as such: it changed nothing."""
        if obj.dry_run:
            return format_html('{} <span class="dry-run-badge">dry run</span>', obj.get_status_display())
        return obj.get_status_display()

    @admin.display(description="counts")
    def summary(self, obj):
        counts = obj.counts or {}
        keys = (
            "in_scope",
            "to_warn",
            "to_act",
            "to_act_needs_review",
            "warned",
            "queued_for_review",
            "needs_review",
            "executed_done",
            "executed_failed",
        )
        return ", ".join(f"{key.replace('_', ' ')} {counts[key]}" for key in keys if key in counts) or "—"

    @admin.display(description="message")
    def message(self, obj):
        return Truncator(obj.error).chars(160)

    # -- run page -----------------------------------------------------------------------------------
    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            affected = _affected(obj)
            context.update(
                savings=run_savings(obj),
                counts=sorted((obj.counts or {}).items()),
                by_status=list(affected.values("status").annotate(n=Count("pk")).order_by("status")),
                undoable=_undoable(obj).count(),
                can_undo=self.has_undo_permission(request),
                csv_url=reverse("admin:policies_policyrun_affected_csv", args=[obj.pk]),
                idp_csv_url=reverse("admin:policies_policyrun_idp_csv", args=[obj.pk]),
                undo_url=reverse("admin:policies_policyrun_undo", args=[obj.pk]),
                start_reason=_start_reason(obj),
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/affected.csv", view(self.affected_csv), name="policies_policyrun_affected_csv"),
            path("<path:object_id>/idp.csv", view(self.idp_csv), name="policies_policyrun_idp_csv"),
            path("<path:object_id>/undo/", view(self.undo_view), name="policies_policyrun_undo"),
            *super().get_urls(),
        ]

    def _run(self, request, object_id) -> PolicyRun:
        run = self.get_object(request, object_id)
        if run is None:
            raise Http404("No such policy run.")
        return run

    def affected_csv(self, request, object_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = self._run(request, object_id)
        _record_download(request, run, "accounts affected by a policy run")
        saved = run_savings(run).by_enforcement
        nothing = Savings()
        rows = (
            (
                e.pk,
                e.account.account_id,
                e.account.name,
                e.account.email,
                e.policy.name,
                e.action,
                e.status,
                "yes" if e.run_id == run.pk else "no",
                "yes" if e.executed_run_id == run.pk else "no",
                e.due_at.isoformat() if e.due_at else "",
                e.executed_at.isoformat() if e.executed_at else "",
                e.reason,
                _removed(e.removed),
                saved.get(e.pk, nothing).text(),
                saved.get(e.pk, nothing).text(yearly=True),
                "; ".join(saved.get(e.pk, nothing).unpriced_products),
            )
            for e in _affected(run).select_related("account", "policy").order_by("pk").iterator(chunk_size=2000)
        )
        return streaming_csv_response(f"policy-run-{run.pk}-accounts.csv", AFFECTED_HEADER, rows)

    def idp_csv(self, request, object_id):
        """The identity team's list: the run's policy's accounts waiting for the identity provider."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = self._run(request, object_id)
        _record_download(request, run, "action needed in the identity provider")
        cases = idp_enforcements(policy_pk(run) or 0).iterator(chunk_size=2000)
        return streaming_csv_response(f"policy-run-{run.pk}-idp-action-needed.csv", IDP_HEADER, idp_rows(cases))

    def undo_view(self, request, object_id):
        """GET: what would be given back, and a reason box. POST: give it back (``run_undo``)."""
        if not self.has_undo_permission(request):
            raise PermissionDenied
        run = self._run(request, object_id)
        run_url = reverse("admin:policies_policyrun_change", args=[run.pk])
        undoable = _undoable(run).select_related("account")
        form = ReasonForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            if not undoable.exists():
                messages.warning(request, "Nothing to undo: this run has no completed actions left to give back.")
                return HttpResponseRedirect(run_url)
            try:
                counts = _undo(run, actor=Actor.from_request(request), reason=form.cleaned_data["reason"])
            except MissingCredentials as exc:
                messages.error(request, f"Not undone: {exc}")
                return HttpResponseRedirect(run_url)
            level = messages.SUCCESS if not counts["failed"] else messages.WARNING
            messages.add_message(
                request,
                level,
                f"Undo of run #{run.pk}: {counts['reversed']} given back, {counts['failed']} failed"
                + (" (see the audit log for each failure)." if counts["failed"] else "."),
            )
            return HttpResponseRedirect(run_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Undo policy run #{run.pk}",
            "opts": self.opts,
            "original": run,
            "run_url": run_url,
            "form": form,
            "total": undoable.count(),
            "shown": list(undoable.order_by("pk")[:UNDO_SHOWN]),
            "now": timezone.now(),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/policies/policyrun/undo_confirm.html", context)


def _start_reason(run) -> str:
    """The reason given when a person confirmed the run (its ``policy.run_started`` event)."""
    event = (
        AuditEvent.objects.filter(correlation_id=run.correlation_id, action=AuditAction.POLICY_RUN_STARTED)
        .only("reason")
        .first()
        if run.correlation_id
        else None
    )
    return event.reason if event else ""


def _affected(run):
    return Enforcement.objects.filter(Q(run_id=run.pk) | Q(executed_run_id=run.pk))


def _undoable(run):
    return Enforcement.objects.filter(executed_run_id=run.pk, status=EnforcementStatus.DONE)


def _undo(run, *, actor, reason: str) -> dict:
    """One client for the run's organization, opened and closed here."""
    task_run = TaskRun.objects.get(pk=run.pk)  # audit events name the run as governance.taskrun
    organization = Organization.objects.filter(org_id=run.organization).first()
    if organization is None:
        return run_undo(run=task_run, actor=actor, reason=reason)
    with client_for(organization) as client:
        return run_undo(run=task_run, actor=actor, reason=reason, client=client)


def _removed(removed) -> str:
    return json.dumps(removed, sort_keys=True) if removed else ""


def _record_download(request, run: PolicyRun, export: str) -> None:
    """A CSV of a run's accounts is an export: audited, naming the run's own row (as run_undo does,
    not the proxy's label)."""
    record_event(
        actor=Actor.from_request(request),
        action=AuditAction.EXPORT_DOWNLOADED,
        target_type=TaskRun._meta.label_lower,
        target_id=run.pk,
        target_repr=str(run),
        after={"export": export},
        correlation_id=run.correlation_id,
        organization=run.organization,
    )

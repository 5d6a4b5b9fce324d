"""Bulk actions in the account list: confirmation page, then a result page (small selections)
or a background task with a status page (above ``BULK_ACTION_INLINE_LIMIT`` accounts).

The confirmation form posts back to the changelist URL (filters in its query string), like
Django's own "delete selected", so "all N matching this filter" is re-evaluated by the same
changelist code at confirmation, and the action's permission is checked again on that POST.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.admin.filters import group_autocomplete_url
from accounts.bulk import BULK_ACTIONS, BulkActionError, bulk_options
from accounts.bulk_tasks import bulk_action_now, bulk_action_queue
from accounts.models import Account, Group, Product
from accounts.removal import removal_summaries
from governance.audit.record import Actor
from governance.runs.models import RunStatus, RunTrigger, TaskRun

SAMPLE_SIZE = 10
REMOVAL_SUMMARY_LIMIT = 2000  # accounts: planning each one's removal costs a few queries per 500
CONFIRM_FIELD = "bulk_confirm"


class BulkActionForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        error_messages={"required": "Give a reason: it is recorded in the audit trail of every account."},
    )

    def __init__(self, *args, action_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.action_name = action_name
        self.needs = needs = BULK_ACTIONS[action_name].needs
        if needs == "group":
            # An id from the autocomplete box; never a <select> of every group.
            self.fields["group"] = forms.IntegerField(
                widget=forms.HiddenInput, error_messages={"required": "Choose a group."}
            )
            if action_name == "add_to_group":
                self.fields["expires_at"] = forms.DateTimeField(
                    required=False,
                    label="Access until",
                    help_text="Optional, UTC: warned 7 and 1 days ahead, removed on that day.",
                    widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                )
        elif needs == "product":
            self.fields["product"] = forms.ModelChoiceField(
                queryset=Product.objects.order_by("name", "key"), error_messages={"required": "Choose a product."}
            )

    def params(self) -> dict:
        params = {"reason": self.cleaned_data["reason"]}
        if self.needs == "group":
            params["group"] = self.cleaned_data["group"]
            if self.cleaned_data.get("expires_at"):
                params["expires_at"] = self.cleaned_data["expires_at"].isoformat()
        if self.needs == "product":
            params["product"] = self.cleaned_data["product"].pk
        return params

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:  # the service's own checks (unknown group, IdP-synced group ...), before anything runs
                bulk_options(action=self.action_name, params=self.params())
            except BulkActionError as exc:
                raise forms.ValidationError(str(exc)) from None
        return cleaned


def run_bulk_action(modeladmin, request, queryset, action_name: str):
    """Entry point of every bulk admin action: confirm, then run inline or in the background."""
    spec = BULK_ACTIONS[action_name]
    if not request.user.has_perm(spec.permission):
        raise PermissionDenied
    confirming = CONFIRM_FIELD in request.POST
    form = BulkActionForm(request.POST if confirming else None, action_name=action_name)
    if confirming and form.is_valid():
        account_ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        if not account_ids:
            modeladmin.message_user(request, "No accounts match any more; nothing was done.", messages.WARNING)
            return None
        actor = Actor.from_request(request)
        if len(account_ids) > settings.BULK_ACTION_INLINE_LIMIT:
            run = bulk_action_queue(
                action=action_name,
                account_ids=account_ids,
                params=form.params(),
                actor=actor,
                trigger=RunTrigger.MANUAL,
            )
            messages.info(request, f"{spec.label} for {len(account_ids):,} accounts runs in the background.")
            return HttpResponseRedirect(reverse("admin:accounts_account_bulk_run", args=[run.pk]))
        outcome = bulk_action_now(
            action=action_name, account_ids=account_ids, params=form.params(), actor=actor, trigger=RunTrigger.MANUAL
        )
        # POST, redirect, GET: reloading the result page shows it again, never runs the action again.
        _keep_result(request, spec.label, outcome)
        return HttpResponseRedirect(reverse("admin:accounts_account_bulk_result", args=[outcome.correlation_id]))
    return _render(modeladmin, request, "bulk_confirm.html", _confirm_context(request, queryset, spec, form))


def _confirm_context(request, queryset, spec, form) -> dict:
    group_id = form.data.get("group", "") if spec.needs == "group" else ""
    count = queryset.count()
    sample = list(queryset[:SAMPLE_SIZE])
    return {
        "spec": spec,
        "form": form,
        "count": count,
        "sample": sample,
        "more": count - len(sample),
        "back_url": request.get_full_path(),
        "action_name": request.POST.get("action", ""),
        "select_across": request.POST.get("select_across", "0"),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "confirm_field": CONFIRM_FIELD,
        "autocomplete_url": group_autocomplete_url(),
        "chosen_group": Group.objects.filter(pk=group_id).first() if group_id.isdigit() else None,
        "inline_limit": settings.BULK_ACTION_INLINE_LIMIT,
        "removals": _removals(queryset, count) if spec.needs == "product" else None,
        "removals_limit": REMOVAL_SUMMARY_LIMIT,
    }


def _removals(queryset, count: int):
    """Per product, the seats removing it frees and who is left alone for a decision (the product
    comes through a group that also grants something else); for selections small enough to plan."""
    if count > REMOVAL_SUMMARY_LIMIT:
        return None
    summaries = removal_summaries(queryset.order_by().values_list("pk", flat=True))
    names = dict(
        Account.objects.filter(pk__in={pk for s in summaries for pk, _ in s.needs_review[:SAMPLE_SIZE]}).values_list(
            "pk", "name"
        )
    )
    return [
        {
            "summary": summary,
            "sample": [(names.get(pk) or f"#{pk}", why) for pk, why in summary.needs_review[:SAMPLE_SIZE]],
            "more": max(0, len(summary.needs_review) - SAMPLE_SIZE),
        }
        for summary in summaries
    ]


# The session keeps the last few inline results, for their result pages (reload, back button).
_RESULTS_KEY, _RESULTS_KEPT = "portal_bulk_results", 5


def _keep_result(request, label: str, outcome) -> None:
    kept = [
        entry for entry in request.session.get(_RESULTS_KEY, []) if entry["correlation_id"] != outcome.correlation_id
    ]
    kept.append(
        {
            "correlation_id": outcome.correlation_id,
            "label": label,
            "total": outcome.total,
            "counts": dict(outcome.counts),
            "not_started": len(outcome.not_started),
            "continued_in": outcome.continued_in.pk if outcome.continued_in else None,
            "results": [
                {"account_pk": r.account_pk, "account": r.account, "outcome": str(r.outcome), "message": r.message}
                for r in outcome.results
            ],
        }
    )
    request.session[_RESULTS_KEY] = kept[-_RESULTS_KEPT:]


def bulk_result_view(modeladmin, request, correlation_id: str):
    """The result of an inline bulk action, as kept in this user's session after it ran."""
    if not modeladmin.has_view_permission(request):
        raise PermissionDenied
    entry = next((e for e in request.session.get(_RESULTS_KEY, []) if e["correlation_id"] == correlation_id), None)
    if entry is None:
        raise Http404("This result is no longer kept; the audit log has every change.")
    context = {"spec": {"label": entry["label"]}, "outcome": entry, "audit_url": _audit_url(correlation_id)}
    return _render(modeladmin, request, "bulk_result.html", context, title=entry["label"])


def bulk_run_view(modeladmin, request, run_id: int):
    """Progress of a background bulk action; the page refreshes itself until the run ends."""
    if not modeladmin.has_view_permission(request):
        raise PermissionDenied
    run = get_object_or_404(TaskRun, pk=run_id, name="bulk_action")
    progress = run.progress or {}
    total = progress.get("total") or 0
    context = {
        "run": run,
        "running": run.status == RunStatus.RUNNING,
        "done": progress.get("done") or 0,
        "total": total,
        # Past 1: an earlier task spent its time budget and a follow-up task goes on (accounts/bulk_tasks.py).
        "part": progress.get("part") or 1,
        "percent": int(100 * (progress.get("done") or 0) / total) if total else 0,
        "counts": run.counts or {},
        "audit_url": _audit_url(run.correlation_id),
        "run_url": reverse("admin:governance_taskrun_change", args=[run.pk]),
        "can_view_runs": request.user.has_perm("governance.view_taskrun"),
    }
    return _render(modeladmin, request, "bulk_run.html", context, title=f"Bulk action: {run.subject}")


def _audit_url(correlation_id: str) -> str:
    return reverse("admin:governance_auditevent_changelist") + f"?q={correlation_id}"


def _render(modeladmin, request, template: str, context: dict, *, title: str = ""):
    opts = modeladmin.model._meta
    spec = context.get("spec")
    return TemplateResponse(
        request,
        f"admin/accounts/account/{template}",
        {
            **modeladmin.admin_site.each_context(request),
            "opts": opts,
            "title": title or (spec.label if spec else "Bulk action"),
            "changelist_url": reverse("admin:accounts_account_changelist"),
            "can_view_audit": request.user.has_perm("governance.view_auditevent"),
            **context,
        },
    )

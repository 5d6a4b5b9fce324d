""" "Run now" of a policy that changes things (review or enforce mode): a confirmation page first.

It shows what the run would do at this moment (counts per action, the cap check, seats freed) and
asks for a reason, recorded with the run (``policy.run_started``); only then is the run queued
(enforce: remote calls outlast a web request) or run (review). The number of accounts confirmed
goes with it: a run that finds more due by the time it starts halts instead of acting on them.
"""

from django import forms
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django_q.tasks import async_task

from accounts.bulk_tasks import actor_spec
from governance.audit.record import Actor
from policies.admin.forms import ReasonForm
from policies.models import InactivityPolicy, PolicyAction, PolicyMode
from policies.selectors.preview import policy_preview

# What an enforcing run does to the accounts due, per action (the confirmation's first line).
ACTION_VERBS = {
    PolicyAction.NOTIFY: "Send the action email (notify only) to",
    PolicyAction.REMOVE_PRODUCT_ACCESS: "Remove the policy's products from",
    PolicyAction.SUSPEND: "Suspend",
    PolicyAction.DEACTIVATE: "Deactivate",
    PolicyAction.DELETE: "Delete",
}


class RunNowForm(ReasonForm):
    # How many accounts the page showed as due: the run halts if it finds more.
    confirmed_act = forms.IntegerField(min_value=0, widget=forms.HiddenInput)


def needs_confirmation(policy: InactivityPolicy, *, dry_run: bool) -> bool:
    """A dry run, or any run of a policy in preview mode, changes nothing: no confirmation."""
    return not dry_run and policy.mode != PolicyMode.PREVIEW


def confirm_view(modeladmin, request, policy: InactivityPolicy, run_inline):
    """GET: the confirmation page. POST: with a reason, queue (enforce) or run (review) the run;
    without one, the page again with the error. ``run_inline(reason, confirmed_act)`` runs a
    review-mode policy in the request and returns the redirect."""
    form = RunNowForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        reason, confirmed = form.cleaned_data["reason"], form.cleaned_data["confirmed_act"]
        if policy.mode == PolicyMode.ENFORCE:
            return _queue(request, policy, reason=reason, confirmed_act=confirmed)
        return run_inline(reason, confirmed)
    preview = policy_preview(policy, timezone.now())
    if not form.is_bound:
        form = RunNowForm(initial={"confirmed_act": preview.today_counts["act"]})
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Run {policy.name} now?",
        "opts": modeladmin.opts,
        "original": policy,
        "policy": policy,
        "preview": preview,
        "form": form,
        "enforcing": policy.mode == PolicyMode.ENFORCE,
        "action_verb": ACTION_VERBS.get(PolicyAction(policy.action), policy.get_action_display()),
        "seats_today": [seat for seat in preview.seats if seat.today],
        "change_url": reverse("admin:policies_inactivitypolicy_change", args=[policy.pk]),
        "preview_url": reverse("admin:policies_inactivitypolicy_preview", args=[policy.pk]),
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/policies/inactivitypolicy/run_confirm.html", context)


def _queue(request, policy, *, reason: str, confirmed_act: int):
    async_task(
        "policies.tasks.run_policy_now",
        policy.pk,
        actor_spec(Actor.from_request(request)),
        reason,
        confirmed_act,
        task_name=f"policy-run-now:{policy.pk}",
        group="policy",
    )
    history = reverse("admin:policies_policyrun_changelist") + f"?policy={policy.pk}"
    messages.info(
        request,
        format_html('Run of {} queued; it appears in the <a href="{}">run history</a>.', policy.name, history),
    )
    return HttpResponseRedirect(reverse("admin:policies_inactivitypolicy_change", args=[policy.pk]))

""" "Sync now" (POST) and the sync progress page, mounted under the organizations' admin.

Syncing takes the organization's change permission (Portal admins): it spends the organization's
rate-limit budget. The progress page reads the sync's run row and refreshes itself (a meta refresh,
no script: Content-Security-Policy) until the run ends; anyone who may view organizations may
watch it.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.sync.requests import organization_sync_request
from accounts.sync.status import sync_progress
from governance.audit.record import Actor
from governance.runs.models import RunStatus, TaskRun


def sync_now_view(modeladmin, request, object_id):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    organization = modeladmin.get_object(request, object_id)
    if organization is None:
        raise Http404("No such organization.")
    if not modeladmin.has_change_permission(request, organization):
        raise PermissionDenied
    outcome = organization_sync_request(organization=organization, actor=Actor.from_request(request))
    if outcome.queued:
        messages.success(request, f"A sync of {organization} is queued; it starts when a task worker is free.")
    else:
        state = "queued" if outcome.run.status == RunStatus.QUEUED else "running"
        messages.info(request, f"A sync of {organization} is already {state}: here is its progress.")
    return HttpResponseRedirect(reverse("admin:accounts_organization_sync_run", args=[outcome.run.pk]))


def sync_run_view(modeladmin, request, run_id: int):
    if not modeladmin.has_view_permission(request):
        raise PermissionDenied
    run = get_object_or_404(TaskRun, pk=run_id, name="sync")
    active = run.status in (RunStatus.QUEUED, RunStatus.RUNNING)
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.opts,
        "title": f"Sync of {run.organization}",
        "run": run,
        "active": active,
        "queued": run.status == RunStatus.QUEUED,
        "progress": sync_progress(run),
        "counts": run.counts or {},
        "run_url": reverse("admin:governance_taskrun_change", args=[run.pk]),
        "can_view_runs": request.user.has_perm("governance.view_taskrun"),
        "accounts_url": reverse("admin:accounts_account_changelist"),
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/accounts/organization/sync_run.html", context)

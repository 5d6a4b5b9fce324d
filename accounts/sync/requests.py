""" "Sync now" from the admin: one queued or running sync per organization, handed to a task worker.

The scheduled sync and a manual one are the same work (``organization_sync``, under the
organization's sync lease). A request opens a ``queued`` run row and queues
``accounts.tasks.sync_organization_now`` for it; a second request while one is queued or running
is merged into it (the caller shows that run's progress) rather than queued behind it. A queued
row no worker ever picked up (the cluster was down) stops counting after ``QUEUED_RUN_EXPIRY``
and is closed as failed by the next request.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from accounts.models import Organization
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from governance.runs.models import RunStatus, RunTrigger, TaskRun
from governance.runs.services import task_run_finish, task_run_queue

NEVER_STARTED = "Never started: no task worker picked it up in time (is the task cluster running?)."


def queued_run_expiry() -> timedelta:
    # The ORM broker hands an unacknowledged task out again after Q_CLUSTER["retry"]; past it and
    # the task's own timeout, a row still queued will not be started by anyone.
    return timedelta(seconds=settings.TASK_TIMEOUT + 300)


@dataclass(frozen=True)
class SyncRequest:
    run: TaskRun
    queued: bool  # False: merged into a sync already queued or running


def sync_in_progress(organization: Organization, *, now=None) -> TaskRun | None:
    """The organization's sync run that is queued (and not expired) or running, if any."""
    now = now or timezone.now()
    runs = TaskRun.objects.filter(name="sync", organization=organization.org_id)
    running = runs.filter(status=RunStatus.RUNNING).order_by("-started_at").first()
    if running is not None:
        return running
    fresh = now - queued_run_expiry()
    return runs.filter(status=RunStatus.QUEUED, started_at__gte=fresh).order_by("-started_at").first()


def organization_sync_request(*, organization: Organization, actor: Actor, now=None) -> SyncRequest:
    """Queue a full sync of ``organization`` now, unless one is queued or running already.

    One ``sync.requested`` audit event when a sync is queued; nothing is recorded for a merged
    request (the sync it joined records its own outcome).
    """
    now = now or timezone.now()
    with transaction.atomic():
        # SQLite: the transaction holds the write lock from its start (BEGIN IMMEDIATE). PostgreSQL:
        # the organization's row lock serialises two clicks, so both never see "nothing queued".
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        _close_never_started(organization, now=now)
        current = sync_in_progress(organization, now=now)
        if current is not None:
            return SyncRequest(current, queued=False)
        run = task_run_queue(
            name="sync", trigger=RunTrigger.MANUAL, organization=organization.org_id, started_by=actor.name
        )
        record_event(
            actor=actor,
            action=AuditAction.SYNC_REQUESTED,
            target=organization,
            organization=organization.org_id,
            after={"run": run.pk},
        )
        # Queued once the run row is committed, so the worker always finds it.
        transaction.on_commit(lambda: _queue(run, actor))
    return SyncRequest(run, queued=True)


def _queue(run: TaskRun, actor: Actor) -> None:
    from accounts.bulk_tasks import actor_spec

    try:
        async_task(
            "accounts.tasks.sync_organization_now",
            run.pk,
            actor_spec(actor),
            task_name=f"sync_now:{run.pk}",
            group="sync",
        )
    except Exception as exc:
        # A row no worker will ever get must not show "queued" and block the next request.
        task_run_finish(run=run, status=RunStatus.FAILED, error=f"Could not queue the sync: {exc}")
        raise


def _close_never_started(organization: Organization, *, now) -> None:
    TaskRun.objects.filter(
        name="sync",
        organization=organization.org_id,
        status=RunStatus.QUEUED,
        started_at__lt=now - queued_run_expiry(),
    ).update(status=RunStatus.FAILED, finished_at=now, error=NEVER_STARTED)

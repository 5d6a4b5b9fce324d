"""Writes for run records. A run row is committed on its own so it survives the run's failure.

A worker killed mid-run (SIGKILL, OOM, a lost host) cannot close its row. Such rows are closed
by the next run of the same work, marked failed with an explanation, once nothing can still be
working on them: the run is still ``running`` after ``TASK_TIMEOUT`` (django-q's own timeout)
and the lease that guards it (``governance.runs.locks``) is not held by anyone else. A live run
renews its lease, so a manual run that legitimately outlasts ``TASK_TIMEOUT`` is left alone.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.logging import redact
from governance.runs import locks
from governance.runs.models import RunStatus, RunTrigger, TaskRun

_EXCERPT_LIMIT = 4000
ABANDONED = (
    "Abandoned: the worker stopped without finishing (killed or crashed) and its lease expired; "
    "closed by a later run of the same work."
)

log = logging.getLogger(__name__)

# How to find the lease a run of each name holds while it works: run name -> (run -> lease name).
# The apps that own the runs register them (register_run_lease, from their AppConfig.ready); runs
# of other names hold none (or are too short to outlive TASK_TIMEOUT) and are judged by age alone.
RUN_LEASES: dict[str, Callable[[TaskRun], str | None]] = {}


def register_run_lease(name: str, lease_of: Callable[[TaskRun], str | None]) -> None:
    """Runs named ``name`` hold the lease ``lease_of(run)`` names (None: this run holds none)."""
    RUN_LEASES[name] = lease_of


def task_run_start(
    *,
    name: str,
    trigger: str = RunTrigger.SCHEDULE,
    organization: str = "",
    subject: str = "",
    correlation_id: str = "",
    started_by: str = "",
    lease_holder: str | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> TaskRun:
    """Open a run row. ``lease_holder``: the caller's holder id when it holds the work's lease;
    ``dry_run``: the run only reports."""
    now = now or timezone.now()
    with transaction.atomic():
        task_runs_close_abandoned(
            name=name, organization=organization, subject=subject, lease_holder=lease_holder, now=now
        )
        return TaskRun.objects.create(
            name=name,
            trigger=trigger,
            organization=organization,
            subject=subject,
            started_at=now,
            correlation_id=correlation_id,
            started_by=started_by,
            dry_run=dry_run,
        )


def task_runs_close_abandoned(
    *,
    name: str,
    organization: str = "",
    subject: str = "",
    lease_holder: str | None = None,
    now: datetime | None = None,
) -> int:
    """Mark failed the runs of this work still ``running`` after ``TASK_TIMEOUT`` whose lease
    nobody but ``lease_holder`` (the caller) holds; return how many."""
    now = now or timezone.now()
    stale = list(
        TaskRun.objects.filter(
            name=name,
            organization=organization,
            subject=subject,
            status=RunStatus.RUNNING,
            started_at__lt=now - timedelta(seconds=settings.TASK_TIMEOUT),
        ).only("pk", "name", "organization", "subject")
    )
    lease_of = RUN_LEASES.get(name)
    if lease_of and stale:
        leases = {run.pk: lease_of(run) for run in stale}
        live = locks.held_by_others({n for n in leases.values() if n}, holder=lease_holder)
        stale = [run for run in stale if leases[run.pk] not in live]
    if not stale:
        return 0
    closed = TaskRun.objects.filter(pk__in=[run.pk for run in stale], status=RunStatus.RUNNING).update(
        status=RunStatus.FAILED, finished_at=now, error=ABANDONED
    )
    if closed:
        log.warning("Closed %d abandoned %s run(s) of %s %s", closed, name, organization, subject)
    return closed


def task_run_queue(
    *, name: str, trigger: str = RunTrigger.MANUAL, organization: str = "", subject: str = "", started_by: str = ""
) -> TaskRun:
    """Open a run row for work handed to a task worker: ``queued`` until ``task_run_begin``, so the
    page that asked can show it at once and a second request can find it."""
    return TaskRun.objects.create(
        name=name,
        trigger=trigger,
        organization=organization,
        subject=subject,
        started_at=timezone.now(),
        status=RunStatus.QUEUED,
        started_by=started_by,
    )


def task_run_begin(
    *, run: TaskRun, correlation_id: str = "", lease_holder: str | None = None, now: datetime | None = None
) -> bool:
    """Turn a queued run into a running one (its start time now). False when it was not queued any
    more (a task delivered twice, or a run closed as never started): the caller does nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        task_runs_close_abandoned(
            name=run.name, organization=run.organization, subject=run.subject, lease_holder=lease_holder, now=now
        )
        won = TaskRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING, started_at=now, correlation_id=correlation_id
        )
    if won:
        run.status, run.started_at, run.correlation_id = RunStatus.RUNNING, now, correlation_id
    return bool(won)


def task_run_progress(*, run: TaskRun, done: int, total: int | None = None, **details: object) -> None:
    """Record how far a run is (``details``: anything else the progress page shows, e.g. a phase)."""
    run.progress = {"done": done, "total": total, **details}
    TaskRun.objects.filter(pk=run.pk).update(progress=run.progress)


def task_run_finish(
    *,
    run: TaskRun,
    status: str = RunStatus.SUCCEEDED,
    counts: dict[str, Any] | None = None,
    error: str = "",
    log_lines: list[str] | None = None,
    now: datetime | None = None,
) -> TaskRun:
    """Close a run. Error text and log lines pass through the secret redactor first."""
    run.finished_at = now or timezone.now()
    run.status = status
    if counts is not None:
        run.counts = counts
    run.error = redact(error)[:_EXCERPT_LIMIT]
    if log_lines:
        run.log_excerpt = redact("\n".join(log_lines))[-_EXCERPT_LIMIT:]
    with transaction.atomic():
        run.save(update_fields=["finished_at", "status", "counts", "error", "log_excerpt"])
    return run

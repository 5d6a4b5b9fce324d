"""Writes for run records. A run row is committed on its own so it survives the run's failure.

A worker killed mid-run (SIGKILL, OOM, a lost host) cannot close its row. Such rows are closed
by the next run of the same work: a run still ``running`` after ``TASK_TIMEOUT`` is past its
lease (``governance.runs.locks``; leases are not renewed) and past django-q's own timeout, so
nothing can still be working on it. It is marked failed, with an explanation, when the next run
of the same name, organization and subject starts.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.logging import redact
from governance.runs.models import RunStatus, RunTrigger, TaskRun

_EXCERPT_LIMIT = 4000
ABANDONED = (
    "Abandoned: the worker stopped without finishing (killed or crashed) and its lease expired; "
    "closed by a later run of the same work."
)

log = logging.getLogger(__name__)


def task_run_start(
    *,
    name: str,
    trigger: str = RunTrigger.SCHEDULE,
    organization: str = "",
    subject: str = "",
    correlation_id: str = "",
    started_by: str = "",
    now=None,
) -> TaskRun:
    now = now or timezone.now()
    with transaction.atomic():
        task_runs_close_abandoned(name=name, organization=organization, subject=subject, now=now)
        return TaskRun.objects.create(
            name=name,
            trigger=trigger,
            organization=organization,
            subject=subject,
            started_at=now,
            correlation_id=correlation_id,
            started_by=started_by,
        )


def task_runs_close_abandoned(*, name: str, organization: str = "", subject: str = "", now=None) -> int:
    """Mark failed the runs of this work still ``running`` after ``TASK_TIMEOUT``; return how many."""
    now = now or timezone.now()
    stale = TaskRun.objects.filter(
        name=name,
        organization=organization,
        subject=subject,
        status=RunStatus.RUNNING,
        started_at__lt=now - timedelta(seconds=settings.TASK_TIMEOUT),
    )
    closed = stale.update(status=RunStatus.FAILED, finished_at=now, error=ABANDONED)
    if closed:
        log.warning("Closed %d abandoned %s run(s) of %s %s", closed, name, organization, subject)
    return closed


def task_run_progress(*, run: TaskRun, done: int, total: int | None = None) -> None:
    run.progress = {"done": done, "total": total}
    TaskRun.objects.filter(pk=run.pk).update(progress=run.progress)


def task_run_finish(
    *,
    run: TaskRun,
    status: str = RunStatus.SUCCEEDED,
    counts: dict | None = None,
    error: str = "",
    log_lines: list[str] | None = None,
    now=None,
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

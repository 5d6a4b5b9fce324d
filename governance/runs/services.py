"""Writes for run records. A run row is committed on its own so it survives the run's failure."""

from django.db import transaction
from django.utils import timezone

from governance.logging import redact
from governance.runs.models import RunStatus, RunTrigger, TaskRun

_EXCERPT_LIMIT = 4000


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
    with transaction.atomic():
        return TaskRun.objects.create(
            name=name,
            trigger=trigger,
            organization=organization,
            subject=subject,
            started_at=now or timezone.now(),
            correlation_id=correlation_id,
            started_by=started_by,
        )


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

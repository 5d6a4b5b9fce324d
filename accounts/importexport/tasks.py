"""The django-q2 task behind imports too big for a web request (thin: it calls
:func:`accounts.importexport.background.import_apply_in_background` under the admin's TaskRun)."""

from datetime import timedelta

from django.conf import settings

from accounts.importexport.background import import_apply_in_background
from accounts.leases import import_lease
from governance.runs import locks
from governance.runs.models import RunStatus, TaskRun


def run_import(run_id: int, spec: dict) -> dict:
    """Apply a confirmed import; progress and outcome go to TaskRun ``run_id``.

    A task delivered twice (a worker killed mid-run) finds the run's lease held or the run closed,
    and does nothing.
    """
    lease = locks.hold(import_lease(run_id), ttl=timedelta(seconds=settings.TASK_TIMEOUT))
    if lease is None:
        return {"skipped": "another worker is running this import"}
    try:
        run = TaskRun.objects.get(pk=run_id)
        if run.status != RunStatus.RUNNING or run.finished_at is not None:
            return {"skipped": f"run {run_id} is already {run.status}"}
        return import_apply_in_background(run=run, spec=spec)
    finally:
        lease.release()

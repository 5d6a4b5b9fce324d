"""Imports too big for a web request: applied by a task worker under a run record.

The admin's confirm step hands over what it has checked (the stored upload, the organization,
what the file is, the plan's fingerprint) when the plan changes more than
``IMPORT_BACKGROUND_ROWS`` accounts. The worker reads the upload again, plans it again against
the mirror as it is then, and applies it only when the plan is still the one the person
confirmed: the same validation and the same services and audit events as an import inside the
request. Progress (rows handled of the plan's rows) and the outcome go to the run record, which
the import's run page shows.
"""

import logging
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError
from django.utils.module_loading import import_string
from django_q.tasks import async_task

from accounts.bulk_tasks import actor_from_spec, actor_spec
from accounts.clients import MissingCredentials, client_for
from accounts.importexport.apply import ChangePlan, apply_changes
from accounts.importexport.seed import SeedPlan, apply_seed
from accounts.importexport.views import CHANGES, build_preview
from accounts.models import Organization
from governance.audit.record import Actor, new_correlation_id
from governance.heap import release_free_memory
from governance.runs.models import RunStatus, RunTrigger, TaskRun
from governance.runs.services import task_run_finish, task_run_progress, task_run_start

logger = logging.getLogger(__name__)
PROGRESS_EVERY = 25  # rows between two progress writes (a change row is a few Atlassian calls)
PLAN_CHANGED = (
    "Nothing was applied: the mirror changed since the preview (or the file no longer passes its checks). "
    "Upload the file again to see the new preview."
)


def upload_storage(name: str):
    """The import's temporary storage (IMPORT_EXPORT_TMP_STORAGE_CLASS, shared by every process)."""
    return import_string(settings.IMPORT_EXPORT_TMP_STORAGE_CLASS)(name=name, read_mode="rb", encoding=None)


def import_start_in_background(
    *,
    kind: str,
    storage_name: str,
    file_name: str,
    organization: Organization,
    exported_at: datetime | None,
    plan_digest: str,
    changes: int,
    actor: Actor,
) -> TaskRun:
    """Open the import's run record and queue it for a worker."""
    what = "changes in Atlassian" if kind == CHANGES else "mirror seed"
    run = task_run_start(
        name="import",
        trigger=RunTrigger.MANUAL,
        organization=organization.org_id,
        subject=f"Import ({what}) “{file_name}”: {changes:,} accounts"[:200],
        correlation_id=new_correlation_id(),
        started_by=actor.name,
    )
    task_run_progress(run=run, done=0, total=changes)
    spec = {
        "kind": kind,
        "storage": storage_name,
        "file_name": file_name,
        "organization": organization.pk,
        "exported_at": exported_at.isoformat() if exported_at else None,
        "plan_digest": plan_digest,
        "actor": actor_spec(actor),
    }
    try:
        async_task("accounts.importexport.tasks.run_import", run.pk, spec, task_name=f"import:{run.pk}", group="import")
    except Exception as exc:
        # A run row that never gets a worker must not show "running" forever.
        task_run_finish(run=run, status=RunStatus.FAILED, error=f"Could not queue the import: {exc}")
        raise
    return run


def import_apply_in_background(*, run: TaskRun, spec: dict) -> dict:
    """Plan the stored upload again and apply it if it is still what was confirmed; close ``run``."""
    actor = actor_from_spec(spec["actor"])
    organization = Organization.objects.get(pk=spec["organization"])
    storage = upload_storage(spec["storage"])
    try:
        data = storage.read()
    except FileNotFoundError:
        data = None
    if not data:
        task_run_finish(run=run, status=RunStatus.FAILED, error="The uploaded file is no longer available.")
        return {"failed": "upload expired"}
    exported_at = datetime.fromisoformat(spec["exported_at"]) if spec.get("exported_at") else None
    preview = build_preview(
        data=data,
        file_name=spec["file_name"],
        kind=spec["kind"],
        organization=organization,
        user=actor.user,
        exported_at=exported_at,
    )
    del data  # planned: the upload's bytes (20 MB at 100,000 rows) are not kept through the apply
    release_free_memory()  # nor their pages, under the apply's rows (governance/heap.py)
    if not preview.ok or preview.plan is None or preview.fingerprint() != spec["plan_digest"]:
        storage.remove()
        task_run_finish(run=run, status=RunStatus.FAILED, error=PLAN_CHANGED)
        return {"failed": "plan changed"}
    total = preview.changes

    def progress(done: int) -> None:
        if done == total or done % PROGRESS_EVERY == 0:
            task_run_progress(run=run, done=done, total=total)

    status, counts, error = RunStatus.SUCCEEDED, {"kind": spec["kind"], **preview.plan.counts()}, ""
    if spec["kind"] == CHANGES:
        try:
            with client_for(organization) as client:
                assert isinstance(preview.plan, ChangePlan)  # a changes file plans changes
                report = apply_changes(
                    plan=preview.plan, client=client, actor=actor, correlation_id=run.correlation_id, progress=progress
                )
        except MissingCredentials as exc:
            report, error = None, str(exc)
        if report is None:
            status = RunStatus.FAILED
        else:
            counts.update(report.counts())
            failed = report.failed
            if failed:
                status = RunStatus.FAILED
                counts["failed_row"] = failed.row
                error = (
                    f"The import stopped at row {failed.row} ({failed.label}): {failed.error}. Rows before it were "
                    "applied; rows after it were not attempted, except those already under way (several run at a "
                    "time; the counts say how many were applied)."
                )
    else:
        try:
            assert isinstance(preview.plan, SeedPlan)  # an Atlassian export plans a seed
            outcome = apply_seed(plan=preview.plan, actor=actor, correlation_id=run.correlation_id)
        except DatabaseError as exc:
            logger.exception("Background seed import of %r into %s failed", spec["file_name"], organization)
            status, error = RunStatus.FAILED, f"The import was not applied: {exc}; nothing was changed."
        else:
            counts.update(outcome.counts, events=outcome.events)
            progress(total)
    storage.remove()
    task_run_finish(run=run, status=status, counts=counts, error=error)
    return counts

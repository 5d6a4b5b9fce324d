"""Every recurring job the portal runs, in one list, applied by ``manage.py setup_schedules``.

Functions are named by dotted path so this bottom layer imports nothing from the apps above it.
"""

from dataclasses import dataclass
from datetime import datetime

from croniter import croniter
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule

from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from governance.taskqueue.allowlist import is_portal_function

PREFIX = "portal:"


@dataclass(frozen=True)
class Job:
    name: str
    func: str
    cron: str
    help: str
    args: tuple = ()


def declared_jobs() -> list[Job]:
    """The bottom layer's own jobs plus those of the apps above, found through
    ``PORTAL_SCHEDULE_PROVIDERS`` (dotted paths), so this module imports no upper layer."""
    jobs = _own_jobs()
    for provider in settings.PORTAL_SCHEDULE_PROVIDERS:
        jobs += import_string(provider)()
    return jobs


def _own_jobs() -> list[Job]:
    return [
        Job(
            name="portal:sync-atlassian",
            func="accounts.tasks.sync_all_organizations",
            cron=settings.SYNC_SCHEDULE_CRON,
            help="Mirror every organization from Atlassian.",
        ),
        Job(
            name="portal:verify-audit-log",
            func="governance.tasks.verify_audit_log",
            cron="43 3 * * *",
            help="Check the audit chain against its anchors, append a new anchor; report a break.",
        ),
        Job(
            name="portal:retry-webhooks",
            func="governance.notifications.tasks.retry_webhook_deliveries",
            cron="* * * * *",
            help="Send the webhook deliveries that are due (retries after a failure, with growing waits).",
        ),
        Job(
            name="portal:prune-webhook-deliveries",
            func="governance.notifications.tasks.prune_webhook_deliveries",
            cron="23 4 * * *",
            help="Delete delivered and given-up webhook deliveries older than WEBHOOK_DELIVERY_RETENTION_DAYS.",
        ),
        Job(
            name="portal:anchor-audit-log",
            func="governance.tasks.anchor_audit_log",
            cron="7 * * * *",
            help="Hourly anchor of the audit chain's head outside the database (after checking the chain).",
        ),
    ]


def _next_run(cron: str, now: datetime) -> datetime:
    return croniter(cron, now).get_next(datetime)


def _args(job: Job) -> str | None:
    """django-q2 stores positional arguments as the repr of a tuple (read back with literal_eval)."""
    return repr(tuple(job.args)) if job.args else None


def apply_schedules(
    *, jobs: list[Job] | None = None, now: datetime | None = None, names: set[str] | None = None
) -> dict[str, str]:
    """Create, update or remove django-q2 schedules so they match the declared list. Idempotent.

    ``names`` narrows the work to those schedules (a policy saved in the admin re-applies its own
    schedule only); by default every ``portal:`` schedule is managed and the undeclared ones go.
    ``next_run`` is set from the cron whenever a schedule is new or its cron changed (django-q2
    only computes it for new rows, and defaults it to "now", which would fire at once).
    """
    now = now or timezone.now()
    jobs = declared_jobs() if jobs is None else jobs
    if names is not None:
        jobs = [job for job in jobs if job.name in names]
    foreign = sorted({job.func for job in jobs if not is_portal_function(job.func)})
    if foreign:
        # The cluster would refuse them at every run (governance.taskqueue.guard): fail here, loudly.
        raise ImproperlyConfigured(f"Not in PORTAL_TASK_FUNCTIONS, so never scheduled: {', '.join(foreign)}.")
    outcome: dict[str, str] = {}
    with transaction.atomic():
        for job in jobs:
            outcome.update(_apply_one(job, now))
        managed = Schedule.objects.filter(name__startswith=PREFIX)
        if names is not None:
            managed = managed.filter(name__in=names)
        for stale in managed.exclude(name__in={job.name for job in jobs}):
            outcome[stale.name] = "deleted"
            stale.delete()
        changes = {name: what for name, what in outcome.items() if what != "unchanged"}
        if changes:
            record_event(
                actor=Actor.system("setup_schedules"),
                action=AuditAction.SCHEDULES_APPLIED,
                target_type="django_q.schedule",
                target_repr="schedules",
                after=changes,
            )
    return outcome


def _apply_one(job: Job, now: datetime) -> dict[str, str]:
    outcome = {}
    rows = list(Schedule.objects.select_for_update().filter(name=job.name).order_by("id"))
    for duplicate in rows[1:]:  # the name is not unique in django-q2's table
        duplicate.delete()
        outcome[job.name + " (duplicate)"] = "deleted"
    schedule = rows[0] if rows else None
    if schedule is None:
        schedule = Schedule.objects.create(
            name=job.name, func=job.func, args=_args(job), schedule_type=Schedule.CRON, cron=job.cron, repeats=-1
        )
        # save() computes next_run from the wall clock for new rows; pin it to `now`.
        Schedule.objects.filter(pk=schedule.pk).update(next_run=_next_run(job.cron, now))
        outcome[job.name] = "created"
    elif (schedule.func, schedule.args or None, schedule.cron, schedule.schedule_type) != (
        job.func,
        _args(job),
        job.cron,
        Schedule.CRON,
    ):
        schedule.func, schedule.args, schedule.cron = job.func, _args(job), job.cron
        schedule.schedule_type, schedule.repeats = Schedule.CRON, -1
        schedule.save()
        Schedule.objects.filter(pk=schedule.pk).update(next_run=_next_run(job.cron, now))
        outcome[job.name] = "updated"
    else:
        outcome[job.name] = "unchanged"
    return outcome

from datetime import datetime

from croniter import croniter
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from governance.schedules import declared_jobs

PREFIX = "portal:"


def _next_run(cron: str, now: datetime) -> datetime:
    return croniter(cron, now).get_next(datetime)


def _args(job) -> str | None:
    """django-q2 stores positional arguments as the repr of a tuple (read back with literal_eval)."""
    return repr(tuple(job.args)) if job.args else None


def apply_schedules(*, jobs=None, now: datetime | None = None) -> dict[str, str]:
    """Create, update or remove django-q2 schedules so they match the declared list. Idempotent.

    ``next_run`` is set from the cron whenever a schedule is new or its cron changed (django-q2
    only computes it for new rows, and defaults it to "now", which would fire at once).
    """
    now = now or timezone.now()
    jobs = declared_jobs() if jobs is None else jobs
    outcome: dict[str, str] = {}
    with transaction.atomic():
        for job in jobs:
            rows = list(Schedule.objects.select_for_update().filter(name=job.name).order_by("id"))
            for duplicate in rows[1:]:  # the name is not unique in django-q2's table
                duplicate.delete()
                outcome[job.name + " (duplicate)"] = "deleted"
            schedule = rows[0] if rows else None
            if schedule is None:
                schedule = Schedule.objects.create(
                    name=job.name,
                    func=job.func,
                    args=_args(job),
                    schedule_type=Schedule.CRON,
                    cron=job.cron,
                    repeats=-1,
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
        declared = {job.name for job in jobs}
        for stale in Schedule.objects.filter(name__startswith=PREFIX).exclude(name__in=declared):
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


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules from governance.schedules (safe to re-run)."

    def handle(self, *args, **options):
        for name, what in apply_schedules().items():
            self.stdout.write(f"{what:>9}  {name}")

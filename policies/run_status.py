"""When each policy last ran, how that ended, and when it runs next: for the policy list and page.

Reads only. The last run is found by its subject (``policy:<pk> <name>``, policies.services.runs),
the next one in the policy's django-q2 schedule (policies.schedules), all as annotations: the
policy list costs the same few queries whatever the number of policies on the page.
"""

from dataclasses import dataclass
from datetime import datetime

from croniter import croniter
from django.db.models import CharField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Concat
from django_q.models import Schedule

from governance.runs.models import RunStatus, TaskRun
from policies.schedules import SCHEDULE_PREFIX


def with_run_status(policies: QuerySet) -> QuerySet:
    """``policies`` annotated with ``last_run_pk``, ``last_run_status``, ``last_run_at``,
    ``last_run_dry`` and ``scheduled_at`` (the schedule's next run; None without a schedule)."""
    subject = Concat(Value("policy:"), Cast(OuterRef("pk"), CharField()), Value(" "))
    latest = TaskRun.objects.filter(name="policy", subject__startswith=subject).order_by("-started_at", "-id")
    schedule = Schedule.objects.filter(name=Concat(Value(SCHEDULE_PREFIX), Cast(OuterRef("pk"), CharField())))
    return policies.annotate(
        last_run_pk=Subquery(latest.values("pk")[:1]),
        last_run_status=Subquery(latest.values("status")[:1]),
        last_run_at=Subquery(latest.values("started_at")[:1]),
        last_run_dry=Subquery(latest.values("dry_run")[:1]),
        scheduled_at=Subquery(schedule.order_by("id").values("next_run")[:1]),
    )


@dataclass(frozen=True)
class NextRun:
    at: datetime | None
    note: str = ""  # why there is none, or where the time comes from


def next_run(policy, now: datetime) -> NextRun:
    """From the policy's schedule (annotated by ``with_run_status``); from its cron when the
    schedule is not set up yet; none when the policy is disabled."""
    if not policy.enabled:
        return NextRun(None, "disabled: the schedule does not run it")
    scheduled = getattr(policy, "scheduled_at", None)
    if scheduled is not None:
        return NextRun(scheduled)
    try:
        return NextRun(croniter(policy.schedule_cron, now).get_next(datetime), "by its cron; schedule not set up")
    except (ValueError, KeyError):
        return NextRun(None, "no valid cron expression")


def status_label(status: str | None) -> str:
    return RunStatus(status).label if status in RunStatus.values else (status or "")

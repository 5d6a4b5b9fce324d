"""What the admin shows about syncs: per organization the last finished sync, the one queued or
running, and the next scheduled one (read-only selectors for the dashboard and the accounts list)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django_q.models import Schedule

from accounts.models import Organization
from accounts.sync.requests import queued_run_expiry
from governance.runs.models import RunStatus, TaskRun

SYNC_SCHEDULE_NAME = "portal:sync-atlassian"  # governance.schedules
PHASES = {
    "groups": "reading groups",
    "users": "reading and writing accounts",
    "finishing": "finishing (removals, seats)",
}


@dataclass(frozen=True)
class OrganizationSyncStatus:
    organization: Organization
    last: TaskRun | None  # the last finished sync
    current: TaskRun | None  # queued or running
    next_run: datetime | None  # the schedule's next slot


def next_scheduled_sync() -> datetime | None:
    return Schedule.objects.filter(name=SYNC_SCHEDULE_NAME).values_list("next_run", flat=True).first()


def sync_overview(*, now=None) -> list[OrganizationSyncStatus]:
    """Every organization's sync status in three queries, however many organizations and runs."""
    now = now or timezone.now()
    last_finished = (
        TaskRun.objects.filter(name="sync", organization=OuterRef("org_id"), finished_at__isnull=False)
        .exclude(status=RunStatus.QUEUED)
        .order_by("-finished_at", "-id")
        .values("pk")[:1]
    )
    organizations = list(Organization.objects.annotate(last_sync=Subquery(last_finished)).order_by("name", "pk"))
    if not organizations:
        return []
    fresh = now - queued_run_expiry()
    runs = TaskRun.objects.filter(
        Q(pk__in=[org.last_sync for org in organizations if org.last_sync])
        | Q(name="sync", status=RunStatus.RUNNING)
        | Q(name="sync", status=RunStatus.QUEUED, started_at__gte=fresh)
    ).order_by("-started_at", "-id")
    by_pk: dict[int, TaskRun] = {}
    current: dict[str, TaskRun] = {}
    for run in runs:
        by_pk[run.pk] = run
        if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            # A running sync wins over a queued one (sync_in_progress); else the newest.
            held = current.get(run.organization)
            if held is None or (held.status == RunStatus.QUEUED and run.status == RunStatus.RUNNING):
                current[run.organization] = run
    upcoming = next_scheduled_sync()
    return [
        OrganizationSyncStatus(org, by_pk.get(org.last_sync), current.get(org.org_id), upcoming)
        for org in organizations
    ]


def sync_progress(run: TaskRun) -> dict:
    """The progress page's figures from a sync's run row."""
    progress = run.progress or {}
    done, total = progress.get("done") or 0, progress.get("total") or 0
    return {
        "phase": PHASES.get(str(progress.get("phase") or ""), "starting"),
        "done": done,
        "total": total,
        "percent": min(100, int(100 * done / total)) if total else 0,
        "pages": progress.get("pages") or 0,
    }

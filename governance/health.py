"""What /healthz reports: database, task-cluster heartbeat, age of the last successful sync."""

from datetime import datetime

from django.conf import settings
from django.db import connection
from django.utils import timezone

from governance.runs.models import RunStatus, TaskRun

HEARTBEAT_MAX_AGE_SECONDS = 120


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def cluster_heartbeat() -> datetime | None:
    """Latest stat timestamp any django-q2 cluster wrote to the shared cache."""
    from django_q.status import Stat

    try:
        stats = Stat.get_all()
    except Exception:
        return None
    stamps = [s.timestamp for s in stats if getattr(s, "timestamp", None)]
    return max(stamps) if stamps else None


def last_successful_sync() -> datetime | None:
    return (
        TaskRun.objects.filter(name="sync", status=RunStatus.SUCCEEDED)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )


def _age(when: datetime | None, now: datetime) -> float | None:
    return round((now - when).total_seconds(), 1) if when else None


def health_report(*, now: datetime | None = None) -> tuple[bool, dict]:
    now = now or timezone.now()
    db_ok = database_ok()
    heartbeat_age = _age(cluster_heartbeat(), now)
    sync_age = _age(last_successful_sync(), now) if db_ok else None
    max_sync_age = settings.POLICY_MAX_SYNC_AGE * 3600
    checks = {
        "database": db_ok,
        "cluster": heartbeat_age is not None and heartbeat_age <= HEARTBEAT_MAX_AGE_SECONDS,
        # No sync yet is not a failure of this process; a stale one is.
        "sync": sync_age is None or sync_age <= max_sync_age,
    }
    body = {
        "status": "ok" if all(checks.values()) else "unhealthy",
        "database": "ok" if db_ok else "error",
        "cluster_heartbeat_age_seconds": heartbeat_age,
        "last_sync_age_seconds": sync_age,
        "checks": checks,
    }
    return all(checks.values()), body

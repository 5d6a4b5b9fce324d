"""django-q2 entry points of the access pages (thin: they call the services).

The broker may deliver a task twice (DJANGO-NOTES 1.1); every one of these is idempotent.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model

from governance.audit.record import Actor
from governance.ratelimit import purge_stale
from governance.runs.models import RunStatus
from governance.runs.services import task_run_finish, task_run_start
from policies.access import returns, services
from policies.models import AccessRequest


def actor_spec(actor: Actor) -> dict:
    """What a task needs to rebuild the actor in another process (no model instance in the queue)."""
    return {
        "kind": str(actor.kind),
        "name": actor.name,
        "user_id": getattr(actor.user, "pk", None),
        "client_ip": actor.client_ip,
    }


def _actor(spec: dict | None) -> Actor | None:
    if not spec:
        return None
    user = get_user_model().objects.filter(pk=spec["user_id"]).first() if spec.get("user_id") else None
    return Actor(kind=spec["kind"], name=spec.get("name", ""), user=user, client_ip=spec.get("client_ip"))


def send_restore_link(email: str) -> str:
    """Queued by the /access/ page for every address entered, known or not: the lookup and the
    email happen here, so the page answers in the same time whatever was entered."""
    services.restore_links_send(email=email)
    return "done"  # how many were sent is deliberately not stored with the task's result


def fulfil_access_request(access_request_id: int, actor: dict | None = None) -> str:
    access_request = AccessRequest.objects.filter(pk=access_request_id).first()
    if access_request is None:
        return "skipped: request gone"
    return services.access_request_fulfil(access_request=access_request, actor=_actor(actor))


def fulfil_access_requests(access_request_ids: list[int], actor: dict | None = None) -> dict:
    """Several approved requests at Atlassian's pace (an admin approving many at once)."""
    access_requests = list(
        AccessRequest.objects.filter(pk__in=access_request_ids).select_related("account__organization").order_by("pk")
    )
    statuses = services.access_requests_fulfil(access_requests=access_requests, actor=_actor(actor))
    return {str(pk): status for pk, status in statuses.items()}


def expire_pending_requests() -> dict:
    """Expire pending access requests older than ACCESS_REQUEST_EXPIRY_DAYS (scheduled)."""
    run = task_run_start(name="access_request_expiry", subject="Expire pending access requests")
    try:
        expired = services.access_requests_expire()
    except Exception as exc:
        task_run_finish(run=run, status=RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    counts = {"expired": expired}
    task_run_finish(run=run, counts=counts)
    return counts


def restore_on_return_dates() -> dict:
    """Give back what policies took from the accounts whose return date has come (scheduled daily)."""
    run = task_run_start(name="return_dates", subject="Restore accounts on their return date")
    try:
        counts = returns.restore_on_return_dates()
    except Exception as exc:
        task_run_finish(run=run, status=RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    task_run_finish(run=run, counts=counts)
    return counts


def purge_rate_limit_counters() -> int:
    """Drop rate-limit counters of windows that ended long ago (scheduled)."""
    return purge_stale(older_than=timedelta(seconds=max(86_400, 2 * settings.ACCESS_RATE_LIMIT_WINDOW_SECONDS)))


def expire_access() -> str:
    """The daily ``expire_access`` job: warnings 7 and 1 days ahead, then the day's removals."""
    from policies.access.expiry import access_expire

    run = access_expire()
    return run.status if run is not None else "skipped: another run holds the lease"

"""The django-q2 task behind bulk actions too big to run inside a web request (thin: it calls
:func:`accounts.bulk.accounts_bulk_apply` with the TaskRun the admin created)."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model

from accounts.bulk import accounts_bulk_apply
from accounts.clients import client_for
from accounts.leases import bulk_action_lease
from governance.audit.record import Actor
from governance.runs import locks
from governance.runs.models import RunStatus, TaskRun


def actor_spec(actor: Actor) -> dict:
    """What the task needs to rebuild the actor in another process (no model instance in the queue)."""
    return {
        "kind": str(actor.kind),
        "name": actor.name,
        "user_id": getattr(actor.user, "pk", None),
        "client_ip": actor.client_ip,
    }


def actor_from_spec(spec: dict) -> Actor:
    user_id = spec.get("user_id")
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    return Actor(kind=spec["kind"], name=spec.get("name", ""), user=user, client_ip=spec.get("client_ip"))


def run_bulk_action(run_id: int, action: str, account_ids: list[int], params: dict, actor: dict) -> dict:
    """Apply a confirmed bulk action; progress and results go to TaskRun ``run_id``.

    The broker may deliver a task twice (a worker killed mid-run, DJANGO-NOTES 1.1): a lease per
    run keeps two deliveries from running side by side, and a run already closed is not redone.
    """
    lease = locks.hold(bulk_action_lease(run_id), ttl=timedelta(seconds=settings.TASK_TIMEOUT))
    if lease is None:
        return {"skipped": "another worker is running this bulk action"}
    try:
        run = TaskRun.objects.get(pk=run_id)
        if run.status != RunStatus.RUNNING or run.finished_at is not None:
            return {"skipped": f"run {run_id} is already {run.status}"}
        outcome = accounts_bulk_apply(
            action=action,
            account_ids=account_ids,
            params=params,
            actor=actor_from_spec(actor),
            client_factory=client_for,
            run=run,
            lease=lease,
        )
        return outcome.count_dict()
    finally:
        lease.release()

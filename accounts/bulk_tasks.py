"""How a confirmed bulk action runs, for the admin and the API alike: in the web request within a
time budget (:func:`bulk_action_now`), or handed to a task worker (:func:`bulk_action_queue`), whose
django-q2 task :func:`run_bulk_action` calls :func:`accounts.bulk.accounts_bulk_apply` with the run
row, part after part when a part spends its time budget."""

import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model

from accounts.bulk import BULK_ACTIONS, BulkOutcome, accounts_bulk_apply
from accounts.clients import client_for
from accounts.leases import bulk_action_lease
from governance.audit.record import Actor, new_correlation_id
from governance.runs import locks
from governance.runs.models import RunStatus, TaskRun
from governance.runs.services import task_run_finish, task_run_progress, task_run_start


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


def bulk_action_queue(
    *,
    action: str,
    account_ids: list[int],
    params: dict,
    actor: Actor,
    trigger: str,
    correlation_id: str = "",
    subject: str = "",
) -> TaskRun:
    """Hand a confirmed bulk action to a task worker: its run row (progress 0 of N), then the task.

    ``correlation_id``: an action started in a web request that ran out of time goes on under its
    own correlation id, so its audit events read as one action. A run whose task cannot be queued
    is closed as failed (never left "running") and the error raised.
    """
    spec = BULK_ACTIONS[action]
    run = task_run_start(
        name="bulk_action",
        trigger=trigger,
        subject=subject or f"{spec.label}: {len(account_ids):,} accounts",
        correlation_id=correlation_id or new_correlation_id(),
        started_by=actor.name,
    )
    task_run_progress(run=run, done=0, total=len(account_ids))
    try:
        _enqueue(run, action, account_ids, params, actor_spec(actor))
    except Exception as exc:
        task_run_finish(run=run, status=RunStatus.FAILED, error=f"Could not queue the task: {exc}")
        raise
    return run


def bulk_action_now(*, action: str, account_ids: list[int], params: dict, actor: Actor, trigger: str) -> BulkOutcome:
    """Apply a confirmed bulk action during the web request, for at most
    ``BULK_ACTION_INLINE_BUDGET`` seconds: a rate-limited Atlassian can make even a small
    selection slow, and a request must answer. Accounts not started by then go on in the
    background under the same correlation id (``outcome.continued_in``); none is started twice.
    Raises :class:`~accounts.bulk.BulkActionError` before any change when the request is wrong."""
    outcome = accounts_bulk_apply(
        action=action,
        account_ids=account_ids,
        params=params,
        actor=actor,
        client_factory=client_for,
        deadline=time.monotonic() + settings.BULK_ACTION_INLINE_BUDGET,
    )
    if outcome.not_started:
        outcome.continued_in = bulk_action_queue(
            action=action,
            account_ids=outcome.not_started,
            params=params,
            actor=actor,
            trigger=trigger,
            correlation_id=outcome.correlation_id,
            subject=f"{BULK_ACTIONS[action].label}: the last {len(outcome.not_started):,} of "
            f"{outcome.total:,} accounts (out of time in the page)",
        )
    return outcome


def run_bulk_action(
    run_id: int,
    action: str,
    account_ids: list[int],
    params: dict,
    actor: dict,
    part: int = 1,
    holder: str | None = None,
) -> dict:
    """Apply a confirmed bulk action; progress and results go to TaskRun ``run_id``.

    The broker may deliver a task twice (a worker killed mid-run, DJANGO-NOTES 1.1): a lease per
    run keeps two deliveries from running side by side, and a run already closed is not redone.
    A task stops starting accounts at ``ACTION_TIME_BUDGET`` (well before the cluster's timeout
    could kill it in the middle of one) and queues ``part + 1`` with the accounts it never
    started; only the part the run's progress names may run, so a re-delivered earlier part
    does nothing and no account is acted on twice. The run's lease is handed from part to part
    (``holder``) rather than let go in between: a run older than ``TASK_TIMEOUT`` with a free
    lease is closed as abandoned by the next bulk action of its kind, and a follow-up waiting in
    the queue is not abandoned.
    """
    # Counted from the start of the task, as a policy run's is.
    deadline = time.monotonic() + settings.ACTION_TIME_BUDGET
    ttl = timedelta(seconds=settings.TASK_TIMEOUT)
    name = bulk_action_lease(run_id)
    lease = locks.take_over(name, holder, ttl=ttl) if holder else locks.hold(name, ttl=ttl)
    if lease is None:
        return {"skipped": "another worker is running this bulk action"}
    outcome = None
    handed_over = False
    try:
        run = TaskRun.objects.get(pk=run_id)
        if run.status != RunStatus.RUNNING or run.finished_at is not None:
            return {"skipped": f"run {run_id} is already {run.status}"}
        if (run.progress or {}).get("part", 1) != part:
            return {"skipped": f"run {run_id} is at part {(run.progress or {}).get('part', 1)}, not {part}"}
        outcome = accounts_bulk_apply(
            action=action,
            account_ids=account_ids,
            params=params,
            actor=actor_from_spec(actor),
            client_factory=client_for,
            run=run,
            lease=lease,
            deadline=deadline,
        )
        if outcome.not_started and not lease.lost:
            # The follow-up takes the lease over from this holder (renewed for a whole TTL first:
            # the queue may keep it waiting); if it never runs, the lease expires and the next
            # bulk action closes the run as abandoned.
            lease.keep_now()
            _continue_later(run, action, outcome.not_started, params, actor, part + 1, lease.holder)
            handed_over = True
    finally:
        if not handed_over:
            lease.release()
    if outcome.not_started and handed_over:
        return {**outcome.count_dict(), "not_started": len(outcome.not_started), "continues_as_part": part + 1}
    return outcome.count_dict()


def _continue_later(
    run: TaskRun, action: str, account_ids: list[int], params: dict, actor: dict, part: int, holder: str
) -> None:
    try:
        _enqueue(run, action, account_ids, params, actor, part, holder)
    except Exception as exc:
        # A run whose follow-up never gets a worker must not show "running" forever.
        task_run_finish(
            run=run,
            status=RunStatus.FAILED,
            counts=run.counts,
            error=f"Stopped at the time budget; the follow-up for the {len(account_ids)} accounts not started "
            f"could not be queued: {exc}. Those accounts were not touched.",
        )
        raise


def _enqueue(
    run: TaskRun, action: str, account_ids: list[int], params: dict, actor: dict, part: int = 1, holder: str = ""
) -> None:
    """Queue :func:`run_bulk_action` for ``run`` (a later part with the lease ``holder`` left it)."""
    from django_q.tasks import async_task

    async_task(
        "accounts.bulk_tasks.run_bulk_action",
        run.pk,
        action,
        account_ids,
        params,
        actor,
        part,
        holder or None,
        task_name=f"bulk_action:{run.pk}" + (f":{part}" if part > 1 else ""),
        group="bulk_action",
    )

"""A policy run: refuse on stale data, decide for everyone at once, check the cap, then warn,
queue or act, and report.

Modes: ``preview`` reports only; ``review`` warns and queues actions for approval; ``enforce``
warns and acts. A dry run reports like a preview whatever the policy's mode.
"""

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, TextField, Value, When
from django.utils import timezone

from accounts.clients import client_for
from accounts.models import Account, AccountStatus, Organization
from accounts.models.accounts import MANAGED_BY_IDP
from accounts.pool import ForkOf, run_paced
from accounts.removal import removal_plans
from accounts.services.read_ahead import ReadAhead
from governance.atlassian.client import AtlassianClient
from governance.audit.models import AuditAction
from governance.audit.record import Actor, new_correlation_id, record_event, record_events
from governance.gc_pause import collector_paused
from governance.runs import locks
from governance.runs.models import RunStatus, RunTrigger, TaskRun
from governance.runs.services import task_run_finish, task_run_start
from policies import capcheck, events
from policies.engine import Decision, OpenCase, Verdict, decide_and_count
from policies.leases import policy_lease
from policies.models import (
    OPEN_STATUSES,
    Enforcement,
    EnforcementStatus,
    InactivityPolicy,
    PolicyAction,
    PolicyMode,
)
from policies.models.enforcement import new_nonce
from policies.selectors.snapshots import AccountData, active_exemptions, load_snapshots, open_cases, policy_spec
from policies.services import notifications
from policies.services.execute import EXECUTABLE, IDP_REFUSED_ACTIONS, execute


@dataclass
class Evaluation:
    """Every decision of a policy at one moment, and the size of its scope (for the cap)."""

    decisions: list[Decision]
    scope_size: int
    open: dict[int, tuple[int, OpenCase]] = field(default_factory=dict)

    def by_verdict(self, verdict: Verdict) -> list[Decision]:
        return [d for d in self.decisions if d.verdict == verdict]


@dataclass(frozen=True)
class PolicyRunResult:
    run: TaskRun
    status: str
    counts: dict[str, Any]
    message: str = ""
    evaluation: Evaluation | None = None


def evaluate(
    policy: InactivityPolicy,
    now: datetime,
    *,
    account_pks: Iterable[int] | None = None,
    shared: AccountData | None = None,
) -> Evaluation:
    """Decisions for every account the policy could concern: a handful of queries in total.

    ``shared``: the organization's account data read once for several policies evaluated at
    ``now`` (``shared_account_data``); the same decisions as reading them for this policy alone.
    """
    with collector_paused():
        return _evaluate(policy, now, account_pks=account_pks, shared=shared)


def _evaluate(
    policy: InactivityPolicy,
    now: datetime,
    *,
    account_pks: Iterable[int] | None = None,
    shared: AccountData | None = None,
) -> Evaluation:
    spec = shared.spec_for(policy, now) if shared is not None and account_pks is None else None
    classes = None
    if shared is not None and spec is not None:
        exemptions = shared.exemptions
        snapshots = shared.snapshots(spec)
        classes = shared.scope_classes
    else:
        spec = policy_spec(policy)
        exemptions = active_exemptions(policy.organization, now)
        snapshots = load_snapshots(policy, spec, exemptions, account_pks=account_pks)
    cases = open_cases(policy)
    decisions, scope = decide_and_count(
        spec, snapshots, exemptions, now, {pk: case for pk, (_, case) in cases.items()}, classes=classes
    )
    # Open cases for accounts that left the candidate set entirely (removed, say) are cancelled too.
    if account_pks is None and cases:
        seen = {s.pk for s in snapshots}
        decisions += [Decision(pk, Verdict.CANCEL, "no longer in the policy's scope") for pk in cases if pk not in seen]
    return Evaluation(decisions=decisions, scope_size=scope, open=cases)


def blocked_removals(policy: InactivityPolicy, account_pks: list[int]) -> dict[int, str]:
    """For a product-removal policy: ``{account pk: why}`` for the accounts among ``account_pks``
    whose seat its plan would not free (the product comes through a group that also grants
    something else, or through an identity provider's group). A few queries per 500 accounts."""
    if policy.action != PolicyAction.REMOVE_PRODUCT_ACCESS or not account_pks:
        return {}
    products = list(policy.products.all()) or None
    plans = removal_plans(account_pks, products)
    return {pk: plan.blocked for pk, plan in plans.items() if plan.blocked}


def idp_provisioned(account_pks: Iterable[int], organization: Organization | None = None) -> set[int]:
    """Those of ``account_pks`` an identity provider provisions: one query per 500, or with their
    ``organization``, one query whatever their number."""
    pks = sorted(set(account_pks))
    found: set[int] = set()
    if organization is not None and len(pks) > 500:
        # The organization's provisioned accounts, once: a run's statement count stays the same at
        # 10,000 or 100,000 accounts.
        provisioned = Account.objects.filter(organization=organization, management_source=MANAGED_BY_IDP)
        return set(pks).intersection(provisioned.values_list("pk", flat=True))
    for start in range(0, len(pks), 500):
        found.update(
            Account.objects.filter(pk__in=pks[start : start + 500], management_source=MANAGED_BY_IDP).values_list(
                "pk", flat=True
            )
        )
    return found


def sync_is_fresh(policy: InactivityPolicy, now: datetime) -> tuple[bool, str]:
    synced = policy.organization.last_complete_sync_at
    limit = timedelta(hours=settings.POLICY_MAX_SYNC_AGE)
    if synced is None:
        return False, "the organization has never been synced completely"
    if now - synced > limit:
        hours = (now - synced).total_seconds() / 3600
        return False, f"the last complete sync is {hours:.1f} hours old (limit {settings.POLICY_MAX_SYNC_AGE:g} h)"
    return True, ""


def cap_for(policy: InactivityPolicy, scope_size: int) -> int:
    return capcheck.cap_for(policy.cap_absolute, policy.cap_percent, scope_size)


def cap_outlook(policy: InactivityPolicy, evaluation: Evaluation, now: datetime) -> list[capcheck.CapDay]:
    """The runs this evaluation leads to, up to the first the cap halts: today's actions now, and
    each account warned (or still in its warning window) on the day its action is due."""
    warned = [d.due_at for d in evaluation.by_verdict(Verdict.WARN) if d.due_at is not None]
    return capcheck.cap_days(
        capcheck.due_by_day(len(evaluation.by_verdict(Verdict.ACT)), warned, now),
        scope_size=evaluation.scope_size,
        cap_absolute=policy.cap_absolute,
        cap_percent=policy.cap_percent,
        leaves_scope=policy.action != PolicyAction.NOTIFY,
    )


def policy_run(
    *,
    policy: InactivityPolicy,
    now: datetime | None = None,
    trigger: str = RunTrigger.MANUAL,
    actor: Actor | None = None,
    dry_run: bool = False,
    client: AtlassianClient | None = None,
    reason: str = "",
    confirmed_act: int | None = None,
    shared: AccountData | None = None,
) -> PolicyRunResult:
    """Run ``policy`` once (see the module's docstring).

    ``reason``: why a person started it (the "Run now" confirmation), recorded with the run as its
    ``policy.run_started`` event. ``confirmed_act``: how many accounts that person was shown as
    due; an enforcing run that finds more (a sync came in meanwhile) halts rather than act on
    accounts nobody confirmed. ``shared``: account data read once for the runs of several
    policies at the same ``now`` (see ``evaluate``); a run that may change accounts (enforce or
    review mode, not a dry run) discards it when it ends, so the next run reads them afresh."""
    now = now or timezone.now()
    actor = actor or Actor.scheduler(f"policy {policy.name}")
    # Acting stops between accounts once the budget is spent, well before the cluster's timeout
    # could kill the task in the middle of one; a follow-up run does the rest.
    deadline = time.monotonic() + settings.ACTION_TIME_BUDGET
    result = None
    lease = locks.hold(policy_lease(policy.pk), ttl=timedelta(seconds=settings.TASK_TIMEOUT))
    run = None
    # Everything after the lease is taken sits inside the try, so whatever fails (opening the run
    # row on a locked SQLite database, say) releases it rather than blocking the policy until the
    # lease's TTL runs out.
    try:
        run = task_run_start(
            name="policy",
            subject=f"policy:{policy.pk} {policy.name}",
            trigger=trigger,
            organization=policy.organization.org_id,
            correlation_id=new_correlation_id(),
            started_by=actor.name,
            lease_holder=lease.holder if lease else None,
            dry_run=dry_run or policy.mode == PolicyMode.PREVIEW,
            now=now,
        )
        if reason:
            _record_start(policy, run, actor, reason=reason, dry_run=dry_run, confirmed_act=confirmed_act)
        if lease is None:
            return _finish(
                policy, run, actor, RunStatus.REFUSED, {}, "Another run of this policy is in progress.", now=now
            )
        result = _run(
            policy,
            run,
            actor,
            now,
            dry_run,
            client,
            lease,
            confirmed_act=confirmed_act,
            deadline=deadline,
            shared=shared,
        )
        return result
    except Exception as exc:
        # An unexpected error (the database, a bug) must not leave the run "running" forever.
        if run is not None:
            task_run_finish(run=run, status=RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if shared is not None and not dry_run and policy.mode != PolicyMode.PREVIEW:
            shared.discard()
        if lease:
            lease.release()
        if result is not None and result.counts.get("time_budget_reached"):
            # Queued once the lease is free, or the follow-up would find this run still holding it.
            continue_later(policy)


def continue_later(policy: InactivityPolicy) -> None:
    """Queue the follow-up of a run that spent its time budget. It decides again, like any run:
    what was done is no longer due, and what was left is still open and unclaimed."""
    from django_q.tasks import async_task

    async_task("policies.tasks.run_policy", policy.pk, group=f"policy-{policy.pk}")


def _record_start(
    policy: InactivityPolicy,
    run: TaskRun,
    actor: Actor,
    *,
    reason: str,
    dry_run: bool,
    confirmed_act: int | None,
) -> None:
    with transaction.atomic():
        record_event(
            actor=actor,
            action=AuditAction.POLICY_RUN_STARTED,
            target=policy,
            after={"mode": policy.mode, "dry_run": dry_run, "confirmed_to_act": confirmed_act},
            reason=reason,
            correlation_id=run.correlation_id,
            organization=policy.organization.org_id,
        )


def _run(
    policy: InactivityPolicy,
    run: TaskRun,
    actor: Actor,
    now: datetime,
    dry_run: bool,
    client: AtlassianClient | None,
    lease: locks.Lease | None = None,
    *,
    confirmed_act: int | None = None,
    deadline: float | None = None,
    shared: AccountData | None = None,
) -> PolicyRunResult:
    fresh, why = sync_is_fresh(policy, now)
    if not fresh:
        return _finish(policy, run, actor, RunStatus.REFUSED, {}, f"Refused: {why}. Sync, then run again.", now=now)
    evaluation = evaluate(policy, now, shared=shared)
    to_act = evaluation.by_verdict(Verdict.ACT)
    cap = cap_for(policy, evaluation.scope_size)
    counts = {
        "in_scope": evaluation.scope_size,
        "to_warn": len(evaluation.by_verdict(Verdict.WARN)),
        "to_act": len(to_act),
        "to_cancel": len(evaluation.by_verdict(Verdict.CANCEL)),
        "cap": cap,
    }
    blocked = blocked_removals(policy, [d.account_pk for d in to_act])
    if policy.action in IDP_REFUSED_ACTIONS:
        # Provisioned by an identity provider: no call is sent, the identity team acts (DESIGN.md 5.11).
        counts["to_act_idp"] = len(idp_provisioned([d.account_pk for d in to_act], policy.organization))
    if policy.action == PolicyAction.REMOVE_PRODUCT_ACCESS:
        # Seats that will not be freed without a decision: counted apart from the rest (DESIGN.md 5.9).
        counts["to_act_needs_review"] = len(blocked)
    mode = PolicyMode.PREVIEW if dry_run else policy.mode
    halt = capcheck.first_halt(cap_outlook(policy, evaluation, now)) if mode == PolicyMode.ENFORCE else None
    if mode == PolicyMode.ENFORCE and confirmed_act is not None and len(to_act) > confirmed_act:
        message = (
            f"Halted before acting: {len(to_act)} accounts are due, more than the {confirmed_act} confirmed when "
            "this run was started (the data changed meanwhile). Nothing was changed. Check the preview, then "
            "run again."
        )
        return _finish(policy, run, actor, RunStatus.HALTED, counts, message, evaluation=evaluation, now=now)
    if halt is not None and halt.day == 0:
        message = (
            f"Halted before acting: {len(to_act)} accounts are due, more than this run's cap of {cap} "
            f"({policy.cap_absolute} accounts or {policy.cap_percent:g}% of {evaluation.scope_size} in scope). "
            "Nothing was changed. Check the policy and the sync, then raise the cap or run again."
        )
        return _finish(policy, run, actor, RunStatus.HALTED, counts, message, evaluation=evaluation, now=now)
    if halt is not None:
        # A warning promises a date: none is sent when the run on that date will halt on its cap.
        counts.update(halt_day=halt.day, due_on_halt_day=halt.due)
        message = (
            f"Halted before warning: on {now + halt.day * capcheck.DAY:%Y-%m-%d} ({halt.day} days from now) "
            f"{halt.due} warned accounts would be due, more than that run's cap of {halt.cap} "
            f"({policy.cap_absolute} accounts or {policy.cap_percent:g}% of {halt.scope} in scope), so that run "
            "would halt. No warning was sent (it would promise a date the cap will not let the policy keep) "
            "and nothing was changed. Raise the cap or narrow the policy, then run again."
        )
        return _finish(policy, run, actor, RunStatus.HALTED, counts, message, evaluation=evaluation, now=now)
    if mode == PolicyMode.PREVIEW:
        return _finish(
            policy,
            run,
            actor,
            RunStatus.SUCCEEDED,
            counts,
            "Preview: nothing was changed.",
            evaluation=evaluation,
            now=now,
        )
    try:
        outcome = apply_decisions(
            policy, evaluation, mode=mode, run=run, actor=actor, now=now, client=client, lease=lease, deadline=deadline
        )
    except LeaseStopped as stopped:
        counts.update(stopped.outcome)
        message = (
            f"Stopped before acting on {stopped.outcome.get('not_executed', 0)} more account(s): this run's "
            "lease on the policy expired before it was renewed (the process was stalled or starved) and "
            "another run may have taken it. What was done until then is recorded; the next run does the rest."
        )
        return _finish(policy, run, actor, RunStatus.HALTED, counts, message, evaluation=evaluation, now=now)
    counts.update(outcome)
    if mode == PolicyMode.REVIEW and blocked:
        counts["needs_review"] = counts.get("needs_review", 0) + _flag_for_decision(policy, blocked, run, actor)
    message = ""
    if counts.get("time_budget_reached"):
        message = (
            f"Time budget reached: {counts['not_executed']} due account(s) were not started and stay due, "
            "unclaimed; a follow-up run of this policy has been queued to do them."
        )
    return _finish(policy, run, actor, RunStatus.SUCCEEDED, counts, message, evaluation=evaluation, now=now)


def _flag_for_decision(policy: InactivityPolicy, blocked: dict[int, str], run: TaskRun, actor: Actor) -> int:
    """In review mode, say on each queued product removal that would take more than its product why
    (as an enforcing run does when it puts one back in the queue: execute._to_review), so the
    reviewer sees it in the queue rather than when approving. Returns how many were flagged."""
    queued = Enforcement.objects.filter(
        policy=policy, account_id__in=list(blocked), status=EnforcementStatus.AWAITING_REVIEW
    ).exclude(removed__has_key="attention")
    events = []
    with transaction.atomic():
        for enforcement in queued.select_for_update():
            attention = blocked[enforcement.account_id]
            Enforcement.objects.filter(pk=enforcement.pk).update(
                removed={"attention": attention}, reason=f"Needs a decision: {attention}. {enforcement.reason}"
            )
            events.append(
                dict(
                    actor=actor,
                    action=AuditAction.ENFORCEMENT_WARNED,
                    target=enforcement,
                    after={"attention": attention},
                    reason=f"queued for review, nothing will be removed as planned: {attention}",
                    correlation_id=run.correlation_id,
                    organization=policy.organization.org_id,
                )
            )
        if events:
            record_events(events)
    return len(events)


class LeaseStopped(Exception):
    """A run lost its lease and stopped before its next change; ``outcome`` is what it did until then."""

    def __init__(self, outcome: dict[str, int]):
        super().__init__("the run lost its lease")
        self.outcome = outcome


def apply_decisions(
    policy: InactivityPolicy,
    evaluation: Evaluation,
    *,
    mode: str,
    run: TaskRun,
    actor: Actor,
    now: datetime,
    client: AtlassianClient | None = None,
    lease: locks.Lease | None = None,
    deadline: float | None = None,
) -> dict[str, int]:
    """Cancel, warn, queue and execute. With ``lease``, it is kept before each step that changes
    something; once it is lost :class:`LeaseStopped` is raised before any further change. Once
    ``deadline`` (monotonic) has passed no further enforcement is started: ``not_executed`` says
    how many were left, still open, for the follow-up run."""
    keep = lease.keep if lease else lambda: None
    outcome: Counter[str] = Counter()
    due: list[Enforcement] = []
    try:
        keep()  # an evaluation at scale takes a while: check before the first write
        _cancel(policy, evaluation, run=run, actor=actor, outcome=outcome, now=now)
        _warn(policy, evaluation, run=run, actor=actor, now=now, outcome=outcome)
        due = _mark_due(policy, evaluation, mode=mode, run=run, actor=actor, outcome=outcome)
        left = _execute_all(
            policy, due, client=client, actor=actor, run=run, now=now, keep=keep, outcome=outcome, deadline=deadline
        )
        if left:
            outcome["not_executed"] = len(left)
            outcome["time_budget_reached"] = 1
        keep()  # emails too: the run that took the lease over sends them
    except locks.LeaseLost:
        done = sum(v for k, v in outcome.items() if k.startswith("executed_") or k in _OUTCOME_NAMES.values())
        outcome["not_executed"] = len(due) - done
        raise LeaseStopped(dict(outcome)) from None
    sent = notifications.send_pending(enforcements=Enforcement.objects.filter(policy=policy), now=now)
    outcome["emails_sent"], outcome["emails_failed"] = sent["sent"], sent["failed"]
    return dict(outcome)


_OUTCOME_NAMES: dict[str, str] = {
    EnforcementStatus.AWAITING_REVIEW: "needs_review",
    EnforcementStatus.IDP_ACTION_NEEDED: "idp_action_needed",
    EnforcementStatus.CANCELLED: "cancelled_changed_since_sync",
}


def _execute_all(
    policy: InactivityPolicy,
    due: list[Enforcement],
    *,
    client: AtlassianClient | None,
    actor: Actor,
    run: TaskRun,
    now: datetime,
    keep: Callable[[], object],
    outcome: Counter[str],
    deadline: float | None = None,
) -> list[Enforcement]:
    """Execute ``due`` several at a time (accounts/pool.py), each exactly as alone: its claim, its
    re-check, its change and its transaction with its audit event. Returns those never started
    because ``deadline`` passed (they stay unclaimed, for the follow-up run)."""
    if not due:
        return []
    owned = client is None
    base = client or client_for(policy.organization)

    # The re-checks before acting, read a hundred accounts at a time in the order they run.
    ahead = ReadAhead(e.account_id for e in due)

    def work(enforcement: Enforcement, fork_of: ForkOf) -> str:
        return execute(enforcement, client=fork_of(base), actor=actor, run=run, now=now, ahead=ahead)

    def count(enforcement: Enforcement, status: str) -> None:
        # A product that comes through a group granting more went to the review queue instead;
        # an account its identity provider provisions waits for the identity team; one that
        # changed since the sync (the re-check right before acting) was left alone.
        outcome[_OUTCOME_NAMES.get(status, f"executed_{status}")] += 1

    try:
        # keep() before each claim, not after it: a claim made by a run that then stops would hold
        # the enforcement back from the run that took over until the claim went stale.
        return run_paced(due, work, on_result=count, before_each=keep, deadline=deadline).not_started
    finally:
        if owned:
            base.close()


# What an action leaves the account as, for the actions a sync can confirm from the status alone.
_RESULT_STATUS: dict[str, str] = {
    PolicyAction.SUSPEND: AccountStatus.SUSPENDED,
    PolicyAction.DEACTIVATE: AccountStatus.DEACTIVATED,
    PolicyAction.DELETE: AccountStatus.PENDING_DELETION,
}


def _cancel(
    policy: InactivityPolicy,
    evaluation: Evaluation,
    *,
    run: TaskRun,
    actor: Actor,
    outcome: Counter[str],
    now: datetime,
) -> None:
    ids = {d.account_pk: d.reason for d in evaluation.by_verdict(Verdict.CANCEL)}
    if not ids:
        return
    with transaction.atomic():
        rows = list(
            Enforcement.objects.filter(
                # An executing row is never cancelled: its action may already have happened.
                policy=policy,
                account_id__in=list(ids),
                status__in=[*EXECUTABLE, EnforcementStatus.AWAITING_REVIEW, EnforcementStatus.IDP_ACTION_NEEDED],
            ).select_related("account")
        )
        # An attempt that failed without an answer (a timeout, a dropped connection) may have
        # acted all the same: when the sync now shows the account in the state the action
        # leaves, the portal did it. Cancelling would hide that, and the person could not ask
        # for their access back.
        confirmed = [
            e
            for e in rows
            if e.attempts
            and e.status != EnforcementStatus.AWAITING_REVIEW
            and _RESULT_STATUS.get(e.action)
            and e.account.status == _RESULT_STATUS[e.action]
        ]
        rows = [e for e in rows if e not in confirmed]
        Enforcement.objects.filter(pk__in=[e.pk for e in rows]).update(
            status=EnforcementStatus.CANCELLED, notice_pending="", decision_note="cancelled by the policy run"
        )
        common = dict(correlation_id=run.correlation_id, organization=policy.organization.org_id)
        events = [
            dict(actor=actor, action=AuditAction.ENFORCEMENT_CANCELLED, target=e, reason=ids[e.account_id], **common)
            for e in rows
        ]
        for e in confirmed:
            removed = {"status": _RESULT_STATUS[e.action], "confirmed_by_sync": True}
            Enforcement.objects.filter(pk=e.pk).update(
                status=EnforcementStatus.DONE,
                executed_at=now,
                removed=removed,
                executed_run=run,
                notice_pending="action",
                error="",
                nonce=new_nonce(),
            )
            reason = (
                f"an earlier attempt that got no answer did act: the sync shows the account {e.account.status}; "
                f"{e.reason}"
            )
            events.append(
                dict(
                    actor=actor,
                    action=AuditAction.ENFORCEMENT_EXECUTED,
                    target=e,
                    after={"action": e.action, "removed": removed},
                    reason=reason,
                    **common,
                )
            )
        record_events(events)
    outcome["cancelled"] += len(rows)
    outcome["confirmed_done"] += len(confirmed)


def _offsets_due(policy: InactivityPolicy, due_at: datetime, now: datetime, sent: list[int]) -> list[int]:
    return [o for o in policy.warning_offsets if now >= due_at - timedelta(days=o) and o not in sent]


def _warn(
    policy: InactivityPolicy,
    evaluation: Evaluation,
    *,
    run: TaskRun,
    actor: Actor,
    now: datetime,
    outcome: Counter[str],
) -> None:
    warn = evaluation.by_verdict(Verdict.WARN)
    if not warn:
        return
    existing = {
        e.account_id: e
        for e in Enforcement.objects.filter(
            policy=policy, account_id__in=[d.account_pk for d in warn], status=EnforcementStatus.WARNED
        )
    }
    events = []
    with transaction.atomic():
        for decision in warn:
            enforcement = existing.get(decision.account_pk)
            if enforcement is None:
                enforcement = _open(policy, decision, status=EnforcementStatus.WARNED, run=run, now=now)
                if enforcement is None:
                    continue  # another open case exists (awaiting review, executing ...): leave it
                events.append(
                    dict(
                        actor=actor,
                        action=AuditAction.ENFORCEMENT_WARNED,
                        target=enforcement,
                        reason=decision.reason,
                        correlation_id=run.correlation_id,
                        organization=policy.organization.org_id,
                    )
                )
                outcome["warned"] += 1
            offsets = _offsets_due(policy, enforcement.due_at, now, enforcement.warnings_sent)
            if offsets:
                Enforcement.objects.filter(pk=enforcement.pk).update(
                    warnings_sent=sorted(set(enforcement.warnings_sent) | set(offsets), reverse=True),
                    notice_pending="warning",
                    reason=decision.reason,
                )
                outcome["warnings_queued"] += 1
        record_events(events)


def _open(
    policy: InactivityPolicy, decision: Decision, *, status: str, run: TaskRun, now: datetime
) -> Enforcement | None:
    """Create the one open enforcement for this policy and account; None if one exists already."""
    try:
        with transaction.atomic():
            return Enforcement.objects.create(
                policy=policy,
                account_id=decision.account_pk,
                status=status,
                action=policy.action,
                reason=decision.reason,
                inactive_since=decision.inactive_since,
                due_at=_due(decision),
                warned_at=now if status == EnforcementStatus.WARNED else None,
                run=run,
            )
    except IntegrityError:
        return None  # the unique open-enforcement constraint: someone else opened it first


def _due(decision: Decision) -> datetime:
    """A WARN or ACT decision's due date, which the engine always sets (only NONE and CANCEL lack one)."""
    return cast(datetime, decision.due_at)


# Accounts per batch in _mark_due: each batch is one transaction of a fixed handful of statements,
# and its IN lists and CASE stay well inside the databases' parameter limits.
_DUE_BATCH = 500


class ClaimLost(RuntimeError):
    """Rows locked for this run changed under it: nothing of the batch is kept."""


def _mark_due(
    policy: InactivityPolicy, evaluation: Evaluation, *, mode: str, run: TaskRun, actor: Actor, outcome: Counter[str]
) -> list[Enforcement]:
    """Turn ACT decisions into executable enforcements (enforce) or review items (review).

    Set-based, a batch of accounts at a time, each batch in one transaction with its audit events:
    if recording them fails, no status of the batch changes either. A case is claimed for the
    review queue by a conditional update from the status this run read under a lock, so one that
    another run or a reviewer changed meanwhile is neither counted nor audited by this run.
    """
    act = {d.account_pk: d for d in evaluation.by_verdict(Verdict.ACT)}
    pks = list(act)
    to_execute: list[Enforcement] = []
    for start in range(0, len(pks), _DUE_BATCH):
        decisions = {pk: act[pk] for pk in pks[start : start + _DUE_BATCH]}
        with transaction.atomic():
            rows = _open_for_action(policy, decisions, run=run)
            queued = []
            if mode == PolicyMode.REVIEW:
                queued = _queue_for_review(policy, rows, decisions, run=run, actor=actor)
                outcome["queued_for_review"] += len(queued)
            # Items waiting for a person stay waiting; the rest are executed in enforce mode, and
            # approved ones in either mode.
            queued_pks = {e.pk for e in queued}
            executable = [
                e
                for e in rows
                if e.pk not in queued_pks
                and e.status in EXECUTABLE
                and (mode == PolicyMode.ENFORCE or e.status == EnforcementStatus.APPROVED)
            ]
            if executable:
                Enforcement.objects.filter(pk__in=[e.pk for e in executable]).update(
                    reason=_reasons(executable, decisions)
                )
                for e in executable:
                    e.reason = decisions[e.account_id].reason
                to_execute += executable
    # Approved items are executed by the next run even if they were approved after the last one,
    # and claims left behind by a killed worker are completed (execute() only takes stale ones).
    leftovers = Enforcement.objects.filter(
        policy=policy, status__in=[EnforcementStatus.APPROVED, EnforcementStatus.EXECUTING]
    ).exclude(pk__in=[e.pk for e in to_execute])
    return to_execute + list(leftovers)


def _open_for_action(policy: InactivityPolicy, decisions: dict[int, Decision], *, run: TaskRun) -> list[Enforcement]:
    """The open enforcement of each account in ``decisions``, opening a ``due`` one where there is
    none; locked until the caller's transaction ends (PostgreSQL row locks; SQLite's IMMEDIATE
    transactions hold the whole database)."""
    open_rows = (
        Enforcement.objects.select_for_update(of=("self",))
        .filter(policy=policy, account_id__in=list(decisions), status__in=OPEN_STATUSES)
        .select_related("account")  # each audit event names the account
    )
    rows = list(open_rows)
    missing = decisions.keys() - {e.account_id for e in rows}
    if missing:
        # ignore_conflicts: a case another run opened first wins (the unique open enforcement per
        # policy and account), and is read back below like any other.
        Enforcement.objects.bulk_create(
            [
                Enforcement(
                    policy=policy,
                    account_id=pk,
                    status=EnforcementStatus.DUE,
                    action=policy.action,
                    reason=decisions[pk].reason,
                    inactive_since=decisions[pk].inactive_since,
                    due_at=_due(decisions[pk]),
                    run=run,
                )
                for pk in sorted(missing)
            ],
            ignore_conflicts=True,
        )
        rows += list(open_rows.filter(account_id__in=missing))
    for e in rows:
        e.policy = policy
    return rows


def _queue_for_review(
    policy: InactivityPolicy, rows: list[Enforcement], decisions: dict[int, Decision], *, run: TaskRun, actor: Actor
) -> list[Enforcement]:
    """Move the warned and due cases among ``rows`` to the review queue: one conditional UPDATE
    per former status, and one batch of audit events, in the caller's transaction."""
    queued, events = [], []
    for old in (EnforcementStatus.WARNED, EnforcementStatus.DUE):
        group = [e for e in rows if e.status == old]
        if not group:
            continue
        changed = Enforcement.objects.filter(pk__in=[e.pk for e in group], status=old).update(
            status=EnforcementStatus.AWAITING_REVIEW, reason=_reasons(group, decisions)
        )
        if changed != len(group):
            # The rows were read under a lock, so this means the database did not hold it: keep
            # nothing of this batch rather than count or audit a case this run did not claim.
            raise ClaimLost(f"{len(group) - changed} of {len(group)} {old} enforcement(s) changed under this run")
        for e in group:
            e.status, e.reason = EnforcementStatus.AWAITING_REVIEW, decisions[e.account_id].reason
            events.append(
                dict(
                    actor=actor,
                    action=AuditAction.ENFORCEMENT_QUEUED_FOR_REVIEW,
                    target=e,
                    before={"status": old},
                    after={"status": e.status},
                    reason=e.reason,
                    correlation_id=run.correlation_id,
                    organization=policy.organization.org_id,
                )
            )
        queued += group
    record_events(events)
    return queued


def _reasons(enforcements: Iterable[Enforcement], decisions: dict[int, Decision]) -> Case:
    """Each enforcement's reason from today's decision, for one UPDATE of many rows."""
    return Case(
        *[When(pk=e.pk, then=Value(decisions[e.account_id].reason)) for e in enforcements],
        output_field=TextField(),
    )


def _finish(
    policy: InactivityPolicy,
    run: TaskRun,
    actor: Actor,
    status: str,
    counts: dict[str, Any],
    message: str,
    *,
    evaluation: Evaluation | None = None,
    now: datetime | None = None,
) -> PolicyRunResult:
    # A run at an injected `now` (tests, catch-up) finishes no earlier than it started.
    finished = max(timezone.now(), now) if now else None
    task_run_finish(
        run=run, status=status, counts=counts, error=message if status != RunStatus.SUCCEEDED else "", now=finished
    )
    actions: dict[str, str] = {
        RunStatus.SUCCEEDED: AuditAction.POLICY_RUN_COMPLETED,
        RunStatus.REFUSED: AuditAction.POLICY_RUN_REFUSED,
        RunStatus.HALTED: AuditAction.POLICY_RUN_HALTED,
    }
    action = actions.get(status, AuditAction.POLICY_RUN_COMPLETED)
    with transaction.atomic():
        record_event(
            actor=actor,
            action=action,
            target=policy,
            after=counts,
            reason=message,
            correlation_id=run.correlation_id,
            organization=policy.organization.org_id,
        )
    if (
        status in (RunStatus.HALTED, RunStatus.REFUSED)
        or counts.get("executed_failed")
        or counts.get("executed_done")
        or counts.get("warned")
        or counts.get("needs_review")
        or counts.get("idp_action_needed")
    ):
        lines = [f"Policy: {policy.name} ({policy.get_mode_display()})", f"Run status: {status}", message, ""]
        lines += [f"{k}: {v}" for k, v in sorted(counts.items())]
        notifications.send_digest(subject=f"{policy.name}: {status}", lines=lines)
    if counts.get("idp_action_needed"):
        notifications.send_idp_digest(policy=policy, run=run)
    events.policy_run_finished(
        policy_id=policy.pk,
        policy_name=policy.name,
        mode=policy.mode,
        organization=policy.organization.org_id,
        run_id=run.pk,
        status=status,
        message=message,
        counts=counts,
    )
    return PolicyRunResult(run=run, status=status, counts=counts, message=message, evaluation=evaluation)

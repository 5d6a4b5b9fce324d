"""Approving or rejecting enforcements a review-mode policy queued, and undoing a run."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.clients import client_for
from accounts.models import Account
from accounts.pool import ForkOf, run_paced
from accounts.services.account_lock import one_change_at_a_time
from accounts.services.errors import ServiceRefused
from accounts.services.lifecycle import account_activate
from accounts.services.memberships import product_access_plan, product_access_restore
from governance.atlassian.client import AtlassianClient
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from governance.runs.models import TaskRun
from policies.engine import Verdict
from policies.models import Enforcement, EnforcementStatus, PolicyAction
from policies.models.enforcement import new_nonce


class ReviewRefused(Exception):
    pass


def enforcement_approve(
    *,
    enforcement: Enforcement,
    actor: Actor,
    reason: str,
    client: AtlassianClient | None = None,
    remove_shared_groups: bool = False,
) -> str:
    """Approve one queued action and carry it out now, if the person is still inactive.

    Removing product access never takes a group that also grants another product or an admin
    role (DESIGN.md 5.9): such a case is refused here with the reason, unless the reviewer says
    ``remove_shared_groups`` (the explicit "remove them anyway"), which is recorded with the
    approval and in what the enforcement removed."""
    from policies.services.execute import execute
    from policies.services.runs import evaluate, sync_is_fresh

    if not reason.strip():
        raise ReviewRefused("A reason is required.")
    now = timezone.now()
    fresh, why = sync_is_fresh(enforcement.policy, now)
    if not fresh:
        raise ReviewRefused(f"Not now: {why}.")
    decision = next(iter(evaluate(enforcement.policy, now, account_pks=[enforcement.account_id]).decisions), None)
    approved = Enforcement.objects.filter(pk=enforcement.pk, status=EnforcementStatus.AWAITING_REVIEW)
    if decision is None or decision.verdict != Verdict.ACT:
        with transaction.atomic():
            won = approved.update(status=EnforcementStatus.CANCELLED, decision_note=reason, nonce=new_nonce())
            if won:
                record_event(
                    actor=actor,
                    action=AuditAction.ENFORCEMENT_CANCELLED,
                    target=enforcement,
                    reason=f"approved, but no longer due: {decision.reason if decision else 'not in scope'}",
                    organization=enforcement.policy.organization.org_id,
                )
        return EnforcementStatus.CANCELLED
    plan = _plan_to_approve(enforcement, remove_shared_groups)
    with transaction.atomic():
        extra = {"removed": plan} if plan else {}
        if not approved.update(status=EnforcementStatus.APPROVED, decision_note=reason, decided_by=actor.user, **extra):
            raise ReviewRefused(f"{enforcement} is no longer awaiting review.")
        record_event(
            actor=actor,
            action=AuditAction.ENFORCEMENT_APPROVED,
            target=enforcement,
            after={"remove_shared_groups": plan["shared_groups"]} if plan else None,
            reason=reason,
            organization=enforcement.policy.organization.org_id,
        )
    enforcement.refresh_from_db()
    owned = client is None
    client = client or client_for(enforcement.policy.organization)
    try:
        return execute(enforcement, client=client, actor=actor, now=now)
    finally:
        if owned:
            client.close()


def _plan_to_approve(enforcement: Enforcement, remove_shared_groups: bool) -> dict[str, Any] | None:
    """For product removals: refuse a case whose product comes through a group that grants more,
    unless the reviewer removes such groups anyway; then the plan to carry out (recorded before
    the first remote call, as execute does), else None (execute plans as usual)."""
    policy, account = enforcement.policy, enforcement.account
    if policy.action != PolicyAction.REMOVE_PRODUCT_ACCESS:
        return None
    products = list(policy.products.all()) or [pa.product for pa in account.product_access.select_related("product")]
    try:
        plan = product_access_plan(
            account=account,
            products=products,
            allow_org_admin=policy.include_org_admins,
            remove_shared=remove_shared_groups,
        )
    except ServiceRefused as exc:
        raise ReviewRefused(str(exc)) from None
    if plan.get("attention"):
        raise ReviewRefused(
            f"{plan['attention']}; removing it would take all of that away. Approve with “removing shared groups "
            "anyway” if that is meant, or exempt the account."
        )
    return {"planned": True, **plan} if plan.get("shared_groups") else None


def enforcement_reject(*, enforcement: Enforcement, actor: Actor, reason: str) -> None:
    if not reason.strip():
        raise ReviewRefused("A reason is required.")
    with transaction.atomic():
        won = Enforcement.objects.filter(pk=enforcement.pk, status=EnforcementStatus.AWAITING_REVIEW).update(
            status=EnforcementStatus.REJECTED, decision_note=reason, decided_by=actor.user, nonce=new_nonce()
        )
        if not won:
            raise ReviewRefused(f"{enforcement} is no longer awaiting review.")
        record_event(
            actor=actor,
            action=AuditAction.ENFORCEMENT_REJECTED,
            target=enforcement,
            reason=reason,
            organization=enforcement.policy.organization.org_id,
        )


def enforcement_reverse(
    *, enforcement: Enforcement, client: AtlassianClient, actor: Actor, reason: str, correlation_id: str = ""
) -> None:
    """Give back what one executed enforcement removed (used by undo and by access requests)."""
    # The action the case recorded when it was opened: the policy may have changed since.
    account, action = enforcement.account, enforcement.action or enforcement.policy.action
    if action == PolicyAction.REMOVE_PRODUCT_ACCESS:
        product_access_restore(
            account=account,
            removed=enforcement.removed,
            client=client,
            actor=actor,
            reason=reason,
            correlation_id=correlation_id,
        )
        # Policies wait for new activity after a restore (DESIGN.md section 2).
        Account.objects.filter(pk=account.pk).update(restored_at=timezone.now())
    elif action in (PolicyAction.SUSPEND, PolicyAction.DEACTIVATE, PolicyAction.DELETE):
        account.refresh_from_db()
        account_activate(account=account, client=client, actor=actor, reason=reason, correlation_id=correlation_id)
    with transaction.atomic():
        Enforcement.objects.filter(pk=enforcement.pk, status=EnforcementStatus.DONE).update(
            status=EnforcementStatus.REVERSED, nonce=new_nonce()
        )


def run_undo(*, run: TaskRun, actor: Actor, reason: str, client: AtlassianClient | None = None) -> dict[str, Any]:
    """Give back everything a policy run took away, through the same services, audited.

    Several accounts at a time at Atlassian's pace (accounts/pool.py), each exactly as alone:
    its own change lock, its own transactions and audit events; the counts come back in the order
    of the enforcements whatever order the calls finish in."""
    if not reason.strip():
        raise ReviewRefused("A reason is required to undo a run.")
    counts = {"reversed": 0, "failed": 0}
    done = list(
        Enforcement.objects.filter(executed_run=run, status=EnforcementStatus.DONE)
        .select_related("account", "policy__organization")
        .order_by("pk")
    )
    clients: dict[int, AtlassianClient] = {}
    try:
        # Built here, before the first change, in the caller's thread: missing credentials refuse
        # the whole undo up front, and each worker forks the organization's client.
        for enforcement in done:
            org = enforcement.policy.organization
            if client is None and org.pk not in clients:
                clients[org.pk] = client_for(org)

        def work(enforcement: Enforcement, fork_of: ForkOf) -> str:
            base = client or clients[enforcement.policy.organization.pk]
            try:
                # The change lock for the whole give-back (its steps take it again, re-entrantly).
                with one_change_at_a_time(enforcement.account_id):
                    enforcement_reverse(
                        enforcement=enforcement,
                        client=fork_of(base),
                        actor=actor,
                        reason=reason,
                        correlation_id=run.correlation_id,
                    )
            except Exception:  # reported in the counts; each failure has its own audit event
                return "failed"
            return "reversed"

        def count(enforcement: Enforcement, outcome: str) -> None:
            counts[outcome] += 1

        run_paced(done, work, on_result=count)
    finally:
        for c in clients.values():
            c.close()
    with transaction.atomic():
        record_event(
            actor=actor,
            action=AuditAction.POLICY_RUN_UNDONE,
            target=run,
            after=counts,
            reason=reason,
            correlation_id=run.correlation_id,
            organization=run.organization,
        )
    return counts

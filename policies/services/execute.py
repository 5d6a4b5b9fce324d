"""Executing one enforcement: claim it, make the change through the accounts services, record it.

The claim is a conditional UPDATE from an executable status to ``executing``; only the process
whose UPDATE changed the row goes on to call Atlassian. Two clusters, a re-run or a manual run
racing the schedule therefore never act twice on the same decision (DESIGN.md 5.5). A worker
killed after its claim leaves the row ``executing``; once the claim is older than the lease it is
taken over and the (idempotent) action is completed, so no action is lost either.
"""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account, AccountStatus
from accounts.services.account_lock import one_change_at_a_time
from accounts.services.errors import ChangedSinceSync, ServiceRefused, idp_refusal
from accounts.services.lifecycle import account_deactivate, account_delete, account_suspend
from accounts.services.memberships import NeedsDecision, product_access_plan, product_access_remove
from accounts.services.read_ahead import ReadAhead
from accounts.services.recheck import account_recheck
from accounts.services.refresh import account_refresh
from accounts.sync.users import STATUS_FROM_REMOTE
from governance.atlassian.client import AtlassianClient
from governance.atlassian.errors import AtlassianError
from governance.atlassian.records import DirectoryUser
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from governance.runs.models import TaskRun
from policies.models import Enforcement, EnforcementStatus, InactivityPolicy, PolicyAction
from policies.models.enforcement import new_nonce
from policies.models.policies import Trigger

EXECUTABLE = (EnforcementStatus.WARNED, EnforcementStatus.DUE, EnforcementStatus.APPROVED)
MAX_ATTEMPTS = 3
# Actions whose call is one Atlassian refuses for accounts an identity provider provisions
# (User management lifecycle: 403 externalDirectory.scim): never sent for them (DESIGN.md 5.11).
IDP_REFUSED_ACTIONS: dict[str, str] = {PolicyAction.DEACTIVATE: "deactivate", PolicyAction.DELETE: "delete"}
# What each destructive action leaves the account as: a re-check finding it so already lets the
# action complete (an earlier attempt that got no answer did act).
_DONE_STATUS: dict[str, str] = {
    PolicyAction.SUSPEND: AccountStatus.SUSPENDED,
    PolicyAction.DEACTIVATE: AccountStatus.DEACTIVATED,
    PolicyAction.DELETE: AccountStatus.PENDING_DELETION,
}


def needs_idp(policy: InactivityPolicy, account: Account) -> bool:
    """Whether the policy's action on ``account`` is one only its identity provider can carry out."""
    return policy.action in IDP_REFUSED_ACTIONS and account.provisioned_by_idp


def claim_timeout() -> timedelta:
    return timedelta(seconds=settings.TASK_TIMEOUT)


def claim(enforcement: Enforcement, *, claimant: str, now: datetime) -> bool:
    stale = now - claim_timeout()
    claimable = Q(status__in=EXECUTABLE) | Q(status=EnforcementStatus.EXECUTING, claimed_at__lt=stale)
    won = Enforcement.objects.filter(claimable, pk=enforcement.pk).update(
        status=EnforcementStatus.EXECUTING, claimed_by=claimant, claimed_at=now
    )
    return won == 1


def _recheck(
    enforcement: Enforcement,
    *,
    client: AtlassianClient,
    actor: Actor,
    correlation_id: str,
    resumed: bool,
    ahead: ReadAhead | None,
) -> DirectoryUser:
    """Read the account from Atlassian right before acting; :class:`ChangedSinceSync` cancels the
    action (DESIGN.md 5.10). What Atlassian said is written into the mirror then, so the next run
    decides on it. For an inactivity policy with products, or a product removal, an account that
    holds none of the products any more is cancelled; a product removal already planned (a run
    completing an interrupted one) skips that test: the portal may have taken them itself."""
    policy, account = enforcement.policy, enforcement.account
    products = None
    if policy.action == PolicyAction.REMOVE_PRODUCT_ACCESS:
        if not enforcement.removed.get("planned"):
            products = list(policy.products.all()) or [
                pa.product for pa in account.product_access.select_related("product")
            ]
    elif policy.trigger == Trigger.INACTIVE:
        # Idle in the policy's products: one who no longer holds any of them is not idle in them.
        products = list(policy.products.all()) or None
    try:
        # Only a resumed attempt (an earlier one got no answer, or its worker died) may find its
        # own result: an account someone else suspended meanwhile changed since the sync.
        done = _DONE_STATUS.get(policy.action) if resumed else None
        return account_recheck(account=account, client=client, products=products, done_status=done, ahead=ahead)
    except ChangedSinceSync as exc:
        if exc.user is not None:
            account_refresh(account=account, client=client, actor=actor, correlation_id=correlation_id, user=exc.user)
        raise


def _take_action(
    enforcement: Enforcement,
    *,
    client: AtlassianClient,
    actor: Actor,
    reason: str,
    correlation_id: str,
    resumed: bool = False,
    ahead: ReadAhead | None = None,
) -> dict[str, Any]:
    policy, account = enforcement.policy, enforcement.account
    common: dict[str, Any] = dict(
        account=account, client=client, actor=actor, reason=reason, correlation_id=correlation_id
    )
    if policy.action == PolicyAction.NOTIFY:
        return {}
    user = _recheck(
        enforcement, client=client, actor=actor, correlation_id=correlation_id, resumed=resumed, ahead=ahead
    )
    done = _DONE_STATUS.get(policy.action)
    if resumed and done is not None and STATUS_FROM_REMOTE.get(user.status) == done:
        # An earlier attempt's call was carried out after its worker died (or got no answer): the
        # account is already as the action leaves it. Nothing is sent again; the mirror takes
        # Atlassian's record and the case completes.
        before = account.status
        account_refresh(account=account, client=client, actor=actor, correlation_id=correlation_id, user=user)
        result: dict[str, Any] = {"status": str(done), "completed_earlier": True}
        if policy.action == PolicyAction.DEACTIVATE:
            result["previous_status"] = before
        return result
    if policy.action == PolicyAction.SUSPEND:
        account_suspend(**common, allow_org_admin=policy.include_org_admins)
        return {"status": "suspended"}
    if policy.action == PolicyAction.DEACTIVATE:
        before = account.status
        account_deactivate(**common, allow_org_admin=policy.include_org_admins)
        return {"status": "deactivated", "previous_status": before}
    if policy.action == PolicyAction.DELETE:
        account_delete(**common, allow_org_admin=policy.include_org_admins)
        return {"status": "pending_deletion"}
    if policy.action == PolicyAction.REMOVE_PRODUCT_ACCESS:
        plan = enforcement.removed if enforcement.removed.get("planned") else None
        if plan is None:
            # Recorded before the first remote call: a run killed half-way is completed from the
            # same plan, and a restore gives everything back even if the run died.
            products = list(policy.products.all()) or [
                pa.product for pa in account.product_access.select_related("product")
            ]
            plan = product_access_plan(
                account=account, products=products, allow_org_admin=policy.include_org_admins, client=client
            )
            if plan.get("attention"):
                # The product comes through a group that grants more: a person decides (DESIGN.md 5.9).
                raise NeedsDecision(plan["attention"])
            plan = {"planned": True, **plan}
            Enforcement.objects.filter(pk=enforcement.pk).update(removed=plan)
        return product_access_remove(**common, plan=plan, allow_org_admin=policy.include_org_admins)
    raise ServiceRefused(f"Unknown policy action {policy.action!r}.")


def execute(
    enforcement: Enforcement,
    *,
    client: AtlassianClient,
    actor: Actor,
    run: TaskRun | None = None,
    now: datetime | None = None,
    ahead: ReadAhead | None = None,
) -> str:
    """Claim and execute; returns the resulting status (``done``, ``failed``, ``due`` to retry,
    ``awaiting_review`` when a product to remove comes through a group that grants more,
    ``idp_action_needed`` for an account its identity provider provisions, ``cancelled`` when the
    account changed since the sync, or ``skipped`` when another process holds the claim)."""
    now = now or timezone.now()
    claimant = run.correlation_id if run else f"manual-{now.timestamp()}"
    resumed = enforcement.status == EnforcementStatus.EXECUTING or enforcement.attempts > 0
    if not claim(enforcement, claimant=claimant, now=now):
        return "skipped"
    enforcement.refresh_from_db()
    correlation_id = run.correlation_id if run else ""
    if needs_idp(enforcement.policy, enforcement.account):
        return _to_idp(enforcement, claimant=claimant, actor=actor, run=run)
    try:
        # The re-check, the action and its read-back as one, no other change to the account between.
        with one_change_at_a_time(enforcement.account_id):
            removed = _take_action(
                enforcement,
                client=client,
                actor=actor,
                reason=enforcement.reason,
                correlation_id=correlation_id,
                resumed=resumed,
                ahead=ahead,
            )
    except NeedsDecision as exc:
        return _to_review(enforcement, str(exc), claimant=claimant, actor=actor, run=run)
    except ChangedSinceSync as exc:
        return _cancel_changed(enforcement, str(exc), claimant=claimant, actor=actor, run=run)
    except (AtlassianError, ServiceRefused) as exc:
        return _failed(enforcement, exc, actor=actor, run=run, now=now)
    with transaction.atomic():
        Enforcement.objects.filter(pk=enforcement.pk, claimed_by=claimant).update(
            status=EnforcementStatus.DONE,
            executed_at=now,
            removed=removed,
            executed_run=run,
            notice_pending="action",
            error="",
            attempts=enforcement.attempts + 1,
            nonce=new_nonce(),
        )
        record_event(
            actor=actor,
            action=AuditAction.ENFORCEMENT_EXECUTED,
            target=enforcement,
            after={"action": enforcement.policy.action, "removed": removed},
            reason=enforcement.reason,
            correlation_id=correlation_id,
            organization=enforcement.policy.organization.org_id,
        )
    return EnforcementStatus.DONE


def _settle_claim(
    enforcement: Enforcement,
    status: str,
    fields: dict[str, Any],
    *,
    claimant: str,
    actor: Actor,
    run: TaskRun | None,
    audit: dict[str, Any],
) -> str:
    """Move a case this claimant holds (executing) to ``status`` with ``fields``, and audit it, in one
    transaction. A case another claimant took over meanwhile is left alone, unaudited."""
    with transaction.atomic():
        won = Enforcement.objects.filter(
            pk=enforcement.pk, status=EnforcementStatus.EXECUTING, claimed_by=claimant
        ).update(status=status, claimed_by="", claimed_at=None, error="", **fields)
        if won:
            record_event(
                actor=actor,
                target=enforcement,
                correlation_id=run.correlation_id if run else "",
                organization=enforcement.policy.organization.org_id,
                **audit,
            )
    return status


def _to_review(enforcement: Enforcement, attention: str, *, claimant: str, actor: Actor, run: TaskRun | None) -> str:
    """Nothing was removed: put the case in the review queue with the reason, for a person to
    remove the shared groups anyway (enforcement_approve's ``remove_shared_groups``) or exempt the
    account. ``removed`` says so: ``{"attention": ...}``."""
    fields = {"removed": {"attention": attention}, "reason": f"Needs a decision: {attention}. {enforcement.reason}"}
    audit = {
        "action": AuditAction.ENFORCEMENT_QUEUED_FOR_REVIEW,
        "after": {"attention": attention},
        "reason": f"queued for review, nothing removed: {attention}",
    }
    return _settle_claim(
        enforcement, EnforcementStatus.AWAITING_REVIEW, fields, claimant=claimant, actor=actor, run=run, audit=audit
    )


def _to_idp(enforcement: Enforcement, *, claimant: str, actor: Actor, run: TaskRun | None) -> str:
    """Nothing is sent to Atlassian: the account is provisioned by an identity provider, which
    Atlassian leaves its lifecycle to (403 externalDirectory.scim). The case waits, open, for the
    identity team (the policy run's CSV download, and the IDP_TEAM_EMAIL digest)."""
    account = enforcement.account
    why = str(idp_refusal(account, IDP_REFUSED_ACTIONS[enforcement.policy.action]))
    audit = {
        "action": AuditAction.ENFORCEMENT_IDP_ACTION_NEEDED,
        "after": {"action": enforcement.policy.action, "directory": account.directory_id},
        "reason": why,
    }
    return _settle_claim(
        enforcement,
        EnforcementStatus.IDP_ACTION_NEEDED,
        {"decision_note": why},
        claimant=claimant,
        actor=actor,
        run=run,
        audit=audit,
    )


def _cancel_changed(enforcement: Enforcement, why: str, *, claimant: str, actor: Actor, run: TaskRun | None) -> str:
    """The account changed since the sync (the re-check): nothing was done, and the reason stays
    on the enforcement and its audit event (DESIGN.md 5.10)."""
    note = f"cancelled, changed since the sync: {why}"
    audit = {"action": AuditAction.ENFORCEMENT_CANCELLED, "after": {"changed_since_sync": why}, "reason": note}
    return _settle_claim(
        enforcement,
        EnforcementStatus.CANCELLED,
        {"decision_note": note, "notice_pending": ""},
        claimant=claimant,
        actor=actor,
        run=run,
        audit=audit,
    )


def _failed(enforcement: Enforcement, exc: Exception, *, actor: Actor, run: TaskRun | None, now: datetime) -> str:
    attempts = enforcement.attempts + 1
    # Atlassian's retryable errors, and an account another change held too long (AccountBusy).
    retry = getattr(exc, "retryable", False) and attempts < MAX_ATTEMPTS
    status = EnforcementStatus.DUE if retry else EnforcementStatus.FAILED
    with transaction.atomic():
        Enforcement.objects.filter(pk=enforcement.pk).update(
            status=status, error=str(exc)[:2000], attempts=attempts, claimed_by="", claimed_at=None
        )
        record_event(
            actor=actor,
            action=AuditAction.ENFORCEMENT_FAILED,
            target=enforcement,
            after={"error": str(exc)[:500], "will_retry": retry, "attempts": attempts},
            reason=enforcement.reason,
            correlation_id=run.correlation_id if run else "",
            organization=enforcement.policy.organization.org_id,
        )
    return status

"""Access requests: create one from a restore link, decide it, fulfil it, expire it.

Keyword-only services, one transaction and one audit event per step (``request.created``,
``request.auto_approved`` / ``approved`` / ``rejected``, ``request.fulfilled`` / ``failed`` /
``expired``), all with the request's correlation id, which the remote changes made while
fulfilling it carry too. State changes are conditional UPDATEs from the expected status, so two
admins, a double submit or a re-delivered task never act twice.
"""

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.clients import MissingCredentials, client_for
from accounts.models import Account, AccountStatus
from accounts.pool import ForkOf, run_paced
from accounts.services.errors import ServiceRefused
from governance.atlassian.errors import AtlassianError
from governance.audit.models import ActorKind, AuditAction
from governance.audit.record import Actor, record_event
from governance.logging import redact
from governance.runs import locks
from policies import events
from policies.access import emails
from policies.access.rules import KEEPABLE, action_of, auto_decision, describe, kind_of, too_late
from policies.models import (
    AccessRequest,
    Enforcement,
    EnforcementStatus,
    GiveBackStatus,
    ItemOutcome,
    PolicyAction,
    ReviewItem,
)
from policies.models.access_requests import APPROVED_STATUSES, AccessRequestStatus
from policies.models.enforcement import new_nonce
from policies.services import notifications
from policies.services.review import enforcement_reverse

log = logging.getLogger(__name__)

SELF_SERVICE = "self-service restore"
_LIFECYCLE = (PolicyAction.SUSPEND, PolicyAction.DEACTIVATE, PolicyAction.DELETE)
# Nothing was taken away in these end states; asking to keep access simply resets the clock.
_NOTHING_REMOVED = (EnforcementStatus.CANCELLED, EnforcementStatus.REJECTED, EnforcementStatus.SKIPPED_BY_CAP)


class AccessRefused(Exception):
    """The request cannot go ahead; the message is meant for the person who asked."""


class LinkUsed(AccessRefused):
    """The link's enforcement changed (or another request was made from it) since it was read."""


class TooLate(AccessRefused):
    """The account can no longer be given back (deleted past Atlassian's grace, or gone)."""


class _Busy(Exception):
    """The policy is acting on the account right now: try again shortly."""

    retryable = True


def _organization(access_request: AccessRequest) -> str:
    return access_request.account.organization.org_id


# --- create ------------------------------------------------------------------------------------
def access_request_create(
    *, enforcement: Enforcement, nonce: str, justification: str = "", client_ip: str | None = None, now=None
) -> AccessRequest:
    """Record a request made from a restore link and decide it at once: auto-approved (fulfilment
    is queued) or pending for the help desk.

    The link is used up here: the enforcement's nonce is rotated by a conditional UPDATE on the
    nonce the link carried, so of two concurrent submits exactly one creates a request.
    """
    now = now or timezone.now()
    account = Account.objects.select_related("organization").get(pk=enforcement.account_id)
    late = too_late(enforcement, account, now)
    if late:
        raise TooLate(late)
    requester = Actor(kind=ActorKind.REQUESTER, name=account.email or str(account), client_ip=client_ip)
    try:
        with transaction.atomic():
            used = Enforcement.objects.filter(pk=enforcement.pk, nonce=nonce).update(nonce=new_nonce())
            if not used:
                raise LinkUsed("This link has already been used.")
            access_request = AccessRequest.objects.create(
                account=account,
                enforcement=enforcement,
                kind=kind_of(enforcement),
                email=account.email or "",
                justification=justification.strip(),
                restores=describe(enforcement),
                client_ip=client_ip or None,
                expires_at=now + timedelta(days=settings.ACCESS_REQUEST_EXPIRY_DAYS),
            )
            record_event(
                actor=requester,
                action=AuditAction.REQUEST_CREATED,
                target=access_request,
                after={"enforcement": enforcement.pk, "kind": access_request.kind, "restores": access_request.restores},
                reason=access_request.justification,
                correlation_id=access_request.correlation_id,
                organization=account.organization.org_id,
            )
            decision = auto_decision(enforcement, account, now)
            if decision.automatic:
                _auto_approve(access_request, decision.text, now)
            else:
                AccessRequest.objects.filter(pk=access_request.pk).update(
                    decision_reason=f"Waiting for the help desk: {decision.text}."
                )
    except IntegrityError:
        # The one-open-request-per-enforcement constraint: a request from this case is already open.
        raise LinkUsed("A request for this access is already open.") from None
    access_request.refresh_from_db()
    if access_request.status == AccessRequestStatus.PENDING:
        tell_admins(access_request)
        events.access_request_waiting(
            request_id=access_request.pk,
            organization=account.organization.org_id,
            kind=access_request.kind,
            reason=access_request.decision_reason,
        )
    return access_request


def _auto_approve(access_request: AccessRequest, why: str, now) -> None:
    AccessRequest.objects.filter(pk=access_request.pk).update(
        status=AccessRequestStatus.AUTO_APPROVED, decision_reason=why, decided_at=now, updated_at=now
    )
    actor = Actor.system(SELF_SERVICE)
    record_event(
        actor=actor,
        action=AuditAction.REQUEST_AUTO_APPROVED,
        target=access_request,
        reason=why,
        correlation_id=access_request.correlation_id,
        organization=access_request.account.organization.org_id,
    )
    enqueue_fulfilment(access_request, actor)


def tell_admins(access_request: AccessRequest) -> None:
    admin_url = f"{settings.PORTAL_BASE_URL}/admin/policies/accessrequest/{access_request.pk}/change/"
    notifications.send_digest(
        subject=f"Access request #{access_request.pk} waits for a decision",
        lines=[
            f"{access_request.account} ({access_request.email}) asks for access back.",
            f"Why it was not approved automatically: {access_request.decision_reason}",
            f"Justification: {access_request.justification or '(none given)'}",
            f"Decide it in the admin: {admin_url}",
        ],
    )


def enqueue_fulfilment(access_request: AccessRequest, actor: Actor) -> None:
    """Queue the fulfilment task once the current transaction has committed."""
    from django_q.tasks import async_task

    from policies.access.tasks import actor_spec

    pk, spec = access_request.pk, actor_spec(actor)
    transaction.on_commit(
        lambda: async_task("policies.access.tasks.fulfil_access_request", pk, spec, group="access-fulfilment")
    )


def enqueue_fulfilments(pks: list[int], actor: Actor) -> None:
    """Queue one task that fulfils several approved requests at Atlassian's pace, once the
    current transaction has committed (:func:`access_requests_fulfil`)."""
    from django_q.tasks import async_task

    from policies.access.tasks import actor_spec

    spec = list(pks), actor_spec(actor)
    transaction.on_commit(
        lambda: async_task("policies.access.tasks.fulfil_access_requests", *spec, group="access-fulfilment")
    )


# --- decide ------------------------------------------------------------------------------------
def access_request_decide(
    *, access_request: AccessRequest, approve: bool, actor: Actor, reason: str, now=None, enqueue: bool = True
) -> AccessRequest:
    """Approve (queues the fulfilment) or reject a pending request, with a required reason.

    Approving a failed request tries the fulfilment again. ``enqueue=False``: the caller queues
    the fulfilment itself, several requests in one task (:func:`enqueue_fulfilments`).
    """
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise AccessRefused("A reason is required: it is recorded and, for a rejection, sent to the person.")
    if approve:
        account = Account.objects.get(pk=access_request.account_id)
        late = too_late(access_request.enforcement, account, now)
        if late:
            raise AccessRefused(f"Cannot be approved: {late} Reject it instead.")
    allowed = (AccessRequestStatus.PENDING, AccessRequestStatus.FAILED) if approve else (AccessRequestStatus.PENDING,)
    status = AccessRequestStatus.APPROVED if approve else AccessRequestStatus.REJECTED
    with transaction.atomic():
        won = AccessRequest.objects.filter(pk=access_request.pk, status__in=allowed).update(
            status=status, decision_reason=reason, decided_by=actor.user, decided_at=now, updated_at=now
        )
        if not won:
            current = AccessRequest.objects.filter(pk=access_request.pk).values_list("status", flat=True).first()
            raise AccessRefused(f"Request #{access_request.pk} is {current}; it cannot be {status} now.")
        record_event(
            actor=actor,
            action=AuditAction.REQUEST_APPROVED if approve else AuditAction.REQUEST_REJECTED,
            target=access_request,
            before={"status": access_request.status},
            reason=reason,
            correlation_id=access_request.correlation_id,
            organization=_organization(access_request),
        )
        if approve and enqueue:
            enqueue_fulfilment(access_request, actor)
    access_request.refresh_from_db()
    if not approve:
        emails.send_outcome(access_request, "rejected")
    return access_request


# --- fulfil ------------------------------------------------------------------------------------
def access_request_fulfil(
    *,
    access_request: AccessRequest,
    client=None,
    actor: Actor | None = None,
    now=None,
    sleep: Callable[[float], None] = time.sleep,
    max_attempts: int | None = None,
) -> str:
    """Give back exactly what the enforcement removed (or cancel the action it was about to take).

    Idempotent: a fulfilled request is left alone, memberships already back are skipped, an
    account already active is not activated twice. Transient Atlassian errors are retried up to
    ``ACCESS_FULFIL_MAX_ATTEMPTS`` times; anything else ends in ``failed`` with the error.
    Returns the request's resulting status (or ``skipped`` when another worker holds it).
    """
    lease = f"access_request:{access_request.pk}"
    holder = locks.acquire(lease, ttl=timedelta(seconds=settings.TASK_TIMEOUT))
    if holder is None:
        return "skipped"
    try:
        return _fulfil(access_request.pk, client=client, actor=actor, now=now, sleep=sleep, max_attempts=max_attempts)
    finally:
        locks.release(lease, holder)


def access_requests_fulfil(*, access_requests: list[AccessRequest], actor: Actor | None = None) -> dict[int, str]:
    """Fulfil several requests (an admin approving many at once) several accounts at a time at
    Atlassian's pace (accounts/pool.py), each exactly as :func:`access_request_fulfil` alone: its
    lease, its retries, its transactions and audit events. Returns each request's resulting status."""
    clients: dict[int, object] = {}
    for access_request in access_requests:
        organization = access_request.account.organization
        if organization.pk not in clients:
            try:
                clients[organization.pk] = client_for(organization)
            except MissingCredentials:
                clients[organization.pk] = None  # each request fails alone, recorded (access_request_fulfil)
    statuses: dict[int, str] = {}

    def work(access_request: AccessRequest, fork_of: ForkOf) -> str:
        base = clients[access_request.account.organization.pk]
        client = fork_of(base) if base is not None else None
        return access_request_fulfil(access_request=access_request, client=client, actor=actor)

    def done(access_request: AccessRequest, status: str) -> None:
        statuses[access_request.pk] = status

    try:
        run_paced(access_requests, work, on_result=done)
    finally:
        for client in clients.values():
            if client is not None:
                client.close()  # type: ignore[attr-defined]
    return statuses


def _fulfil(pk: int, *, client, actor, now, sleep, max_attempts) -> str:
    access_request = AccessRequest.objects.select_related("account__organization", "enforcement__policy").get(pk=pk)
    if access_request.status not in APPROVED_STATUSES:
        return access_request.status
    actor = actor or Actor.system(SELF_SERVICE)
    max_attempts = max_attempts or settings.ACCESS_FULFIL_MAX_ATTEMPTS
    late = too_late(access_request.enforcement, access_request.account, now or timezone.now())
    if late:
        return _failed(access_request, late, actor=actor, attempts=access_request.attempts)
    owned = client is None
    try:
        client = client or client_for(access_request.account.organization)
    except MissingCredentials as exc:
        return _failed(access_request, str(exc), actor=actor, attempts=access_request.attempts)
    try:
        attempt = 0
        while True:
            attempt += 1
            try:
                outcome = _give_back(access_request, client=client, actor=actor)
            except (AtlassianError, _Busy) as exc:
                if not exc.retryable or attempt >= max_attempts:
                    return _failed(access_request, _error_text(exc), actor=actor, attempts=attempt)
                AccessRequest.objects.filter(pk=pk).update(attempts=attempt, error=_error_text(exc)[:2000])
                sleep(min(60.0, 2.0**attempt))
                continue
            except ServiceRefused as exc:
                return _failed(access_request, str(exc), actor=actor, attempts=attempt)
            return _fulfilled(access_request, outcome, actor=actor, attempts=attempt, now=now or timezone.now())
    finally:
        if owned:
            client.close()


def _error_text(exc: Exception) -> str:
    return redact(str(exc) if isinstance(exc, AtlassianError) else f"{exc}")


def _give_back(access_request: AccessRequest, *, client, actor: Actor) -> str:
    enforcement = Enforcement.objects.select_related("policy__organization", "account__organization").get(
        pk=access_request.enforcement_id
    )
    reason = f"Access request #{access_request.pk}"
    if access_request.justification:
        reason += f": {access_request.justification[:500]}"
    status = enforcement.status
    if status == EnforcementStatus.DONE:
        if action_of(enforcement) in _LIFECYCLE and enforcement.account.status == AccountStatus.ACTIVE:
            # An earlier attempt already brought the account back: only the bookkeeping is left.
            _mark_reversed(enforcement)
            return "the account was already active again"
        enforcement_reverse(
            enforcement=enforcement,
            client=client,
            actor=actor,
            reason=reason,
            correlation_id=access_request.correlation_id,
        )
        return "gave back what the policy removed"
    if status in KEEPABLE:
        if status == EnforcementStatus.EXECUTING:
            raise _Busy("The policy is acting on this account right now; try again in a few minutes.")
        if not _cancel(enforcement, status, actor=actor, reason=reason, access_request=access_request):
            raise _Busy("The policy's case changed while the request was being fulfilled.")
        return "cancelled the policy's pending action"
    if status == EnforcementStatus.REVERSED:
        return "already given back"
    if status in _NOTHING_REMOVED:
        return "nothing had been removed"
    raise ServiceRefused(
        f"The policy's action on this account ended as {enforcement.get_status_display().lower()}; "
        "the IT team needs to check the account by hand."
    )


def _mark_reversed(enforcement: Enforcement) -> None:
    with transaction.atomic():
        Enforcement.objects.filter(pk=enforcement.pk, status=EnforcementStatus.DONE).update(
            status=EnforcementStatus.REVERSED, nonce=new_nonce()
        )


def _cancel(enforcement, status, *, actor, reason, access_request) -> bool:
    with transaction.atomic():
        won = Enforcement.objects.filter(pk=enforcement.pk, status=status).update(
            status=EnforcementStatus.CANCELLED,
            notice_pending="",
            decision_note=f"cancelled by access request #{access_request.pk}",
            nonce=new_nonce(),
        )
        if won:
            record_event(
                actor=actor,
                action=AuditAction.ENFORCEMENT_CANCELLED,
                target=enforcement,
                reason=reason,
                correlation_id=access_request.correlation_id,
                organization=enforcement.policy.organization.org_id,
            )
    return bool(won)


def _fulfilled(access_request: AccessRequest, outcome: str, *, actor: Actor, attempts: int, now) -> str:
    with transaction.atomic():
        won = AccessRequest.objects.filter(pk=access_request.pk, status__in=APPROVED_STATUSES).update(
            status=AccessRequestStatus.FULFILLED, fulfilled_at=now, attempts=attempts, error="", updated_at=now
        )
        if won:
            # Policies count inactivity from the restore: Atlassian's activity data lags a day.
            Account.objects.filter(pk=access_request.account_id).update(restored_at=now)
            record_event(
                actor=actor,
                action=AuditAction.REQUEST_FULFILLED,
                target=access_request,
                after={"outcome": outcome, "attempts": attempts, "restored_at": now.isoformat()},
                correlation_id=access_request.correlation_id,
                organization=_organization(access_request),
            )
    if not won:
        return AccessRequest.objects.get(pk=access_request.pk).status
    access_request.refresh_from_db()
    emails.send_outcome(access_request, "fulfilled")
    return AccessRequestStatus.FULFILLED


def _failed(access_request: AccessRequest, error: str, *, actor: Actor, attempts: int) -> str:
    error = redact(error)[:2000]
    with transaction.atomic():
        won = AccessRequest.objects.filter(pk=access_request.pk, status__in=APPROVED_STATUSES).update(
            status=AccessRequestStatus.FAILED, error=error, attempts=attempts, updated_at=timezone.now()
        )
        if won:
            record_event(
                actor=actor,
                action=AuditAction.REQUEST_FAILED,
                target=access_request,
                after={"error": error[:500], "attempts": attempts},
                correlation_id=access_request.correlation_id,
                organization=_organization(access_request),
            )
    if not won:
        return AccessRequest.objects.get(pk=access_request.pk).status
    access_request.refresh_from_db()
    emails.send_outcome(access_request, "failed")
    notifications.send_digest(
        subject=f"Access request #{access_request.pk} failed",
        lines=[
            f"Giving access back to {access_request.account} failed after {attempts} attempt(s):",
            error,
            "Fix the cause, then approve the request again in the admin to retry.",
        ],
    )
    return AccessRequestStatus.FAILED


# --- expire ------------------------------------------------------------------------------------
def access_requests_expire(*, now=None) -> int:
    """Expire every pending request past its ``expires_at``; tells each person. Returns how many."""
    now = now or timezone.now()
    actor = Actor.scheduler("access request expiry")
    due = AccessRequest.objects.filter(status=AccessRequestStatus.PENDING, expires_at__lte=now).select_related(
        "account__organization"
    )
    expired = 0
    for access_request in due:
        reason = f"No decision within {settings.ACCESS_REQUEST_EXPIRY_DAYS} days."
        with transaction.atomic():
            won = AccessRequest.objects.filter(pk=access_request.pk, status=AccessRequestStatus.PENDING).update(
                status=AccessRequestStatus.EXPIRED, decision_reason=reason, decided_at=now, updated_at=now
            )
            if won:
                record_event(
                    actor=actor,
                    action=AuditAction.REQUEST_EXPIRED,
                    target=access_request,
                    reason=reason,
                    correlation_id=access_request.correlation_id,
                    organization=_organization(access_request),
                )
        if won:
            expired += 1
            access_request.refresh_from_db()
            emails.send_outcome(access_request, "expired")
    return expired


# --- the email path ----------------------------------------------------------------------------
def restore_links_send(*, email: str) -> int:
    """Send a fresh restore link to each mirrored account with this address that a policy acted on
    (its most recent done enforcement), and the removal email again, with a fresh link, for each
    access an access review removed that the person has not asked back yet (the link in the first
    one may have expired). Only ever to the mirror's own address; none if no match."""
    email = (email or "").strip()
    if not email or "@" not in email:
        return 0
    sent = 0
    for account in Account.objects.filter(email__iexact=email).select_related("organization").order_by("pk"):
        if not account.email:
            continue
        enforcement = (
            Enforcement.objects.filter(account=account, status=EnforcementStatus.DONE)
            .select_related("policy", "account__organization")
            .order_by("-executed_at", "-pk")
            .first()
        )
        if enforcement is not None and emails.send_link(enforcement):
            sent += 1
        removed_by_reviews = ReviewItem.objects.filter(
            account=account, outcome=ItemOutcome.REVOKED, give_back_status=GiveBackStatus.NONE
        ).exclude(give_back_nonce="")
        for item in removed_by_reviews.select_related("campaign", "account__organization").order_by("pk"):
            sent += emails.send_review_removed(item)
    return sent

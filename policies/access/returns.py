"""Returning staff: an account a policy acted on comes back and gets back exactly what was taken.

The ways back:
- the sync sees the account active again (re-invited, or re-activated in the identity provider):
  :func:`returns_after_sync`, a ``PORTAL_AFTER_SYNC`` hook, looks only at the accounts that sync saw
  go active (one query for all of them);
- an operator set the account's return date (accounts.services.returns): on that day
  :func:`restore_on_return_dates` (scheduled daily, safe to run at any time) gives it back;
- the person asks through the request form: the access pages' own flow (policies.access.services).

Each done enforcement that took something becomes one access request made on the person's behalf,
with the request's usual audit trail: approved automatically when
:func:`policies.access.rules.return_decision` allows it, then fulfilled at once through the same
services as any request (``enforcement_reverse``: ``product_access_restore``, ``account_activate``,
each under the account's change lock), which give back the enforcement's ``removed`` and nothing
else, and tell the person; otherwise left pending for the help desk. One ``account.returned``
event per account says what was found and what became of it.
"""

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.clients import MissingCredentials, client_for
from accounts.models import Account, Organization
from governance.audit.models import AuditAction
from governance.audit.record import Actor, new_correlation_id, record_event
from policies.access.rules import Decision, action_of, describe, return_decision, too_late
from policies.access.services import access_request_fulfil, tell_admins
from policies.models import AccessRequest, Enforcement, EnforcementStatus, PolicyAction
from policies.models.access_requests import (
    APPROVED_STATUSES,
    OPEN_REQUEST_STATUSES,
    AccessRequestKind,
    AccessRequestStatus,
)

log = logging.getLogger(__name__)

RETURNING = "returning staff"
_LIFECYCLE = (PolicyAction.SUSPEND, PolicyAction.DEACTIVATE, PolicyAction.DELETE)


def returning_cases(account_pks: Iterable[int]) -> dict[int, list[Enforcement]]:
    """The done enforcements that took something from these accounts, by account, in the order to
    give them back: status changes newest first (a deletion is cancelled before the deactivation
    under it is lifted), then product removals. One query per 500 accounts."""
    pks = sorted(set(account_pks))
    cases: dict[int, list[Enforcement]] = {}
    for start in range(0, len(pks), 500):
        rows = (
            Enforcement.objects.filter(account_id__in=pks[start : start + 500], status=EnforcementStatus.DONE)
            .exclude(action=PolicyAction.NOTIFY)
            .select_related("policy__organization", "account__organization")
            .order_by("-executed_at", "-pk")
        )
        for enforcement in rows:
            if action_of(enforcement) != PolicyAction.NOTIFY:
                cases.setdefault(enforcement.account_id, []).append(enforcement)
    for found in cases.values():
        found.sort(key=lambda e: action_of(e) not in _LIFECYCLE)  # stable: newest first within each kind
    return cases


def returns_after_sync(
    *, organization: Organization, reactivated: frozenset[int], client, now: datetime, **_: Any
) -> dict[str, int]:
    """After a complete sync: handle the accounts it saw active again that a policy had acted on."""
    if not reactivated:
        return {}
    counts: Counter = Counter()
    actor = Actor.system(RETURNING)
    for cases in returning_cases(reactivated).values():
        account = cases[0].account
        outcome = account_return(
            account=account,
            cases=cases,
            dated=False,
            client=client,
            actor=actor,
            now=now,
            why="seen active again in Atlassian by the sync",
        )
        counts.update({key: len(value) for key, value in outcome.items() if value})
    return dict(counts)


def account_return(
    *,
    account: Account,
    cases: list[Enforcement],
    dated: bool,
    client,
    actor: Actor,
    now: datetime,
    why: str,
    claimant: str = "",
) -> dict[str, list[int]]:
    """Give ``account`` back what ``cases`` (:func:`returning_cases`) took, or ask the help desk.

    Returns the enforcement pks by outcome: ``restored`` (fulfilled now), ``help_desk`` (a pending
    request), ``already_open`` (a request for the case was open: left as it is), ``failed`` (the
    request failed; the help desk was told) and ``too_late`` (nothing can be given back any more).
    ``claimant``: the return-date job's claim; the date is cleared with the account's event.
    """
    outcome: dict[str, list[int]] = {k: [] for k in ("restored", "help_desk", "already_open", "failed", "too_late")}
    to_fulfil: list[tuple[Enforcement, AccessRequest]] = []
    for enforcement in cases:
        if too_late(enforcement, account, now):
            outcome["too_late"].append(enforcement.pk)
            continue
        decision = return_decision(enforcement, account, now, dated=dated)
        access_request, created = _open(enforcement, account, decision, actor=actor, now=now, why=why)
        if access_request.status in APPROVED_STATUSES:
            # Opened now, or left approved by a run that stopped before fulfilling it.
            to_fulfil.append((enforcement, access_request))
        elif created:
            outcome["help_desk"].append(enforcement.pk)
        else:
            outcome["already_open"].append(enforcement.pk)
    for enforcement, access_request in to_fulfil:
        status = access_request_fulfil(access_request=access_request, client=client, actor=actor, now=now)
        outcome["restored" if status == AccessRequestStatus.FULFILLED else "failed"].append(enforcement.pk)
    with transaction.atomic():
        if claimant:
            Account.objects.filter(pk=account.pk, return_claimed_by=claimant).update(
                return_on=None, return_claimed_by=None, return_claimed_at=None
            )
        record_event(
            actor=actor,
            action=AuditAction.ACCOUNT_RETURNED,
            target=account,
            after={key: value for key, value in outcome.items() if value} or {"nothing_to_give_back": True},
            reason=why,
            correlation_id=new_correlation_id(),
            organization=account.organization.org_id,
        )
    return outcome


def _open(
    enforcement: Enforcement, account: Account, decision: Decision, *, actor: Actor, now: datetime, why: str
) -> tuple[AccessRequest, bool]:
    """The open request for the case, made now on the person's behalf unless one is open already
    (one per enforcement, a database constraint): approved automatically, or waiting for the help desk."""
    existing = AccessRequest.objects.filter(enforcement=enforcement, status__in=OPEN_REQUEST_STATUSES).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            access_request = AccessRequest.objects.create(
                account=account,
                enforcement=enforcement,
                kind=AccessRequestKind.RESTORE,
                email=account.email or "",
                justification=f"Returning: {why}.",
                restores=describe(enforcement),
                expires_at=now + timedelta(days=settings.ACCESS_REQUEST_EXPIRY_DAYS),
            )
            common: dict[str, Any] = dict(
                actor=actor,
                target=access_request,
                correlation_id=access_request.correlation_id,
                organization=account.organization.org_id,
            )
            record_event(
                action=AuditAction.REQUEST_CREATED,
                after={"enforcement": enforcement.pk, "kind": access_request.kind, "restores": access_request.restores},
                reason=access_request.justification,
                **common,
            )
            if decision.automatic:
                access_request.status = AccessRequestStatus.AUTO_APPROVED
                access_request.decision_reason, access_request.decided_at = decision.text, now
                record_event(action=AuditAction.REQUEST_AUTO_APPROVED, reason=decision.text, **common)
            else:
                access_request.decision_reason = f"Waiting for the help desk: {decision.text}."
            access_request.save(update_fields=["status", "decision_reason", "decided_at", "updated_at"])
    except IntegrityError:  # opened meanwhile by another path (a link, a second job): that one stands
        return AccessRequest.objects.get(enforcement=enforcement, status__in=OPEN_REQUEST_STATUSES), False
    if access_request.status == AccessRequestStatus.PENDING:
        tell_admins(access_request)
    return access_request, True


def restore_on_return_dates(*, now: datetime | None = None, client=None) -> dict[str, int]:
    """Give back what was taken from every account whose return date has come (in ``TIME_ZONE``).

    Each account is claimed first with a conditional UPDATE (a claim older than ``TASK_TIMEOUT`` is
    taken over), so two runs never handle one account twice; its date is cleared with its
    ``account.returned`` event. ``client``: one client for every account (tests), else each
    organization's own."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.TASK_TIMEOUT)
    claimable = Q(return_on__lte=timezone.localdate(now)) & (
        Q(return_claimed_by__isnull=True) | Q(return_claimed_by="") | Q(return_claimed_at__lt=stale)
    )
    claimant = f"return-dates-{new_correlation_id()}"
    actor = Actor.scheduler("return date")
    counts: Counter = Counter()
    clients: dict[int, Any] = {}
    try:
        for pk in Account.objects.filter(claimable).order_by("return_on", "pk").values_list("pk", flat=True):
            if not Account.objects.filter(claimable, pk=pk).update(return_claimed_by=claimant, return_claimed_at=now):
                counts["skipped"] += 1  # another run has it
                continue
            account = Account.objects.select_related("organization").get(pk=pk)
            try:
                org_client = client or clients.get(account.organization_id)
                if org_client is None:
                    org_client = clients[account.organization_id] = client_for(account.organization)
            except MissingCredentials as exc:
                _release(pk, claimant)
                log.warning("Return date of account %s: %s", pk, exc)
                counts["failed"] += 1
                continue
            outcome = account_return(
                account=account,
                cases=returning_cases([pk]).get(pk, []),
                dated=True,
                client=org_client,
                actor=actor,
                now=now,
                why=f"return date {account.return_on:%Y-%m-%d}",
                claimant=claimant,
            )
            counts["accounts"] += 1
            counts.update({key: len(value) for key, value in outcome.items() if value})
    finally:
        for owned in clients.values():
            owned.close()
    return dict(counts)


def _release(pk: int, claimant: str) -> None:
    Account.objects.filter(pk=pk, return_claimed_by=claimant).update(return_claimed_by=None, return_claimed_at=None)

"""Access given until a date: set, extend, carry out and give back a membership's end.

Each write is one transaction and one audit event. The removal itself goes through
:func:`membership_remove` (remote call, mirror, ``membership.removed`` with the end as the reason),
right after reading the account from Atlassian (DESIGN.md 5.10: nothing is sent when it left the
group meanwhile); the end row is claimed first with a conditional UPDATE, so two runs of
``expire_access`` at once, or a run re-delivered after a crash, never remove the same membership
twice (DESIGN.md 5.5).
"""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import AccessEndStatus, Account, Group, Membership, MembershipEnd
from accounts.models.ends import ExtensionStatus, new_nonce
from accounts.services.account_lock import AccountBusy, one_change_at_a_time
from accounts.services.end_schedule import end_schedule
from accounts.services.errors import ChangedSinceSync, ServiceRefused
from accounts.services.memberships import membership_add, membership_remove
from accounts.services.recheck import NoLongerMember, membership_recheck
from accounts.services.refresh import account_refresh
from governance.atlassian.client import AtlassianClient
from governance.atlassian.errors import AtlassianError
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event


class EndRefused(ServiceRefused):
    """The end cannot change that way (closed, no longer a member, a date in the past ...)."""


def _audit(end: MembershipEnd, *, actor: Actor, action: str, **fields: Any) -> None:
    record_event(
        actor=actor,
        action=action,
        target_type="accounts.membershipend",
        target_id=str(end.pk),
        target_repr=f"{end.account} in {end.group}",
        organization=end.account.organization.org_id,
        **fields,
    )


def _day(value: datetime) -> str:
    return value.isoformat()


def membership_end_set(
    *,
    account: Account,
    group: Group,
    expires_at: datetime | None,
    actor: Actor,
    reason: str,
    now: datetime | None = None,
    correlation_id: str = "",
) -> MembershipEnd | None:
    """Give an existing membership an end date (or move it); ``None`` takes the end away, so the
    membership stays. A local change: Atlassian has no end dates, the portal carries them out."""
    now = now or timezone.now()
    if expires_at is not None and expires_at <= now:
        raise EndRefused("The end date must be in the future; to end access now, remove the membership.")
    with transaction.atomic():
        if expires_at is None:
            end = MembershipEnd.objects.filter(account=account, group=group, status=AccessEndStatus.SCHEDULED).first()
            if end is None:
                return None
            MembershipEnd.objects.filter(pk=end.pk).update(status=AccessEndStatus.CANCELLED, updated_at=now)
            _audit(
                end,
                actor=actor,
                action=AuditAction.MEMBERSHIP_END_CANCELLED,
                reason=reason,
                before={"expires_at": _day(end.expires_at)},
            )
            return None
        if not Membership.objects.filter(account=account, group=group).exists():
            raise EndRefused(f"{account} is not a member of {group}; add it with an end date instead.")
        end, previous = end_schedule(account=account, group=group, expires_at=expires_at, actor=actor, reason=reason)
        _audit(
            end,
            actor=actor,
            action=AuditAction.MEMBERSHIP_END_SET,
            reason=reason,
            before={"expires_at": _day(previous)} if previous else None,
            after={"group": group.name, "expires_at": _day(expires_at)},
            correlation_id=correlation_id,
        )
    return end


def membership_end_extend(
    *, end: MembershipEnd, expires_at: datetime, actor: Actor, reason: str, now: datetime | None = None
) -> MembershipEnd:
    """Move a scheduled end later (a help-desk decision, or a rule): the warnings start again and
    an extension request, if one was waiting, is approved by it."""
    now = now or timezone.now()
    if expires_at <= max(now, end.expires_at):
        raise EndRefused("An extension must move the end date later than it is.")
    with transaction.atomic():
        won = MembershipEnd.objects.filter(pk=end.pk, status=AccessEndStatus.SCHEDULED).update(
            expires_at=expires_at,
            warned_days=None,
            nonce=new_nonce(),
            extension_status=ExtensionStatus.APPROVED,
            extensions=F("extensions") + 1,
            updated_at=now,
        )
        if not won:
            raise EndRefused(f"This access is {end.get_status_display().lower()}; it cannot be extended.")
        _audit(
            end,
            actor=actor,
            action=AuditAction.MEMBERSHIP_END_EXTENDED,
            reason=reason,
            before={"expires_at": _day(end.expires_at)},
            after={"expires_at": _day(expires_at)},
        )
    end.refresh_from_db()
    return end


def membership_end_extension_request(
    *, end: MembershipEnd, nonce: str, justification: str, actor: Actor, now: datetime | None = None
) -> MembershipEnd:
    """Record a person's request to keep the access longer, made from the link in a warning. The
    link is used up here (its nonce rotates), so a double submit records one request."""
    now = now or timezone.now()
    with transaction.atomic():
        won = (
            MembershipEnd.objects.filter(pk=end.pk, nonce=nonce, status=AccessEndStatus.SCHEDULED)
            .exclude(extension_status=ExtensionStatus.PENDING)
            .update(
                nonce=new_nonce(),
                extension_status=ExtensionStatus.PENDING,
                extension_justification=justification.strip(),
                extension_requested_at=now,
                updated_at=now,
            )
        )
        if not won:
            raise EndRefused("This link has already been used.")
        _audit(end, actor=actor, action=AuditAction.MEMBERSHIP_EXTENSION_REQUESTED, reason=justification.strip())
    end.refresh_from_db()
    return end


def membership_end_extension_reject(
    *, end: MembershipEnd, actor: Actor, reason: str, now: datetime | None = None
) -> MembershipEnd:
    """Decline a pending extension request: the access ends on its date."""
    reason = (reason or "").strip()
    if not reason:
        raise EndRefused("A reason is required: it is recorded and sent to the person.")
    with transaction.atomic():
        won = MembershipEnd.objects.filter(pk=end.pk, extension_status=ExtensionStatus.PENDING).update(
            extension_status=ExtensionStatus.REJECTED, updated_at=now or timezone.now()
        )
        if not won:
            raise EndRefused("There is no pending extension request for this access.")
        _audit(end, actor=actor, action=AuditAction.MEMBERSHIP_EXTENSION_REJECTED, reason=reason)
    end.refresh_from_db()
    return end


def membership_end_mark_warned(*, end: MembershipEnd, days: int, actor: Actor, now: datetime | None = None) -> bool:
    """Claim the ``days``-ahead warning of ``end`` (True: this caller sends it). Each warning is
    sent once: the claim is a conditional UPDATE from the warning sent before."""
    with transaction.atomic():
        won = (
            MembershipEnd.objects.filter(pk=end.pk, status=AccessEndStatus.SCHEDULED)
            .filter(Q(warned_days__isnull=True) | Q(warned_days__gt=days))
            .update(warned_days=days, updated_at=now or timezone.now())
        )
        if won:
            _audit(
                end,
                actor=actor,
                action=AuditAction.MEMBERSHIP_END_WARNED,
                after={"days": days, "expires_at": _day(end.expires_at)},
            )
    return bool(won)


def _claim(end: MembershipEnd, now: datetime) -> bool:
    # A row left "removing" by a worker that died is taken again once a task could no longer be
    # working on it (TASK_TIMEOUT, django-q's own timeout).
    stale = now - timedelta(seconds=settings.TASK_TIMEOUT)
    return bool(
        MembershipEnd.objects.filter(pk=end.pk, expires_at__lte=now)
        .filter(Q(status=AccessEndStatus.SCHEDULED) | Q(status=AccessEndStatus.REMOVING, claimed_at__lt=stale))
        .update(status=AccessEndStatus.REMOVING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now)
    )


def membership_end_carry_out(
    *, end: MembershipEnd, client: AtlassianClient, actor: Actor, correlation_id: str = "", now: datetime | None = None
) -> str:
    """Remove a membership whose end date has come: claim the end, read the account from Atlassian
    (DESIGN.md 5.10), remove the membership through :func:`membership_remove` (audited, with the
    end as the reason), close the end. Returns what happened: ``removed``, ``gone`` (no longer a
    member, in the mirror or in Atlassian: nothing to remove, the end is closed), ``changed`` (the
    account's status changed since the sync: the mirror is brought up to date and the end waits
    for the next run, which decides on it), ``skipped`` (not due, or another run holds it),
    ``retry`` (Atlassian failed, or another change to the account was under way: the next run
    tries again) or ``failed``."""
    now = now or timezone.now()
    if not _claim(end, now):
        return "skipped"
    account, group = end.account, end.group
    if not Membership.objects.filter(account=account, group=group).exists():
        _close(
            end,
            actor=actor,
            now=now,
            reason="No longer a member of the group when the access ended: nothing to remove.",
        )
        return "gone"
    reason = f"Access given until {end.expires_at:%Y-%m-%d %H:%M} UTC ended"
    if end.reason:
        reason += f" ({end.reason[:300]})"
    try:
        # The re-check, the removal and its read-back as one: no other change to the account between.
        with one_change_at_a_time(account.pk):
            membership_recheck(account=account, group_id=group.group_id, client=client)
            membership_remove(
                account=account, group=group, client=client, actor=actor, reason=reason, correlation_id=correlation_id
            )
    except NoLongerMember as exc:
        _refresh(account, exc, client=client, actor=actor, correlation_id=correlation_id)
        _close(end, actor=actor, now=now, reason=f"Nothing removed: {exc} (read right before the removal).")
        return "gone"
    except ChangedSinceSync as exc:
        _refresh(account, exc, client=client, actor=actor, correlation_id=correlation_id)
        with transaction.atomic():
            MembershipEnd.objects.filter(pk=end.pk, status=AccessEndStatus.REMOVING).update(
                status=AccessEndStatus.SCHEDULED, error=f"Postponed: {exc}"[:2000], updated_at=now
            )
            _audit(
                end,
                actor=actor,
                action=AuditAction.MEMBERSHIP_END_DEFERRED,
                reason=f"Not removed this run: {exc}. The mirror now shows Atlassian's record; "
                "the next run decides on it.",
            )
        return "changed"
    except (AtlassianError, AccountBusy) as exc:  # a failed call is audited as atlassian.call_failed by perform()
        MembershipEnd.objects.filter(pk=end.pk, status=AccessEndStatus.REMOVING).update(
            status=AccessEndStatus.SCHEDULED, error=str(exc)[:2000], updated_at=now
        )
        return "retry"
    except ServiceRefused as exc:
        with transaction.atomic():
            MembershipEnd.objects.filter(pk=end.pk).update(
                status=AccessEndStatus.FAILED, error=str(exc)[:2000], updated_at=now
            )
            _audit(end, actor=actor, action=AuditAction.MEMBERSHIP_END_FAILED, reason=str(exc))
        return "failed"
    MembershipEnd.objects.filter(pk=end.pk).update(
        status=AccessEndStatus.REMOVED, removed_at=now, error="", updated_at=now
    )
    return "removed"


def _close(end: MembershipEnd, *, actor: Actor, now: datetime, reason: str) -> None:
    """Close an end that has nothing left to remove (cancelled, audited with why)."""
    with transaction.atomic():
        MembershipEnd.objects.filter(pk=end.pk).update(status=AccessEndStatus.CANCELLED, error="", updated_at=now)
        _audit(end, actor=actor, action=AuditAction.MEMBERSHIP_END_CANCELLED, reason=reason)


def _refresh(account: Account, exc: ChangedSinceSync, **kwargs: Any) -> None:
    # What Atlassian said right before the removal becomes the mirror (memberships included).
    if exc.user is not None:
        account_refresh(account=account, user=exc.user, **kwargs)


def membership_end_restore(
    *, end: MembershipEnd, client: AtlassianClient, actor: Actor, reason: str, expires_at: datetime | None = None
) -> MembershipEnd:
    """Give back a membership removed on its end date: the same group, through
    :func:`membership_add` (audited), with a new end date or none."""
    if end.status != AccessEndStatus.REMOVED:
        raise EndRefused(f"This access is {end.get_status_display().lower()}; only ended access is given back.")
    membership_add(
        account=end.account, group=end.group, client=client, actor=actor, reason=reason, expires_at=expires_at
    )
    MembershipEnd.objects.filter(pk=end.pk, status=AccessEndStatus.REMOVED).update(
        status=AccessEndStatus.RESTORED, updated_at=timezone.now()
    )
    end.refresh_from_db()
    return end

"""Audit events of failed sign-ins and lockouts, and lifting a lockout."""

from collections.abc import Iterable

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

from governance.audit.models import ActorKind, AuditAction
from governance.audit.record import Actor, record_events
from governance.signin.lockouts import Failures


def _user_target(username: str | None) -> dict:
    """The account a sign-in named, as an audit target: its id when it exists, the name as typed always."""
    user_model = get_user_model()
    pk = None
    if username:
        pks = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).values_list("pk", flat=True)
        pk = pks.first()
    return {
        "target_type": user_model._meta.label_lower,
        "target_id": "" if pk is None else str(pk),
        "target_repr": username or "(no username)",
    }


def _address_target(address: str) -> dict:
    return {"target_type": "ip_address", "target_id": address, "target_repr": f"address {address}"}


def signin_failure_record(*, username: str | None, client_ip: str | None, failures: Failures, locked_out: bool) -> None:
    """Audit one counted failed sign-in, and the lockout it started if it did.

    Only the username as typed and the address are kept, never the password. Sign-ins refused during
    a lockout are not counted and not recorded, so one address adds at most
    ``PORTAL_LOGIN_FAILURE_LIMIT_PER_IP`` failures and one lockout to the audit log per lockout time.
    """
    common = {"actor": Actor(kind=ActorKind.ANONYMOUS, client_ip=client_ip), **_user_target(username)}
    counts = {"failures_for_username": failures.by_username, "failures_from_address": failures.by_address}
    events = [{"action": AuditAction.LOGIN_FAILED, "after": counts, **common}]
    if locked_out:
        locked = ["username"] * failures.username_locked + ["address"] * failures.address_locked
        events.append(
            {
                "action": AuditAction.LOGIN_LOCKED_OUT,
                "after": {**counts, "locked": locked, "minutes": settings.PORTAL_LOGIN_LOCKOUT_MINUTES},
                **common,
            }
        )
    record_events(events)


def signin_unlock(*, usernames: Iterable[str] = (), addresses: Iterable[str] = (), actor: Actor) -> int:
    """Lift the lockouts of these usernames and addresses: delete every attempt row naming one of them.

    One audit event per username or address that had failures on record. Returns the rows deleted.
    """
    usernames = sorted({u for u in usernames if u})
    addresses = sorted({a for a in addresses if a})
    if not usernames and not addresses:
        return 0
    with transaction.atomic():
        attempts = AccessAttempt.objects.filter(Q(username__in=usernames) | Q(ip_address__in=addresses))
        rows = list(attempts.values_list("pk", "username", "ip_address", "failures_since_start"))
        AccessAttempt.objects.filter(pk__in=[pk for pk, *_ in rows]).delete()
        events = []
        for username in usernames:
            cleared = sum(n for _, name, _, n in rows if name == username)
            if cleared:
                events.append({"after": {"username": username, "failures_cleared": cleared}, **_user_target(username)})
        for address in addresses:
            cleared = sum(n for _, _, ip, n in rows if ip == address)
            if cleared:
                events.append({"after": {"address": address, "failures_cleared": cleared}, **_address_target(address)})
        record_events([{"actor": actor, "action": AuditAction.LOGIN_UNLOCKED, **event} for event in events])
    return len(rows)

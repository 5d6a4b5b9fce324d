"""``expire_access``: the day's warnings and removals of access given until a date, and the
extension requests made from the warnings' links.

Safe to run at any time and twice at once: one run holds the ``expire_access`` lease; inside it
each warning and each removal is claimed with a conditional UPDATE before it is sent or carried
out (accounts/services/access_ends.py), so nothing is warned about or removed twice.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.utils import timezone

from accounts.clients import client_for
from accounts.models import MembershipEnd
from accounts.models.ends import AccessEndStatus
from accounts.selectors.access_ends import ends_due, ends_to_warn, warning_due
from accounts.services.access_ends import (
    membership_end_carry_out,
    membership_end_extend,
    membership_end_extension_request,
    membership_end_mark_warned,
)
from governance.audit.record import Actor, new_correlation_id
from governance.runs import locks
from governance.runs.models import RunStatus, RunTrigger, TaskRun
from governance.runs.services import task_run_finish, task_run_start
from policies.access.emails import send_access_ending
from policies.links import read_extension_token
from policies.services import notifications

log = logging.getLogger(__name__)

RUN_NAME = "expire_access"
AUTOMATIC = "automatic extension"
CHUNK = 500


def access_expire(
    *,
    now: datetime | None = None,
    client_factory: Callable[..., Any] = client_for,
    trigger: str = RunTrigger.SCHEDULE,
) -> TaskRun | None:
    """Send the warnings due by ``now`` (7 and 1 days ahead), then remove every membership whose
    end has come. Returns the run row, or None when another run holds the lease."""
    now = now or timezone.now()
    lease = locks.hold(RUN_NAME, ttl=timedelta(seconds=settings.TASK_TIMEOUT))
    if lease is None:
        return None
    run = task_run_start(
        name=RUN_NAME, trigger=trigger, lease_holder=lease.holder, correlation_id=new_correlation_id(), now=now
    )
    counts: dict[str, int] = {
        "warned": 0,
        "removed": 0,
        "gone": 0,
        "changed": 0,
        "retry": 0,
        "failed": 0,
        "skipped": 0,
    }
    lines: list[str] = []
    clients: dict[int, Any] = {}
    actor = Actor.scheduler(RUN_NAME)
    try:
        for end in ends_to_warn(now).select_related("account__organization", "group", "granted_by").iterator():
            days = warning_due(end, now)
            if days is not None and membership_end_mark_warned(end=end, days=days, actor=actor, now=now):
                send_access_ending(end, days=days)
                counts["warned"] += 1
        for chunk in _chunks(ends_due(now).values_list("pk", flat=True)):
            for end in MembershipEnd.objects.filter(pk__in=chunk).select_related("account__organization", "group"):
                lease.keep()
                outcome = _carry_out(end, clients, client_factory, actor, run.correlation_id, now)
                counts[outcome] += 1
                if outcome in ("changed", "retry", "failed") and len(lines) < 200:
                    lines.append(f"{outcome}: {end} — {MembershipEnd.objects.get(pk=end.pk).error}")
    except locks.LeaseLost:
        return task_run_finish(run=run, status=RunStatus.HALTED, counts=counts, error="Lease lost", log_lines=lines)
    finally:
        for client in clients.values():
            client.close()
        lease.release()
    failed = counts["failed"] + counts["retry"]
    status = RunStatus.FAILED if failed else RunStatus.SUCCEEDED
    return task_run_finish(run=run, status=status, counts=counts, log_lines=lines, error=_error(counts))


def _chunks(pks) -> Any:
    # The due list is read once, by key, so the claims below never page through a changing set.
    pks = list(pks)
    for start in range(0, len(pks), CHUNK):
        yield pks[start : start + CHUNK]


def _carry_out(end, clients, client_factory, actor, correlation_id, now) -> str:
    organization = end.account.organization
    if organization.pk not in clients:
        try:
            clients[organization.pk] = client_factory(organization)
        except Exception as exc:  # missing credentials: every end of that organization waits for the next run
            log.warning("expire_access: no client for %s: %s", organization.org_id, exc)
            clients[organization.pk] = None
    client = clients[organization.pk]
    if client is None:
        return "retry"
    return membership_end_carry_out(end=end, client=client, actor=actor, correlation_id=correlation_id, now=now)


def _error(counts: dict[str, int]) -> str:
    parts = []
    if counts["retry"]:
        parts.append(f"{counts['retry']} removal(s) failed in Atlassian and are tried again on the next run")
    if counts["failed"]:
        parts.append(f"{counts['failed']} removal(s) were refused and need a person")
    return "; ".join(parts)


# --- the extension link --------------------------------------------------------------------------
def resolve_extension_link(token: str) -> MembershipEnd | None:
    """The scheduled end an extension link stands for, or None (tampered, expired or used)."""
    try:
        payload = read_extension_token(token)
        pk, nonce = int(payload["m"]), str(payload["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    return (
        MembershipEnd.objects.select_related("account__organization", "group")
        .filter(pk=pk, nonce=nonce, status=AccessEndStatus.SCHEDULED)
        .first()
    )


def extension_request_create(
    *, end: MembershipEnd, nonce: str, justification: str, client_ip: str | None = None, now: datetime | None = None
) -> MembershipEnd:
    """Record the request; with ``ACCESS_EXTENSION_AUTO_DAYS`` set, a first request is granted at
    once by that many days (the rule), otherwise the help desk is told and decides in the admin."""
    from governance.audit.models import ActorKind

    now = now or timezone.now()
    account = end.account
    requester = Actor(kind=ActorKind.REQUESTER, name=account.email or str(account), client_ip=client_ip)
    end = membership_end_extension_request(end=end, nonce=nonce, justification=justification, actor=requester, now=now)
    auto_days = settings.ACCESS_EXTENSION_AUTO_DAYS
    if auto_days and end.extensions == 0:
        return membership_end_extend(
            end=end,
            expires_at=end.expires_at + timedelta(days=auto_days),
            actor=Actor.system(AUTOMATIC),
            reason=f"Extended automatically by {auto_days} days (ACCESS_EXTENSION_AUTO_DAYS): first request.",
            now=now,
        )
    admin_url = f"{settings.PORTAL_BASE_URL}/admin/accounts/membershipend/{end.pk}/change/"
    notifications.send_digest(
        subject=f"{account} asks to keep {end.group} after {end.expires_at:%d %B %Y}",
        lines=[
            f"{account} ({account.email}) asks to keep the group {end.group} longer.",
            f"Justification: {end.extension_justification or '(none given)'}",
            f"Extend or decline it in the admin: {admin_url}",
        ],
    )
    return end

"""Named leases so overlapping schedules, two clusters or a manual run never do the same work twice.

A lease is claimed with a conditional UPDATE (``WHERE expires_at < now OR holder = me``): the
database decides which process wins, on SQLite and PostgreSQL alike. A crashed holder's lease
simply expires.

Every comparison and every new expiry uses the database's clock (``Now()``), never the
process's: with several hosts, a host whose clock runs ahead would otherwise see a live lease
as expired and take it.

Lease names belong to the apps whose work they guard (``accounts.leases``, ``policies.leases``);
this module never parses them.

A run that outlives its lease's TTL (a manual ``sync_atlassian`` is not killed by django-q's
timeout) keeps it by renewing: :class:`Lease.keep` before each step that changes something. A
holder that finds its lease gone stops there; someone else may be doing the work by now.
"""

import logging
import os
import socket
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, ExpressionWrapper, Q
from django.db.models.functions import Now

from governance.runs.models import RunLock

log = logging.getLogger(__name__)

# A held lease is renewed once this share of its TTL has gone by since the last renewal, so a
# live holder renews several times before it could expire, and a loop that checks the lease
# before every remote call writes to the database only now and then.
RENEW_SHARE = 0.1


class LockHeld(Exception):
    """Another process holds the lease."""


class LeaseLost(Exception):
    """The lease expired and another process took it (or it was released): stop before acting again."""


def _holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _expiry(ttl: timedelta) -> ExpressionWrapper:
    """``now + ttl`` computed by the database."""
    return ExpressionWrapper(Now() + ttl, output_field=DateTimeField())


def _live() -> Q:
    return Q(expires_at__gte=Now()) & ~Q(holder="")


def acquire(name: str, *, ttl: timedelta, holder: str | None = None) -> str | None:
    """Claim ``name`` for ``ttl``; return the holder id, or None when someone else holds it."""
    holder = holder or _holder_id()
    try:
        with transaction.atomic():
            RunLock.objects.get_or_create(name=name)
    except IntegrityError:
        pass  # created concurrently by another process: fine, the UPDATE below decides
    claimable = Q(name=name) & (Q(expires_at__isnull=True) | Q(expires_at__lt=Now()) | Q(holder=holder))
    previous = RunLock.objects.filter(claimable).exclude(holder__in=["", holder]).values_list("holder", flat=True)
    crashed = next(iter(previous), None)  # read first only for the log line; the UPDATE decides
    claimed = RunLock.objects.filter(claimable).update(holder=holder, expires_at=_expiry(ttl))
    if claimed == 1 and crashed:
        log.warning("Lease %s taken over from %s, which let it expire without releasing it", name, crashed)
    return holder if claimed == 1 else None


def renew(name: str, holder: str, *, ttl: timedelta) -> bool:
    """Extend ``holder``'s lease to ``ttl`` from now; False when it is no longer ``holder``'s.

    A lease past its expiry but still naming ``holder`` is renewed too: every claim writes the
    claimant's id, so nobody else has held it in between, and nobody did the work meanwhile.
    """
    return RunLock.objects.filter(name=name, holder=holder).update(expires_at=_expiry(ttl)) == 1


def release(name: str, holder: str) -> None:
    RunLock.objects.filter(name=name, holder=holder).update(holder="", expires_at=None)


def held_by_others(names, *, holder: str | None = None) -> set[str]:
    """Which of ``names`` are held, unexpired by the database's clock, by anyone but ``holder``."""
    rows = RunLock.objects.filter(_live(), name__in=list(names))
    if holder:
        rows = rows.exclude(holder=holder)
    return set(rows.values_list("name", flat=True))


class Lease:
    """A lease this process holds, kept alive by the loop doing the work.

    Call :meth:`keep` before each step that changes something (a remote call, a batch of writes).
    It renews in the database once ``renew_every`` has gone by since the last renewal, so checking
    before every remote call costs a write only now and then; the lease cannot have expired in
    between because ``renew_every`` is a fraction of the TTL. Elapsed time is measured with the
    monotonic clock, which keeps counting while the process is stopped or starved, so a holder
    that was frozen for longer than the TTL goes to the database on its next check.
    """

    def __init__(self, name: str, holder: str, *, ttl: timedelta, renew_every: timedelta | None = None):
        self.name, self.holder, self.ttl = name, holder, ttl
        self.renew_every = renew_every if renew_every is not None else ttl * RENEW_SHARE
        self.lost = False
        self._renewed_at = time.monotonic()

    def __repr__(self) -> str:
        return f"<Lease {self.name} held by {self.holder}>"

    def keep(self) -> None:
        """Renew when due; raise :class:`LeaseLost` once the lease is no longer ours."""
        if self.lost:
            raise LeaseLost(self.name)
        if time.monotonic() - self._renewed_at < self.renew_every.total_seconds():
            return
        checked = time.monotonic()
        if not renew(self.name, self.holder, ttl=self.ttl):
            self.lost = True
            log.warning("Lease %s is no longer held by %s: stopping before the next change", self.name, self.holder)
            raise LeaseLost(self.name)
        self._renewed_at = checked

    def keep_now(self) -> None:
        """Renew for a whole TTL from now, due or not; raise :class:`LeaseLost` if it is not ours."""
        self._renewed_at = time.monotonic() - self.renew_every.total_seconds()
        self.keep()

    def release(self) -> None:
        release(self.name, self.holder)


def take_over(name: str, holder: str, *, ttl: timedelta) -> Lease | None:
    """The lease ``holder`` left to whoever goes on with its work (a task that queued its own
    follow-up without letting go, so no sweep takes the run for abandoned in between), under a
    new holder id: of two deliveries of that follow-up, only one can win it."""
    taken = _holder_id()
    won = RunLock.objects.filter(name=name, holder=holder).update(holder=taken, expires_at=_expiry(ttl)) == 1
    return Lease(name, taken, ttl=ttl) if won else None


def hold(name: str, *, ttl: timedelta) -> Lease | None:
    """:func:`acquire` as a :class:`Lease` to keep; None when someone else holds it."""
    holder = acquire(name, ttl=ttl)
    return Lease(name, holder, ttl=ttl) if holder else None


@contextmanager
def lease(name: str, *, ttl: timedelta):
    """``with lease("sync:org") as held:`` runs the block only if the lease was free (raises
    LockHeld otherwise); call ``held.keep()`` inside long blocks."""
    held = hold(name, ttl=ttl)
    if held is None:
        raise LockHeld(name)
    try:
        yield held
    finally:
        held.release()

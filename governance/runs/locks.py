"""Named leases so overlapping schedules, two clusters or a manual run never do the same work twice.

A lease is claimed with a conditional UPDATE (``WHERE expires_at < now OR holder = me``): the
database decides which process wins, on SQLite and PostgreSQL alike. A crashed holder's lease
simply expires.
"""

import logging
import os
import socket
import uuid
from contextlib import contextmanager
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from governance.runs.models import RunLock

log = logging.getLogger(__name__)


class LockHeld(Exception):
    """Another process holds the lease."""


def _holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(name: str, *, ttl: timedelta, holder: str | None = None) -> str | None:
    """Claim ``name`` for ``ttl``; return the holder id, or None when someone else holds it."""
    holder = holder or _holder_id()
    now = timezone.now()
    try:
        with transaction.atomic():
            RunLock.objects.get_or_create(name=name)
    except IntegrityError:
        pass  # created concurrently by another process: fine, the UPDATE below decides
    claimable = Q(name=name) & (Q(expires_at__isnull=True) | Q(expires_at__lt=now) | Q(holder=holder))
    previous = RunLock.objects.filter(claimable).exclude(holder__in=["", holder]).values_list("holder", flat=True)
    crashed = next(iter(previous), None)  # read first only for the log line; the UPDATE decides
    claimed = RunLock.objects.filter(claimable).update(holder=holder, expires_at=now + ttl)
    if claimed == 1 and crashed:
        log.warning("Lease %s taken over from %s, which let it expire without releasing it", name, crashed)
    return holder if claimed == 1 else None


def release(name: str, holder: str) -> None:
    RunLock.objects.filter(name=name, holder=holder).update(holder="", expires_at=None)


@contextmanager
def lease(name: str, *, ttl: timedelta):
    """``with lease("sync:org"):`` runs the block only if the lease was free; raises LockHeld otherwise."""
    holder = acquire(name, ttl=ttl)
    if holder is None:
        raise LockHeld(name)
    try:
        yield holder
    finally:
        release(name, holder)

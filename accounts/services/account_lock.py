"""One change to an account at a time, across threads, workers and clusters.

Every change the portal makes in Atlassian is a remote call, then a read-back, then a write to the
mirror (accounts/services/remote.py); a policy's action also re-reads the account first. Two such
changes to one account interleaving (a bulk action and a policy run, two admins) would each read
back the other's half-done change and audit it as its own: one suspension, two
``account.suspended`` events, the second by someone who did not suspend anyone; and a re-check
could pass on a state another change is about to undo. So the whole sequence, for one account,
runs holding this lock, and the next change to that account starts from what the last one left.

The lock is not a database transaction: holding SQLite's write lock, or row locks, across HTTP
calls would stall every other writer. It is a PostgreSQL session advisory lock, or on SQLite an
``flock`` on a file beside the database (SQLite deployments are one host). Both go with the
process that holds them, so a killed worker never leaves an account locked. Re-entrant within a
thread: a multi-step change holds it once for all its steps.
"""

import fcntl
import functools
import os
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from django.db import DatabaseError, connection
from django.db.transaction import TransactionManagementError

from accounts.services.errors import ServiceRefused

# The longest a change waits for another change to the same account: well beyond one change's
# calls (a re-check, a few writes and a read-back, each with the client's retries).
WAIT_SECONDS = 180.0
POLL_SECONDS = 0.05
# Advisory-lock keys are one bigint shared by the whole database: the high half names this use.
_PG_NAMESPACE = zlib.crc32(b"accounts.account-change") & 0x7FFF_FFFF
# SQLite: one lock file per stripe of accounts; two accounts sharing a stripe only wait in turn.
_STRIPES = 1024

_held = threading.local()

_P = ParamSpec("_P")
_R = TypeVar("_R")
_Release = Callable[[], None]


class AccountBusy(ServiceRefused):
    """Another change to the account did not finish within :data:`WAIT_SECONDS`. Nothing was sent;
    trying again later is safe."""

    retryable = True


@contextmanager
def one_change_at_a_time(account_pk: int, *, wait: float | None = None) -> Iterator[None]:
    """Hold the account's change lock for the block; :class:`AccountBusy` if it stays taken for
    ``wait`` seconds (:data:`WAIT_SECONDS` by default)."""
    depth: dict[int, int] | None = getattr(_held, "depth", None)
    if depth is None:
        depth = _held.depth = {}
    if depth.get(account_pk):
        depth[account_pk] += 1
        try:
            yield
        finally:
            depth[account_pk] -= 1
        return
    release = _acquire(account_pk, WAIT_SECONDS if wait is None else wait)
    depth[account_pk] = 1
    try:
        yield
    finally:
        del depth[account_pk]
        release()


def _acquire(account_pk: int, wait: float) -> _Release:
    deadline = time.monotonic() + wait
    take = _pg_lock if connection.vendor == "postgresql" else _file_lock
    while True:
        release = take(account_pk)
        if release is not None:
            return release
        if time.monotonic() >= deadline:
            raise AccountBusy(
                f"Another change to this account has been under way for over {wait:.0f} seconds; "
                "nothing was sent to Atlassian. Try again when it has finished."
            )
        time.sleep(POLL_SECONDS)


def _pg_lock(account_pk: int) -> _Release | None:
    key = (_PG_NAMESPACE << 32) | (account_pk & 0xFFFF_FFFF)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        if not cursor.fetchone()[0]:
            return None
    held_on = connection.connection

    def release() -> None:
        # A connection closed meanwhile (an error, a restart) took the lock with it.
        if connection.connection is not held_on:
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        except (DatabaseError, TransactionManagementError):
            # Not to be left held by a connection that lives on (a worker's): closing it releases it.
            connection.close()

    return release


def _file_lock(account_pk: int) -> _Release | None:
    fd = os.open(_lock_path(account_pk % _STRIPES), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # Each open() is its own open file description: flock makes threads of one process wait
        # for each other too, not only processes.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return lambda: os.close(fd)  # closing the descriptor releases the flock


def lock_folder(database_name: str) -> Path:
    """Where the lock files of a SQLite database live: beside it, as private as the database."""
    if database_name == ":memory:" or database_name.startswith("file:"):
        # An in-memory database lives in one process; so do its locks.
        return Path(tempfile.gettempdir()) / f"portal-account-locks-{os.getpid()}"
    return Path(f"{database_name}-account-locks")


def _lock_path(stripe: int) -> Path:
    folder = lock_folder(str(connection.settings_dict["NAME"]))
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{stripe:04d}.lock"


def changes_account(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``function`` (which takes the ``account`` keyword) holding that account's change lock."""

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        account: Any = kwargs["account"]  # every decorated service takes it, keyword-only
        with one_change_at_a_time(account.pk):
            return function(*args, **kwargs)

    return wrapper

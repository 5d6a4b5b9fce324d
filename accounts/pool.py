"""Remote changes for many accounts at Atlassian's pace: a bounded pool of worker threads.

What runs here is already decided, capped and (for policies) ordered by the caller, serially, as
before; the pool only carries out the per-account work (claim, re-check, change, read-back, each
account's own transaction and audit event, exactly as when run one at a time) several accounts at
a time. Each account still takes its change lock (accounts/services/account_lock.py), so two
changes to one account never interleave, whatever runs them.

- At most ``ATLASSIAN_CONCURRENCY`` workers; each has its own database connection (closed when it
  is done) and its own fork of the organization's client, paced by the organization's shared
  :class:`~governance.atlassian.client.pace.Pacer`: together, as fast as the rate limit allows and
  never past it. The forks of one client share a
  :class:`~governance.atlassian.client.read_batcher.UserReadBatcher`: the re-checks and read-backs
  workers ask for at the same moment go out as one search (up to ten accounts).
- The caller's thread decides what starts: ``before_each`` (a lease's ``keep``) runs before each
  item is handed out, and nothing new starts once ``deadline`` (a monotonic time) has passed.
  Items already started always finish, and their results are delivered, before :func:`run_paced`
  returns or re-raises: a run stops between accounts, never in the middle of one.
- Results are delivered to ``on_result`` in the caller's thread, in the order of ``items``.
- It runs everything in the caller's thread, one item at a time and with the caller's client,
  when there is one worker, or when the caller is inside a transaction (other connections would
  not see its uncommitted rows, and on SQLite would wait for its write lock).
"""

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import connection

from governance.atlassian.client.pace import Pacer, shared_pacer
from governance.atlassian.client.read_batcher import UserReadBatcher

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
# The worker's client for a base client: its own fork of it (or the base itself, run inline).
ForkOf = Callable[[Any], Any]


def concurrency() -> int:
    return max(1, int(getattr(settings, "ATLASSIAN_CONCURRENCY", 1)))


def pacer_for(client: Any) -> Pacer:
    """The process's pacer for the organization ``client`` talks to, with ``ATLASSIAN_CONCURRENCY``
    requests in flight at most: shared by every run of the process acting for that organization
    (a bulk action and a policy run at once, of whatever sizes), since Atlassian counts them
    together. Each pool's own worker count only bounds its threads."""
    return shared_pacer(f"{client.api_base}|{client.org_id}", slots=concurrency(), clock=time.monotonic)


@dataclass
class PoolResult(Generic[T]):
    """What :func:`run_paced` did: the items it never started (a deadline), and how many ran at once."""

    not_started: list[T] = field(default_factory=list)
    workers: int = 1
    deadline_reached: bool = False


def run_paced(
    items: Sequence[T],
    work: Callable[[T, ForkOf], R],
    *,
    on_result: Callable[[T, R], None],
    before_each: Callable[[], object] = lambda: None,
    deadline: float | None = None,
    workers: int | None = None,
) -> PoolResult[T]:
    """Run ``work(item, fork_of)`` for each item (see the module docstring).

    ``work`` gets its client as ``fork_of(base_client)``. An exception from ``before_each`` or
    ``work`` stops handing out items; those already started finish and are delivered, then the
    first exception is raised.
    """
    size = min(workers or concurrency(), max(len(items), 1))
    if size <= 1 or connection.in_atomic_block:
        return _inline(items, work, on_result=on_result, before_each=before_each, deadline=deadline)
    return _Pool(size, work, on_result).run(items, before_each=before_each, deadline=deadline)


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _inline(items, work, *, on_result, before_each, deadline) -> PoolResult:
    result: PoolResult = PoolResult(workers=1)
    for index, item in enumerate(items):
        if _past(deadline):
            result.not_started, result.deadline_reached = list(items[index:]), True
            break
        before_each()
        on_result(item, work(item, lambda client: client))
    return result


class _Pool:
    def __init__(self, size: int, work: Callable, on_result: Callable):
        self.size, self.work, self.on_result = size, work, on_result
        self.tasks: queue.Queue = queue.Queue()
        self.done: queue.Queue = queue.Queue()
        self._stats_lock = threading.Lock()
        # A client that cannot be forked (built on a caller's session) serves one item at a time.
        self._shared_locks: dict[int, threading.Lock] = {}
        # The forks of one client send the account reads their workers ask for at once together.
        self._batchers: dict[int, UserReadBatcher] = {}

    def run(self, items: Sequence, *, before_each: Callable, deadline: float | None) -> PoolResult:
        result: PoolResult = PoolResult(workers=self.size)
        threads = [threading.Thread(target=self._worker, name=f"atlassian-pool-{n}") for n in range(self.size)]
        for thread in threads:
            thread.start()
        finished: dict[int, tuple[bool, Any]] = {}
        delivered = started = 0
        error: BaseException | None = None

        def deliver() -> None:
            nonlocal delivered, error
            while delivered in finished:
                ok, value = finished.pop(delivered)
                if ok:
                    self.on_result(items[delivered], value)
                elif error is None:
                    error = value
                delivered += 1

        def collect(block: bool) -> None:
            try:
                while True:
                    index, ok, value = self.done.get(block=block)
                    finished[index] = (ok, value)
                    block = False
            except queue.Empty:
                pass
            deliver()

        try:
            while started < len(items) and error is None:
                if started - delivered - len(finished) >= self.size:
                    collect(block=True)  # every worker busy: wait for one to finish
                    continue
                if _past(deadline):
                    result.not_started, result.deadline_reached = list(items[started:]), True
                    break
                before_each()
                self.tasks.put((started, items[started]))
                started += 1
                collect(block=False)
        except BaseException as exc:  # the lease was lost: stop handing out, finish what started
            error = error or exc
        finally:
            for _ in threads:
                self.tasks.put(None)
            while delivered < started:
                collect(block=True)
            for thread in threads:
                thread.join()
        if error is not None:
            raise error
        return result

    def _worker(self) -> None:
        forks: dict[int, tuple[Any, Any]] = {}  # id(base client) -> (base, this worker's fork)

        def fork_of(client: Any) -> Any:
            if not _forkable(client):
                return client  # used under its lock (_one)
            key = id(client)
            if key not in forks:
                with self._stats_lock:
                    reads = self._batchers.setdefault(key, UserReadBatcher())
                forks[key] = (client, client.fork(pacer=pacer_for(client), reads=reads))
            return forks[key][1]

        try:
            while True:
                task = self.tasks.get()
                if task is None:
                    return
                index, item = task
                try:
                    self.done.put((index, True, self._one(item, fork_of)))
                except BaseException as exc:
                    self.done.put((index, False, exc))
        finally:
            connection.close()
            for base, fork in forks.values():
                fork.close()
                with self._stats_lock:
                    base.stats.add(fork.stats)

    def _one(self, item: Any, fork_of: ForkOf) -> Any:
        held: list[threading.Lock] = []

        def client_for_item(client: Any) -> Any:
            if not _forkable(client):
                with self._stats_lock:
                    lock = self._shared_locks.setdefault(id(client), threading.Lock())
                if lock not in held:
                    lock.acquire()
                    held.append(lock)
            return fork_of(client)

        try:
            return self.work(item, client_for_item)
        finally:
            for lock in held:
                lock.release()


def _forkable(client: Any) -> bool:
    return bool(getattr(client, "can_fork", False)) and hasattr(client, "fork")

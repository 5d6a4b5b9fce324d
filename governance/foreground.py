"""A thread on a critical path runs first; the work that can wait gives way to it.

Python runs one thread at a time (the GIL). A sync fetches Atlassian's user pages in a background
thread, one request after the other (a cursor), while its main thread compares and writes the
batches already fetched. The fetching thread sets the sync's pace: each page waits for the one
before. When both want the interpreter, CPython hands it back and forth every switch interval,
so the fetching thread parsing a page runs at half speed and every later page comes later. The
main thread's work has no such deadline, as long as it keeps up on average.

So a sync has a :class:`Foreground`. Its fetching thread marks itself :meth:`~Foreground.running`
and steps out while it waits on the network (:func:`waiting`, around each request in the
transport) or on a full queue. The sync's main thread calls :meth:`~Foreground.give_way` between
accounts: while the fetching thread runs, it sleeps, and so does its work while the fetching
thread waits for Atlassian's answers.

The gate is the sync's own: other threads of the process (a policy run's read-back writing the
same tables) never wait for it. And a give-way is short by construction: a fetching thread that
has been running for :data:`LONGEST_TURN` without stepping out is not parsing a page (it is
stuck, or doing something long), and the main thread goes on rather than hold its transaction
open while it waits.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

# A page of 100 users parses in about 5 ms: a turn this long is something else.
LONGEST_TURN = 0.05  # seconds
# How often a thread giving way looks again. Looking rather than waiting on a condition with a
# timeout: under libfaketime (the CI's timeless run) a timed wait may never return.
LOOK_EVERY = 0.0002  # seconds

_local = threading.local()  # per thread: ``current`` (the Foreground it runs for), ``away`` (waiting() depth)


class Foreground:
    """The threads one piece of work waits for; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0  # threads marked running and not waiting now
        self._turn_began = 0.0  # monotonic time the count last went from 0 to 1

    @property
    def running_now(self) -> int:
        """How many of its threads are running and not waiting (for tests and diagnostics)."""
        return self._running

    def give_way(self) -> None:
        """Return once none of its threads is running, or the running one's turn has lasted
        :data:`LONGEST_TURN`; at once from one of its own threads."""
        if self._running == 0 or getattr(_local, "current", None) is self:  # read without the lock: a hint
            return
        while self._running and time.monotonic() - self._turn_began < LONGEST_TURN:
            time.sleep(LOOK_EVERY)

    @contextmanager
    def running(self) -> Iterator[None]:
        """Mark this thread as on the critical path for the block."""
        if getattr(_local, "current", None) is not None:
            raise RuntimeError("this thread already runs in the foreground of a piece of work")
        _local.current = self
        counted = not getattr(_local, "away", 0)
        if counted:
            self._count(1)
        try:
            yield
        finally:
            if counted:
                self._count(-1)
            _local.current = None

    def _count(self, delta: int) -> None:
        with self._lock:
            if self._running == 0 and delta > 0:
                self._turn_began = time.monotonic()
            self._running += delta


@contextmanager
def waiting() -> Iterator[None]:
    """Step out of the foreground this thread runs in for the block (a wait on the network, on a
    queue); nothing for a thread in no foreground, or one already waiting."""
    away = getattr(_local, "away", 0)
    current: Foreground | None = getattr(_local, "current", None)
    _local.away = away + 1
    counted = away == 0 and current is not None
    if counted and current is not None:
        current._count(-1)
    try:
        yield
    finally:
        if counted and current is not None:
            current._count(1)
        _local.away = away

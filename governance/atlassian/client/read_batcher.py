"""One search for the accounts several workers read at the same moment.

A pool of workers acting for one organization (accounts/pool.py) reads each account right before
acting on it and right after (DESIGN.md 5.10): one v2 user search with ``accountIds=[id]`` each,
against a rate limit that counts every request. The search takes up to ten ids, so the forks of
one pool share a :class:`UserReadBatcher`: the first read asked for waits up to ``gather`` seconds
for others (until ten ids wait), and they go out as one search; the reads asked for while it is
on its way wait for the next one.

Nothing is read earlier than it was asked for: every record a worker gets was fetched after it
asked, while the worker holds the account's change lock, as its own search would have been. A
failed search fails each read it carried, as their own searches would have; the next ones go on.
"""

import copy
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from governance.atlassian.records import DirectoryUser

if TYPE_CHECKING:
    from .client import AtlassianClient

# What one v2 user search may filter on (API.md 2.5 (b)): ten account ids, a hundred emails.
USER_SEARCH_IDS = 10
USER_SEARCH_EMAILS = 100
# How long a read may wait for others to go with it. At a rate limit of 20 requests a second the
# reads of a pool's workers come about that often, each after its worker's change: a few tenths of
# a second gather ten of them and save nine requests; without a binding limit they come faster.
GATHER_SECONDS = 0.3
GATHER_STEP = 0.01
# A search's ids share its URL (the directory) and what it expands.
_Key = tuple[str | None, tuple[str, ...]]


class _Read:
    __slots__ = ("account_id", "asked_at", "done", "error", "user")

    def __init__(self, account_id: str, asked_at: float):
        self.account_id, self.asked_at = account_id, asked_at
        self.done = False
        self.user: DirectoryUser | None = None
        self.error: BaseException | None = None


class UserReadBatcher:
    """Thread-safe; see the module docstring."""

    def __init__(self, *, gather: float = GATHER_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.gather, self.clock = gather, clock
        self._cond = threading.Condition()
        self._waiting: dict[_Key, list[_Read]] = {}
        self._in_flight: set[_Key] = set()

    def user(
        self, client: "AtlassianClient", account_id: str, *, expand: Iterable[str], directory_id: str | None
    ) -> DirectoryUser | None:
        """What ``client.user_by_id(account_id, ...)`` returns, read together with the reads other
        workers ask for meanwhile. ``client`` is the calling worker's own: it sends the search
        when this read's turn comes."""
        key: _Key = (directory_id, tuple(expand))
        mine = _Read(account_id, self.clock())
        batch: list[_Read] = []
        with self._cond:
            waiting = self._waiting.setdefault(key, [])
            waiting.append(mine)
            while key in self._in_flight and not mine.done:
                self._cond.wait()
            if not mine.done:
                # Gathering counts as in flight: the reads asked for meanwhile join this search.
                self._in_flight.add(key)
        if not mine.done:
            batch = self._gather(waiting, mine)
        if mine.done:  # carried by another worker's search
            if mine.error is not None:
                raise copy.copy(mine.error)  # one exception object is not raised in two threads
            return mine.user
        try:
            found = client.users_by_ids([r.account_id for r in batch], expand=key[1], directory_id=directory_id)
            error = None
        except BaseException as exc:  # each read it carried fails as its own search would have
            found, error = {}, exc
        with self._cond:
            for read in batch:
                read.user, read.error, read.done = found.get(read.account_id), error, True
            self._in_flight.discard(key)
            self._cond.notify_all()
        if error is not None:
            raise error
        return mine.user

    def _gather(self, waiting: list[_Read], mine: _Read) -> list[_Read]:
        """The reads the next search carries, once ten ids wait or the oldest read has waited
        ``gather`` seconds (those that waited for the search before are not held back again).

        It looks every ``GATHER_STEP`` seconds rather than waiting on the condition with a
        timeout: a timed wait takes its deadline from the wall clock, and a clock set apart from
        the kernel's (faketime, a test suite run at another date) would make it wait for ever."""
        with self._cond:
            until = waiting[0].asked_at + self.gather
        while True:
            with self._cond:
                left = until - self.clock()
                if left <= 0 or len({read.account_id for read in waiting}) >= USER_SEARCH_IDS:
                    return self._take(waiting, mine)
            time.sleep(min(GATHER_STEP, left))

    @staticmethod
    def _take(waiting: list[_Read], mine: _Read) -> list[_Read]:
        """The reads the next search carries: ``mine`` first, then the oldest waiting, up to ten
        ids (two reads of one id share its record)."""
        ids = {mine.account_id}
        batch = [mine]
        for read in waiting:
            if read is mine:
                continue
            if read.account_id in ids or len(ids) < USER_SEARCH_IDS:
                ids.add(read.account_id)
                batch.append(read)
        for read in batch:
            waiting.remove(read)
        return batch

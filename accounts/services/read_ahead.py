"""Re-checks read a hundred accounts at a time, for runs that act on many accounts.

Right before a destructive action the account is read from Atlassian (DESIGN.md 5.10,
accounts/services/recheck.py). Alone, that is one search for each account, and with the change
and its read-back three requests an account against a rate limit that counts every request: a
policy suspending 10,000 people would spend two thirds of its time re-reading them.

The v2 user search takes a hundred email addresses at once. A run that knows which accounts it is
about to act on (a policy run's due cases, a bulk action's chunk) gives them to a
:class:`ReadAhead`, in the order it takes them. When a worker re-checks an account, the
ahead-reader reads it together with the run's next accounts (a hundred in all: one search by email
in each of their directories) and keeps their records for their own re-checks. A record kept is
used only when it is still as good as a read of its own:

- it is the account's (a record is matched by account id, never by email), searched for in the
  account's directory, as its own re-check would search;
- it was sent at most ``max_age`` seconds ago (:data:`RECHECK_MAX_AGE`): no older than a single
  re-check that Atlassian's rate limit or a retry holds back;
- the portal has not changed the account since it was sent: every change the portal makes stamps
  ``portal_changed_at`` before its call and after it, answered or not (accounts/services/
  remote.py), and the stamp is compared with the one the account had when the search was sent,
  under the account's change lock.

Any other case falls back to the account's own search by id, as without a read-ahead: no email or
no directory in the mirror, not found by its email (it changed, or the account moved), too old,
changed by the portal meanwhile, or a search that failed.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from accounts.models import Account
from accounts.sync.runner import USER_EXPAND
from governance.atlassian.client import AtlassianClient
from governance.atlassian.client.read_batcher import USER_SEARCH_EMAILS
from governance.atlassian.errors import AtlassianError
from governance.atlassian.records import DirectoryUser

# How old a record read ahead may be when its account's turn comes. At Atlassian's rate limit a
# hundred accounts take seconds; a single re-check held back by a 429 or retried waits as long.
RECHECK_MAX_AGE = 15.0


@dataclass(frozen=True, slots=True)
class _Kept:
    user: DirectoryUser | None  # None: not read ahead (the account reads its own)
    directory: str  # where it was searched for
    stamp: datetime | None  # portal_changed_at when the search was sent
    read_at: float  # the clock when the search was sent


class ReadAhead:
    """See the module docstring. Thread-safe: the workers of one run share it."""

    def __init__(
        self,
        account_pks: Iterable[int],
        *,
        expand: Sequence[str] = USER_EXPAND,
        max_age: float = RECHECK_MAX_AGE,
        chunk: int = USER_SEARCH_EMAILS,
        clock: Callable[[], float] = time.monotonic,
    ):
        # The run's accounts not read ahead yet, in the order the run takes them.
        self._unread: OrderedDict[int, None] = OrderedDict.fromkeys(account_pks)
        self._ours = frozenset(self._unread)
        self.expand, self.max_age, self.chunk, self.clock = tuple(expand), max_age, chunk, clock
        self._cond = threading.Condition()
        self._kept: dict[int, _Kept] = {}
        self._reading: set[int] = set()
        self.searches = 0
        self.used = 0

    def record_for(self, account: Account, client: AtlassianClient) -> DirectoryUser | None:
        """Atlassian's record of ``account`` for its re-check, read ahead with the run's next
        accounts; None when the re-check must read its own (see the module docstring). Call it
        under the account's change lock (accounts/services/account_lock.py)."""
        pk = account.pk
        if pk not in self._ours or not account.email or not account.directory_id:
            return None
        with self._cond:
            while pk in self._reading:
                self._cond.wait()
            kept = self._kept.pop(pk, None)
            chunk = [] if kept is not None else self._reserve(pk)
        if kept is None:
            kept = self._read(chunk, pk, client)
        if kept.user is None or kept.directory != account.directory_id or self.clock() - kept.read_at > self.max_age:
            return None
        if Account.objects.filter(pk=pk).values_list("portal_changed_at", flat=True).first() != kept.stamp:
            return None  # the portal changed it since: the read may not show that change
        with self._cond:
            self.used += 1
        return kept.user

    def _reserve(self, pk: int) -> list[int]:
        """``pk`` and the run's first accounts not read ahead yet (under the lock), marked as
        being read. Each account is read ahead once at most."""
        self._unread.pop(pk, None)
        chunk = [pk]
        while self._unread and len(chunk) < self.chunk:
            chunk.append(self._unread.popitem(last=False)[0])
        self._reading.update(chunk)
        return chunk

    def _read(self, chunk: list[int], pk: int, client: AtlassianClient) -> _Kept:
        """Read ``chunk`` with one search by email in each of its directories; keep the others'
        records. Whatever happens, the chunk is released: no worker waits for it in vain."""
        kept: dict[int, _Kept] = {}
        searches = 0
        try:
            rows = Account.objects.filter(pk__in=chunk).values_list(
                "pk", "account_id", "email", "directory_id", "portal_changed_at"
            )
            emails: dict[str, list[str]] = {}  # directory -> the addresses to search for there
            for _, _, email, directory, _ in rows:
                if email and directory:
                    emails.setdefault(directory, []).append(email)
            read_at = self.clock()
            found: dict[tuple[str, str], DirectoryUser] = {}  # (directory, account id) -> record
            for directory, addresses in emails.items():
                try:
                    users = client.users_by_emails(addresses, expand=self.expand, directory_id=directory)
                    searches += 1
                except AtlassianError:
                    continue  # each account reads its own, and meets the error there if it lasts
                found.update(((directory, account_id), user) for account_id, user in users.items())
            for p, account_id, _, directory, stamp in rows:
                kept[p] = _Kept(found.get((directory or "", account_id)), directory or "", stamp, read_at)
            for p in chunk:  # no longer in the mirror: read by id, and found gone there
                kept.setdefault(p, _Kept(None, "", None, read_at))
        finally:
            with self._cond:
                mine = kept.pop(pk, None)
                self._kept.update(kept)
                self._reading.difference_update(chunk)
                self.searches += searches
                self._cond.notify_all()
        return mine or _Kept(None, "", None, 0.0)

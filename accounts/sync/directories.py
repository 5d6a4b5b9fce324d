"""Who is in which directory: each directory's account ids, listed while the users are fetched.

The user records carry no directory, while every write (suspend, restore, remove, group
membership) must name the account's real one: the documents offer ``-`` to reads only
(DESIGN.md 5.12). So the sync lists each directory the directories endpoint names, a light page
of ids at a time. That listing is as long as the user listing itself (a cursor too: one page
after the other), so made before the first batch is written it doubled a sync's time against a
slow Atlassian (issue 20). With a client that can fork it runs in a background thread, from the
start of the sync, and each batch of users waits only for its own accounts' directories.

An account listed in several directories keeps the first, in the endpoint's order (counted, and
said in the run's log). The directories are listed all at once, a thread each: a batch is written
once each of its accounts is listed somewhere or the listing is complete (an account in no
directory). An account listed in a later directory while an earlier one is still being listed
gets a real directory that may not be its first: it is noted, and once the listing is complete
the few whose first directory differs are corrected (:func:`settle_directories`), so at the end of
the sync every account holds exactly the directory a complete listing gives.
"""

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import transaction

from accounts.models import Account, Organization
from accounts.sync.context import SyncContext
from accounts.sync.users import CHANGE_MARGIN


def list_directories(ctx: SyncContext, client) -> list[str]:
    """The directories endpoint's ids, in its order; the organization's names kept up to date."""
    directories = client.directories()
    names = {d["id"]: d["name"] for d in directories}
    if names != ctx.organization.directories:
        Organization.objects.filter(pk=ctx.organization.pk).update(directories=names)
        ctx.organization.directories = names
    return [d["id"] for d in directories]


def account_directories(client, directory_ids: list[str]) -> tuple[dict[str, str], int]:
    """``{account id: directory id}`` from one listing per directory, ids only; and how many
    accounts were listed in more than one (they keep the first)."""
    found: dict[str, str] = {}
    several = 0
    for directory_id in directory_ids:
        for page in client.iter_directory_account_ids(directory_id):
            for account_id in page:
                if found.setdefault(account_id, directory_id) != directory_id:
                    several += 1
    return found, several


class DirectoryListing:
    """:func:`account_directories` in background threads, one per directory, all at once (HTTP
    only, never the database).

    ``found`` fills up as pages arrive, an account keeping the first directory in the endpoint's
    order it has been seen in so far; :meth:`wait_for` blocks until the given accounts are in it
    or the listing is complete, and re-raises the listing's error.

    Listed one after the other, the second directory's listing started only once the first was
    complete, and a batch holding one of its accounts waited until then (the user listing, one
    batch ahead, with it): at 100,000 users and 150 ms a call, half the sync's time (issue 20).
    Listed together, an account seen in a later directory while an earlier one is still being
    listed has a directory that is real but not yet final (:meth:`settled`): the sync writes it
    and corrects the few whose first directory turns up later (:func:`settle_directories`).

    With a client that can fork, each directory after the first is listed on a fork of its own
    (a ``requests`` session is for one thread), whose calls are counted in ``client.stats``.
    """

    def __init__(self, client, directory_ids: list[str]):
        self.found: dict[str, str] = {}
        self.in_several = 0
        self._directory_ids = directory_ids
        self._rank = {directory_id: n for n, directory_id in enumerate(directory_ids)}
        self._client = client
        self._changed = threading.Condition()
        self._listing = len(directory_ids)  # directories whose listing is not complete
        self._complete = [False] * len(directory_ids)
        self._first_incomplete = 0  # rank of the first directory still being listed
        self._stop = False
        self._error: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._list, args=(n,), name=f"sync-directories-{n}", daemon=True)
            for n in range(len(directory_ids))
        ]

    @property
    def finished(self) -> bool:
        """Every directory's listing has ended: every account's directory is then :meth:`settled`
        (a listing that failed ended too; :meth:`wait_for` raises its error)."""
        return self._listing == 0

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def _list(self, n: int) -> None:
        directory_id = self._directory_ids[n]
        client = self._client
        forked = n > 0 and getattr(client, "can_fork", False)
        if forked:
            client = self._client.fork()
        found, rank = self.found, self._rank
        try:
            for page in client.iter_directory_account_ids(directory_id):
                with self._changed:
                    if self._stop:
                        return
                    for account_id in page:
                        known = found.setdefault(account_id, directory_id)
                        if known != directory_id:
                            self.in_several += 1
                            if rank[known] > n:  # seen in a later directory first: this one wins
                                found[account_id] = directory_id
                    self._changed.notify_all()
        except BaseException as exc:  # re-raised in the sync's thread by wait_for / complete
            with self._changed:
                self._error = exc
        finally:
            with self._changed:
                self._listing -= 1
                self._complete[n] = True
                while self._first_incomplete < len(self._complete) and self._complete[self._first_incomplete]:
                    self._first_incomplete += 1
                self._changed.notify_all()
            if forked:
                self._client.stats.add(client.stats)
                client.close()

    def settled(self, account_id: str) -> bool:
        """Whether ``account_id``'s directory in ``found`` (or its absence) is final: every
        directory before the one it was seen in is completely listed."""
        directory_id = self.found.get(account_id)
        if directory_id is None:
            return self.finished
        return self._rank[directory_id] <= self._first_incomplete

    def wait_for(self, account_ids: Iterable[str]) -> None:
        """Return once every one of ``account_ids`` is listed, or the listing is complete."""
        found = self.found
        pending = [account_id for account_id in account_ids if account_id not in found]
        with self._changed:
            while True:
                if self._error is not None:
                    raise self._error
                pending = [account_id for account_id in pending if account_id not in found]
                if not pending or self.finished:
                    return
                self._changed.wait()

    def complete(self) -> dict[str, str]:
        """Wait for the whole listing; the complete ``{account id: directory id}``."""
        with self._changed:
            while not self.finished:
                self._changed.wait()
            if self._error is not None:
                raise self._error
        return self.found

    def stop(self) -> None:
        """Stop after the current pages (when the sync ends early) and wait for the threads."""
        with self._changed:
            self._stop = True
        for thread in self._threads:
            if thread.is_alive():
                thread.join()


def settle_directories(ctx: SyncContext, listing: DirectoryListing) -> None:
    """Once the listing is complete, give the final directory to the accounts written while
    theirs was not settled (``ctx.unsettled_directories``), where it differs from what the mirror
    holds for them.

    Nearly always none differ: only an account listed in two directories, its later one listed
    first, or an account the mirror knew in another directory (kept meanwhile) does.
    """
    final = listing.found
    by_directory: dict[str | None, list[str]] = {}
    for account_id, written in ctx.unsettled_directories.items():
        directory_id = final.get(account_id)
        if directory_id != written:
            by_directory.setdefault(directory_id, []).append(account_id)
    ctx.unsettled_directories.clear()
    if not by_directory:
        return
    # A service's change since the sync started is left alone, as a batch leaves it (users.py).
    accounts = Account.objects.filter(organization=ctx.organization).exclude(
        portal_changed_at__gte=ctx.now - CHANGE_MARGIN
    )
    with transaction.atomic():
        for directory_id, ids in by_directory.items():
            for start in range(0, len(ids), 500):
                changed = accounts.filter(account_id__in=ids[start : start + 500]).update(directory_id=directory_id)
                ctx.counts["accounts_updated"] += changed


@contextmanager
def directories_in_background(ctx: SyncContext, client) -> Iterator[DirectoryListing | None]:
    """Start listing every directory's accounts on a fork of ``client``; None for a client that
    cannot fork (the caller then lists them itself, :func:`account_directories`).

    ``ctx.account_directories`` is the listing's ``found``: the sync reads an account's directory
    only after :meth:`DirectoryListing.wait_for` said it is final. On the way out the thread is
    stopped, the fork's calls are counted in ``client.stats`` and the counts are recorded.
    """
    if not getattr(client, "can_fork", False):
        yield None
        return
    directory_ids = list_directories(ctx, client)
    fork = client.fork()
    listing = DirectoryListing(fork, directory_ids)
    ctx.account_directories = listing.found
    ctx.directory_listing = listing
    listing.start()
    try:
        yield listing
        listing.complete()
        settle_directories(ctx, listing)
        ctx.counts["accounts_in_several_directories"] += listing.in_several
        ctx.counts["directories_listed"] = len(directory_ids)
    finally:
        listing.stop()
        ctx.directory_listing = None
        client.stats.add(fork.stats)
        fork.close()

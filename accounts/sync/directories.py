"""Who is in which directory: each directory's account ids, listed while the users are fetched.

The user records carry no directory, while every write (suspend, restore, remove, group
membership) must name the account's real one: the documents offer ``-`` to reads only
(DESIGN.md 5.12). So the sync lists each directory the directories endpoint names, a light page
of ids at a time. That listing is as long as the user listing itself (a cursor too: one page
after the other), so made before the first batch is written it doubled a sync's time against a
slow Atlassian (issue 20). With a client that can fork it runs in a background thread, from the
start of the sync, and each batch of users waits only for its own accounts' directories.

An account listed in several directories keeps the first, in the endpoint's order (counted, and
said in the run's log). The directories are listed one after the other, so an id is final as
soon as it is seen: every earlier directory has been listed by then. A batch is written once
each of its accounts is listed or the listing is complete (an account in no directory), so every
write names exactly the directory a complete listing would have given.
"""

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from accounts.models import Organization
from accounts.sync.context import SyncContext


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
    """:func:`account_directories` in a background thread (HTTP only, never the database).

    ``found`` fills up as pages arrive; :meth:`wait_for` blocks until the given accounts are in it
    or the listing is complete, and re-raises the listing's error.
    """

    def __init__(self, client, directory_ids: list[str]):
        self.found: dict[str, str] = {}
        self.in_several = 0
        self._directory_ids = directory_ids
        self._client = client
        self._changed = threading.Condition()
        self._done = False
        self._stop = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._list, name="sync-directories", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _list(self) -> None:
        try:
            for directory_id in self._directory_ids:
                for page in self._client.iter_directory_account_ids(directory_id):
                    with self._changed:
                        if self._stop:
                            return
                        for account_id in page:
                            if self.found.setdefault(account_id, directory_id) != directory_id:
                                self.in_several += 1
                        self._changed.notify_all()
        except BaseException as exc:  # re-raised in the sync's thread by wait_for / complete
            with self._changed:
                self._error = exc
        finally:
            with self._changed:
                self._done = True
                self._changed.notify_all()

    def wait_for(self, account_ids: Iterable[str]) -> None:
        """Return once every one of ``account_ids`` is listed, or the listing is complete."""
        found = self.found
        pending = [account_id for account_id in account_ids if account_id not in found]
        with self._changed:
            while True:
                if self._error is not None:
                    raise self._error
                pending = [account_id for account_id in pending if account_id not in found]
                if not pending or self._done:
                    return
                self._changed.wait()

    def complete(self) -> dict[str, str]:
        """Wait for the whole listing; the complete ``{account id: directory id}``."""
        with self._changed:
            while not self._done:
                self._changed.wait()
            if self._error is not None:
                raise self._error
        return self.found

    def stop(self) -> None:
        """Stop after the current page (when the sync ends early) and wait for the thread."""
        with self._changed:
            self._stop = True
        if self._thread.is_alive():
            self._thread.join()


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
    listing.start()
    try:
        yield listing
        listing.complete()
        ctx.counts["accounts_in_several_directories"] += listing.in_several
        ctx.counts["directories_listed"] = len(directory_ids)
    finally:
        listing.stop()
        client.stats.add(fork.stats)
        fork.close()

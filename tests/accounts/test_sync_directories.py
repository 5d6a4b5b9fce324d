"""The directory listing a sync makes in the background (accounts/sync/directories.py).

No timed waits: a thread that should be blocked is looked at after a short sleep, then released.
"""

import threading
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account
from accounts.sync.context import SyncContext
from accounts.sync.directories import DirectoryListing, settle_directories
from governance.audit.record import Actor


class GatedClient:
    """Pages of account ids per directory; the page at ``gate_before`` waits for ``gate`` to be set."""

    def __init__(self, pages: dict[str, list[list[str]]], *, gate_before: tuple[str, int] | None = None, fail=None):
        self.pages = pages
        self.gate = threading.Event()
        self.gate_before = gate_before
        self.fail = fail

    def iter_directory_account_ids(self, directory_id: str):
        for n, page in enumerate(self.pages[directory_id]):
            if (directory_id, n) == self.gate_before:
                self.gate.wait()
                if self.fail:
                    raise self.fail
            yield page


def _waiting(listing: DirectoryListing, ids: list[str]) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def wait():
        try:
            listing.wait_for(ids)
            outcome["returned"] = True
        except Exception as exc:
            outcome["raised"] = exc

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread, outcome


def _still_blocked(thread: threading.Thread) -> bool:
    time.sleep(0.05)
    return thread.is_alive()


def test_a_batch_waits_for_its_own_accounts_only_and_until_they_are_listed():
    client = GatedClient({"dir-a": [["a1", "a2"], ["a3"]]}, gate_before=("dir-a", 1))
    listing = DirectoryListing(client, ["dir-a"])
    listing.start()
    listing.wait_for(["a1", "a2"])  # the first page is enough for these
    thread, outcome = _waiting(listing, ["a2", "a3"])
    assert _still_blocked(thread)
    client.gate.set()
    thread.join()
    assert outcome == {"returned": True}
    assert listing.complete() == {"a1": "dir-a", "a2": "dir-a", "a3": "dir-a"}
    listing.stop()


def test_an_account_in_no_directory_waits_for_the_whole_listing():
    client = GatedClient({"dir-a": [["a1"], ["a2"]]}, gate_before=("dir-a", 1))
    listing = DirectoryListing(client, ["dir-a"])
    listing.start()
    thread, outcome = _waiting(listing, ["a1", "managed-in-no-directory"])
    assert _still_blocked(thread)
    client.gate.set()
    thread.join()
    assert outcome == {"returned": True}
    assert "managed-in-no-directory" not in listing.complete()
    listing.stop()


def test_an_account_in_two_directories_keeps_the_first_in_the_endpoints_order():
    client = GatedClient({"dir-a": [["both", "a1"]], "dir-b": [["b1", "both"]]})
    listing = DirectoryListing(client, ["dir-a", "dir-b"])
    listing.start()
    assert listing.complete() == {"both": "dir-a", "a1": "dir-a", "b1": "dir-b"}
    assert listing.in_several == 1
    listing.stop()


def test_a_failed_listing_is_raised_in_the_waiting_sync():
    client = GatedClient({"dir-a": [["a1"], ["a2"]]}, gate_before=("dir-a", 1), fail=RuntimeError("503 after retries"))
    listing = DirectoryListing(client, ["dir-a"])
    listing.start()
    thread, outcome = _waiting(listing, ["a2"])
    assert _still_blocked(thread)
    client.gate.set()
    thread.join()
    assert str(outcome["raised"]) == "503 after retries"
    with pytest.raises(RuntimeError):
        listing.complete()
    listing.stop()


def test_stopping_early_ends_the_thread_after_its_current_page():
    client = GatedClient({"dir-a": [["a1"], ["a2"], ["a3"]]}, gate_before=("dir-a", 1))
    listing = DirectoryListing(client, ["dir-a"])
    listing.start()
    listing.wait_for(["a1"])
    stopper = threading.Thread(target=listing.stop, daemon=True)  # stop() waits for the thread
    stopper.start()
    while not listing._stop:
        time.sleep(0.01)
    client.gate.set()  # the page in flight arrives after the stop: dropped, and nothing more is asked
    stopper.join()
    assert not any(thread.is_alive() for thread in listing._threads)
    assert listing.found == {"a1": "dir-a"}


def test_directories_are_listed_at_once_and_a_later_ones_accounts_do_not_wait_for_the_first():
    client = GatedClient({"dir-a": [["a1"], ["a2"]], "dir-b": [["b1"]]}, gate_before=("dir-a", 1))
    listing = DirectoryListing(client, ["dir-a", "dir-b"])
    listing.start()
    listing.wait_for(["b1", "a1"])  # returns while dir-a's second page is held back
    assert listing.settled("a1")  # the first directory's accounts are final as soon as seen
    assert not listing.settled("b1")  # dir-a may still list it
    client.gate.set()
    assert listing.complete() == {"a1": "dir-a", "a2": "dir-a", "b1": "dir-b"}
    assert listing.settled("b1")
    assert listing.settled("not-listed")
    listing.stop()


def test_an_account_seen_first_in_the_later_directory_ends_in_the_first():
    client = GatedClient({"dir-a": [["a1"], ["both"]], "dir-b": [["both"]]}, gate_before=("dir-a", 1))
    listing = DirectoryListing(client, ["dir-a", "dir-b"])
    listing.start()
    listing.wait_for(["both"])
    assert listing.found["both"] == "dir-b"
    assert not listing.settled("both")
    client.gate.set()
    assert listing.complete()["both"] == "dir-a"
    assert listing.in_several == 1
    listing.stop()


class _Listed:
    """A complete listing, as settle_directories reads it."""

    def __init__(self, found):
        self.found = found


@pytest.mark.django_db
def test_settling_corrects_only_the_accounts_written_with_another_directory_than_their_first(organization):
    now = timezone.now()
    for account_id, directory in (("right", "dir-a"), ("wrong", "dir-b"), ("stamped", "dir-b"), ("gone", "dir-b")):
        Account.objects.create(organization=organization, account_id=account_id, directory_id=directory)
    Account.objects.filter(account_id="stamped").update(portal_changed_at=now)  # a service's change: left alone
    ctx = SyncContext(organization=organization, now=now, correlation_id="c", actor=Actor.system("test"))
    final = {"right": "dir-a", "wrong": "dir-a", "stamped": "dir-a"}  # "gone": in no directory after all
    ctx.unsettled_directories = {"right": "dir-a", "wrong": "dir-b", "stamped": "dir-b", "gone": "dir-b"}
    settle_directories(ctx, _Listed(final))
    held = dict(Account.objects.filter(organization=organization).values_list("account_id", "directory_id"))
    assert held == {"right": "dir-a", "wrong": "dir-a", "stamped": "dir-b", "gone": None}
    assert ctx.counts["accounts_updated"] == 2
    assert ctx.unsettled_directories == {}

    ctx.unsettled_directories = {"right": "dir-a", "wrong": "dir-a"}  # all as written: no statement at all
    with CaptureQueriesContext(connection) as queries:
        settle_directories(ctx, _Listed(final))
    assert len(queries) == 0

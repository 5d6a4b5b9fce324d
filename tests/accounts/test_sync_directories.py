"""The directory listing a sync makes in the background (accounts/sync/directories.py).

No timed waits: a thread that should be blocked is looked at after a short sleep, then released.
"""

import threading
import time

import pytest

from accounts.sync.directories import DirectoryListing


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
    assert not listing._thread.is_alive()
    assert listing.found == {"a1": "dir-a"}

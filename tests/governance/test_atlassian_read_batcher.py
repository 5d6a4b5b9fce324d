"""The reads of a pool's workers go out together (governance/atlassian/client/read_batcher.py):
at most ten ids a search, each record fetched after its read was asked for, an error failing
exactly the reads its search carried."""

import threading
import time

import pytest

from governance.atlassian.client.read_batcher import USER_SEARCH_IDS, UserReadBatcher
from governance.atlassian.errors import AtlassianError

EXPAND = ("productAccess", "groups")


class FakeClient:
    """Answers ``users_by_ids`` after ``delay`` seconds; records each search's ids and when it left."""

    def __init__(self, *, delay: float = 0.05, missing=(), fail_with=None):
        self.delay, self.missing, self.fail_with = delay, set(missing), fail_with
        self.searches: list[tuple[float, list[str], str | None]] = []
        self._lock = threading.Lock()

    def users_by_ids(self, ids, *, expand, directory_id):
        assert tuple(expand) == EXPAND
        assert 1 <= len(ids) <= USER_SEARCH_IDS
        with self._lock:
            self.searches.append((time.monotonic(), list(ids), directory_id))
        time.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        return {i: f"record of {i}" for i in ids if i not in self.missing}


def _read_all(batcher, client, ids, *, directory=None):
    """Each id read from its own thread, all at once; returns {id: (record or error, asked_at)}."""
    got: dict[str, tuple[object, float]] = {}
    start = threading.Barrier(len(ids))

    def read(account_id):
        start.wait()
        asked = time.monotonic()
        try:
            got[account_id] = (batcher.user(client, account_id, expand=EXPAND, directory_id=directory), asked)
        except AtlassianError as exc:
            got[account_id] = (exc, asked)

    threads = [threading.Thread(target=read, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    return got


def test_reads_asked_at_once_share_searches_of_ten_at_most():
    client = FakeClient()
    ids = [f"acc-{n}" for n in range(25)]
    got = _read_all(UserReadBatcher(gather=0.2), client, ids)
    assert {i: r for i, (r, _) in got.items()} == {i: f"record of {i}" for i in ids}
    assert len(client.searches) in (3, 4)  # 10 + 10 + 5 (a slow thread may come last alone), not 25
    assert sorted(i for _, batch, _ in client.searches for i in batch) == sorted(ids)


def test_every_record_is_fetched_after_its_read_was_asked_for():
    client = FakeClient()
    got = _read_all(UserReadBatcher(gather=0.1), client, [f"acc-{n}" for n in range(14)])
    left_at = {i: at for at, batch, _ in client.searches for i in batch}
    assert all(left_at[i] >= asked for i, (_, asked) in got.items())


def test_a_read_waits_no_longer_than_its_gathering_time_when_alone():
    client = FakeClient(delay=0.0)
    batcher = UserReadBatcher(gather=0.3)
    started = time.monotonic()
    assert batcher.user(client, "acc-1", expand=EXPAND, directory_id=None) == "record of acc-1"
    assert 0.25 <= time.monotonic() - started < 2.0
    batcher = UserReadBatcher(gather=0.0)
    started = time.monotonic()
    batcher.user(client, "acc-1", expand=EXPAND, directory_id=None)
    assert time.monotonic() - started < 0.25


def test_an_id_the_search_does_not_list_reads_as_none():
    got = _read_all(UserReadBatcher(gather=0.1), FakeClient(missing={"acc-2"}), ["acc-1", "acc-2", "acc-3"])
    assert got["acc-2"][0] is None
    assert got["acc-1"][0] == "record of acc-1"


def test_a_failed_search_fails_each_read_it_carried_and_the_next_ones_go_on():
    error = AtlassianError("Atlassian answered 503", status=503, retryable=True)
    client = FakeClient(fail_with=error)
    batcher = UserReadBatcher(gather=0.1)
    got = _read_all(batcher, client, ["acc-1", "acc-2", "acc-3"])
    assert all(isinstance(r, AtlassianError) and r.status == 503 for r, _ in got.values())
    client.fail_with = None
    assert batcher.user(client, "acc-4", expand=EXPAND, directory_id=None) == "record of acc-4"


def test_reads_in_different_directories_never_share_a_search():
    client = FakeClient()
    batcher = UserReadBatcher(gather=0.2)
    threads = [
        threading.Thread(
            target=batcher.user, args=(client, f"acc-{n}"), kwargs={"expand": EXPAND, "directory_id": f"dir-{n % 2}"}
        )
        for n in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    for _, batch, directory in client.searches:
        assert {int(i.split("-")[1]) % 2 for i in batch} == {int(directory.split("-")[1])}


@pytest.mark.parametrize("ids", [[], [f"acc-{n}" for n in range(USER_SEARCH_IDS + 1)]])
def test_the_client_refuses_a_search_for_more_ids_than_atlassian_takes(ids):
    from governance.atlassian.client import AtlassianClient

    client = AtlassianClient(org_id="org", api_key="key", api_base="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="account ids"):
        client.users_by_ids(ids)
    with pytest.raises(ValueError, match="emails"):
        client.users_by_emails([f"{i}@example.com" for i in range(101)])

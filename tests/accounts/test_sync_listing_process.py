"""A large sync's user listing in a child process (accounts/sync/listing_process.py).

The child is a real ``python -m accounts.sync.listing_process`` talking HTTP to the simulator on
loopback; the threshold (``SYNC_LISTING_PROCESS_MIN_USERS``, or ``in_process_from``) is brought
down to the simulator's 120 users to make these syncs take that path.
"""

import logging
import pickle
import subprocess
import threading

import pytest
from django.utils import timezone

from accounts.clients import client_for
from accounts.models import Account, Membership, ProductAccess
from accounts.sync import listing_process, prefetch
from accounts.sync.listing_process import ListingProcessError, _portable_error
from accounts.sync.prefetch import user_batches
from accounts.sync.runner import USER_EXPAND, organization_sync
from governance.atlassian.errors import AtlassianError, MalformedResponse
from governance.runs.models import RunStatus
from tests.accounts.conftest import API_KEY
from tests.accounts.mirror import assert_mirror_equals_simulator

pytestmark = pytest.mark.django_db

PAGE, SIZE = 10, 25  # 121 users (the simulator's 120 and its admin): thirteen pages, batches of 30 then smaller


@pytest.fixture
def started(monkeypatch):
    """The listing processes started meanwhile: (their Popen, its arguments)."""
    procs: list[tuple[subprocess.Popen, tuple, dict]] = []
    real = subprocess.Popen

    def popen(*args, **kwargs):
        proc = real(*args, **kwargs)
        procs.append((proc, args, kwargs))
        return proc

    monkeypatch.setattr(listing_process.subprocess, "Popen", popen)
    return procs


def _batches(client, *, in_process_from, expected=121):
    with user_batches(client, expand=USER_EXPAND, size=SIZE, expected=expected, in_process_from=in_process_from) as out:
        return list(out)


def _no_listing_reader_left():
    return not [t for t in threading.enumerate() if t.name == "sync-listing-reader" and t.is_alive()]


class TestTheSameListing:
    def test_the_process_hands_back_the_batches_the_thread_makes(self, organization, started):
        with client_for(organization, page_size=PAGE) as client:
            in_thread = _batches(client, in_process_from=0)
            thread_requests = client.stats.requests
        assert not started
        asked_from = timezone.now()
        with client_for(organization, page_size=PAGE) as client:
            in_process = _batches(client, in_process_from=120)
            process_requests = client.stats.requests
        asked_until = timezone.now()

        assert len(started) == 1
        assert started[0][0].returncode == 0
        assert sum(map(len, in_thread)) == 121
        assert [len(b) for b in in_process] == [len(b) for b in in_thread]
        assert [list(b) for b in in_process] == [list(b) for b in in_thread]  # every record, field by field
        # Each batch says when its first page was asked for, as the thread's do.
        times = [b.requested_at for b in in_process]
        assert times == sorted(times)
        assert asked_from <= times[0]
        assert times[-1] <= asked_until
        # The child's calls are counted in the client's: the same twelve pages as the thread's.
        assert process_requests == thread_requests == 13
        assert _no_listing_reader_left()

    def test_below_the_threshold_or_with_a_client_that_cannot_cross_it_stays_a_thread(
        self, organization, atlassian, started
    ):
        with client_for(organization, page_size=PAGE) as client:
            assert sum(map(len, _batches(client, in_process_from=122))) == 121  # under the threshold
            assert client.fork().process_options() is not None
            assert client.fork(pacer=object()).process_options() is None  # shares this process's pacer
        # The tests' client waits without sleeping: its seams cannot cross to another process.
        assert atlassian.process_options() is None
        assert sum(len(b) for b in _batches(atlassian, in_process_from=1)) == 121
        assert not started

    def test_the_key_goes_over_the_pipe_not_the_command_line_or_environment(self, organization, started):
        with client_for(organization, page_size=PAGE) as client:
            assert client.process_options()["api_key"] == API_KEY
            _batches(client, in_process_from=1)
        ((_, args, kwargs),) = started
        assert API_KEY not in repr(args)
        assert "env" not in kwargs


class TestSyncs:
    def test_a_first_sync_and_a_resync_through_the_process(self, organization, simulator, settings, started):
        settings.SYNC_LISTING_PROCESS_MIN_USERS = 100
        with client_for(organization, page_size=PAGE) as client:
            first = organization_sync(organization=organization, client=client)
        assert first.ok, first.error
        assert len(started) == 1
        accounts = Account.objects.filter(organization=organization)
        assert accounts.count() == 121
        assert_mirror_equals_simulator(simulator, accounts)
        rows = (Membership.objects.count(), ProductAccess.objects.count())

        with client_for(organization, page_size=PAGE) as client:
            again = organization_sync(organization=organization, client=client)
        assert again.ok, again.error
        assert len(started) == 2
        changed = {k: v for k, v in again.counts.items() if k.endswith(("_created", "_updated", "_added", "_removed"))}
        assert not any(changed.values()), changed
        assert (Membership.objects.count(), ProductAccess.objects.count()) == rows
        # Every page listed, once: the thread's count of requests.
        assert again.counts["users_seen"] == 121
        assert again.http_requests == first.http_requests

    def test_a_listing_error_fails_the_sync_cleanly_with_atlassians_words(
        self, organization, simulator, settings, started
    ):
        with client_for(organization, page_size=PAGE) as client:
            assert organization_sync(organization=organization, client=client).ok
        before = set(Account.objects.values_list("account_id", "status", "last_active"))
        simulator.state.remove_user(simulator.state.account_ids(status="active", org_admin=False)[0])
        settings.SYNC_LISTING_PROCESS_MIN_USERS = 100
        # The fourth page of the user listing is refused for good (the directory listings, on
        # ``.../directories/{id}/users/search``, are left alone).
        simulator.faults.fail_next(1, status=403, path_contains="/directories/-/users/search", after=3)
        with client_for(organization, page_size=PAGE) as client:
            result = organization_sync(organization=organization, client=client)
        assert len(started) == 1
        assert result.status == RunStatus.FAILED
        assert "HTTP 403" in result.error
        assert "/users/search" in result.error
        # Nobody marked removed (the person who left among them), no activity cleared.
        assert set(Account.objects.values_list("account_id", "status", "last_active")) == before


class TestFailures:
    def test_an_error_comes_after_the_batch_of_the_pages_read_before_it(self, organization, simulator, started):
        simulator.faults.fail_next(1, status=403, path_contains="/users/search", after=4)
        received = []
        with client_for(organization, page_size=PAGE) as client:
            with (
                pytest.raises(AtlassianError) as caught,
                user_batches(client, expand=USER_EXPAND, size=SIZE, expected=121, in_process_from=1) as batches,
            ):
                received.extend(batches)
            # The child's calls, the failed one included, are counted.
            assert client.stats.requests == 5
        # The error as the child's client raised it: its status and where, not a generic one.
        assert (caught.value.status, caught.value.method) == (403, "POST")
        assert [len(b) for b in received] == [30, 10]  # three pages, then the fourth alone: the fifth was refused
        assert started[0][0].returncode == 1
        assert _no_listing_reader_left()

    def test_leaving_early_stops_the_child(self, organization, started):
        with (
            client_for(organization, page_size=PAGE) as client,
            user_batches(client, expand=USER_EXPAND, size=SIZE, expected=121, in_process_from=1) as batches,
        ):
            assert len(next(batches)) == 30
        proc = started[0][0]
        assert proc.poll() is not None  # ended (terminated mid-listing), not left running
        assert proc.stdout.closed
        assert _no_listing_reader_left()

    def test_a_child_that_dies_fails_the_listing_rather_than_ending_it(self, organization, started):
        with (
            client_for(organization, page_size=PAGE) as client,
            user_batches(client, expand=USER_EXPAND, size=SIZE, expected=121, in_process_from=1) as batches,
        ):
            received = [next(batches)]
            started[0][0].kill()
            with pytest.raises(ListingProcessError, match="ended before the listing did"):
                received.extend(batches)
        assert sum(len(b) for b in received) < 121
        assert _no_listing_reader_left()

    def test_a_child_that_cannot_start_leaves_the_listing_to_a_thread(self, organization, monkeypatch, caplog):
        def refuse(*args, **kwargs):
            raise OSError("no more processes")

        monkeypatch.setattr(listing_process.subprocess, "Popen", refuse)
        with client_for(organization, page_size=PAGE) as client, caplog.at_level(logging.WARNING, prefetch.__name__):
            assert sum(len(b) for b in _batches(client, in_process_from=1)) == 121
            assert client.stats.requests == 13
        assert "could not be started" in caplog.text

    def test_the_child_logs_its_retries_at_this_process_level_to_the_same_stderr(
        self, organization, simulator, capfd, caplog
    ):
        simulator.faults.fail_next(1, status=503, retry_after=0, path_contains="/users/search", after=1)
        with (
            caplog.at_level(logging.INFO, "governance.atlassian"),
            client_for(organization, page_size=PAGE) as client,
        ):
            assert sum(len(b) for b in _batches(client, in_process_from=1)) == 121
            assert (client.stats.requests, client.stats.retries) == (14, 1)
        err = capfd.readouterr().err
        assert "[sync user listing]" in err
        assert "Retrying POST" in err
        assert API_KEY not in err

    def test_errors_cross_whole_or_as_what_they_were(self):
        error = MalformedResponse("users is not a list", status=200, method="POST", path="/admin/v2/x")
        crossed = pickle.loads(pickle.dumps(_portable_error(error)))  # noqa: S301
        assert type(crossed) is MalformedResponse
        assert str(crossed) == str(error)

        class Local(Exception):  # not importable by name: cannot be unpickled
            pass

        replaced = _portable_error(Local("odd"))
        assert isinstance(replaced, ListingProcessError)
        assert "Local: odd" in str(replaced)

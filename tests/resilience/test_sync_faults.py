"""A sync against the simulator while it misbehaves: transient faults are waited or retried out and
the sync completes; faults that outlast the retry budget fail the run cleanly (DESIGN.md 5.2, 5.8).

Every test starts from a clean mirror and changes staged in Atlassian that only a complete sync
may apply (three accounts removed, three whose activity vanished). "Completed" means those were
applied and the mirror is exactly Atlassian's; "failed cleanly" means the run says it failed and
why, nothing was marked removed or blanked, and a policy run afterwards acts on exactly whom it
would have acted on before the fault.
"""

import pytest

from accounts.models import Account, AccountStatus
from governance.runs.models import RunStatus
from tests.resilience.helpers import (
    PAGE,
    USERS_SEARCH,
    assert_chain_verifies,
    assert_completed,
    assert_failed_cleanly,
    assert_no_partial_deprovisioning,
    due_now,
    mirror_state,
    sync,
)

pytestmark = pytest.mark.django_db


def _fails_cleanly(result, organization, before, simulator, staged, make_client, suspend_policy, expected, mentions):
    assert_failed_cleanly(result, organization, before, mentions=mentions)
    assert_no_partial_deprovisioning(suspend_policy, make_client(), staged, simulator, expected)


class TestRateLimits:
    def test_a_429_storm_is_waited_out_for_as_long_as_retry_after_says(
        self, simulator, organization, staged, make_client
    ):
        # Three 429s in a row on the third page of users and two on the group listing.
        simulator.faults.rate_limit_burst(3, retry_after=4, path_contains=USERS_SEARCH, after=2)
        simulator.faults.rate_limit_burst(2, retry_after=3, path_contains="/groups/search")
        client = make_client()
        result = sync(organization, client)
        assert_completed(result, simulator, organization, staged)
        assert simulator.faults.injected["rate_limit"] == 5
        # Each wait is the server's Retry-After, not a guess; the fork that reads users shares the sleep.
        assert sorted(client.waits) == [3, 3, 4, 4, 4]
        assert result.counts["http_retries"] == 5

    def test_a_429_storm_longer_than_the_waiting_budget_fails_cleanly(
        self, simulator, organization, staged, make_client, suspend_policy
    ):
        expected, before = due_now(suspend_policy), mirror_state(organization)
        simulator.faults.rate_limit_burst(20, retry_after=25, path_contains=USERS_SEARCH, after=2)
        client = make_client(max_total_wait=60)
        result = sync(organization, client)
        # 25 s + 25 s fit in the 60 s budget, a third wait does not: the client gives up, never sleeps past it.
        assert client.waits == [25, 25]
        simulator.faults.clear()
        _fails_cleanly(
            result, organization, before, simulator, staged, make_client, suspend_policy, expected, "HTTP 429"
        )


class TestServerErrors:
    def test_a_5xx_burst_shorter_than_the_retry_budget_is_ridden_out(
        self, simulator, organization, staged, make_client
    ):
        for status in (500, 502, 503):  # three failures; the fourth attempt succeeds
            simulator.faults.fail_next(1, status=status, path_contains=USERS_SEARCH, after=3)
        result = sync(organization, make_client(max_attempts=4))
        assert_completed(result, simulator, organization, staged)
        assert simulator.faults.injected["fail"] == 3

    def test_a_5xx_burst_longer_than_the_retry_budget_fails_cleanly(
        self, simulator, organization, staged, make_client, suspend_policy
    ):
        expected, before = due_now(suspend_policy), mirror_state(organization)
        simulator.faults.fail_next(4, status=502, path_contains=USERS_SEARCH, after=3)
        result = sync(organization, make_client(max_attempts=4))
        assert "Gave up after 4 attempts" in result.error
        _fails_cleanly(
            result, organization, before, simulator, staged, make_client, suspend_policy, expected, "HTTP 502"
        )

    def test_a_directory_listing_that_keeps_failing_fails_the_sync_cleanly(
        self, simulator, organization, staged, make_client, suspend_policy
    ):
        # Without each account's directory no write could name it: the sync must not complete.
        expected, before = due_now(suspend_policy), mirror_state(organization)
        local = simulator.state.directory_ids[0]
        simulator.faults.fail_next(4, status=502, path_contains=f"/directories/{local}/users/search")
        result = sync(organization, make_client(max_attempts=4))
        _fails_cleanly(
            result, organization, before, simulator, staged, make_client, suspend_policy, expected, "HTTP 502"
        )


class TestLatency:
    def test_a_slow_answer_past_the_read_timeout_is_retried(self, simulator, organization, staged, make_client):
        simulator.faults.delay_next(2, seconds=1.0, path_contains=USERS_SEARCH, after=2)
        client = make_client(timeout=(2.0, 0.3))
        result = sync(organization, client)
        assert_completed(result, simulator, organization, staged)
        assert result.counts["http_retries"] == 2
        assert len(client.waits) == 2  # backed off between attempts (recorded, not slept)

    def test_latency_that_outlasts_the_retries_fails_cleanly(
        self, simulator, organization, staged, make_client, suspend_policy
    ):
        expected, before = due_now(suspend_policy), mirror_state(organization)
        simulator.faults.delay_next(3, seconds=1.0, path_contains=USERS_SEARCH, after=2)
        result = sync(organization, make_client(timeout=(2.0, 0.3), max_attempts=3))
        _fails_cleanly(
            result, organization, before, simulator, staged, make_client, suspend_policy, expected, "Timed out"
        )


class TestDroppedConnections:
    def test_a_few_dropped_connections_are_retried(self, simulator, organization, staged, make_client):
        simulator.faults.drop_next(2, path_contains=USERS_SEARCH, after=1)
        simulator.faults.drop_next(1, path_contains="/role-assignments")
        result = sync(organization, make_client())
        assert_completed(result, simulator, organization, staged)
        assert simulator.faults.injected["drop"] == 3

    def test_connections_dropped_past_the_retry_budget_fail_cleanly(
        self, simulator, organization, staged, make_client, suspend_policy
    ):
        expected, before = due_now(suspend_policy), mirror_state(organization)
        simulator.faults.drop_next(4, path_contains=USERS_SEARCH, after=3)
        result = sync(organization, make_client(max_attempts=4))
        _fails_cleanly(
            result, organization, before, simulator, staged, make_client, suspend_policy, expected, "Connection failed"
        )


class TestMalformedBodies:
    @pytest.mark.parametrize(
        "path", [USERS_SEARCH, "/groups/search", "/role-assignments"], ids=["users", "groups", "group-roles"]
    )
    def test_truncated_json_fails_the_sync_with_an_explanation(
        self, simulator, organization, staged, make_client, suspend_policy, path
    ):
        expected, before = due_now(suspend_policy), mirror_state(organization)
        # A 200 with half a JSON body is not retried: the server answered, and answered nonsense.
        simulator.faults.malformed_next(1, path_contains=path, after=2 if path == USERS_SEARCH else 0)
        result = sync(organization, make_client())
        assert "not valid JSON" in result.error or "JSON" in result.error
        _fails_cleanly(result, organization, before, simulator, staged, make_client, suspend_policy, expected, path)


class TestCursors:
    def test_a_page_handed_out_twice_is_counted_once(self, simulator, organization, staged, make_client):
        # Page 3's links.next leads back to page 3 (under a fresh token): its users arrive twice.
        simulator.faults.cursor_repeat_next(1, path_contains=USERS_SEARCH, after=2)
        result = sync(organization, make_client())
        assert_completed(result, simulator, organization, staged)
        assert result.counts["duplicates_skipped"] == PAGE
        listed = simulator.state.account_ids() + simulator.state.account_ids(in_directory=False, claim_status="managed")
        assert result.counts["users_seen"] == len(listed)

    def test_a_listing_that_goes_round_in_circles_is_stopped_and_fails_cleanly(
        self, simulator, organization, staged, make_client, suspend_policy
    ):
        expected, before = due_now(suspend_policy), mirror_state(organization)
        # Every answer from page 3 on leads back to itself: without a guard, the sync never ends.
        simulator.faults.cursor_repeat_next(1000, path_contains=USERS_SEARCH, after=2)
        served = simulator.requests_served
        result = sync(organization, make_client())
        assert simulator.requests_served - served < 40  # stopped after a few repeats, not at a timeout
        simulator.faults.clear()
        _fails_cleanly(
            result,
            organization,
            before,
            simulator,
            staged,
            make_client,
            suspend_policy,
            expected,
            "items already received",
        )

    def test_a_skipped_page_above_the_removal_share_halts_the_sync(
        self, simulator, organization, staged, make_client, settings
    ):
        # The v2 search has no total and opaque cursors: a skipped page cannot be seen in the answer.
        # The removal-share rail is what stands between it and marking PAGE people removed.
        settings.SYNC_MAX_REMOVED_SHARE = 0.10
        before = mirror_state(organization)
        simulator.faults.cursor_skip_next(1, path_contains=USERS_SEARCH, after=1)
        result = sync(organization, make_client())
        assert result.status == RunStatus.HALTED
        assert "none was marked removed" in result.error
        assert not Account.objects.filter(status=AccountStatus.REMOVED).exists()
        assert {a: s[:2] for a, s in mirror_state(organization).items()} == {a: s[:2] for a, s in before.items()}
        assert_chain_verifies()

    def test_a_skipped_page_below_the_removal_share_does_not_mark_anyone_removed(
        self, simulator, organization, staged, make_client
    ):
        simulator.faults.cursor_skip_next(1, path_contains=USERS_SEARCH, after=1)
        result = sync(organization, make_client(page_size=5))  # 5 of ~120 people: under the 10% share
        assert set(Account.objects.filter(status=AccountStatus.REMOVED).values_list("account_id", flat=True)) <= set(
            staged.removed
        ), "people still in Atlassian were marked removed"
        assert result.status == RunStatus.FAILED

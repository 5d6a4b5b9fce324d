"""The tools the fault tests rely on: the simulator's cursor faults, ``after=`` and write log, the
command-line flags, and the client's guards against listings that never end or skip users."""

import time

import pytest
import requests

from governance.atlassian.client import AtlassianClient
from governance.atlassian.errors import MalformedResponse
from governance.atlassian.simulator import Simulator
from tests.governance.atlassian_fakes import FakeTime, v2_user
from tests.governance.atlassian_fakes import client_for as scripted_client
from tests.governance.conftest import API_KEY, ORG, Api, enc, make_config
from tests.governance.scripted_server import Reply, ScriptedServer


@pytest.fixture
def sim():
    with Simulator(make_config()) as simulator:
        yield simulator


@pytest.fixture
def api(sim):
    client = Api(sim)
    yield client
    client.close()


def _ids(api, limit=7) -> list[str]:
    return [u["accountId"] for u in api.all_users(limit=limit)]


class TestSimulatorCursorFaults:
    def test_a_skip_jumps_over_exactly_one_page(self, sim, api):
        full = _ids(api)
        sim.faults.cursor_skip_next(1, path_contains="/users/search", after=1)
        skipped = _ids(api)
        assert skipped == full[:14] + full[21:]  # the second answer's next leads to page 4
        assert sim.faults.injected["cursor_skip"] == 1

    def test_a_skip_on_the_last_page_but_one_ends_the_listing_early(self, sim, api):
        full = _ids(api)  # 61 users (60 in the directories, 1 managed outside): 8 pages of 7, then 5
        sim.faults.cursor_skip_next(1, path_contains="/users/search", after=7)
        assert _ids(api) == full[:56]

    def test_a_repeat_hands_the_same_page_out_again_under_a_fresh_token(self, sim, api):
        full = _ids(api)
        sim.faults.cursor_repeat_next(1, path_contains="/users/search", after=2)
        first = api.search_users({"limit": 7}).json()
        second = api.search_users({"cursor": first["links"]["next"]}).json()
        third = api.search_users({"cursor": second["links"]["next"]}).json()
        again = api.search_users({"cursor": third["links"]["next"]}).json()
        assert [u["accountId"] for u in again["data"]] == [u["accountId"] for u in third["data"]] == full[14:21]
        assert third["links"]["next"] != third["links"]["self"]  # not spotted by comparing tokens
        assert [u["accountId"] for u in api.search_users({"cursor": again["links"]["next"]}).json()["data"]] == (
            full[21:28]
        )

    def test_random_cursor_faults_from_the_config(self):
        with Simulator(make_config(cursor_skip_rate=1.0)) as simulator:
            api = Api(simulator)
            assert len(_ids(api)) < 61
            api.close()

    def test_cursor_faults_leave_unpaged_answers_alone(self, sim, api):
        sim.faults.cursor_skip_next(1, path_contains="/users/count")
        assert api.admin("GET", f"{api.v2p}/users/count").json() == {"count": 61}


class TestSimulatorBookkeeping:
    def test_after_lets_matching_requests_through_first(self, sim, api):
        sim.faults.fail_next(1, status=503, path_contains="/users/search", after=2)
        assert [api.search_users().status_code for _ in range(4)] == [200, 200, 503, 200]
        assert api.search_groups().status_code == 200  # not matching: neither counted nor failed

    def test_the_write_log_holds_writes_carried_out_not_reads_nor_refused_ones(self, sim, api):
        user = sim.state.find_user(status="active")
        path = f"{api.v2p}/users/{enc(user)}/suspend"
        sim.faults.fail_next(1, status=500, path_contains="/suspend")
        assert api.admin("POST", path).status_code == 500
        api.search_users()
        assert sim.writes == []
        assert api.admin("POST", path).status_code == 204
        assert [(w.method, w.status) for w in sim.writes_for(user)] == [("POST", 204)]

    def test_a_write_slower_than_its_client_is_still_carried_out_and_logged(self, sim, api):
        user = sim.state.find_user(status="active")
        sim.faults.delay_next(1, seconds=0.6, path_contains="/suspend")
        with pytest.raises(requests.Timeout):
            requests.post(
                f"{api.base}{api.v2p}/users/{enc(user)}/suspend",
                headers={"Authorization": f"Bearer {API_KEY}"},
                timeout=0.2,
            )
        deadline = time.monotonic() + 3  # the server finishes its sleep, then acts
        while not sim.writes_for(user):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert sim.state.user(user).status == "suspended"

    def test_the_command_takes_the_cursor_fault_rates(self):
        from django.core.management.base import CommandError

        from governance.management.commands.atlassian_simulator import Command

        parser = Command().create_parser("manage.py", "atlassian_simulator")
        options = parser.parse_args(["--cursor-repeat-rate", "0.05", "--cursor-skip-rate", "0.01"])
        assert (options.cursor_repeat_rate, options.cursor_skip_rate) == (0.05, 0.01)
        with pytest.raises(CommandError):
            parser.parse_args(["--cursor-skip-rate", "1.5"])


class TestClientGuards:
    def test_a_cursor_already_followed_is_refused_even_two_pages_later(self):
        with ScriptedServer() as server:
            server.script(
                Reply(json={"data": [v2_user("a1")], "links": {"next": "A"}}),
                Reply(json={"data": [v2_user("a2")], "links": {"next": "B"}}),
                Reply(json={"data": [v2_user("a3")], "links": {"next": "A"}}),
            )
            with scripted_client(server, FakeTime()) as client, pytest.raises(MalformedResponse, match="repeats"):
                list(client.iter_users())
            assert len(server.received) == 3

    def test_one_repeated_page_is_passed_on_but_a_listing_going_round_in_circles_is_stopped(self):
        with ScriptedServer() as server:
            # Fresh tokens every time (c1, c2 ...), the same two users every time.
            server.script(
                *[Reply(json={"data": [v2_user("a1"), v2_user("a2")], "links": {"next": f"c{i}"}}) for i in range(10)]
            )
            with scripted_client(server, FakeTime()) as client:
                pages = client.iter_user_pages()
                assert [u.account_id for u in next(pages)] == ["a1", "a2"]
                assert [u.account_id for u in next(pages)] == ["a1", "a2"]  # one stutter: the sync de-duplicates
                next(pages)
                with pytest.raises(MalformedResponse, match="already received"):
                    next(pages)
            assert len(server.received) == 4

    def test_count_users_exposes_a_skip_the_listing_itself_cannot_show(self, sim):
        with AtlassianClient(org_id=ORG, api_key=API_KEY, api_base=sim.base_url, page_size=7) as client:
            sim.faults.cursor_skip_next(1, path_contains="/users/search", after=1)
            received = {u.account_id for u in client.iter_users()}
            assert len(received) == 54
            assert client.count_users() == 61

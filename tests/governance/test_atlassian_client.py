"""The Atlassian client against a scripted loopback server: retries, errors, writes, secrets.

Nothing really sleeps: the client gets a fake ``sleep``/``clock``/``now`` (FakeTime) and the
tests assert the waits it asked for. Paging is covered in test_atlassian_pagination.py.
"""

import base64
import json
import logging
import socket
import time
import traceback

import pytest

from governance.atlassian.client import AtlassianClient, pacing_delay
from governance.atlassian.errors import AtlassianError, MalformedResponse
from tests.governance.atlassian_fakes import (
    API_KEY,
    GROUP_ARI,
    GROUP_ARI_IN_PATH,
    JIRA_EMAIL,
    JIRA_TOKEN,
    START,
    FakeTime,
    client_for,
    v2_user,
)
from tests.governance.scripted_server import Reply, ScriptedServer

PAGE = Reply(json={"data": [v2_user("a1")], "links": {}})
ROLES = "/admin/v2/orgs/org-1/directories/-/users/acc-1/role-assignments"


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv
    assert srv.unscripted == [], "the client sent more requests than the test scripted"


@pytest.fixture
def clock():
    return FakeTime()


@pytest.fixture
def client(server, clock):
    with client_for(server, clock) as c:
        yield c


def read_users(client: AtlassianClient) -> list[str]:
    return [u.account_id for u in client.iter_users()]


# -- waiting and retrying -------------------------------------------------------------------------


def test_it_waits_for_retry_after_on_429(server, client, clock):
    server.script(Reply(429, json={"code": 429, "message": "Too many"}, headers={"Retry-After": "30"}), PAGE)

    assert read_users(client) == ["a1"]

    assert clock.slept == [30.0]
    assert len(server.received) == 2
    assert (client.stats.requests, client.stats.retries, client.stats.waited_seconds) == (2, 1, 30.0)
    assert client.stats.by_status == {429: 1, 200: 1}


def test_it_reads_retry_after_given_as_an_http_date(server, client, clock):
    server.script(Reply(503, headers={"Retry-After": "Mon, 03 Aug 2026 10:00:45 GMT"}), PAGE)

    read_users(client)

    assert clock.now() > START
    assert clock.slept == [45.0]


@pytest.mark.parametrize(
    ("reset", "expected"),
    [("2026-08-03T10:00:42.500Z", 42.5), ("2026-08-03T10:01Z", 60.0)],
    ids=["iso-with-fraction", "jira-short-form"],
)
def test_it_waits_until_x_ratelimit_reset_when_there_is_no_retry_after(server, client, clock, reset, expected):
    server.script(Reply(429, headers={"X-RateLimit-Reset": reset}), PAGE)

    read_users(client)

    assert clock.slept == [expected]


def test_it_backs_off_exponentially_with_jitter_when_no_header_says_how_long(server, client, clock):
    server.script(Reply(503), Reply(502), Reply(500), Reply(504), PAGE)

    read_users(client)

    assert len(clock.slept) == 4
    for attempt, waited in enumerate(clock.slept, start=1):
        assert 0.0 <= waited <= 2 ** (attempt - 1)
    assert len(set(clock.slept)) == 4, "full jitter should not give identical waits"


def test_it_ignores_a_rate_limit_reset_that_is_already_past_and_backs_off(server, client, clock):
    server.script(Reply(429, headers={"X-RateLimit-Reset": "2026-08-03T09:00:00Z"}), PAGE)

    read_users(client)

    assert 0.0 <= clock.slept[0] <= 1.0


def test_it_caps_a_single_wait_at_120_seconds(server, client, clock):
    server.script(Reply(429, headers={"Retry-After": "3600"}), PAGE)

    read_users(client)

    assert clock.slept == [120.0]


def test_retries_are_bounded_by_max_attempts(server, clock):
    server.script(
        *[Reply(429, json={"errors": [{"code": "ADMIN-429-1", "title": "Slow down"}]}, headers={"Retry-After": "1"})]
        * 3
    )

    with client_for(server, clock, max_attempts=3) as client, pytest.raises(AtlassianError) as caught:
        read_users(client)

    assert len(server.received) == 3
    assert clock.slept == [1.0, 1.0]
    assert caught.value.retryable
    assert caught.value.status == 429
    assert caught.value.code == "ADMIN-429-1"
    assert "after 3 attempts" in str(caught.value)


def test_retries_are_bounded_by_the_total_waiting_budget(server, clock):
    server.script(*[Reply(429, headers={"Retry-After": "30"})] * 2)

    with client_for(server, clock, max_total_wait=50.0) as client, pytest.raises(AtlassianError) as caught:
        read_users(client)

    assert clock.slept == [30.0]  # a second 30 s wait would pass the 50 s budget: give up instead
    assert len(server.received) == 2
    assert caught.value.retryable
    assert caught.value.status == 429


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_it_never_retries_other_client_errors(server, client, clock, status):
    server.script(Reply(status, json={"errors": [{"code": f"ADMIN-{status}-1", "title": "No", "detail": "Refused"}]}))

    with pytest.raises(AtlassianError) as caught:
        client.user_role_assignments("acc-1")

    assert len(server.received) == 1
    assert clock.slept == []
    assert not caught.value.retryable
    assert caught.value.permanent
    assert (caught.value.status, caught.value.code) == (status, f"ADMIN-{status}-1")
    assert (caught.value.method, caught.value.path) == ("GET", ROLES)


def test_it_retries_a_dropped_connection_on_reads(server, client, clock):
    server.script(Reply(drop=True), PAGE)

    assert read_users(client) == ["a1"]
    assert len(server.received) == 2
    assert len(clock.slept) == 1


def test_a_body_cut_short_is_a_network_error_and_the_read_is_retried(server, client, clock):
    server.script(Reply(json={"data": [v2_user("a1")], "links": {}}, cut_after=10), PAGE)

    assert read_users(client) == ["a1"]
    assert len(server.received) == 2
    assert len(clock.slept) == 1


def test_a_large_page_is_read_in_a_few_socket_reads_and_the_connection_kept(server, client, monkeypatch):
    """requests alone reads a body 10 KiB at a time: about 17 reads for this page, each giving the
    interpreter lock up and waiting to take it back (transport.read_whole_body). Read whole, each
    socket read asks for the rest of the body.

    How many reads that makes depends on how the kernel hands the bytes over (one run in CI took
    11 where 8 is usual), so the test counts what the client asks for, which it decides: all
    of the body but two buffers' worth (the start read with the headers, the end through the
    buffer) arrives through reads asking for more than 10 KiB.
    """
    groups = [{"id": f"group-{n}", "name": f"Group {n} " + "x" * 40} for n in range(20)]
    users = [v2_user(f"a{n}", email=f"user{n}@example.com", groups=groups) for n in range(100)]
    page = {"data": users, "links": {"next": "c2"}}
    body = json.dumps(page)  # as the scripted server encodes it
    server.script(Reply(json=page), PAGE)
    reads = []
    receive = socket.socket.recv_into

    def counted(self, buffer, *args, **kwargs):
        received = receive(self, buffer, *args, **kwargs)
        reads.append((len(buffer), received))
        return received

    monkeypatch.setattr(socket.socket, "recv_into", counted)
    assert len(read_users(client)) == 101
    assert len(body) > 150_000
    through_large_reads = sum(received for asked, received in reads if asked > 10 * 1024)
    buffer = 8192  # http.client's buffered reader: the headers' read may hold the body's start
    assert through_large_reads >= len(body) - 2 * buffer
    pools = client._transport.session.adapters["http://"].poolmanager.pools
    (key,) = pools.keys()
    assert pools[key].num_connections == 1  # the body read whole, the connection went back to the pool


def test_a_read_timeout_gives_a_retryable_error_without_status(server, clock):
    server.script(Reply(delay=2.0, json={}), Reply(delay=2.0, json={}))

    started = time.monotonic()
    with (
        client_for(server, clock, timeout=(1.0, 0.1), max_attempts=2) as client,
        pytest.raises(AtlassianError) as caught,
    ):
        client.user_role_assignments("acc-1")

    assert time.monotonic() - started < 1.5
    assert caught.value.status is None
    assert caught.value.retryable
    assert "Timed out" in str(caught.value)
    assert len(server.received) == 2


# -- writes ---------------------------------------------------------------------------------------


def test_writes_are_not_retried_when_the_connection_drops(server, client, clock):
    server.script(Reply(drop=True))

    with pytest.raises(AtlassianError) as caught:
        client.user_suspend("acc-1", directory_id="dir-1")

    assert len(server.received) == 1
    assert clock.slept == []
    assert caught.value.status is None
    assert caught.value.retryable  # the caller's idempotent service checks and decides


class _NoServer:
    url = "http://127.0.0.1:9"  # replaced by the test's own options


def test_a_write_that_could_not_connect_is_retried_since_nothing_was_sent(clock):
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on: every connect is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = f"http://127.0.0.1:{port}"
    options = {"api_base": closed, "site_url": closed, "max_attempts": 3}

    with client_for(_NoServer(), clock, **options) as client, pytest.raises(AtlassianError) as caught:
        client.user_suspend("acc-1", directory_id="dir-1")

    assert len(clock.slept) == 2  # three attempts, two backoffs
    assert client.stats.requests == 3
    assert (caught.value.status, caught.value.retryable) == (None, True)
    assert "Connection failed" in str(caught.value)


def test_writes_are_not_retried_when_the_response_times_out(server, clock):
    server.script(Reply(delay=2.0, status=204))

    with client_for(server, clock, timeout=(1.0, 0.1)) as client, pytest.raises(AtlassianError) as caught:
        client.lifecycle_disable("acc-1")

    assert len(server.received) == 1
    assert (caught.value.status, caught.value.retryable) == (None, True)


def test_writes_are_retried_on_429_and_503_because_nothing_happened(server, client, clock):
    server.script(Reply(429, headers={"Retry-After": "2"}), Reply(503, headers={"Retry-After": "3"}), Reply(204))

    client.user_suspend("acc-1", directory_id="dir-1")

    assert clock.slept == [2.0, 3.0]
    assert [r.method for r in server.received] == ["POST"] * 3


def test_writes_are_not_retried_on_500_since_the_server_may_have_acted(server, client):
    server.script(Reply(500, json={"errors": [{"code": "ADMIN-500-1", "title": "Internal error"}]}))

    with pytest.raises(AtlassianError) as caught:
        client.user_remove("acc-1", directory_id="dir-1")

    assert len(server.received) == 1
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (500, "ADMIN-500-1", True)


def test_suspend_restore_and_remove_use_the_v2_directory_paths_with_the_bearer_key(server, client):
    server.script(Reply(204), Reply(204), Reply(204))

    client.user_suspend("acc-1", directory_id="dir-1")
    client.user_restore("acc-1", directory_id="dir-9")
    client.user_remove("acc-1", directory_id="dir-1")

    assert [(r.method, r.path) for r in server.received] == [
        ("POST", "/admin/v2/orgs/org-1/directories/dir-1/users/acc-1/suspend"),
        ("POST", "/admin/v2/orgs/org-1/directories/dir-9/users/acc-1/restore"),
        ("DELETE", "/admin/v2/orgs/org-1/directories/dir-1/users/acc-1"),
    ]
    assert {r.headers["Authorization"] for r in server.received} == {f"Bearer {API_KEY}"}


@pytest.mark.parametrize("directory", [None, "", "-"])
def test_a_write_without_a_real_directory_is_refused_before_anything_is_sent(server, client, directory):
    writes = [
        lambda: client.user_suspend("acc-1", directory_id=directory),
        lambda: client.user_restore("acc-1", directory_id=directory),
        lambda: client.user_remove("acc-1", directory_id=directory),
        lambda: client.group_membership_add(GROUP_ARI, "acc-1", directory_id=directory),
        lambda: client.group_membership_remove(GROUP_ARI, "acc-1", directory_id=directory),
    ]
    for write in writes:
        with pytest.raises(AtlassianError, match="must name"):
            write()
    assert server.received == []


def test_jira_calls_use_basic_auth_with_email_and_token(server, client):
    server.script(Reply(json=[]))

    client.application_roles()

    expected = base64.b64encode(f"{JIRA_EMAIL}:{JIRA_TOKEN}".encode()).decode()
    assert server.received[0].headers["Authorization"] == f"Basic {expected}"


def test_membership_add_posts_the_account_id_to_the_escaped_group_ari(server, client):
    server.script(Reply(204))

    client.group_membership_add(GROUP_ARI, "acc-1", directory_id="dir-1")

    request = server.received[0]
    assert request.path == f"/admin/v2/orgs/org-1/directories/dir-1/groups/{GROUP_ARI_IN_PATH}/memberships"
    assert request.json() == {"accountId": "acc-1"}


@pytest.mark.parametrize(
    "body",
    [
        {
            "errors": [
                {
                    "status": "409",
                    "code": "ADMIN-409-1",
                    "title": "Conflict",
                    "detail": "User is already a member of the group",
                }
            ]
        },
        {"errors": [{"title": "User already in group"}]},
    ],
)
def test_membership_add_treats_already_a_member_as_success(server, client, body):
    server.script(Reply(409, json=body))

    assert client.group_membership_add(GROUP_ARI, "acc-1", directory_id="dir-1") is None
    assert len(server.received) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"errors": [{"code": "ADMIN-409-3", "title": "Conflict", "detail": "Product licence limit exceeded"}]},
        {"errors": [{"title": "Conflict", "detail": "You've exceeded your user limit; the user is already counted"}]},
        {},
        None,
    ],
    ids=["licence-code", "limit-wins-over-already", "empty-json", "no-body"],
)
def test_membership_add_raises_on_any_other_conflict(server, client, body):
    server.script(Reply(409, json=body) if body is not None else Reply(409))

    with pytest.raises(AtlassianError) as caught:
        client.group_membership_add(GROUP_ARI, "acc-1", directory_id="dir-1")

    assert (caught.value.status, caught.value.retryable) == (409, False)


def test_membership_remove_raises_when_the_user_is_not_a_member(server, client):
    server.script(
        Reply(404, json={"errors": [{"code": "ADMIN-404-8", "title": "Not found", "detail": "User is not a member"}]})
    )

    with pytest.raises(AtlassianError) as caught:
        client.group_membership_remove(GROUP_ARI, "acc-1", directory_id="dir-1")

    assert server.received[0].method == "DELETE"
    assert (
        server.received[0].path
        == f"/admin/v2/orgs/org-1/directories/dir-1/groups/{GROUP_ARI_IN_PATH}/memberships/acc-1"
    )
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (404, "ADMIN-404-8", False)


def test_lifecycle_calls_go_to_the_user_management_api(server, client):
    server.script(Reply(204), Reply(204), Reply(json={"message": "Scheduled for deletion"}), Reply(200, body="ok?"))

    client.lifecycle_disable("acc-1", message="Inactive for 180 days")
    client.lifecycle_enable("acc-1")
    deleted = client.lifecycle_delete("acc-1")
    cancelled = client.lifecycle_cancel_delete("acc-1")

    assert [r.path for r in server.received] == [
        "/users/acc-1/manage/lifecycle/disable",
        "/users/acc-1/manage/lifecycle/enable",
        "/users/acc-1/manage/lifecycle/delete",
        "/users/acc-1/manage/lifecycle/cancel-delete",
    ]
    assert server.received[0].json() == {"message": "Inactive for 180 days"}
    assert (deleted, cancelled) == ("Scheduled for deletion", None)  # a 2xx write is not failed for its body


def test_role_assign_and_revoke_send_the_role_and_resource(server, client):
    server.script(Reply(204), Reply(204))

    client.user_role_assign("acc-1", role="atlassian/user", resource="ari:cloud:jira::site/s1")
    client.user_role_revoke("acc-1", role="atlassian/user", resource="ari:cloud:jira::site/s1")

    assert [r.path for r in server.received] == [
        "/admin/v1/orgs/org-1/users/acc-1/roles/assign",
        "/admin/v1/orgs/org-1/users/acc-1/roles/revoke",
    ]
    assert server.received[1].json() == {"role": "atlassian/user", "resource": "ari:cloud:jira::site/s1"}


# -- error bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "code", "message"),
    [
        (
            Reply(404, json={"errors": [{"code": "ADMIN-404-8", "title": "Not Found", "detail": "User not found"}]}),
            "ADMIN-404-8",
            "Not Found: User not found",
        ),
        (Reply(401, json={"code": 401, "message": "Unauthorized"}), "401", "Unauthorized"),
        (
            Reply(403, json={"key": "forbidden.action", "context": {"message": "Not allowed"}}),
            "forbidden.action",
            "Not allowed",
        ),
        (Reply(404, json={"key": "accountNotFound"}), "accountNotFound", "accountNotFound"),
        (
            Reply(400, json={"errorMessages": ["Bad group"], "errors": {"groupId": "is invalid"}}),
            None,
            "Bad group; groupId: is invalid",
        ),
        (Reply(401, body="<html><body>Unauthorized</body></html>"), None, "Unauthorized"),
        (Reply(403), None, "Forbidden"),
    ],
    ids=["v2-errors", "proxy-error", "user-mgmt-context", "user-mgmt-key", "jira-collection", "html", "empty"],
)
def test_error_bodies_of_every_family_give_a_code_and_a_short_message(server, client, reply, code, message):
    server.script(reply)

    with pytest.raises(AtlassianError) as caught:
        client.user_role_assignments("acc-1")

    assert caught.value.code == code
    assert caught.value.message == message


def test_long_error_messages_are_cut_to_about_300_characters(server, client):
    server.script(Reply(400, json={"errors": [{"title": "Bad", "detail": "x" * 5000}]}))

    with pytest.raises(AtlassianError) as caught:
        client.user_role_assignments("acc-1")

    assert len(caught.value.message) <= 300


# -- malformed success responses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (Reply(200, body="<html>maintenance</html>"), "not valid JSON"),
        (Reply(200), "empty body"),
        (Reply(200, json={"links": {}}), "data is missing"),
        (Reply(200, json={"data": {"accountId": "a1"}}), "data is not a list"),
        (Reply(200, json={"data": [{"status": "active", "name": "No id"}]}), "accountId"),
        (Reply(200, json={"data": [v2_user("a1", addedToOrg="last tuesday")]}), "addedToOrg"),
        (Reply(200, json={"data": [], "links": {"next": 7}}), "links.next"),
    ],
    ids=["not-json", "empty", "no-data", "data-not-list", "no-account-id", "bad-timestamp", "bad-next"],
)
def test_a_success_with_the_wrong_shape_raises_malformed_response(server, client, clock, reply, match):
    server.script(reply)

    with pytest.raises(MalformedResponse, match=match) as caught:
        read_users(client)

    assert not caught.value.retryable
    assert caught.value.path == "/admin/v2/orgs/org-1/directories/-/users/search"
    assert len(server.received) == 1
    assert clock.slept == []


def test_a_bare_array_endpoint_answering_an_object_raises_malformed_response(server, client):
    server.script(Reply(json={"values": []}))

    with pytest.raises(MalformedResponse, match="not a list"):
        client.application_roles()


def test_a_jira_user_without_an_active_flag_raises_malformed_response(server, client):
    server.script(Reply(json=[{"accountId": "j1", "displayName": "J"}]))

    with pytest.raises(MalformedResponse, match="active"):
        list(client.iter_jira_users())


# -- slowing down before the limit ----------------------------------------------------------------


def test_it_slows_down_when_the_remaining_budget_is_low(server, client, clock):
    low = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "5", "X-RateLimit-Reset": clock.iso_in(10)}
    server.script(Reply(json=[], headers=low), Reply(json=[]))

    client.application_roles()
    client.application_roles()

    assert clock.slept == [2.0]  # 5 requests left over 10 s: one every 2 s
    assert client.stats.retries == 0


def test_time_already_spent_counts_towards_the_pacing_pause(server, client, clock):
    low = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "2", "X-RateLimit-Reset": clock.iso_in(6)}
    server.script(Reply(json=[], headers=low), Reply(json=[]))

    client.application_roles()
    clock.advance(1.0)  # the caller worked for a second in between
    client.application_roles()

    assert clock.slept == [pytest.approx(2.0)]


def test_it_slows_down_when_jira_says_the_limit_is_near(server, client, clock):
    server.script(Reply(json=[], headers={"X-RateLimit-NearLimit": "true"}), Reply(json=[]))

    client.application_roles()
    client.application_roles()

    assert clock.slept == [1.0]


def test_it_does_not_slow_down_while_the_budget_is_healthy(server, client, clock):
    healthy = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "50", "X-RateLimit-Reset": clock.iso_in(10)}
    server.script(Reply(json=[], headers=healthy), Reply(json=[]))

    client.application_roles()
    client.application_roles()

    assert clock.slept == []


def test_the_pacing_pause_is_bounded():
    headers = {"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-08-03T11:00:00Z"}

    assert pacing_delay(headers, now=START, max_wait=5.0) == 5.0


# -- secrets --------------------------------------------------------------------------------------


def _every_error_path(server: ScriptedServer, clock: FakeTime) -> list[BaseException]:
    """Drive each failure the client can raise, the server echoing credentials where it can."""
    echo = f"Bearer {API_KEY} / {JIRA_TOKEN} rejected"
    basic = base64.b64encode(f"{JIRA_EMAIL}:{JIRA_TOKEN}".encode()).decode()
    too_many = Reply(429, json={"key": "tooMany", "context": {"message": echo}}, headers={"Retry-After": "1"})
    scenarios = [
        ([Reply(401, json={"code": 401, "message": echo})], lambda c: c.user_role_assignments("acc-1")),
        (
            [Reply(403, json={"errors": [{"code": API_KEY, "title": echo, "detail": basic}]})],
            lambda c: c.user_suspend("a", directory_id="dir-1"),
        ),
        ([Reply(401, body=f"Basic {basic} is not valid")], lambda c: c.application_roles()),
        ([Reply(400, json={"errors": [{"detail": "x" * 290 + API_KEY}]})], lambda c: c.user_role_assignments("a")),
        ([too_many, too_many], lambda c: c.lifecycle_delete("acc-1")),
        ([Reply(drop=True)], lambda c: c.lifecycle_enable("acc-1")),
        ([Reply(delay=2.0, json={})] * 2, lambda c: list(c.iter_jira_users())),
        ([Reply(200, body=f"not json {API_KEY}")], read_users),
        (
            [Reply(409, json={"errors": [{"detail": f"limit exceeded {API_KEY}"}]})],
            lambda c: c.group_membership_add("g", "a", directory_id="dir-1"),
        ),
        (
            [Reply(json={"data": [], "links": {"next": f"https://x.example/?k={API_KEY}"}})],
            lambda c: list(c.iter_managed_accounts()),
        ),
    ]
    caught: list[BaseException] = []
    with client_for(server, clock, max_attempts=2, timeout=(1.0, 0.1)) as client:
        for replies, call in scenarios:
            server.script(*replies)
            with pytest.raises(AtlassianError) as info:
                call(client)
            caught.append(info.value)
        caught.append(AssertionError(repr(client)))
    caught.append(_config_error(server))
    return caught


def _config_error(server: ScriptedServer) -> BaseException:
    with pytest.raises(AtlassianError) as info:
        AtlassianClient(org_id="o", api_key=API_KEY, api_base=server.url, jira_api_token=JIRA_TOKEN).application_roles()
    return info.value


def test_no_credential_ever_appears_in_errors_or_logs(server, clock, caplog):
    for name in (None, "governance.atlassian", "urllib3"):  # the project's settings quieten urllib3
        caplog.set_level(logging.DEBUG, logger=name)
    basic = base64.b64encode(f"{JIRA_EMAIL}:{JIRA_TOKEN}".encode()).decode()

    errors = _every_error_path(server, clock)

    assert len(errors) == 12
    assert {e.status for e in errors if isinstance(e, AtlassianError)} >= {None, 401, 403, 409, 429}
    texts = [caplog.text, *(r.getMessage() for r in caplog.records)]
    for error in errors:
        texts += [str(error), repr(error), repr(error.args), "".join(traceback.format_exception(error))]
        texts += [str(getattr(error, name, "")) for name in ("message", "code", "path", "method")]
    for secret in (API_KEY, JIRA_TOKEN, basic):
        assert not [t for t in texts if secret in t]
    assert "Retrying" in caplog.text  # the retry was logged, without the key
    assert any(r.name.startswith("urllib3") for r in caplog.records)  # and the HTTP library's own lines were checked

"""Every pagination family the client walks, against the scripted loopback server."""

from datetime import UTC, datetime

import pytest

from governance.atlassian.errors import MalformedResponse
from governance.atlassian.records import ProductActivity
from tests.governance.atlassian_fakes import (
    GROUP_ARI,
    GROUP_ARI_IN_PATH,
    GROUP_UUID,
    FakeTime,
    client_for,
    jira_user,
    v2_user,
)
from tests.governance.scripted_server import Reply, ScriptedServer


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


# -- Admin v2: cursor token in the POST body ------------------------------------------------------


def test_user_search_sends_the_cursor_in_the_body_until_next_is_null(server, client):
    server.script(
        Reply(json={"data": [v2_user("a1"), v2_user("a2")], "links": {"self": "s0", "next": "c1"}}),
        Reply(json={"data": [v2_user("a3")], "links": {"self": "c1", "next": "c2"}}),
        Reply(json={"data": [v2_user("a4")], "links": {"self": "c2", "next": None}}),
    )

    pages = [[u.account_id for u in page] for page in client.iter_user_pages()]

    assert pages == [["a1", "a2"], ["a3"], ["a4"]]
    assert [r.method for r in server.received] == ["POST"] * 3
    assert {r.path for r in server.received} == {"/admin/v2/orgs/org-1/directories/-/users/search"}
    bodies = [r.json() for r in server.received]
    assert bodies[0] == {"limit": 100, "expand": ["productAccess", "groups"]}
    assert bodies[1] == {"limit": 100, "expand": ["productAccess", "groups"], "cursor": "c1"}
    assert bodies[2]["cursor"] == "c2"


@pytest.mark.parametrize(
    "last_links", [{}, {"self": "x"}, {"next": ""}, None], ids=["empty", "no-next", "blank", "null"]
)
def test_user_search_stops_when_next_is_absent_null_or_empty(server, client, last_links):
    last = {"data": [v2_user("b2")]}
    if last_links is not None:
        last["links"] = last_links
    server.script(Reply(json={"data": [v2_user("b1")], "links": {"next": "c1"}}), Reply(json=last))

    assert [u.account_id for u in client.iter_users()] == ["b1", "b2"]
    assert len(server.received) == 2


def test_user_pages_are_fetched_one_at_a_time_as_the_caller_iterates(server, client):
    server.script(
        Reply(json={"data": [v2_user("a1")], "links": {"next": "c1"}}),
        Reply(json={"data": [v2_user("a2")], "links": {}}),
    )

    pages = client.iter_user_pages()
    first = next(pages)

    assert [u.account_id for u in first] == ["a1"]
    assert len(server.received) == 1
    assert [u.account_id for u in next(pages)] == ["a2"]


def test_user_search_maps_camel_case_users_with_product_access_and_groups(server, client):
    user = v2_user(
        "acc-1",
        accountStatus="active",
        membershipStatus="active",
        email="ada@example.com",
        claimStatus="managed",
        addedToOrg="2024-01-01T00:00:00.000Z",
        platformRoles=["atlassian/org-admin"],
        managementSource="invited",
        productAccess=[
            {
                "key": "confluence",
                "id": "ari:cloud:confluence::site/s1",
                "lastActiveTimestamp": "2025-11-06T23:07:29.936941226Z",
            },
            {"key": "jira", "id": "ari:cloud:jira::site/s1"},
        ],
        groups=[{"id": GROUP_ARI, "name": "Engineering", "description": None}],
    )
    server.script(Reply(json={"data": [user], "links": {}}))

    [mapped] = client.iter_users()

    assert mapped.account_id == "acc-1"
    assert mapped.is_org_admin
    assert mapped.added_to_org == datetime(2024, 1, 1, tzinfo=UTC)
    assert mapped.product_access == (
        ProductActivity(
            "confluence", "ari:cloud:confluence::site/s1", datetime(2025, 11, 6, 23, 7, 29, 936941, tzinfo=UTC)
        ),
        ProductActivity("jira", "ari:cloud:jira::site/s1", None),
    )
    # The canonical id (the bare UUID), and the form Atlassian spelt it in.
    assert [(g.id, g.name, g.id_form) for g in mapped.groups] == [(GROUP_UUID, "Engineering", "ari")]


def test_group_search_expands_user_counts_and_maps_management_fields(server, client):
    group = {
        "id": GROUP_ARI,
        "name": "jira-users",
        "description": "Licensed",
        "directoryId": "dir-1",
        "managementAccess": {"deletable": False, "modifiable": False, "readable": True},
        "externalSynced": True,
        "managedBy": "external",
        "counts": {"users": 42},
    }
    server.script(Reply(json={"data": [group], "links": {"next": None}}))

    [mapped] = client.iter_groups()

    assert server.received[0].path == "/admin/v2/orgs/org-1/directories/-/groups/search"
    assert server.received[0].json() == {"limit": 100, "expand": ["counts.users"]}
    assert client.group_id_form == "ari"  # later paths naming a group spell it so
    assert (mapped.id, mapped.external_synced, mapped.managed_by, mapped.modifiable, mapped.user_count) == (
        GROUP_UUID,
        True,
        "external",
        False,
        42,
    )


def test_a_cursor_handed_back_twice_is_refused_instead_of_looping_forever(server, client):
    server.script(
        Reply(json={"data": [v2_user("a1")], "links": {"next": "same"}}),
        Reply(json={"data": [v2_user("a2")], "links": {"next": "same"}}),
    )

    with pytest.raises(MalformedResponse, match="repeats"):
        list(client.iter_users())


# -- Admin v2: cursor token in the query string ---------------------------------------------------


def test_group_role_assignments_send_only_the_cursor_after_the_first_page(server, client):
    server.script(
        Reply(
            json={
                "data": [
                    {
                        "resourceId": "ari:cloud:jira::site/s1",
                        "resourceOwner": "jira-software",
                        "roles": ["atlassian/user"],
                        "defaultRole": None,
                    }
                ],
                "links": {"next": "k2"},
            }
        ),
        Reply(
            json={
                "data": [
                    {
                        "resourceId": "ari:cloud:confluence::site/s1",
                        "resourceOwner": "confluence",
                        "roles": ["atlassian/user"],
                    }
                ],
                "links": {},
            }
        ),
    )

    assignments = client.group_role_assignments(GROUP_ARI)

    assert [a.resource_owner for a in assignments] == ["jira-software", "confluence"]
    assert assignments[0].roles == ("atlassian/user",)
    first, second = server.received
    assert first.path == f"/admin/v2/orgs/org-1/directories/-/groups/{GROUP_ARI_IN_PATH}/role-assignments"
    assert first.query == {"limit": ["100"]}
    assert second.path == first.path
    assert second.query == {"cursor": ["k2"]}


def test_user_role_assignments_merge_roles_and_their_assignment_methods(server, client):
    item = {
        "resourceId": "ari:cloud:jira::site/s1",
        "resourceOwner": "jira-software",
        "roles": ["ignored-deprecated-field"],
        "roleAssignments": [
            {"role": "atlassian/user", "roleAssignmentMethods": ["group_direct"]},
            {"role": "atlassian/admin", "roleAssignmentMethods": ["direct", "group_direct"]},
        ],
        "directoryId": "dir-1",
    }
    server.script(Reply(json={"data": [item], "links": {"self": "x"}}))

    [assignment] = client.user_role_assignments("acc-1", directory_id="dir-1")

    assert server.received[0].path == "/admin/v2/orgs/org-1/directories/dir-1/users/acc-1/role-assignments"
    assert assignment.roles == ("atlassian/user", "atlassian/admin")
    assert assignment.methods == ("group_direct", "direct")


# -- Admin v1: links.next as a full URL or a bare token -------------------------------------------


def _v1_account(account_id: str, status: str = "active") -> dict:
    return {
        "account_id": account_id,
        "account_type": "atlassian",
        "account_status": status,
        "name": account_id,
        "picture": "p",
    }


def test_managed_accounts_follow_a_next_link_given_as_a_full_url(server, client):
    next_url = f"{server.url}/admin/v1/orgs/org-1/users?cursor=opaque%3D%3D"
    server.script(
        Reply(json={"data": [_v1_account("m1")], "links": {"self": "s", "next": next_url}, "meta": {"total": 2}}),
        Reply(json={"data": [_v1_account("m2", "inactive")], "links": {"self": next_url}}),
    )

    users = list(client.iter_managed_accounts())

    assert [(u.account_id, u.status, u.claim_status) for u in users] == [
        ("m1", "active", "managed"),
        ("m2", "deactivated", "managed"),
    ]
    assert [r.target for r in server.received] == [
        "/admin/v1/orgs/org-1/users",
        "/admin/v1/orgs/org-1/users?cursor=opaque%3D%3D",
    ]


def test_managed_accounts_follow_a_next_link_given_as_a_bare_token(server, client):
    server.script(
        Reply(json={"data": [_v1_account("m1", "closed")], "links": {"next": "tok-2"}}),
        Reply(json={"data": [], "links": {"next": None}}),
    )

    pages = list(client.iter_managed_account_pages())

    assert [[u.status for u in page] for page in pages] == [["deactivated"], []]
    assert server.received[1].path == "/admin/v1/orgs/org-1/users"
    assert server.received[1].query == {"cursor": ["tok-2"]}


def test_a_v1_next_link_to_another_host_is_refused_so_the_key_stays_home(server, client):
    server.script(
        Reply(json={"data": [_v1_account("m1")], "links": {"next": "https://evil.example/admin/v1/x?cursor=1"}})
    )

    with pytest.raises(MalformedResponse, match="different host"):
        list(client.iter_managed_accounts())
    assert len(server.received) == 1


def test_last_active_dates_merge_pages_and_prefer_the_full_timestamp(server, client):
    server.script(
        Reply(
            json={
                "data": {
                    "product_access": [
                        {
                            "id": "site-1",
                            "key": "jira-software",
                            "last_active": "2026-08-03",
                            "last_active_timestamp": "2026-08-03T10:15:00Z",
                        },
                        {"id": "site-1", "key": "confluence", "last_active": "2026-07-01"},
                    ],
                    "added_to_org": "2024-06-01",
                    "added_to_org_timestamp": None,
                },
                "links": {"next": "page-2"},
            }
        ),
        Reply(
            json={
                "data": {
                    "product_access": [
                        {"id": "site-2", "key": "jira-core", "last_active_timestamp": "2026-08-01T08:00:00Z"}
                    ]
                },
                "links": {},
            }
        ),
    )

    dates = client.last_active_dates("acc/1")

    assert server.received[0].path == "/admin/v1/orgs/org-1/directory/users/acc%2F1/last-active-dates"
    assert server.received[1].query == {"cursor": ["page-2"]}
    assert dates.account_id == "acc/1"
    assert dates.added_to_org == datetime(2024, 6, 1, tzinfo=UTC)
    assert [(p.key, p.resource_id, p.last_active) for p in dates.product_access] == [
        ("jira-software", "site-1", datetime(2026, 8, 3, 10, 15, tzinfo=UTC)),
        ("confluence", "site-1", datetime(2026, 7, 1, tzinfo=UTC)),
        ("jira-core", "site-2", datetime(2026, 8, 1, 8, 0, tzinfo=UTC)),
    ]


def test_last_active_dates_without_product_access_is_malformed(server, client):
    server.script(Reply(json={"data": {"added_to_org": None}}))

    with pytest.raises(MalformedResponse, match="product_access"):
        client.last_active_dates("acc-1")


# -- Jira: startAt/isLast page beans --------------------------------------------------------------


def test_jira_group_members_advance_by_items_received_when_the_server_caps_max_results(server, client):
    server.script(
        Reply(json={"startAt": 0, "maxResults": 2, "isLast": False, "values": [jira_user("j1"), jira_user("j2")]}),
        Reply(json={"startAt": 2, "maxResults": 2, "isLast": False, "values": [jira_user("j3"), jira_user("j4")]}),
        Reply(json={"startAt": 4, "maxResults": 2, "isLast": True, "values": [jira_user("j5", active=False)]}),
    )

    members = list(client.iter_jira_group_members("276f955c-63d7-42c8-9520-92d01dca0625"))

    assert [(m.account_id, m.active) for m in members] == [
        ("j1", True),
        ("j2", True),
        ("j3", True),
        ("j4", True),
        ("j5", False),
    ]
    assert [r.query["startAt"] for r in server.received] == [["0"], ["2"], ["4"]]
    first = server.received[0]
    assert first.path == "/rest/api/3/group/member"
    assert first.query["maxResults"] == ["50"]
    assert first.query["groupId"] == ["276f955c-63d7-42c8-9520-92d01dca0625"]


def test_jira_group_members_stop_on_an_empty_page_when_is_last_is_missing(server, client):
    server.script(
        Reply(json={"startAt": 0, "maxResults": 50, "values": [jira_user("j1")]}),
        Reply(json={"startAt": 1, "maxResults": 50, "values": []}),
    )

    assert [m.account_id for m in client.iter_jira_group_members("g1")] == ["j1"]
    assert len(server.received) == 2


# -- Jira: bare arrays ----------------------------------------------------------------------------


def test_jira_users_page_through_bare_arrays_until_an_empty_one(server, clock):
    server.script(
        Reply(json=[jira_user("u1"), jira_user("u2"), jira_user("u3")]),
        Reply(json=[jira_user("u4"), {"accountId": "app-1", "accountType": "app", "active": True}]),  # short, not last
        Reply(json=[]),
    )

    with client_for(server, clock, page_size=3) as client:
        users = list(client.iter_jira_users())

    assert [(u.account_id, u.account_type) for u in users][-2:] == [("u4", "atlassian"), ("app-1", "app")]
    assert len(users) == 5
    assert [(r.query["startAt"], r.query["maxResults"]) for r in server.received] == [
        (["0"], ["3"]),
        (["3"], ["3"]),
        (["5"], ["3"]),
    ]


def test_jira_calls_use_the_api_gateway_when_only_a_cloud_id_is_given(server, clock):
    server.script(Reply(json=[]))

    with client_for(server, clock, site_url=None, cloud_id="cloud-123") as client:
        assert list(client.iter_jira_users()) == []

    assert server.received[0].path == "/ex/jira/cloud-123/rest/api/3/users/search"


def test_application_roles_map_licensed_groups_and_seats(server, client):
    role = {
        "key": "jira-software",
        "name": "Jira Software",
        "groups": ["jira-software-users", "jira-testers"],
        "groupDetails": [{"groupId": "g-1", "name": "jira-software-users"}, {"groupId": "g-2", "name": "jira-testers"}],
        "defaultGroups": ["jira-software-users"],
        "numberOfSeats": 10,
        "remainingSeats": 5,
        "userCount": 5,
        "hasUnlimitedSeats": False,
        "platform": False,
    }
    server.script(Reply(json=[role]))

    [mapped] = client.application_roles()

    assert server.received[0].path == "/rest/api/3/applicationrole"
    assert mapped.group_ids == ("g-1", "g-2")
    assert mapped.group_names == ("jira-software-users", "jira-testers")
    assert mapped.default_group_names == ("jira-software-users",)
    assert (mapped.number_of_seats, mapped.remaining_seats, mapped.user_count, mapped.unlimited) == (10, 5, 5, False)

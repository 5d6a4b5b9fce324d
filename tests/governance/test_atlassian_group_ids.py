"""Group ids in two forms: the client stores the canonical bare UUID, names groups in paths the way the
group search spelt them (URL-encoded), and gives Jira the bare UUID; the preflight's reads are read-only."""

import pytest

from governance.atlassian.groupids import canonical_group_id, group_id_as, group_id_form
from tests.governance.atlassian_fakes import (
    GROUP_ARI,
    GROUP_ARI_IN_PATH,
    GROUP_UUID,
    FakeTime,
    client_for,
    jira_user,
)
from tests.governance.scripted_server import Reply, ScriptedServer

MEMBERSHIPS = "/admin/v2/orgs/org-1/directories/dir-1/groups/{}/memberships"


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv
    assert srv.unscripted == [], "the client sent more requests than the test scripted"


def _group(group_id: str) -> dict:
    return {"id": group_id, "name": "jira-users", "directoryId": "dir-1", "counts": {"users": 3}}


class TestTheSpellings:
    def test_canonical_is_the_bare_uuid_whatever_the_form(self):
        assert canonical_group_id(GROUP_ARI) == canonical_group_id(GROUP_UUID) == GROUP_UUID
        assert (group_id_form(GROUP_ARI), group_id_form(GROUP_UUID)) == ("ari", "uuid")

    def test_spelling_an_id_in_a_form(self):
        assert group_id_as(GROUP_UUID, "ari") == group_id_as(GROUP_ARI, "ari") == GROUP_ARI
        assert group_id_as(GROUP_ARI, "uuid") == group_id_as(GROUP_UUID, "uuid") == GROUP_UUID
        assert group_id_as(GROUP_ARI, None) == GROUP_ARI  # no known form: as given


class TestTheClient:
    @pytest.mark.parametrize(("searched", "in_path"), [(GROUP_ARI, GROUP_ARI_IN_PATH), (GROUP_UUID, GROUP_UUID)])
    def test_paths_use_the_form_the_group_search_gave(self, server, searched, in_path):
        server.script(Reply(json={"data": [_group(searched)], "links": {}}), Reply(204), Reply(204))
        with client_for(server, FakeTime()) as client:
            [group] = client.iter_groups()
            assert group.id == GROUP_UUID  # stored canonical
            client.group_membership_add(group.id, "acc-1", directory_id="dir-1")  # the mirror's id, bare
            client.group_membership_remove(GROUP_ARI, "acc-1", directory_id="dir-1")  # or the other spelling
        assert [r.path for r in server.received[1:]] == [
            MEMBERSHIPS.format(in_path),
            MEMBERSHIPS.format(in_path) + "/acc-1",
        ]

    @pytest.mark.parametrize(("form", "in_path"), [("ari", GROUP_ARI_IN_PATH), ("uuid", GROUP_UUID)])
    def test_a_form_given_by_the_organization_is_used_before_any_listing(self, server, form, in_path):
        server.script(Reply(json={"data": [], "links": {}}))
        with client_for(server, FakeTime(), group_id_form=form) as client:
            client.group_role_assignments(GROUP_UUID)
        assert server.received[0].path == f"/admin/v2/orgs/org-1/directories/-/groups/{in_path}/role-assignments"

    def test_jira_gets_the_bare_id(self, server):
        server.script(Reply(json={"isLast": True, "values": [jira_user("j1")]}))
        with client_for(server, FakeTime(), group_id_form="ari") as client:
            assert [u.account_id for u in client.iter_jira_group_members(GROUP_ARI)] == ["j1"]
        assert server.received[0].query["groupId"] == [GROUP_UUID]

    def test_an_unknown_form_is_refused(self, server):
        with pytest.raises(ValueError, match="group_id_form"):
            client_for(server, FakeTime(), group_id_form="urn")


class TestPreflightReads:
    def test_organization_and_directories(self, server):
        org = {"id": "org-1", "type": "orgs", "attributes": {"name": "Acme"}}
        directories = {"data": [{"directoryId": "d1", "name": "Acme"}], "links": {"next": "c2"}}
        server.script(
            Reply(json={"data": org}, headers={"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "99"}),
            Reply(json=directories),
            Reply(json={"data": [{"directoryId": "d2", "name": "Okta"}], "links": {}}),
        )
        with client_for(server, FakeTime()) as client:
            assert client.organization() == {"id": "org-1", "name": "Acme"}
            assert client.rate_limit_headers[server.url] == {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "99"}
            assert client.directories() == [{"id": "d1", "name": "Acme"}, {"id": "d2", "name": "Okta"}]
        assert [(r.method, r.path) for r in server.received] == [
            ("GET", "/admin/v1/orgs/org-1"),
            ("GET", "/admin/v2/orgs/org-1/directories"),
            ("GET", "/admin/v2/orgs/org-1/directories"),
        ]
        assert server.received[2].query == {"cursor": ["c2"]}

"""The simulator as strict as Atlassian's documents: group id forms, the newer products, a sandbox site,
two directories and managed accounts in none, refused deletions, an expired key, documented error codes."""

import re
from pathlib import Path

import pytest

from governance.atlassian.groupids import GROUP_ARI_PREFIX
from governance.atlassian.simulator import Simulator, SimulatorConfig
from governance.atlassian.simulator.dataset import ROVO
from governance.atlassian.simulator.errors import DOCUMENTED_CODES
from tests.governance.conftest import ORG, Api, enc, make_config
from tests.group_forms import both_group_id_forms

SIMULATOR_DIR = Path(__file__).resolve().parents[2] / "governance" / "atlassian" / "simulator"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NEWER = ("jira-product-discovery", "loom", "rovo", "compass")


def _other_form(group_id: str) -> str:
    return (
        group_id.removeprefix(GROUP_ARI_PREFIX)
        if group_id.startswith(GROUP_ARI_PREFIX)
        else GROUP_ARI_PREFIX + group_id
    )


class TestGroupIdForms:
    @both_group_id_forms
    def test_the_search_and_details_use_the_configured_form_and_users_groups_the_ari(self, sim, api, group_id_form):
        groups = api.search_groups({"limit": 100}).json()["data"]
        ids = [g["id"] for g in groups]
        if group_id_form == "uuid":
            assert all(UUID.match(i) for i in ids)
        else:
            assert all(i.startswith(GROUP_ARI_PREFIX) and UUID.match(i.removeprefix(GROUP_ARI_PREFIX)) for i in ids)
        details = api.admin("GET", f"{api.v2p}/groups/{enc(ids[0])}").json()["data"]
        assert details["id"] == ids[0]
        user = api.user(sim.state.find_user(in_group="jira-software-users"))
        assert user["groups"]
        assert all(g["id"].startswith(GROUP_ARI_PREFIX) for g in user["groups"])  # as in the documents' example

    @both_group_id_forms
    def test_a_path_or_filter_in_the_other_form_names_no_group(self, sim, api):
        group = sim.state.group("jira-software-users")
        user = sim.state.find_user(not_in_group="jira-software-users", status="active")
        for group_id, found in ((group.id, True), (_other_form(group.id), False)):
            details = api.admin("GET", f"{api.v2p}/groups/{enc(group_id)}")
            assert details.status_code == (200 if found else 404)
            if not found:
                assert details.json()["errors"][0]["code"] == "ADMIN-404-10"
            roles = api.admin("GET", f"{api.v2p}/groups/{enc(group_id)}/role-assignments")
            assert roles.status_code == (200 if found else 404)
            added = api.admin("POST", f"{api.v2p}/groups/{enc(group_id)}/memberships", json={"accountId": user})
            assert added.status_code == (204 if found else 404)
            listed = api.search_groups({"groupIds": [group_id]}).json()["data"]
            assert [g["name"] for g in listed] == (["jira-software-users"] if found else [])
            members = api.search_users({"groupIds": [group_id], "limit": 100}).json()["data"]
            assert bool(members) is found
        assert user in sim.state.group("jira-software-users").member_ids  # added once, by the right form

    @both_group_id_forms
    def test_jira_knows_the_bare_id_only(self, sim, api):
        group = sim.state.group("confluence-users")
        assert api.jira("GET", f"/rest/api/3/group/member?groupId={group.jira_id}").status_code == 200
        assert api.jira("GET", f"/rest/api/3/group/member?groupId={enc(group.ari)}").status_code == 404
        roles = api.jira("GET", "/rest/api/3/applicationrole/jira-software").json()
        assert all(UUID.match(g["groupId"]) for g in roles["groupDetails"])

    def test_an_unknown_form_is_refused_at_configuration(self):
        with pytest.raises(ValueError, match="group_id_form"):
            make_config(group_id_form="urn")


class TestProducts:
    def test_the_newer_products_are_in_product_access_some_never_opened(self, sim, api):
        users = api.all_users({"expand": ["productAccess"]}, limit=100)
        access = [p for u in users for p in u["productAccess"]]
        keys = {p["key"] for p in access}
        assert set(NEWER) <= keys
        for key in ("loom", "rovo"):  # held by many, opened by fewer: access without a timestamp
            held = [p for p in access if p["key"] == key]
            assert any("lastActiveTimestamp" not in p for p in held), key
            assert any("lastActiveTimestamp" in p for p in held), key
        assert {p["id"] for p in access if p["key"] == "bitbucket"} == {sim.state.data.resource_id(3)}
        assert sim.state.data.resource_id(3).startswith("ari:cloud:bitbucket::workspace/")
        loom = next(p["id"] for p in access if p["key"] == "loom")
        assert loom.startswith("ari:cloud:loom::site/")
        assert not loom.endswith(sim.state.cloud_id)

    def test_newer_products_never_change_a_persons_latest_activity(self, sim):
        state = sim.state
        for a in state.data.accounts[:60]:
            seen = [t for t in a.last_active[:4] if t is not None]
            later = [t for t in a.last_active[4:] if t is not None]
            assert not later or (seen and max(later) <= max(seen))

    def test_v1_answers_leave_out_keys_outside_their_enum(self, sim, api):
        user = next(
            u
            for u in api.all_users({"expand": ["productAccess"]}, limit=100)
            if u["claimStatus"] == "managed"
            and any(p["key"] in NEWER and "lastActiveTimestamp" in p for p in u["productAccess"])
        )
        managed = api.admin("GET", f"/admin/v1/orgs/{ORG}/users").json()["data"]
        listed = next(u for u in managed if u["account_id"] == user["accountId"])
        assert not {p["key"] for p in listed["product_access"]} & set(NEWER)
        dates = api.admin("GET", f"/admin/v1/orgs/{ORG}/directory/users/{enc(user['accountId'])}/last-active-dates")
        assert not {p["key"] for p in dates.json()["data"]["product_access"]} & set(NEWER)

    def test_jira_product_discovery_is_an_application_role(self, api):
        role = api.jira("GET", "/rest/api/3/applicationrole/jira-product-discovery").json()
        assert role["userCount"] > 0
        assert role["numberOfSeats"] >= role["userCount"]

    def test_rovo_is_not_a_role_assignment_resource(self, sim, api):
        user = enc(sim.state.find_user(status="active"))
        body = {"role": "atlassian/user", "resource": sim.state.data.resource_id(ROVO)}
        refused = api.admin("POST", f"/admin/v1/orgs/{ORG}/users/{user}/roles/assign", json=body)
        assert (refused.status_code, refused.json()["errors"][0]["code"]) == (400, "ADMIN-UAM-400-1")

    def test_a_sandbox_site_shares_jira_softwares_key_on_another_cloud_id(self):
        with Simulator(make_config(sandbox_site=True)) as sim:
            api = Api(sim)
            access = [p for u in api.all_users({"expand": ["productAccess"]}, limit=100) for p in u["productAccess"]]
            jira = {p["id"] for p in access if p["key"] == "jira-software"}
            assert len(jira) == 2
            assert sim.state.data.resource_id(0) in jira
            admin = sim.state.find_user(org_admin=True)
            assert "jira-software@sandbox" in sim.state.user(admin).products
            roles = api.jira("GET", "/rest/api/3/applicationrole").json()
            assert [r["key"] for r in roles].count("jira-software") == 1  # Jira describes its own site only
            api.close()

    def test_the_sandbox_leaves_everyone_else_as_they_were(self):
        plain, with_sandbox = Simulator(make_config()).state, Simulator(make_config(sandbox_site=True)).state
        for a, b in zip(plain.data.accounts, with_sandbox.data.accounts, strict=True):
            assert (a.account_id, a.last_active[:8]) == (b.account_id, b.last_active[:8])


class TestDirectories:
    def test_two_directories_each_user_in_one_and_dash_reads_both(self, sim, api):
        listing = api.admin("GET", f"/admin/v2/orgs/{ORG}/directories").json()["data"]
        assert len(listing) == 2
        local, idp = (d["directoryId"] for d in listing)
        in_local = {u["accountId"] for u in api.search_users({"limit": 100}, directory=local).json()["data"]}
        in_idp = {u["accountId"] for u in api.search_users({"limit": 100}, directory=idp).json()["data"]}
        everyone = {u["accountId"] for u in api.all_users(limit=100)}
        assert in_local
        assert in_idp
        assert not in_local & in_idp
        assert in_local | in_idp < everyone  # "-" adds the managed accounts in no directory
        user = next(iter(in_idp))
        assert sim.state.user(user).directory_id == idp
        assert api.admin("GET", f"/admin/v2/orgs/{ORG}/directories/{local}/users/{enc(user)}").status_code == 404
        assert api.admin("GET", f"/admin/v2/orgs/{ORG}/directories/{idp}/users/{enc(user)}").status_code == 200
        mine = api.admin("GET", f"/admin/v2/orgs/{ORG}/directories", params={"accountId": user}).json()["data"]
        assert [d["directoryId"] for d in mine] == [idp]

    def test_managed_accounts_in_no_directory_are_listed_over_dash_only(self, sim, api):
        outside = sim.state.account_ids(in_directory=False, claim_status="managed")
        assert len(outside) == 1
        view = api.user(outside[0])
        assert (view["status"], view["membershipStatus"], view["claimStatus"]) == (
            "not_invited",
            "no_membership",
            "managed",
        )
        assert (view["groups"], view["productAccess"]) == ([], [])
        assert "managementSource" not in view
        managed = api.search_users({"claimStatus": "managed", "limit": 100}).json()["data"]
        assert outside[0] in {u["accountId"] for u in managed}
        assert api.admin("GET", f"{api.v2p}/users/{enc(outside[0])}").status_code == 404
        jira = api.jira("GET", "/rest/api/3/users/search?maxResults=1000").json()
        assert outside[0] not in {u["accountId"] for u in jira}  # never on the site

    def test_writes_can_be_made_to_name_a_directory(self):
        with Simulator(make_config(writes_need_directory=True)) as sim:
            api = Api(sim)
            user = sim.state.find_user(status="active")
            directory = sim.state.user(user).directory_id
            refused = api.admin("POST", f"/admin/v2/orgs/{ORG}/directories/-/users/{enc(user)}/suspend")
            assert (refused.status_code, refused.json()["errors"][0]["code"]) == (404, "ADMIN-404-1")
            assert sim.state.user(user).status == "active"
            path = f"/admin/v2/orgs/{ORG}/directories/{directory}/users/{enc(user)}/suspend"
            assert api.admin("POST", path).status_code == 204
            assert api.search_users({"accountIds": [user]}).status_code == 200  # reads still take "-"
            api.close()

    def test_by_default_every_write_refuses_directory_dash(self):
        assert SimulatorConfig(users=5, groups=2).writes_need_directory is True

    def test_an_account_moved_to_another_directory_is_found_only_there(self, sim, api):
        local, idp = sim.state.directory_ids
        user = sim.state.find_user(status="active", management_source="invited", org_admin=False)
        sim.state.move_to_directory(user, 1)
        assert sim.state.user(user).directory_id == idp
        in_local = api.admin(
            "POST", f"/admin/v2/orgs/{ORG}/directories/{local}/users/search", json={"accountIds": [user]}
        )
        in_idp = api.admin("POST", f"/admin/v2/orgs/{ORG}/directories/{idp}/users/search", json={"accountIds": [user]})
        assert (in_local.json()["data"], [u["accountId"] for u in in_idp.json()["data"]]) == ([], [user])
        assert api.user(user)["managementSource"] == "synced"


class TestIdentityProviderAccounts:
    """Accounts the identity provider provisions (``managementSource: synced``): the User management
    API refuses their lifecycle with the documented 403 reason ``externalDirectory.scim``."""

    SCIM_403 = {"key": "forbidden.action", "context": {"allowed": False, "reason": {"key": "externalDirectory.scim"}}}

    def test_every_lifecycle_call_is_refused_with_the_documented_reason(self, sim, api):
        user = sim.state.find_user(status="active", management_source="synced")
        assert api.user(user)["managementSource"] == "synced"
        for action in ("disable", "enable", "delete", "cancel-delete"):
            refused = api.admin("POST", f"/users/{enc(user)}/manage/lifecycle/{action}", json={})
            assert (refused.status_code, refused.json()) == (403, self.SCIM_403), action
        assert sim.state.user(user).status == "active"
        assert not sim.writes

    def test_manage_says_the_lifecycle_is_not_allowed(self, sim, api):
        user = sim.state.find_user(status="active", management_source="synced")
        manage = api.admin("GET", f"/users/{enc(user)}/manage").json()
        assert manage["lifecycle.enablement"] == manage["lifecycle.delete"] == self.SCIM_403["context"]

    def test_an_invited_managed_account_is_not_refused(self, sim, api):
        user = sim.state.find_user(status="active", management_source="invited", org_admin=False)
        assert api.admin("POST", f"/users/{enc(user)}/manage/lifecycle/disable", json={}).status_code == 204


class TestLifecycleConflicts:
    def test_deleting_an_org_admin_is_refused_with_lifecycle_errors(self, sim, api):
        admin = sim.state.find_user(org_admin=True, claim_status="managed")
        refused = api.admin("POST", f"/users/{enc(admin)}/manage/lifecycle/delete", json={})
        assert refused.status_code == 409
        body = refused.json()
        assert body["key"] == "conflict.lifecycleErrors"
        assert body["context"]["accountId"] == admin
        assert body["context"]["errorCodes"][0]["code"] == "ORG_ADMIN"
        assert sim.state.user(admin).deletion_scheduled_for is None

    def test_any_account_can_be_made_to_refuse_deletion_and_lifted_again(self, sim, api):
        user = sim.state.find_user(
            status="active", claim_status="managed", org_admin=False, management_source="invited"
        )
        sim.state.refuse_deletion(user)
        path = f"/users/{enc(user)}/manage/lifecycle/delete"
        refused = api.admin("POST", path, json={})
        assert refused.json()["context"]["errorCodes"] == [
            {"code": "ENTITLEMENT_OWNER", "message": "The account owns sites or apps with active subscriptions"}
        ]
        assert not sim.writes
        sim.state.refuse_deletion(user, None)
        assert api.admin("POST", path, json={}).status_code == 200


class TestExpiredKey:
    def test_an_expired_key_gets_401_from_the_admin_apis_until_renewed(self, sim, api):
        user = enc(sim.state.find_user(status="active", claim_status="managed"))
        sim.faults.expire_api_key()
        assert api.search_users().json() == {"code": 401, "message": "Unauthorized"}
        assert api.admin("GET", f"/admin/v1/orgs/{ORG}").status_code == 401
        assert api.admin("GET", f"/users/{user}/manage").json() == {"key": "unauthorized"}
        assert api.jira("GET", "/rest/api/3/applicationrole").status_code == 200  # Jira's token is another secret
        sim.faults.expire_api_key(False)
        assert api.search_users().status_code == 200

    def test_it_can_start_expired(self):
        with Simulator(make_config(api_key_expired=True)) as sim:
            api = Api(sim)
            assert api.search_users().status_code == 401
            sim.faults.clear()
            assert api.search_users().status_code == 200
            api.close()


class TestErrorCodes:
    # The documents' code list (ORG26 ApplicationError.code, and the v1 user-role endpoints' ADMIN-UAM codes).
    DOCUMENTED = {
        "ADMIN-400-1": "Invalid page cursor",
        "ADMIN-400-4": "Invalid resource",
        "ADMIN-400-19": "Request syntax is not valid",
        "ADMIN-400-24": "Invalid request body",
        "ADMIN-403-3": "Not allowed to manage the org",
        "ADMIN-403-5": "Not allowed to manage the group",
        "ADMIN-404-1": "Unknown resource",
        "ADMIN-404-2": "Organization not found",
        "ADMIN-404-8": "User not found",
        "ADMIN-404-10": "Group not found",
        "ADMIN-405-1": "Method not supported",
        "ADMIN-409-3": "License limit exceeded",
        "ADMIN-409-28": "Conflict",
        "ADMIN-429-1": "Rate limit exceeded",
        "ADMIN-500-1": "Internal error",
        "ADMIN-UAM-400-1": "Bad Request",
        "ADMIN-UAM-400-3": "Invalid Role for Resource",
        "ADMIN-UAM-404-3": "(the user-role endpoints' 404)",
        "ADMIN-UAM-409-3": "Product License Limit Exceeded",
    }

    def test_every_code_the_simulator_can_send_is_in_the_documents_list(self):
        assert set(DOCUMENTED_CODES) <= set(self.DOCUMENTED)
        written = set()
        for source in SIMULATOR_DIR.glob("*.py"):
            written |= set(re.findall(r'"(ADMIN-[A-Z]*-?\d{3}-\d+)"', source.read_text()))
        assert written <= set(self.DOCUMENTED), written - set(self.DOCUMENTED)

    def test_an_unknown_directory_is_an_unknown_resource_not_a_missing_policy(self, api):
        response = api.admin("POST", f"/admin/v2/orgs/{ORG}/directories/nope/users/search", json={})
        assert (response.status_code, response.json()["errors"][0]["code"]) == (404, "ADMIN-404-1")

    def test_a_bad_body_and_a_bad_parameter(self, api):
        body = api.search_users({"limit": 1000})
        assert (body.status_code, body.json()["errors"][0]["code"]) == (400, "ADMIN-400-24")
        parameter = api.admin("GET", f"{api.v2p}/users?limit=many")
        assert (parameter.status_code, parameter.json()["errors"][0]["code"]) == (400, "ADMIN-400-19")

    def test_gateway_errors_carry_the_proxy_shape(self, sim, api):
        sim.faults.fail_next(1, status=502, path_contains="/groups/search")
        assert api.search_groups().json() == {"code": 502, "message": "Injected fault: the service is unavailable"}
        sim.faults.fail_next(1, status=500, path_contains="/groups/search")
        assert api.search_groups().json()["errors"][0]["code"] == "ADMIN-500-1"


class TestRequestLog:
    def test_every_request_is_logged_with_its_status(self, sim, api):
        api.search_users()
        api.admin("GET", f"{api.v2p}/users/nobody")
        api.jira("GET", "/rest/api/3/applicationrole")
        logged = [(r.method, r.path, r.status) for r in sim.requests_log]
        assert logged == [
            ("POST", f"{api.v2p}/users/search", 200),
            ("GET", f"{api.v2p}/users/nobody", 404),
            ("GET", "/rest/api/3/applicationrole", 200),
        ]

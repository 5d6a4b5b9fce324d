"""The simulator's responses conform to Atlassian's published OpenAPI documents (derived contract files in
governance/atlassian/contracts/: the operations the portal uses, with every schema they reach, unchanged).

Each response is validated with openapi-core against the operation it answers, with the request
rewritten to the documented server (``https://api.atlassian.com/admin`` for the Admin API,
``https://api.atlassian.com`` for User management, ``https://your-domain.atlassian.net`` for Jira).
Spec validation is off: the Admin document itself does not pass openapi-spec-validator.
"""

import json
from urllib.parse import urlsplit

import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from governance.atlassian.contracts import CONTRACTS_DIR
from governance.atlassian.simulator.dataset import ROVO
from tests.governance.conftest import ORG, enc
from tests.group_forms import both_group_id_forms

ATLASSIAN = "https://api.atlassian.com"
JIRA_SITE = "https://your-domain.atlassian.net"


def _load(name: str) -> OpenAPI:
    return OpenAPI.from_file_path(str(CONTRACTS_DIR / name), config=Config(spec_validator_cls=None))


@pytest.fixture(scope="module")
def admin_doc() -> OpenAPI:
    return _load("admin-organization.2026-09-24.json")


@pytest.fixture(scope="module")
def um_doc() -> OpenAPI:
    """The User management document, with two defects worked around (nothing else is changed).

    - ``Manageability.Rule.Simple`` discriminates on the *boolean* ``allowed`` (mapping "true"/"false");
      openapi-core looks the value up as ``True``/``False`` and rejects every rule. Without the
      discriminator the ``oneOf`` of ``Allowed`` (allowed: true) and ``Unallowed`` (allowed: false plus
      a reason) still decides, so the check stays as strict.
    - The ``AccountId`` pattern ends in a literal newline (``[a-zA-Z0-9_|:-]{1,128}\\n``), which no
      account id matches; the newline is dropped.
    """
    document = json.loads((CONTRACTS_DIR / "admin-user-management.2023-08.json").read_text())
    schemas = document["components"]["schemas"]
    del schemas["Manageability.Rule.Simple"]["discriminator"]
    assert schemas["AccountId"]["pattern"].endswith("\n")
    schemas["AccountId"]["pattern"] = schemas["AccountId"]["pattern"].rstrip("\n")
    return OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))


@pytest.fixture(scope="module")
def jira_doc() -> OpenAPI:
    return _load("jira-platform-v3.2026-03.json")


def conforms(doc: OpenAPI, response, host: str = ATLASSIAN, status: int | None = None):
    """Validate one real response against the document; returns the response for further checks."""
    if status is not None:
        assert response.status_code == status, response.text
    path = urlsplit(response.request.url).path
    if path.startswith("/ex/jira/"):
        path = "/" + path.split("/", 4)[4]
    request = MockRequest(host, response.request.method, path)
    content_type = (response.headers.get("Content-Type") or "application/json").split(";")[0]
    result = MockResponse(response.content, status_code=response.status_code, headers=dict(response.headers))
    result.content_type = content_type
    doc.validate_response(request, result)
    return response


def _team_group(sim) -> str:
    state = sim.state
    return next(n for n in state.group_names() if not state.group(n).roles and not state.group(n).external_synced)


def _synced_group(sim) -> str:
    return next(n for n in sim.state.group_names() if sim.state.group(n).external_synced)


class TestAdminV2Users:
    def test_search_with_every_expansion(self, api, admin_doc):
        body = {"limit": 25, "expand": ["platformRoles", "counts.resources", "productAccess", "groups"]}
        page = conforms(admin_doc, api.search_users(body), status=200).json()
        assert len(page["data"]) == 25
        assert any(u.get("productAccess") for u in page["data"])
        conforms(admin_doc, api.search_users({"cursor": page["links"]["next"]}), status=200)

    def test_search_covers_every_status_and_claim(self, sim, api, admin_doc):
        state = sim.state
        state.schedule_deletion(
            state.account(state.find_user(status="active", claim_status="managed", management_source="invited"))
        )
        for status in ("active", "suspended", "deactivated", "for_deletion"):
            page = conforms(admin_doc, api.search_users({"status": [status], "expand": ["groups"]}), status=200)
            assert page.json()["data"], status
            assert {u["status"] for u in page.json()["data"]} == {status}
        unmanaged = conforms(admin_doc, api.search_users({"claimStatus": "unmanaged"}), status=200).json()["data"]
        assert unmanaged
        assert all("managementSource" not in u for u in unmanaged)

    def test_deprecated_list_count_and_details(self, sim, api, admin_doc):
        conforms(admin_doc, api.admin("GET", f"/admin/v2/orgs/{ORG}/directories/-/users?limit=5"), status=200)
        count = conforms(admin_doc, api.admin("GET", f"/admin/v2/orgs/{ORG}/directories/-/users/count"), status=200)
        assert count.json() == {"count": 61}  # 60 directory members, 1 managed account in no directory
        deactivated = sim.state.find_user(status="deactivated")
        details = api.admin("GET", f"/admin/v2/orgs/{ORG}/directories/-/users/{enc(deactivated)}")
        assert "deactivatedOn" in conforms(admin_doc, details, status=200).json()["data"]

    def test_role_assignments_of_a_user_and_of_a_group(self, sim, api, admin_doc):
        admin = sim.state.find_user(org_admin=True)
        roles = api.admin("GET", f"/admin/v2/orgs/{ORG}/directories/-/users/{enc(admin)}/role-assignments")
        data = conforms(admin_doc, roles, status=200).json()["data"]
        assert {"group_direct"} <= {
            m for item in data for a in item["roleAssignments"] for m in a["roleAssignmentMethods"]
        }
        group = sim.state.group("jira-software-users").id
        granted = api.admin("GET", f"/admin/v2/orgs/{ORG}/directories/-/groups/{enc(group)}/role-assignments")
        assert conforms(admin_doc, granted, status=200).json()["data"][0]["resourceOwner"] == "jira-software"

    def test_suspend_restore_and_remove(self, sim, api, admin_doc):
        user = enc(sim.state.find_user(status="active"))
        base = f"/admin/v2/orgs/{ORG}/directories/-/users/{user}"
        conforms(admin_doc, api.admin("POST", base + "/suspend"), status=204)
        conforms(admin_doc, api.admin("POST", base + "/restore"), status=204)
        conforms(admin_doc, api.admin("DELETE", base), status=204)
        conforms(admin_doc, api.admin("DELETE", base), status=404)

    def test_directories(self, sim, api, admin_doc):
        listing = conforms(admin_doc, api.admin("GET", f"/admin/v2/orgs/{ORG}/directories"), status=200)
        assert [d["directoryId"] for d in listing.json()["data"]] == sim.state.directory_ids
        local = sim.state.directory_ids[0]
        conforms(admin_doc, api.search_users({"limit": 5}, directory=local), status=200)


@both_group_id_forms
class TestAdminV2Groups:
    def test_search_with_counts_and_details(self, sim, api, admin_doc):
        page = api.search_groups({"expand": ["counts.users", "counts.resources"], "limit": 100})
        groups = conforms(admin_doc, page, status=200).json()["data"]
        assert len(groups) == 12
        assert any(g["externalSynced"] for g in groups)
        details = api.admin("GET", f"/admin/v2/orgs/{ORG}/directories/-/groups/{enc(groups[0]['id'])}")
        assert conforms(admin_doc, details, status=200).json()["data"]["name"] == groups[0]["name"]

    def test_membership_add_and_remove(self, sim, api, admin_doc):
        group = _team_group(sim)
        user = sim.state.find_user(not_in_group=group)
        path = f"/admin/v2/orgs/{ORG}/directories/-/groups/{enc(sim.state.group(group).id)}/memberships"
        conforms(admin_doc, api.admin("POST", path, json={"accountId": user}), status=204)
        conforms(admin_doc, api.admin("POST", path, json={"accountId": user}), status=409)
        conforms(admin_doc, api.admin("DELETE", f"{path}/{enc(user)}"), status=204)
        conforms(admin_doc, api.admin("DELETE", f"{path}/{enc(user)}"), status=404)

    def test_idp_synced_group_refuses_membership_changes(self, sim, api, admin_doc):
        group = sim.state.group(_synced_group(sim))
        user = sim.state.find_user(not_in_group=group.name)
        path = f"/admin/v2/orgs/{ORG}/directories/-/groups/{enc(group.id)}/memberships"
        response = conforms(admin_doc, api.admin("POST", path, json={"accountId": user}), status=403)
        assert response.json()["errors"][0]["code"] == "ADMIN-403-5"  # "Not allowed to manage the group"


class TestAdminErrors:
    def test_v2_error_bodies(self, sim, api, admin_doc):
        missing = conforms(admin_doc, api.admin("GET", f"/admin/v2/orgs/{ORG}/directories/-/users/nobody"), status=404)
        assert missing.json()["errors"][0]["code"] == "ADMIN-404-8"
        forged = conforms(admin_doc, api.search_users({"cursor": "bm90LWEtY3Vyc29y"}), status=400)
        assert forged.json()["errors"][0]["code"] == "ADMIN-400-1"
        both = conforms(admin_doc, api.search_users({"searchTerm": "a", "emails": ["a@example.com"]}), status=400)
        assert both.json()["errors"][0]["status"] == "400"
        wrong_org = api.admin("POST", "/admin/v2/orgs/other-org/directories/-/users/search", json={})
        assert conforms(admin_doc, wrong_org, status=404).json()["errors"][0]["code"] == "ADMIN-404-2"
        group = conforms(admin_doc, api.admin("GET", f"/admin/v2/orgs/{ORG}/directories/-/groups/nope"), status=404)
        assert group.json()["errors"][0]["code"] == "ADMIN-404-10"

    def test_v2_429_and_401(self, sim, api, admin_doc):
        sim.faults.rate_limit_burst(1, retry_after=3, path_contains="/users/search")
        limited = conforms(admin_doc, api.search_users(), status=429)
        assert limited.json()["errors"][0]["code"] == "ADMIN-429-1"
        unauthorized = api.session.post(f"{api.v2}/users/search", json={}, headers={"Authorization": "Bearer wrong"})
        assert conforms(admin_doc, unauthorized, status=401).json() == {"code": 401, "message": "Unauthorized"}


class TestAdminV1:
    def test_orgs_and_org(self, api, admin_doc):
        orgs = conforms(admin_doc, api.admin("GET", "/admin/v1/orgs"), status=200).json()
        assert orgs["data"][0]["id"] == ORG
        conforms(admin_doc, api.admin("GET", f"/admin/v1/orgs/{ORG}"), status=200)
        conforms(admin_doc, api.admin("GET", "/admin/v1/orgs/unknown"), status=404)

    def test_managed_users(self, sim, api, admin_doc):
        page = conforms(admin_doc, api.admin("GET", f"/admin/v1/orgs/{ORG}/users"), status=200).json()
        assert page["meta"]["total"] == len(sim.state.account_ids(claim_status="managed", in_directory=None))
        assert all("product_access" in u for u in page["data"])

    def test_last_active_dates(self, sim, api, admin_doc):
        state = sim.state
        invited = state.add_user("Ines Invited", "ines@test-org.example.com", groups=["jira-software-users"])
        for user in (state.find_user(status="active", product="jira-servicedesk"), invited):
            response = api.admin("GET", f"/admin/v1/orgs/{ORG}/directory/users/{enc(user)}/last-active-dates")
            conforms(admin_doc, response, status=200)
        assert response.json()["data"]["product_access"] == []

    def test_last_active_dates_errors(self, sim, api, admin_doc):
        path = f"/admin/v1/orgs/{ORG}/directory/users/nobody/last-active-dates"
        assert conforms(admin_doc, api.admin("GET", path), status=404).json()["errors"][0]["code"] == "ADMIN-404-8"
        unauthorized = api.session.get(api.base + path, headers={"Authorization": "Bearer nope"})
        assert conforms(admin_doc, unauthorized, status=401).json()["code"] == 401
        sim.faults.rate_limit_burst(1, path_contains="last-active-dates")
        assert conforms(admin_doc, api.admin("GET", path), status=429).json()["code"] == 429

    def test_roles_assign_and_revoke(self, sim, api, admin_doc):
        user = enc(sim.state.find_user(status="active"))
        body = {"role": "atlassian/user", "resource": sim.state.data.resource_id(3)}
        conforms(admin_doc, api.admin("POST", f"/admin/v1/orgs/{ORG}/users/{user}/roles/assign", json=body), status=204)
        conforms(admin_doc, api.admin("POST", f"/admin/v1/orgs/{ORG}/users/{user}/roles/revoke", json=body), status=204)
        bad = {"role": "atlassian/user", "resource": "ari:cloud:trello::site/none"}
        refused = api.admin("POST", f"/admin/v1/orgs/{ORG}/users/{user}/roles/assign", json=bad)
        assert conforms(admin_doc, refused, status=400).json()["errors"][0]["code"] == "ADMIN-UAM-400-1"
        missing = api.admin("POST", f"/admin/v1/orgs/{ORG}/users/nobody/roles/assign", json=body)
        assert conforms(admin_doc, missing, status=404).json()["errors"][0]["code"] == "ADMIN-UAM-404-3"


class TestFidelity:
    """The answers added for fidelity (the newer products, two directories, managed accounts in no
    directory, refused deletions, an expired key, both group id forms) conform as well."""

    @both_group_id_forms
    def test_newer_products_and_group_ids_in_the_user_search(self, sim, api, admin_doc):
        body = {"limit": 100, "expand": ["productAccess", "groups"]}
        page = conforms(admin_doc, api.search_users(body), status=200).json()["data"]
        keys = {p["key"] for u in page for p in u["productAccess"]}
        assert {"jira-product-discovery", "loom", "rovo", "compass", "bitbucket"} <= keys
        assert any(u["status"] == "not_invited" for u in page)  # the managed account in no directory

    def test_v1_answers_of_a_user_with_newer_products_stay_in_their_enum(self, sim, api, admin_doc):
        state = sim.state
        user = next(
            u
            for u in state.account_ids(claim_status="managed", status="active")
            if any(state.user(u).last_active[k] for k in ("loom", "rovo", "jira-product-discovery"))
        )
        dates = api.admin("GET", f"/admin/v1/orgs/{ORG}/directory/users/{enc(user)}/last-active-dates")
        conforms(admin_doc, dates, status=200)
        conforms(admin_doc, api.admin("GET", f"/admin/v1/orgs/{ORG}/users"), status=200)

    def test_two_directories_and_an_unknown_one(self, api, admin_doc):
        listing = conforms(admin_doc, api.admin("GET", f"/admin/v2/orgs/{ORG}/directories"), status=200).json()
        assert len(listing["data"]) == 2
        unknown = api.admin("POST", f"/admin/v2/orgs/{ORG}/directories/unknown/users/search", json={})
        assert conforms(admin_doc, unknown, status=404).json()["errors"][0]["code"] == "ADMIN-404-1"

    def test_a_refused_deletion(self, sim, api, um_doc):
        admin = enc(sim.state.find_user(org_admin=True, claim_status="managed"))
        refused = conforms(um_doc, api.admin("POST", f"/users/{admin}/manage/lifecycle/delete", json={}), status=409)
        assert refused.json()["key"] == "conflict.lifecycleErrors"

    def test_an_expired_key(self, sim, api, admin_doc, um_doc):
        user = enc(sim.state.find_user(status="active", claim_status="managed", management_source="invited"))
        sim.faults.expire_api_key()
        conforms(admin_doc, api.search_users(), status=401)
        dates = api.admin("GET", f"/admin/v1/orgs/{ORG}/directory/users/{user}/last-active-dates")
        conforms(admin_doc, dates, status=401)
        conforms(um_doc, api.admin("POST", f"/users/{user}/manage/lifecycle/disable", json={}), status=401)

    def test_a_resource_outside_the_role_assignment_list(self, sim, api, admin_doc):
        user = enc(sim.state.find_user(status="active"))
        body = {"role": "atlassian/user", "resource": sim.state.data.resource_id(ROVO)}
        refused = api.admin("POST", f"/admin/v1/orgs/{ORG}/users/{user}/roles/assign", json=body)
        assert conforms(admin_doc, refused, status=400).json()["errors"][0]["code"] == "ADMIN-UAM-400-1"


class TestUserManagement:
    def test_the_lifecycle_refusal_of_an_idp_provisioned_account_conforms(self, sim, api, um_doc):
        user = enc(sim.state.find_user(status="active", management_source="synced"))
        refused = api.admin("POST", f"/users/{user}/manage/lifecycle/disable", json={"message": "Left"})
        conforms(um_doc, refused, status=403)
        assert refused.json()["context"]["reason"]["key"] == "externalDirectory.scim"

    def test_lifecycle_of_a_managed_account(self, sim, api, um_doc):
        user = enc(sim.state.find_user(status="active", claim_status="managed", management_source="invited"))
        conforms(um_doc, api.admin("GET", f"/users/{user}/manage"), status=200)
        conforms(um_doc, api.admin("GET", f"/users/{user}/manage/profile"), status=200)
        lifecycle = f"/users/{user}/manage/lifecycle"
        conforms(um_doc, api.admin("POST", lifecycle + "/disable", json={"message": "Inactive"}), status=204)
        conforms(um_doc, api.admin("POST", lifecycle + "/enable", json={}), status=204)
        deleted = conforms(um_doc, api.admin("POST", lifecycle + "/delete", json={}), status=200)
        assert deleted.json()["message"]
        refused = conforms(um_doc, api.admin("POST", lifecycle + "/enable", json={}), status=403)
        assert refused.json()["key"] == "forbidden.action"
        conforms(um_doc, api.admin("GET", f"/users/{user}/manage"), status=200)
        conforms(um_doc, api.admin("POST", lifecycle + "/cancel-delete", json={}), status=200)

    def test_errors(self, sim, api, um_doc):
        unmanaged = enc(sim.state.find_user(claim_status="unmanaged"))
        forbidden = api.admin("POST", f"/users/{unmanaged}/manage/lifecycle/disable", json={})
        assert conforms(um_doc, forbidden, status=403).json() == {"key": "forbidden"}
        unknown = api.admin("POST", "/users/nobody/manage/lifecycle/delete", json={})
        assert conforms(um_doc, unknown, status=404).json() == {"key": "accountNotFound"}
        unauthorized = api.session.post(
            f"{api.base}/users/{unmanaged}/manage/lifecycle/enable", json={}, headers={"Authorization": "Bearer x"}
        )
        assert conforms(um_doc, unauthorized, status=401).json() == {"key": "unauthorized"}


class TestJira:
    def test_application_roles(self, api, jira_doc):
        roles = conforms(jira_doc, api.jira("GET", "/rest/api/3/applicationrole"), JIRA_SITE, 200).json()
        assert {r["key"] for r in roles} == {"jira-software", "jira-servicedesk", "jira-product-discovery"}
        conforms(jira_doc, api.jira("GET", "/rest/api/3/applicationrole/jira-software"), JIRA_SITE, 200)

    def test_users_search_with_apps_customers_and_inactive(self, sim, api, jira_doc):
        users = conforms(jira_doc, api.jira("GET", "/rest/api/3/users/search?maxResults=1000"), JIRA_SITE, 200).json()
        assert {"atlassian", "app", "customer"} <= {u["accountType"] for u in users}
        assert any(not u["active"] for u in users)
        gateway = f"/ex/jira/{sim.state.cloud_id}/rest/api/3/users/search?startAt=10&maxResults=5"
        assert len(conforms(jira_doc, api.jira("GET", gateway), JIRA_SITE, 200).json()) == 5
        conforms(jira_doc, api.jira("GET", "/rest/api/3/users?maxResults=5"), JIRA_SITE, 200)

    @both_group_id_forms
    def test_group_members_pages(self, sim, api, jira_doc):
        group = sim.state.group("jira-software-users").jira_id
        first = api.jira("GET", f"/rest/api/3/group/member?groupId={group}&maxResults=10")
        assert "nextPage" in conforms(jira_doc, first, JIRA_SITE, 200).json()
        last = api.jira("GET", f"/rest/api/3/group/member?groupId={group}&startAt=1000&includeInactiveUsers=true")
        assert conforms(jira_doc, last, JIRA_SITE, 200).json()["isLast"] is True
        conforms(jira_doc, api.jira("GET", "/rest/api/3/group/member?groupId=nope"), JIRA_SITE, 404)
        conforms(jira_doc, api.jira("GET", "/rest/api/3/group/member"), JIRA_SITE, 400)

    @both_group_id_forms
    def test_group_user_add_and_remove(self, sim, api, jira_doc):
        group = sim.state.group(_team_group(sim))
        user = sim.state.find_user(not_in_group=group.name)
        added = api.jira("POST", f"/rest/api/3/group/user?groupId={group.jira_id}", json={"accountId": user})
        assert conforms(jira_doc, added, JIRA_SITE, 201).json()["name"] == group.name
        removed = api.jira("DELETE", f"/rest/api/3/group/user?groupId={group.jira_id}&accountId={enc(user)}")
        conforms(jira_doc, removed, JIRA_SITE, 200)
        conforms(jira_doc, api.jira("POST", f"/rest/api/3/group/user?groupId={group.jira_id}", json={}), JIRA_SITE, 400)
        unknown = api.jira("DELETE", f"/rest/api/3/group/user?groupId=nope&accountId={enc(user)}")
        conforms(jira_doc, unknown, JIRA_SITE, 404)

    def test_user_groups_bulk_and_401(self, sim, api, jira_doc):
        user = sim.state.find_user(status="active")
        conforms(jira_doc, api.jira("GET", f"/rest/api/3/user/groups?accountId={enc(user)}"), JIRA_SITE, 200)
        conforms(jira_doc, api.jira("GET", "/rest/api/3/group/bulk?maxResults=5"), JIRA_SITE, 200)
        conforms(jira_doc, api.jira("GET", f"/rest/api/3/user?accountId={enc(user)}"), JIRA_SITE, 200)
        denied = api.jira("GET", "/rest/api/3/applicationrole", auth=("jira-admin@example.com", "wrong"))
        assert conforms(jira_doc, denied, JIRA_SITE, 401).json()["errorMessages"]

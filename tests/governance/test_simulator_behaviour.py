"""What the simulator does: generated data, state changes on writes, paging, auth, determinism, faults."""

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests

from governance.atlassian.simulator import Simulator
from governance.atlassian.simulator.dataset import DAY
from tests.governance.conftest import API_KEY, JIRA_EMAIL, NOW, ORG, Api, enc, make_config
from tests.group_forms import both_group_id_forms


def _membership_path(sim, group_name: str) -> str:
    return f"/admin/v2/orgs/{ORG}/directories/-/groups/{enc(sim.state.group(group_name).id)}/memberships"


def _role(api, key: str) -> dict:
    return api.jira("GET", f"/rest/api/3/applicationrole/{key}").json()


class TestDataset:
    def test_distribution_of_a_mid_size_org(self):
        sim = Simulator(make_config(users=3000, groups=250, seed=5))
        state, now = sim.state, NOW.timestamp()
        people = [a for a in state.data.accounts if a.kind == "atlassian" and a.in_directory]
        assert len(people) == 3000
        outside = [a for a in state.data.accounts if a.kind == "atlassian" and not a.in_directory]
        assert len(outside) == 30  # managed accounts in no directory, 1% on top
        assert all(a.managed and not a.groups and not state.products_of(a) for a in outside)

        def share(predicate) -> float:
            return sum(1 for a in people if predicate(a)) / len(people)

        def latest(a):
            seen = [t for t in a.last_active if t is not None]
            return max(seen) if seen else None

        active = [a for a in people if not a.suspended and a.deactivated_on is None]
        recent = sum(1 for a in active if latest(a) and now - latest(a) <= 30 * DAY) / len(people)
        middle = sum(1 for a in active if latest(a) and 30 * DAY < now - latest(a) <= 180 * DAY) / len(people)
        assert 0.66 <= recent <= 0.74
        assert 0.12 <= middle <= 0.18
        assert 0.04 <= share(lambda a: latest(a) is None) <= 0.06  # invited, never active
        assert 0.005 <= share(lambda a: a.org_admin) <= 0.015
        assert 0.75 <= share(lambda a: a.managed) <= 0.85
        assert share(lambda a: a.suspended) > 0
        assert share(lambda a: a.deactivated_on is not None) > 0
        assert share(lambda a: a.email is None) > 0
        kinds = Counter(a.kind for a in state.data.accounts)
        assert kinds["app"] == 30
        assert kinds["customer"] == 90
        groups = state.data.groups
        assert 0.08 <= sum(g.synced for g in groups) / len(groups) <= 0.12
        assert {
            "jira-software-users",
            "confluence-users",
            "jira-servicedesk-agents",
            "bitbucket-users",
            "site-admins",
        } <= {g.name for g in groups}
        assert 8 <= sum(len(g.members) for g in groups) / len(people) <= 12
        # activity only for products the user can use, never before they joined
        for a in people[:500]:
            products = set(state.products_of(a))
            assert {p for p, t in enumerate(a.last_active) if t is not None} <= products
            assert all(t is None or t >= a.added for t in a.last_active)

    def test_a_tiny_org_scales_down(self):
        sim = Simulator(make_config(users=50, groups=8, seed=2))
        people = [a for a in sim.state.data.accounts if a.kind == "atlassian" and a.in_directory]
        assert len(people) == 50
        assert len(sim.state.data.groups) == 8
        assert all(len(a.groups) >= 1 for a in people)
        assert any(g.synced for g in sim.state.data.groups)

    @pytest.mark.slow
    def test_a_large_org_generates_with_the_right_counts(self):
        started = time.perf_counter()
        sim = Simulator(make_config(users=100_000, groups=2000, seed=1))
        elapsed = time.perf_counter() - started
        data = sim.state.data
        assert sum(1 for a in data.accounts if a.kind == "atlassian" and a.in_directory) == 100_000
        assert len(data.groups) == 2000
        memberships = sum(len(g.members) for g in data.groups)
        assert 900_000 <= memberships <= 1_100_000
        print(f"\n100,000 users x 2,000 groups ({memberships} memberships) generated in {elapsed:.2f}s")


class TestDeterminism:
    def test_same_seed_same_first_page(self):
        pages = []
        for _ in range(2):
            with Simulator(make_config(seed=42)) as sim:
                api = Api(sim)
                pages.append(api.search_users({"expand": ["productAccess", "groups"]}).json())
                api.close()
        assert pages[0] == pages[1]
        with Simulator(make_config(seed=43)) as other:
            api = Api(other)
            assert api.search_users({"expand": ["productAccess", "groups"]}).json() != pages[0]
            api.close()


class TestPaging:
    def test_v2_search_covers_every_user_exactly_once(self, api):
        users = api.all_users(limit=7)
        ids = [u["accountId"] for u in users]
        assert len(ids) == len(set(ids)) == 61  # 60 directory members and 1 managed account in no directory

    def test_sorted_search_pages_cover_every_user(self, api):
        users = api.all_users({"sortBy": [{"field": "nick_name", "direction": "desc"}]}, limit=9)
        nicknames = [u["nickname"].lower() for u in users]
        assert len({u["accountId"] for u in users}) == 61
        assert nicknames == sorted(nicknames, reverse=True)

    def test_default_limit_and_last_page_has_no_next(self, api):
        first = api.search_users().json()
        assert len(first["data"]) == 50
        second = api.search_users({"cursor": first["links"]["next"]}).json()
        assert len(second["data"]) == 11
        assert "next" not in second["links"]

    def test_paging_survives_a_removal_between_pages(self, sim, api):
        first = api.search_users({"limit": 20}).json()
        later = api.search_users({"cursor": first["links"]["next"]}).json()["data"][3]["accountId"]
        sim.state.remove_user(later)
        rest, body = [], {"cursor": first["links"]["next"]}
        while body:
            page = api.search_users(body).json()
            rest.extend(u["accountId"] for u in page["data"])
            body = {"cursor": page["links"]["next"]} if "next" in page["links"] else None
        assert len(rest) == len(set(rest)) == 40
        assert later not in rest

    def test_a_cursor_carries_the_filters(self, api):
        first = api.search_users({"claimStatus": "unmanaged", "limit": 3}).json()
        second = api.search_users({"cursor": first["links"]["next"]}).json()
        assert {u["claimStatus"] for u in first["data"] + second["data"]} == {"unmanaged"}

    def test_forged_and_foreign_cursors_are_refused(self, api):
        page = api.search_groups({"limit": 2}).json()
        for cursor in ("garbage", page["links"]["next"], page["links"]["next"][:-2] + "AA"):
            response = api.search_users({"cursor": cursor})
            assert response.status_code == 400
            assert response.json()["errors"][0]["code"] == "ADMIN-400-1"

    def test_v1_users_links_are_full_urls(self):
        with Simulator(make_config(v1_page_size=10)) as sim:
            api = Api(sim)
            seen, url = [], f"{api.v1}/users"
            while url:
                page = api.session.get(url, headers={"Authorization": f"Bearer {API_KEY}"}).json()
                seen.extend(u["account_id"] for u in page["data"])
                url = page["links"].get("next")
                assert url is None or url.startswith(f"{api.base}/admin/v1/orgs/{ORG}/users?cursor=")
            managed = sim.state.account_ids(claim_status="managed", in_directory=None)
            assert sorted(seen) == sorted(managed)
            assert page["meta"]["total"] == len(managed)
            api.close()

    def test_jira_users_search_pages(self, sim, api):
        seen, start = [], 0
        while True:
            page = api.jira("GET", f"/rest/api/3/users/search?startAt={start}&maxResults=16").json()
            if not page:
                break
            seen.extend(u["accountId"] for u in page)
            start += len(page)
        # Everyone but the managed accounts that never were in a directory (no site, no Jira user).
        known = [a for a in sim.state.data.accounts if a.kind != "atlassian" or a.in_directory]
        assert len(seen) == len(set(seen)) == len(known)

    def test_jira_caps_page_sizes(self):
        with Simulator(make_config(users=1000, groups=10)) as sim:
            api = Api(sim)
            assert len(api.jira("GET", "/rest/api/3/users/search?maxResults=5000").json()) == 1000
            group = sim.state.group("jira-software-users").jira_id
            page = api.jira("GET", f"/rest/api/3/group/member?groupId={group}&maxResults=500").json()
            assert page["maxResults"] == 50
            assert len(page["values"]) == 50
            assert page["isLast"] is False
            api.close()

    @both_group_id_forms
    def test_jira_group_members_cover_the_group(self, sim, api):
        group = sim.state.group("confluence-users")
        seen, start = [], 0
        while True:
            page = api.jira(
                "GET",
                f"/rest/api/3/group/member?groupId={group.jira_id}&startAt={start}&maxResults=7&includeInactiveUsers=true",
            ).json()
            seen.extend(u["accountId"] for u in page["values"])
            if page["isLast"]:
                break
            start += 7
        assert sorted(seen) == sorted(group.member_ids)


class TestAuth:
    def test_admin_key_org_and_directory(self, api):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {API_KEY}"}):
            response = api.session.post(f"{api.v2}/users/search", json={}, headers=headers)
            assert response.status_code == 401
            assert response.json() == {"code": 401, "message": "Unauthorized"}
        wrong_org = api.admin("GET", "/admin/v1/orgs/someone-else")
        assert (wrong_org.status_code, wrong_org.json()["errors"][0]["code"]) == (404, "ADMIN-404-2")
        assert api.admin("POST", f"/admin/v2/orgs/{ORG}/directories/unknown/users/search", json={}).status_code == 404

    def test_jira_basic_auth(self, sim, api):
        assert api.jira("GET", "/rest/api/3/applicationrole", auth=(JIRA_EMAIL, "wrong")).status_code == 401
        assert api.jira("GET", "/rest/api/3/applicationrole", auth=("someone@example.com", API_KEY)).status_code == 401
        bearer = api.session.get(
            f"{api.base}/rest/api/3/applicationrole", headers={"Authorization": f"Bearer {API_KEY}"}
        )
        assert bearer.status_code == 401
        assert api.jira("GET", f"/ex/jira/{sim.state.cloud_id}/rest/api/3/applicationrole").status_code == 200
        assert api.jira("GET", "/ex/jira/not-our-cloud/rest/api/3/applicationrole").status_code == 404

    def test_specific_directories_scope_users(self, sim, api):
        local, idp = sim.state.directory_ids
        in_local = {u["accountId"] for u in api.search_users({"limit": 100}, directory=local).json()["data"]}
        in_idp = {u["accountId"] for u in api.search_users({"limit": 100}, directory=idp).json()["data"]}
        assert in_local
        assert in_idp
        assert not in_local & in_idp
        assert len(in_local | in_idp) == 60
        synced = api.search_users({"limit": 100, "expand": ["groups"]}, directory=idp).json()["data"]
        assert all(u["managementSource"] == "synced" for u in synced)


class TestWrites:
    def test_suspend_keeps_groups_and_frees_the_licence(self, sim, api):
        user = sim.state.find_user(status="active", product="jira-software")
        before = api.user(user)
        seats = _role(api, "jira-software")["userCount"]
        assert api.admin("POST", f"{api.v2p}/users/{enc(user)}/suspend").status_code == 204
        after = api.user(user)
        assert (after["status"], after["membershipStatus"], after["accountStatus"]) == (
            "suspended",
            "suspended",
            "active",
        )
        assert after["groups"] == before["groups"]
        assert _role(api, "jira-software")["userCount"] == seats - 1
        jira = api.jira("GET", f"/rest/api/3/user?accountId={enc(user)}").json()
        assert jira["active"] is False
        assert api.admin("POST", f"{api.v2p}/users/{enc(user)}/restore").status_code == 204
        assert api.user(user)["status"] == "active"

    @both_group_id_forms
    def test_membership_add_grants_product_access(self, sim, api):
        user = sim.state.find_user(status="active", not_in_group="bitbucket-users")
        seats = _role(api, "jira-software")["userCount"]
        path = _membership_path(sim, "bitbucket-users")
        assert api.admin("POST", path, json={"accountId": user}).status_code == 204
        view = api.user(user)
        assert "bitbucket-users" in {g["name"] for g in view["groups"]}
        access = {p["key"]: p for p in view["productAccess"]}
        assert "bitbucket" in access
        assert "lastActiveTimestamp" not in access["bitbucket"]  # never used
        assert _role(api, "jira-software")["userCount"] == seats
        again = api.admin("POST", path, json={"accountId": user})
        assert (again.status_code, again.json()["errors"][0]["code"]) == (409, "ADMIN-409-28")
        assert api.admin("DELETE", f"{path}/{enc(user)}").status_code == 204
        assert "bitbucket" not in {p["key"] for p in api.user(user)["productAccess"]}
        assert api.admin("DELETE", f"{path}/{enc(user)}").status_code == 404

    @both_group_id_forms
    def test_jira_membership_changes_show_in_admin_and_seats(self, sim, api):
        user = sim.state.find_user(status="active", not_in_group="jira-software-users")
        group = sim.state.group("jira-software-users").jira_id
        seats = _role(api, "jira-software")
        added = api.jira("POST", f"/rest/api/3/group/user?groupId={group}", json={"accountId": user})
        assert added.status_code == 201
        assert added.json()["users"]["size"] == len(sim.state.group("jira-software-users").member_ids)
        after = _role(api, "jira-software")
        assert after["userCount"] == seats["userCount"] + 1
        assert after["remainingSeats"] == seats["remainingSeats"] - 1
        assert "jira-software" in {p["key"] for p in api.user(user)["productAccess"]}
        removed = api.jira("DELETE", f"/rest/api/3/group/user?groupId={group}&accountId={enc(user)}")
        assert removed.status_code == 200
        assert _role(api, "jira-software")["userCount"] == seats["userCount"]

    def test_seat_count_matches_the_directory(self, sim, api):
        resource = sim.state.data.resource_id(0)
        count = api.admin("GET", f"{api.v2p}/users/count", params={"resourceIds": resource, "status": "active"})
        assert count.json()["count"] == _role(api, "jira-software")["userCount"]

    def test_the_licence_limit_refuses_new_users(self, sim, api):
        sim.state.set_seats("jira-software", _role(api, "jira-software")["userCount"])
        user = sim.state.find_user(status="active", not_in_group="jira-software-users")
        refused = api.admin("POST", _membership_path(sim, "jira-software-users"), json={"accountId": user})
        assert (refused.status_code, refused.json()["errors"][0]["code"]) == (409, "ADMIN-409-3")
        assert _role(api, "jira-software")["remainingSeats"] == 0

    @both_group_id_forms
    def test_idp_synced_groups_cannot_be_changed(self, sim, api):
        group = next(n for n in sim.state.group_names() if sim.state.group(n).external_synced)
        member = sim.state.group(group).member_ids[0]
        outsider = sim.state.find_user(not_in_group=group)
        assert api.admin("POST", _membership_path(sim, group), json={"accountId": outsider}).status_code == 403
        assert api.admin("DELETE", f"{_membership_path(sim, group)}/{enc(member)}").status_code == 403
        jira = api.jira(
            "POST", f"/rest/api/3/group/user?groupId={sim.state.group(group).jira_id}", json={"accountId": outsider}
        )
        assert jira.status_code == 400
        assert member in sim.state.group(group).member_ids

    def test_remove_drops_groups_and_an_unmanaged_user_disappears(self, sim, api):
        user = sim.state.find_user(status="active", claim_status="unmanaged")
        assert api.admin("DELETE", f"{api.v2p}/users/{enc(user)}").status_code == 204
        assert api.user(user) is None
        assert user not in {u["accountId"] for u in api.all_users(limit=100)}
        assert api.admin("GET", f"{api.v2p}/users/count").json() == {"count": 60}

    def test_remove_drops_groups_and_a_managed_account_stays_outside_any_directory(self, sim, api):
        user = sim.state.find_user(status="active", claim_status="managed", management_source="invited")
        groups = sim.state.user(user).groups
        assert api.admin("DELETE", f"{api.v2p}/users/{enc(user)}").status_code == 204
        # "-" covers managed accounts that aren't in a directory (ORG26 users/count): still listed.
        view = api.user(user)
        assert (view["status"], view["membershipStatus"], view["accountStatus"]) == (
            "not_invited",
            "no_membership",
            "active",
        )
        assert (view["groups"], view["productAccess"]) == ([], [])
        local, idp = sim.state.directory_ids
        in_directories = api.search_users({"directoryIds": [local, idp], "limit": 100}).json()["data"]
        assert user not in {u["accountId"] for u in in_directories}
        assert api.admin("GET", f"{api.v2p}/users/{enc(user)}").status_code == 404
        assert api.admin("GET", f"{api.v2p}/users/count").json() == {"count": 61}
        assert all(user not in sim.state.group(g).member_ids for g in groups)
        managed = api.admin("GET", f"/admin/v1/orgs/{ORG}/users", params={}).json()["data"]
        listed = next(u for u in managed if u["account_id"] == user)  # the managed account still exists
        assert listed["product_access"] == []
        assert (
            api.admin("GET", f"/admin/v1/orgs/{ORG}/directory/users/{enc(user)}/last-active-dates").status_code == 404
        )

    def test_lifecycle_changes_status(self, sim, api):
        user = sim.state.find_user(status="active", claim_status="managed", management_source="invited")
        lifecycle = f"/users/{enc(user)}/manage/lifecycle"
        assert api.admin("POST", lifecycle + "/disable", json={"message": "Left"}).status_code == 204
        details = api.admin("GET", f"{api.v2p}/users/{enc(user)}").json()["data"]
        assert (details["status"], details["accountStatus"]) == ("deactivated", "inactive")
        assert details["deactivatedOn"].startswith(NOW.date().isoformat())
        assert api.admin("POST", lifecycle + "/enable").status_code == 204
        assert api.user(user)["status"] == "active"
        assert api.admin("POST", lifecycle + "/delete").status_code == 200
        assert api.user(user)["status"] == "for_deletion"
        assert sim.state.user(user).deletion_scheduled_for == NOW + timedelta(days=14)
        assert api.admin("POST", lifecycle + "/enable").status_code == 403
        assert api.admin("POST", lifecycle + "/cancel-delete").status_code == 200
        assert api.user(user)["status"] == "active"

    def test_deletion_completes_after_the_grace_period(self, sim, api):
        user = sim.state.find_user(status="active", claim_status="managed", management_source="invited")
        assert api.admin("POST", f"/users/{enc(user)}/manage/lifecycle/delete").status_code == 200
        sim.state.advance_time(timedelta(days=13))
        assert api.user(user)["status"] == "for_deletion"
        sim.state.advance_time(timedelta(days=2))
        assert api.user(user) is None
        assert api.admin("GET", f"/users/{enc(user)}/manage").json() == {"key": "accountNotFound"}
        assert user not in {u["accountId"] for u in api.jira("GET", "/rest/api/3/users/search?maxResults=1000").json()}

    def test_lifecycle_only_for_managed_accounts(self, sim, api):
        unmanaged = sim.state.find_user(status="active", claim_status="unmanaged")
        response = api.admin("POST", f"/users/{enc(unmanaged)}/manage/lifecycle/disable")
        assert (response.status_code, response.json()) == (403, {"key": "forbidden"})
        assert api.user(unmanaged)["status"] == "active"
        missing = api.admin("POST", "/users/does-not-exist/manage/lifecycle/disable")
        assert (missing.status_code, missing.json()) == (404, {"key": "accountNotFound"})

    def test_direct_roles_and_group_roles(self, sim, api):
        user = sim.state.find_user(status="active", not_in_group="bitbucket-users")
        resource = sim.state.data.resource_id(3)
        body = {"role": "atlassian/user", "resource": resource}
        assert api.admin("POST", f"/admin/v1/orgs/{ORG}/users/{enc(user)}/roles/assign", json=body).status_code == 204
        roles = api.admin("GET", f"{api.v2p}/users/{enc(user)}/role-assignments").json()["data"]
        bitbucket = next(r for r in roles if r["resourceOwner"] == "bitbucket")
        assert bitbucket["roleAssignments"] == [{"role": "atlassian/user", "roleAssignmentMethods": ["direct"]}]
        assert api.admin("POST", f"/admin/v1/orgs/{ORG}/users/{enc(user)}/roles/revoke", json=body).status_code == 204
        assert "bitbucket" not in {p["key"] for p in api.user(user)["productAccess"]}
        member = sim.state.find_user(status="active", in_group="jira-software-users")
        revoke = {"role": "atlassian/user", "resource": sim.state.data.resource_id(0)}
        api.admin("POST", f"/admin/v1/orgs/{ORG}/users/{enc(member)}/roles/revoke", json=revoke)
        assert "jira-software" in {p["key"] for p in api.user(member)["productAccess"]}  # granted by a group

    def test_test_helpers_add_and_set_activity(self, sim, api):
        when = datetime(2026, 9, 30, 8, 30, tzinfo=UTC)
        user = sim.state.add_user("Nia New", "nia@test-org.example.com", groups=["confluence-users"])
        assert api.user(user)["productAccess"][0] == {"key": "confluence", "id": sim.state.data.resource_id(2)}
        sim.state.set_last_active(user, "confluence", when)
        dates = api.admin("GET", f"/admin/v1/orgs/{ORG}/directory/users/{enc(user)}/last-active-dates").json()
        assert dates["data"]["product_access"][0]["last_active"] == "2026-09-30"
        assert dates["data"]["product_access"][0]["last_active_timestamp"] == "2026-09-30T08:30:00.000Z"
        assert api.user(user)["productAccess"][0]["lastActiveTimestamp"] == "2026-09-30T08:30:00.000Z"

    def test_concurrent_requests_are_consistent(self, sim):
        state = sim.state
        group = next(n for n in state.group_names() if not state.group(n).roles and not state.group(n).external_synced)
        users = state.account_ids(not_in_group=group)[:20]
        path = f"{sim.base_url}{_membership_path(sim, group)}"
        search = f"{sim.base_url}/admin/v2/orgs/{ORG}/directories/-/users/search"

        def work(user: str) -> tuple[int, int]:
            with requests.Session() as session:
                headers = {"Authorization": f"Bearer {API_KEY}"}
                added = session.post(path, json={"accountId": user}, headers=headers).status_code
                return added, session.post(search, json={}, headers=headers).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(work, users))
        assert results == [(204, 200)] * len(users)
        assert set(users) <= set(state.group(group).member_ids)


class TestRateLimits:
    def test_admin_responses_carry_rate_limit_headers(self, api):
        for response in (
            api.search_users(),
            api.admin("GET", f"/admin/v1/orgs/{ORG}"),
            api.admin("GET", "/admin/v1/orgs/x"),
        ):
            assert int(response.headers["X-RateLimit-Limit"]) > 0
            assert int(response.headers["X-RateLimit-Remaining"]) >= 0
            reset = datetime.strptime(response.headers["X-RateLimit-Reset"], "%Y-%m-%dT%H:%M:%SZ")
            assert reset.year >= 2024
        bad_key = api.session.get(f"{api.v1}/users", headers={"Authorization": "Bearer nope"})
        assert "X-RateLimit-Remaining" in bad_key.headers

    def test_last_active_dates_allow_200_per_minute(self, sim, api):
        user = enc(sim.state.find_user(status="active"))
        path = f"/admin/v1/orgs/{ORG}/directory/users/{user}/last-active-dates"
        statuses = [api.admin("GET", path).status_code for _ in range(200)]
        assert statuses == [200] * 200
        limited = api.admin("GET", path)
        assert limited.status_code == 429
        assert limited.json() == {"code": 429, "message": "Too Many Requests"}
        assert limited.headers["X-RateLimit-Limit"] == "200"
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert "X-RateLimit-Reset" in limited.headers
        assert api.search_users().status_code == 200  # other endpoints are not affected

    def test_a_configured_request_rate(self):
        with Simulator(make_config(rate_limit_per_minute=5)) as sim:
            api = Api(sim)
            assert [api.search_users().status_code for _ in range(5)] == [200] * 5
            limited = api.search_users()
            assert limited.status_code == 429
            assert limited.headers["X-RateLimit-Remaining"] == "0"
            assert int(limited.headers["Retry-After"]) >= 1
            jira = api.jira("GET", "/rest/api/3/applicationrole")
            assert jira.status_code == 429
            assert jira.headers["RateLimit-Reason"] == "jira-burst-based"
            api.close()


class TestFaults:
    def test_fail_next_only_on_matching_paths(self, sim, api):
        sim.faults.fail_next(2, status=503, path_contains="/users/search", retry_after=3)
        assert api.search_groups().status_code == 200
        first = api.search_users()
        assert (first.status_code, first.headers["Retry-After"]) == (503, "3")
        assert first.json()["code"] == 503  # a gateway-level error: the ProxyError shape
        assert api.search_users().status_code == 503
        assert api.search_users().status_code == 200
        assert sim.faults.injected["fail"] == 2

    def test_a_failed_write_changes_nothing(self, sim, api):
        user = sim.state.find_user(status="active")
        sim.faults.fail_next(1, status=500, path_contains="/suspend")
        assert api.admin("POST", f"{api.v2p}/users/{enc(user)}/suspend").status_code == 500
        assert sim.state.user(user).status == "active"

    def test_malformed_body(self, sim, api):
        sim.faults.malformed_next(1, path_contains="/rest/api/3/users/search")
        broken = api.jira("GET", "/rest/api/3/users/search")
        assert broken.status_code == 200
        assert broken.headers["Content-Type"].startswith("application/json")
        assert len(broken.content) == int(broken.headers["Content-Length"])
        with pytest.raises(json.JSONDecodeError):
            json.loads(broken.content)
        assert isinstance(api.jira("GET", "/rest/api/3/users/search").json(), list)

    def test_dropped_connection(self, sim, api):
        sim.faults.drop_next(1, path_contains="/groups/search")
        with pytest.raises(requests.ConnectionError):
            api.search_groups()
        assert api.search_groups().status_code == 200

    def test_rate_limit_burst(self, sim, api):
        sim.faults.rate_limit_burst(2, retry_after=2)
        for _ in range(2):
            limited = api.search_users()
            assert limited.status_code == 429
            assert limited.headers["Retry-After"] == "2"
            assert limited.headers["X-RateLimit-Remaining"] == "0"
            assert "X-RateLimit-Reset" in limited.headers
        assert api.search_users().status_code == 200

    def test_jira_429_headers(self, sim, api):
        sim.faults.rate_limit_burst(1, retry_after=5, path_contains="/rest/api/3/")
        limited = api.jira("GET", "/rest/api/3/users/search")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "5"
        assert limited.headers["RateLimit-Reason"] == "jira-burst-based"
        assert limited.json()["errorMessages"]

    def test_random_faults_from_config(self):
        config = make_config(error_rate=1.0)
        with Simulator(config) as sim:
            api = Api(sim)
            assert api.search_users().status_code in (500, 502, 503)
            sim.faults.error_rate, sim.faults.drop_rate = 0.0, 1.0
            with pytest.raises(requests.ConnectionError):
                api.search_users()
            sim.faults.drop_rate, sim.faults.malformed_rate = 0.0, 1.0
            with pytest.raises(requests.JSONDecodeError):
                api.search_users().json()
            sim.faults.clear()
            sim.faults.latency_ms = 150
            started = time.perf_counter()
            assert api.search_users().status_code == 200
            assert time.perf_counter() - started >= 0.15
            api.close()


class TestServer:
    def test_counts_requests_and_stops_cleanly(self):
        sim = Simulator(make_config())
        base = sim.start()
        api = Api(sim)
        for _ in range(3):
            response = api.search_users()
            assert len(response.content) == int(response.headers["Content-Length"])
        assert sim.requests_served == 3
        sim.stop()
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{base}/admin/v1/orgs", timeout=2)
        api.close()

    def test_the_management_command_parses_its_options(self):
        from django.core.management.base import CommandError

        from governance.management.commands.atlassian_simulator import Command

        parser = Command().create_parser("manage.py", "atlassian_simulator")
        options = parser.parse_args(
            ["--port", "0", "--users", "50", "--groups", "8", "--rate-limit", "30", "--drop-rate", "0.1"]
        )
        assert (options.port, options.users, options.groups, options.rate_limit, options.drop_rate) == (
            0,
            50,
            8,
            30,
            0.1,
        )
        with pytest.raises(CommandError):
            parser.parse_args(["--error-rate", "2"])

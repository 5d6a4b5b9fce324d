"""Bulk account actions through the API: the admin's service, inline up to the admin's limit, a
background task with a status endpoint above it, audited with the API as the channel."""

import pytest
from django.urls import reverse
from django_q.conf import Conf

from accounts.models import Account, AccountStatus, Group, Membership
from accounts.sync.runner import organization_sync
from governance.audit.models import ActorKind, AuditAction, AuditEvent
from governance.runs.models import RunStatus, RunTrigger, TaskRun
from tests import taskqueue

pytestmark = pytest.mark.django_db
BULK = reverse("api:account-bulk-list")


@pytest.fixture
def mirrored(organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    return organization


def _plain(n: int) -> list[Account]:
    accounts = Account.objects.exclude(management_source="synced").filter(
        status=AccountStatus.ACTIVE, is_org_admin=False, managed=True
    )
    return list(accounts.order_by("pk")[:n])


def _statuses(simulator, accounts) -> list[str]:
    return [simulator.state.user(a.account_id).status for a in accounts]


class TestInline:
    def test_it_suspends_each_account_and_reports_each_result(self, token_client, alice, simulator, mirrored):
        accounts = _plain(2)
        admin = Account.objects.filter(is_org_admin=True, status=AccountStatus.ACTIVE).first()
        ids = [a.pk for a in accounts] + [admin.pk]
        response = token_client(alice).post(
            BULK, {"action": "suspend", "reason": "left the company", "account_ids": ids}, format="json"
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["counts"] == {"done": 2, "skipped": 0, "refused": 1, "failed": 0}
        by_id = {row["account"]: row for row in body["results"]}
        assert by_id[admin.pk]["outcome"] == "refused"
        assert "organization admin" in by_id[admin.pk]["message"]
        assert _statuses(simulator, accounts) == ["suspended", "suspended"]
        events = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED)
        assert events.count() == 2
        for event in events:
            assert event.actor_kind == ActorKind.API
            assert event.actor_user_id == alice.pk
            assert event.actor_name.startswith("alice (API token ")
            assert event.reason == "left the company"
            assert event.correlation_id == body["correlation_id"]

    def test_atlassians_error_is_a_result_for_the_account_it_concerns(self, api_as, alice, simulator, mirrored):
        accounts = _plain(2)
        simulator.faults.fail_next(1, status=403, path_contains="/suspend")
        response = api_as(alice).post(
            BULK, {"action": "suspend", "reason": "x", "account_ids": [a.pk for a in accounts]}, format="json"
        )
        assert response.status_code == 200
        body = response.json()
        assert body["counts"]["failed"] == 1
        assert body["counts"]["done"] == 1
        failed = next(row for row in body["results"] if row["outcome"] == "failed")
        assert "HTTP 403" in failed["message"]
        assert AuditEvent.objects.filter(action=AuditAction.ATLASSIAN_CALL_FAILED, actor_kind="api").count() == 1

    def test_filters_select_accounts_as_the_admins_select_all_matching(self, api_as, alice, simulator, mirrored):
        matching = list(Account.objects.filter(managed=False, is_org_admin=False, status=AccountStatus.ACTIVE))
        assert len(matching) > 1
        filters = {"managed": False, "is_org_admin": "false", "status": "active"}  # JSON booleans too
        response = api_as(alice).post(BULK, {"action": "suspend", "reason": "x", "filters": filters}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["counts"]["done"] == len(matching)
        assert set(_statuses(simulator, matching)) == {"suspended"}

    def test_add_to_group(self, api_as, alice, simulator, mirrored):
        group = Group.objects.filter(external_synced=False, is_licence_group=False).first()
        accounts = [a for a in _plain(8) if not Membership.objects.filter(account=a, group=group).exists()][:2]
        body = {
            "action": "add_to_group",
            "reason": "project",
            "group": group.pk,
            "account_ids": [a.pk for a in accounts],
        }
        response = api_as(alice).post(BULK, body, format="json")
        assert response.json()["counts"]["done"] == 2
        assert Membership.objects.filter(group=group, account__in=accounts).count() == 2

    def test_help_desk_may_activate_but_not_suspend(self, api_as, hank, simulator, mirrored, atlassian):
        from accounts.services.lifecycle import account_suspend
        from governance.audit.record import Actor

        account = _plain(1)[0]
        account_suspend(account=account, client=atlassian, actor=Actor.system(), reason="setup")
        client = api_as(hank)
        body = {"reason": "back from leave", "account_ids": [account.pk]}
        assert client.post(BULK, {**body, "action": "suspend"}, format="json").status_code == 403
        response = client.post(BULK, {**body, "action": "activate"}, format="json")
        assert response.json()["counts"]["done"] == 1
        assert _statuses(simulator, [account]) == ["active"]
        event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_RESTORED)
        assert (event.actor_kind, event.actor_user_id) == (ActorKind.API, hank.pk)


class TestBadInput:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"action": "suspend", "account_ids": [1]}, "reason"),
            ({"action": "suspend", "reason": "  ", "account_ids": [1]}, "reason"),
            ({"action": "explode", "reason": "x", "account_ids": [1]}, "action"),
            ({"action": "suspend", "reason": "x"}, "account_ids"),
            ({"action": "suspend", "reason": "x", "account_ids": []}, "account_ids"),
            ({"action": "suspend", "reason": "x", "account_ids": ["one"]}, "account_ids"),
            ({"action": "suspend", "reason": "x", "account_ids": [1], "filters": {"status": "active"}}, "account_ids"),
            ({"action": "suspend", "reason": "x", "filters": {"inactivity": "lately"}}, "filters"),
            ({"action": "suspend", "reason": "x", "filters": {"colour": "blue"}}, "filters"),
            ({"action": "suspend", "reason": "x", "filters": {}}, "filters"),
            ({"action": "add_to_group", "reason": "x", "account_ids": [1]}, "group"),
            ({"action": "add_to_group", "reason": "x", "account_ids": [1], "group": 999999}, "group"),
            ({"action": "remove_product_access", "reason": "x", "account_ids": [1], "product": 999999}, "product"),
        ],
    )
    def test_bad_input_is_400_with_field_errors_and_changes_nothing(self, api_as, alice, mirrored, body, field):
        events = AuditEvent.objects.count()
        response = api_as(alice).post(BULK, body, format="json")
        assert response.status_code == 400
        assert field in response.json(), response.json()
        assert AuditEvent.objects.count() == events

    def test_an_idp_synced_group_is_refused_once_with_the_services_message(self, api_as, alice, mirrored):
        group = Group.objects.filter(external_synced=True).first()
        body = {"action": "add_to_group", "reason": "x", "group": group.pk, "account_ids": [_plain(1)[0].pk]}
        response = api_as(alice).post(BULK, body, format="json")
        assert response.status_code == 400
        assert "identity provider" in response.json()["group"][0]

    def test_not_json_is_a_clear_400(self, api_as, alice, mirrored):
        response = api_as(alice).post(BULK, "action=suspend", content_type="application/json")
        assert response.status_code == 400
        response = api_as(alice).post(BULK, "action=suspend", content_type="text/plain")
        assert response.status_code == 415


class TestBackground:
    def test_above_the_inline_limit_it_returns_a_task_to_poll(
        self, api_as, alice, simulator, mirrored, settings, monkeypatch
    ):
        settings.BULK_ACTION_INLINE_LIMIT = 2
        monkeypatch.setattr(Conf, "SYNC", True)  # the task runs in-process, as a cluster would run it
        accounts = _plain(3)
        client = api_as(alice)
        response = client.post(
            BULK, {"action": "suspend", "reason": "cleanup", "account_ids": [a.pk for a in accounts]}, format="json"
        )
        assert response.status_code == 202, response.content
        run = TaskRun.objects.get(name="bulk_action")
        body = response.json()
        assert body["id"] == run.pk
        assert response["Location"] == body["url"]
        assert run.trigger == RunTrigger.API
        status = client.get(body["url"]).json()
        assert status["status"] == RunStatus.SUCCEEDED
        assert status["progress"] == {"done": 3, "total": 3}
        assert status["counts"] == {"done": 3, "skipped": 0, "refused": 0, "failed": 0}
        assert _statuses(simulator, accounts) == ["suspended"] * 3
        events = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED)
        assert {(e.correlation_id, e.actor_kind, e.actor_user_id) for e in events} == {
            (run.correlation_id, ActorKind.API, alice.pk)
        }

    def test_while_queued_the_status_says_running_with_its_progress(
        self, api_as, alice, hank, nobody, mirrored, settings
    ):
        settings.BULK_ACTION_INLINE_LIMIT = 1
        response = api_as(alice).post(
            BULK, {"action": "suspend", "reason": "x", "account_ids": [a.pk for a in _plain(2)]}, format="json"
        )
        assert taskqueue.queue_size() == 1
        url = response.json()["url"]
        status = api_as(hank).get(url).json()  # as in the admin: anyone who may see accounts
        assert status["status"] == RunStatus.RUNNING
        assert status["progress"] == {"done": 0, "total": 2}
        assert api_as(nobody).get(url).status_code == 403

    def test_only_bulk_runs_are_found_there(self, api_as, alice, mirrored):
        sync = TaskRun.objects.exclude(name="bulk_action").first()
        assert api_as(alice).get(reverse("api:account-bulk-detail", args=[sync.pk])).status_code == 404

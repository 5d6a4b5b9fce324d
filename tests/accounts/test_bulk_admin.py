"""Bulk actions from the account list: confirmation, permissions, results, and the background path."""

import pytest
from django.test import Client
from django.urls import reverse
from django_q.conf import Conf

from accounts.models import Account, AccountStatus, Group, Membership
from accounts.sync.runner import organization_sync
from governance.audit.models import AuditAction, AuditEvent
from governance.runs.models import RunStatus, TaskRun
from tests import taskqueue

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:accounts_account_changelist")


@pytest.fixture
def mirrored(organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    return organization


def _plain(n: int) -> list[Account]:
    accounts = Account.objects.exclude(management_source="synced").filter(
        status=AccountStatus.ACTIVE, is_org_admin=False, managed=True
    )
    return list(accounts.order_by("pk")[:n])


def _choose(client, action, accounts, *, query="", select_across=False):
    """What the changelist's action bar posts: the first step, which only asks for confirmation."""
    data = {
        "action": action,
        "index": "0",
        "select_across": "1" if select_across else "0",
        "_selected_action": [a.pk for a in accounts],
    }
    return client.post(CHANGELIST + query, data)


def _confirm(client, action, accounts, *, query="", select_across=False, **fields):
    """What the confirmation page posts back (no "index": Django routes it to the same action)."""
    data = {
        "action": action,
        "select_across": "1" if select_across else "0",
        "_selected_action": [a.pk for a in accounts],
        "bulk_confirm": "yes",
        **fields,
    }
    return client.post(CHANGELIST + query, data)


def _result(client, action, accounts, **kwargs):
    """Confirm an inline bulk action, then read its result page as the browser does: the POST
    redirects to a GET of the result (reloading it never runs the action again)."""
    response = _confirm(client, action, accounts, **kwargs)
    assert response.status_code == 302, response.status_code
    assert "/bulk/result/" in response.url
    return client.get(response.url)


def _statuses(simulator, accounts) -> list[str]:
    return [simulator.state.user(a.account_id).status for a in accounts]


class TestConfirmation:
    def test_choosing_an_action_asks_for_confirmation_with_the_count_and_changes_nothing(
        self, client_for, alice, simulator, mirrored
    ):
        accounts = _plain(2)
        events = AuditEvent.objects.count()
        response = _choose(client_for(alice), "bulk_suspend", accounts)
        page = response.content.decode()
        assert response.status_code == 200
        assert '<strong id="bulk-count">2</strong>' in page
        assert 'name="reason"' in page
        assert 'name="csrfmiddlewaretoken"' in page
        assert AuditEvent.objects.count() == events
        assert _statuses(simulator, accounts) == ["active", "active"]

    def test_a_missing_reason_is_an_error_and_nothing_changes(self, client_for, alice, simulator, mirrored):
        accounts = _plain(2)
        events = AuditEvent.objects.count()
        page = _confirm(client_for(alice), "bulk_suspend", accounts, reason="  ").content.decode()
        assert "Give a reason" in page
        assert AuditEvent.objects.count() == events
        assert _statuses(simulator, accounts) == ["active", "active"]

    def test_the_group_is_picked_in_a_text_box_never_from_a_list_of_every_group(self, client_for, alice, mirrored):
        page = _choose(client_for(alice), "bulk_add_to_group", _plain(1)).content.decode()
        assert 'id="bulk-group-text"' in page
        assert reverse("admin:autocomplete") in page
        assert "<option" not in page.split('id="bulk-action-form"')[1]

    def test_an_unknown_group_is_an_error_and_nothing_changes(self, client_for, alice, mirrored):
        events = AuditEvent.objects.count()
        page = _confirm(client_for(alice), "bulk_add_to_group", _plain(1), reason="x", group="999999").content.decode()
        assert "There is no group with id" in page
        assert AuditEvent.objects.count() == events

    def test_an_idp_synced_group_is_refused_with_a_clear_message(self, client_for, alice, mirrored):
        synced = Group.objects.filter(external_synced=True).first()
        page = _confirm(client_for(alice), "bulk_add_to_group", _plain(1), reason="x", group=synced.pk)
        assert "synced from an identity provider" in page.content.decode()
        assert not AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_ADDED).exists()

    def test_the_confirmation_is_refused_without_a_csrf_token(self, alice, mirrored):
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        response = _confirm(client, "bulk_suspend", _plain(1), reason="x")
        assert response.status_code == 403
        assert not AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED).exists()


class TestInlineRun:
    def test_confirming_suspends_each_account_and_reports_each_result(self, client_for, alice, simulator, mirrored):
        accounts = _plain(2)
        admin = Account.objects.filter(is_org_admin=True, status=AccountStatus.ACTIVE).first()
        response = _result(client_for(alice), "bulk_suspend", [*accounts, admin], reason="left the company")
        page = response.content.decode()
        assert response.status_code == 200
        assert "2 done</strong>" in page
        assert "1 refused" in page
        assert "organization admin" in page
        assert _statuses(simulator, accounts) == ["suspended", "suspended"]
        events = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED)
        assert events.count() == 2
        assert {e.actor_name for e in events} == {"alice"}
        assert {e.reason for e in events} == {"left the company"}

    def test_atlassians_error_is_shown_for_the_account_it_concerns(self, client_for, alice, simulator, mirrored):
        accounts = _plain(2)
        simulator.faults.fail_next(1, status=403, path_contains="/suspend")
        page = _result(client_for(alice), "bulk_suspend", accounts, reason="x").content.decode()
        assert "1 failed" in page
        assert "HTTP 403" in page

    def test_select_across_acts_on_every_account_matching_the_filter(self, client_for, alice, simulator, mirrored):
        client = client_for(alice)
        query = "?managed=false&is_org_admin=false&status=active"
        matching = list(Account.objects.filter(managed=False, is_org_admin=False, status=AccountStatus.ACTIVE))
        assert len(matching) > 1
        page = _choose(client, "bulk_suspend", matching[:1], query=query, select_across=True).content.decode()
        assert f'<strong id="bulk-count">{len(matching)}</strong>' in page
        page = _result(client, "bulk_suspend", matching[:1], query=query, select_across=True, reason="x")
        assert f"{len(matching)} done</strong>" in page.content.decode()
        assert set(_statuses(simulator, matching)) == {"suspended"}

    def test_add_to_group_adds_every_selected_account(self, client_for, alice, simulator, mirrored):
        group = Group.objects.filter(external_synced=False, is_licence_group=False).first()
        accounts = [a for a in _plain(8) if not Membership.objects.filter(account=a, group=group).exists()][:2]
        page = _result(client_for(alice), "bulk_add_to_group", accounts, reason="project", group=group.pk)
        assert "2 done</strong>" in page.content.decode()
        assert Membership.objects.filter(group=group, account__in=accounts).count() == 2


class TestPermissions:
    def test_help_desk_may_activate(self, client_for, hank, simulator, mirrored, atlassian):
        from accounts.services.lifecycle import account_suspend
        from governance.audit.record import Actor

        account = _plain(1)[0]
        account_suspend(account=account, client=atlassian, actor=Actor.system(), reason="setup")
        page = _result(client_for(hank), "bulk_activate", [account], reason="back from leave").content.decode()
        assert "1 done</strong>" in page
        assert _statuses(simulator, [account]) == ["active"]
        assert AuditEvent.objects.get(action=AuditAction.ACCOUNT_RESTORED).actor_kind == "help_desk"

    @pytest.mark.parametrize("action", ["bulk_suspend", "bulk_deactivate", "bulk_add_to_group"])
    def test_help_desk_cannot_suspend_or_change_groups_even_by_posting_the_confirmation(
        self, client_for, hank, simulator, mirrored, action
    ):
        accounts = _plain(1)
        group = Group.objects.filter(external_synced=False).first()
        client = client_for(hank)
        for response in (
            _choose(client, action, accounts),
            _confirm(client, action, accounts, reason="x", group=group.pk),
        ):
            assert 'id="bulk-action-form"' not in response.content.decode()
        assert _statuses(simulator, accounts) == ["active"]
        assert not AuditEvent.objects.filter(actor_name="hank").exists()

    def test_an_auditor_cannot_run_any_bulk_action(self, client_for, audrey, simulator, mirrored):
        accounts = _plain(1)
        _confirm(client_for(audrey), "bulk_activate", accounts, reason="x")
        _confirm(client_for(audrey), "bulk_suspend", accounts, reason="x")
        assert not AuditEvent.objects.filter(actor_name="audrey").exists()
        assert _statuses(simulator, accounts) == ["active"]

    def test_the_action_itself_checks_permission_when_called_directly(self, rf, hank, mirrored):
        from django.core.exceptions import PermissionDenied

        from accounts.admin.bulk_views import run_bulk_action

        request = rf.post(CHANGELIST, {"bulk_confirm": "yes", "reason": "x"})
        request.user = hank
        with pytest.raises(PermissionDenied):
            run_bulk_action(None, request, Account.objects.all(), "suspend")


class TestBackgroundRun:
    def test_above_the_inline_limit_it_runs_as_a_task_and_reports_progress(
        self, client_for, alice, simulator, mirrored, settings, monkeypatch
    ):
        settings.BULK_ACTION_INLINE_LIMIT = 2
        monkeypatch.setattr(Conf, "SYNC", True)  # the task runs in-process, as a cluster would run it
        accounts = _plain(3)
        client = client_for(alice)
        response = _confirm(client, "bulk_suspend", accounts, reason="cleanup")
        run = TaskRun.objects.get(name="bulk_action")
        assert response.status_code == 302
        assert response.url == reverse("admin:accounts_account_bulk_run", args=[run.pk])
        assert run.status == RunStatus.SUCCEEDED
        assert run.progress == {"done": 3, "total": 3}
        assert run.counts == {"done": 3, "skipped": 0, "refused": 0, "failed": 0}
        assert run.started_by == "alice"
        assert _statuses(simulator, accounts) == ["suspended"] * 3
        assert set(
            AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED).values_list("correlation_id", flat=True)
        ) == {run.correlation_id}
        page = client.get(response.url).content.decode()
        assert "Succeeded: 3 of 3 accounts" in page
        assert 'http-equiv="refresh"' not in page

    def test_while_the_task_waits_in_the_queue_the_status_page_refreshes_itself(
        self, client_for, alice, simulator, mirrored, settings
    ):
        settings.BULK_ACTION_INLINE_LIMIT = 1
        accounts = _plain(2)
        client = client_for(alice)
        response = _confirm(client, "bulk_suspend", accounts, reason="cleanup")
        assert taskqueue.queue_size() == 1
        page = client.get(response.url).content.decode()
        assert "Running: 0 of 2 accounts" in page
        assert 'http-equiv="refresh"' in page
        assert _statuses(simulator, accounts) == ["active", "active"]

    def test_the_status_page_needs_permission_to_view_accounts(self, client_for, nobody, alice, mirrored, settings):
        settings.BULK_ACTION_INLINE_LIMIT = 0
        _confirm(client_for(alice), "bulk_suspend", _plain(1), reason="x")
        run = TaskRun.objects.get(name="bulk_action")
        url = reverse("admin:accounts_account_bulk_run", args=[run.pk])
        assert client_for(nobody).get(url).status_code == 403


class TestResultPage:
    def test_reloading_the_result_shows_it_again_and_runs_nothing(self, client_for, alice, simulator, mirrored):
        client = client_for(alice)
        response = _confirm(client, "bulk_suspend", _plain(2), reason="left the company")
        suspended = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED).count()
        first, again = client.get(response.url).content.decode(), client.get(response.url).content.decode()
        summary = first.split('id="bulk-summary"')[1].split("</table>")[0]
        assert "2 done</strong>" in summary
        assert summary == again.split('id="bulk-summary"')[1].split("</table>")[0]
        assert AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED).count() == suspended == 2

    def test_a_result_is_only_in_the_session_of_who_ran_it(self, client_for, alice, root, simulator, mirrored):
        response = _confirm(client_for(alice), "bulk_suspend", _plain(1), reason="x")
        assert client_for(root).get(response.url).status_code == 404
        assert client_for(alice).get(reverse("admin:accounts_account_bulk_result", args=["nope"])).status_code == 404

import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, AccountStatus, Group, Membership, Organization, Product, ProductAccess
from accounts.sync.runner import organization_sync
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.verify import verify_chain
from governance.runs.models import RunStatus, TaskRun
from tests.accounts.conftest import API_KEY, SIM_NOW
from tests.group_forms import both_group_id_forms

pytestmark = pytest.mark.django_db


def _sync(organization, client, **kwargs):
    return organization_sync(organization=organization, client=client, **kwargs)


MIRROR_TABLES = ("accounts_account", "accounts_group", "accounts_membership", "accounts_product")


def _writes(queries) -> list[str]:
    """Statements that write mirror rows. The organization's last-complete-sync time is the one
    value a successful sync always refreshes (policies check it), so it is not counted."""
    verbs = ("INSERT", "UPDATE", "DELETE")
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(verbs) and any(t in q["sql"] for t in MIRROR_TABLES)
    ]


def _directory_users(simulator) -> list:
    return [a for a in simulator.state.dataset.accounts if simulator.state.directory_user(a.account_id)]


@both_group_id_forms
class TestFirstSync:
    def test_it_mirrors_every_user_group_and_membership(self, simulator, organization, atlassian):
        result = _sync(organization, atlassian)
        assert result.ok, result.error
        expected = _directory_users(simulator)
        assert Account.objects.filter(organization=organization).count() >= len(expected)
        assert Group.objects.filter(organization=organization).count() == 12
        assert Membership.objects.exists()
        assert Product.objects.filter(organization=organization, key="confluence").exists()
        organization.refresh_from_db()
        assert organization.last_complete_sync_at is not None
        assert TaskRun.objects.get(name="sync").status == RunStatus.SUCCEEDED

    def test_per_product_activity_and_the_latest_over_products_are_kept(self, simulator, organization, atlassian):
        _sync(organization, atlassian)
        account = Account.objects.exclude(last_active=None).first()
        latest = max(pa.last_active for pa in account.product_access.exclude(last_active=None))
        assert account.last_active == latest

    def test_licence_groups_are_recognised_from_their_role_assignments(self, organization, atlassian):
        _sync(organization, atlassian)
        licence = Group.objects.get(organization=organization, name="jira-software-users")
        assert licence.is_licence_group
        assert licence.grants.filter(product__key="jira-software").exists()

    def test_idp_synced_groups_are_flagged(self, organization, atlassian):
        _sync(organization, atlassian)
        assert Group.objects.filter(organization=organization, external_synced=True).exists()

    def test_the_audit_trail_summarises_a_first_sync_in_one_event(self, organization, atlassian):
        _sync(organization, atlassian)
        assert AuditEvent.objects.filter(action=AuditAction.SYNC_COMPLETED).count() == 1
        assert not AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_ADDED).exists()
        assert verify_chain().ok


class TestResync:
    def test_a_resync_with_no_remote_change_writes_no_rows_and_no_audit_events(self, organization, atlassian):
        assert _sync(organization, atlassian).ok
        events = AuditEvent.objects.count()
        with CaptureQueriesContext(connection) as queries:
            result = _sync(organization, atlassian)
        assert result.ok
        assert _writes(queries.captured_queries) == []
        assert AuditEvent.objects.count() == events

    def test_a_remote_suspension_is_mirrored_and_audited(self, simulator, organization, atlassian):
        _sync(organization, atlassian)
        account = Account.objects.filter(status=AccountStatus.ACTIVE).first()
        simulator.state.suspend(simulator.state.account(account.account_id))
        _sync(organization, atlassian)
        account.refresh_from_db()
        assert account.status == AccountStatus.SUSPENDED
        event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_SUSPENDED, target_id=str(account.pk))
        assert event.before == {"status": "active"}

    @both_group_id_forms
    def test_group_changes_are_mirrored_and_audited(self, simulator, organization, atlassian):
        _sync(organization, atlassian)
        membership = Membership.objects.select_related("account", "group").filter(group__external_synced=False).first()
        state = simulator.state
        state.remove_member(state.group_by_id(membership.group.group_id), state.account(membership.account.account_id))
        _sync(organization, atlassian)
        assert not Membership.objects.filter(pk=membership.pk).exists()
        assert AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_REMOVED).count() == 1

    def test_new_activity_moves_last_active_forward(self, simulator, organization, atlassian):
        _sync(organization, atlassian)
        account = Account.objects.filter(status=AccountStatus.ACTIVE).exclude(last_active=None).first()
        key = account.product_access.first().product.key
        simulator.state.set_last_active(account.account_id, key, SIM_NOW)
        _sync(organization, atlassian)
        account.refresh_from_db()
        assert account.last_active == SIM_NOW


class TestRemovals:
    def test_an_account_that_disappears_is_marked_removed_after_a_complete_sync(
        self, simulator, organization, atlassian
    ):
        _sync(organization, atlassian)
        gone = Account.objects.filter(status=AccountStatus.ACTIVE).first()
        simulator.state.remove_user(gone.account_id)
        assert _sync(organization, atlassian).ok
        gone.refresh_from_db()
        assert gone.status == AccountStatus.REMOVED
        assert not gone.memberships.exists()
        event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_REMOVED, target_id=str(gone.pk))
        assert event.target_repr == (gone.name or gone.account_id)
        assert AuditEvent.objects.filter(action=AuditAction.ACCOUNT_REMOVED).count() == 1

    def test_nothing_is_marked_removed_when_the_sync_fails_part_way(self, simulator, organization, atlassian):
        _sync(organization, atlassian)
        gone = Account.objects.filter(status=AccountStatus.ACTIVE).first()
        simulator.state.remove_user(gone.account_id)
        simulator.faults.fail_next(50, status=500, path_contains="/users/search")
        result = _sync(organization, atlassian)
        assert result.status == RunStatus.FAILED
        gone.refresh_from_db()
        assert gone.status == AccountStatus.ACTIVE

    def test_an_account_that_comes_back_reappears(self, simulator, organization, atlassian):
        _sync(organization, atlassian)
        account = Account.objects.filter(status=AccountStatus.ACTIVE).first()
        Account.objects.filter(pk=account.pk).update(status=AccountStatus.REMOVED)
        _sync(organization, atlassian)
        account.refresh_from_db()
        assert account.status == AccountStatus.ACTIVE
        assert AuditEvent.objects.filter(action=AuditAction.ACCOUNT_REAPPEARED, target_id=str(account.pk)).exists()

    def test_a_sync_that_would_remove_too_much_stops_and_reports(self, simulator, organization, atlassian, settings):
        settings.SYNC_MAX_REMOVED_SHARE = 0.05
        _sync(organization, atlassian)
        victims = list(Account.objects.filter(status=AccountStatus.ACTIVE)[:20])
        for account in victims:
            simulator.state.remove_user(account.account_id)
        result = _sync(organization, atlassian)
        assert result.status == RunStatus.HALTED
        assert "none was marked removed" in result.error
        assert not Account.objects.filter(status=AccountStatus.REMOVED).exists()
        assert AuditEvent.objects.filter(action=AuditAction.SYNC_HALTED).exists()


class TestFailuresAreClean:
    def test_a_5xx_storm_fails_the_run_and_keeps_activity(self, simulator, organization, atlassian):
        _sync(organization, atlassian)
        before = dict(Account.objects.values_list("pk", "last_active"))
        simulator.faults.fail_next(100, status=503)
        result = _sync(organization, atlassian)
        assert result.status == RunStatus.FAILED
        assert "503" in result.error
        assert dict(Account.objects.values_list("pk", "last_active")) == before
        assert not Account.objects.filter(status=AccountStatus.REMOVED).exists()
        assert AuditEvent.objects.filter(action=AuditAction.SYNC_FAILED).exists()

    def test_a_malformed_page_fails_the_sync_with_an_explanation(self, simulator, organization, atlassian):
        _sync(organization, atlassian)
        simulator.faults.malformed_next(1, path_contains="/users/search")
        result = _sync(organization, atlassian)
        assert result.status == RunStatus.FAILED
        assert "users/search" in result.error
        assert not Account.objects.filter(status=AccountStatus.REMOVED).exists()

    def test_activity_that_vanishes_for_many_accounts_is_not_blanked(
        self, simulator, organization, atlassian, settings
    ):
        settings.SYNC_MAX_BLANKED_SHARE = 0.05
        _sync(organization, atlassian)
        active = list(Account.objects.exclude(last_active=None)[:30])
        for account in active:
            for access in account.product_access.select_related("product"):
                simulator.state.set_last_active(account.account_id, access.product.key, None)
        result = _sync(organization, atlassian)
        assert result.status == RunStatus.HALTED
        assert all(Account.objects.get(pk=a.pk).last_active == a.last_active for a in active)

    def test_rate_limits_are_waited_out(self, simulator, organization, atlassian):
        simulator.faults.rate_limit_burst(2, retry_after=7, path_contains="/users/search")
        assert _sync(organization, atlassian).ok
        assert atlassian.waits.count(7) == 2

    def test_credentials_never_reach_run_records_audit_events_or_logs(self, organization, caplog, settings):
        settings.ATLASSIAN_ADMIN_API_KEY = "wrong-" + API_KEY
        from accounts.clients import client_for

        caplog.set_level(logging.DEBUG)
        with client_for(organization, sleep=lambda s: None) as client:
            result = _sync(organization, client)
        assert result.status == RunStatus.FAILED
        assert "401" in result.error
        run = TaskRun.objects.get(name="sync")
        texts = [run.error, run.log_excerpt, str(run.counts), caplog.text]
        texts += [str(e.after) + e.reason for e in AuditEvent.objects.all()]
        assert all(API_KEY not in text for text in texts)


class TestCommand:
    def test_it_prints_a_summary_and_syncs_the_default_organization(self, simulator, settings, db, capsys):
        settings.ATLASSIAN_ORG_ID = "sim-org"
        settings.ATLASSIAN_ADMIN_API_KEY = API_KEY
        settings.ATLASSIAN_API_BASE = simulator.base_url
        settings.ATLASSIAN_SITE_URL = simulator.base_url
        settings.ATLASSIAN_EMAIL = "admin@example.com"
        settings.ATLASSIAN_API_TOKEN = API_KEY
        call_command("sync_atlassian")
        assert "Sync succeeded" in capsys.readouterr().out
        assert Organization.objects.get(org_id="sim-org").accounts.exists()

    def test_it_exits_non_zero_on_failure(self, simulator, organization):
        simulator.faults.fail_next(1, status=400)  # not retryable: the command's real client fails at once
        with pytest.raises(CommandError, match="Sync failed"):
            call_command("sync_atlassian", "--org", "sim-org")

    def test_an_unknown_org_is_a_clear_error(self, db):
        with pytest.raises(CommandError, match="No organization with org id 'nope'"):
            call_command("sync_atlassian", "--org", "nope")


def test_two_syncs_at_once_run_one_and_refuse_the_other(organization, atlassian):
    from governance.runs import locks

    holder = locks.acquire("sync:sim-org", ttl=timedelta(minutes=5))
    result = _sync(organization, atlassian)
    assert result.status == RunStatus.REFUSED
    locks.release("sync:sim-org", holder)
    assert _sync(organization, atlassian).ok


def test_product_access_records_whether_a_group_grants_it(organization, atlassian):
    _sync(organization, atlassian)
    assert ProductAccess.objects.filter(granted="group").exists()

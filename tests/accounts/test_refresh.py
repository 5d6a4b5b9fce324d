"""Right after each change the portal makes in Atlassian, the account's mirror equals Atlassian
(DESIGN.md 5.10): the service reads the account back and writes it through the sync's mapping, so
policies, the preview and the seat counts never wait for the next sync, and that sync finds
nothing to change. Against the simulator over HTTP, with no sync in between."""

import pytest

from accounts.bulk import accounts_bulk_apply
from accounts.clients import client_for
from accounts.models import Account, AccountStatus, Group, Membership, Product, ProductAccess
from accounts.services import remote
from accounts.services.lifecycle import account_activate, account_suspend
from accounts.services.memberships import (
    membership_add,
    membership_remove,
    product_access_plan,
    product_access_remove,
    product_access_restore,
)
from accounts.services.refresh import account_refresh
from accounts.sync.context import SyncDataError
from accounts.sync.runner import USER_EXPAND, organization_sync
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.audit.verify import verify_chain
from tests.accounts.mirror import assert_mirror_equals_simulator, assert_next_sync_changes_nothing, mirror_differences

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("refresh test")


@pytest.fixture
def mirrored(organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    return organization


def _plain(**extra):
    accounts = Account.objects.exclude(management_source="synced").filter(
        status=AccountStatus.ACTIVE, is_org_admin=False, managed=True, **extra
    )
    return accounts.order_by("pk")


def _single_product_groups(account, product):
    """Whether every group granting ``product`` to ``account`` grants only it (and is editable)."""
    granting = Group.objects.filter(memberships__account=account, grants__product=product)
    return granting.exists() and all(g.grants.count() == 1 and not g.external_synced for g in granting)


class TestLifecycle:
    def test_a_suspension_and_its_restore_leave_the_mirror_equal_to_atlassian(self, simulator, mirrored, atlassian):
        account = _plain(billable=True).first()
        account_suspend(account=account, client=atlassian, actor=ACTOR, reason="inactive")
        assert_mirror_equals_simulator(simulator, [account])
        account_activate(account=account, client=atlassian, actor=ACTOR, reason="back")
        # Billable again at once: the seat it takes is back, not only its status.
        assert Account.objects.get(pk=account.pk).billable is True
        assert_mirror_equals_simulator(simulator, [account])
        assert_next_sync_changes_nothing(mirrored, atlassian, [account])

    def test_the_read_back_rides_in_the_change_s_own_audit_event(self, simulator, mirrored, atlassian):
        account = _plain(billable=True).first()
        account_suspend(account=account, client=atlassian, actor=ACTOR, reason="x")
        before = AuditEvent.objects.count()
        account_activate(account=account, client=atlassian, actor=ACTOR, reason="y")
        assert AuditEvent.objects.count() == before + 1
        event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_RESTORED)
        assert event.after["status"] == AccountStatus.ACTIVE
        assert event.after["billable"] is True
        assert verify_chain().ok

    def test_what_else_changed_in_atlassian_comes_along_with_its_own_audit_event(self, simulator, mirrored, atlassian):
        account = _plain().first()
        group = Group.objects.filter(external_synced=False, is_licence_group=False).exclude(
            memberships__account=account
        )[0]
        state = simulator.state
        state.add_member(state.group_by_id(group.group_id), state.account(account.account_id))  # out of band
        account_suspend(account=account, client=atlassian, actor=ACTOR, reason="inactive")
        assert Membership.objects.filter(account=account, group=group).exists()
        seen = AuditEvent.objects.get(action=AuditAction.MEMBERSHIP_ADDED, target_repr=f"{account} in {group}")
        assert seen.reason == "seen in Atlassian right after the portal's change"
        assert_mirror_equals_simulator(simulator, [account])

    def test_a_read_back_that_fails_keeps_the_change_and_says_so(self, simulator, mirrored, atlassian):
        account = _plain(billable=True).first()
        simulator.faults.fail_next(1, status=403, path_contains="/users/search")
        account_suspend(account=account, client=atlassian, actor=ACTOR, reason="inactive")
        assert simulator.state.user(account.account_id).status == "suspended"
        assert Account.objects.get(pk=account.pk).status == AccountStatus.SUSPENDED
        event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_SUSPENDED)
        assert "not read back from Atlassian" in event.after["mirror"]
        assert not AuditEvent.objects.filter(action=AuditAction.ATLASSIAN_CALL_FAILED).exists()

    def test_a_read_back_that_cannot_be_written_still_commits_the_change_s_event(
        self, simulator, mirrored, atlassian, monkeypatch
    ):
        def unwritable(*args, **kwargs):
            raise SyncDataError("Atlassian sent an unknown status")

        monkeypatch.setattr(remote, "mirror_remote_user", unwritable)
        account = _plain(billable=True).first()
        account_suspend(account=account, client=atlassian, actor=ACTOR, reason="inactive")
        assert Account.objects.get(pk=account.pk).status == AccountStatus.SUSPENDED
        event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_SUSPENDED)
        assert event.after["mirror"].startswith("not refreshed from Atlassian (SyncDataError)")
        assert verify_chain().ok


class TestMemberships:
    def test_joining_a_licence_group_brings_its_product_at_once(self, simulator, mirrored, atlassian):
        bitbucket = Product.objects.get(key="bitbucket")
        group = Group.objects.get(name="bitbucket-users")
        account = _plain().exclude(product_access__product=bitbucket).first()
        membership_add(account=account, group=group, client=atlassian, actor=ACTOR, reason="project")
        assert ProductAccess.objects.filter(account=account, product=bitbucket).exists()
        assert_mirror_equals_simulator(simulator, [account])
        membership_remove(account=account, group=group, client=atlassian, actor=ACTOR, reason="project over")
        assert not ProductAccess.objects.filter(account=account, product=bitbucket).exists()
        assert_mirror_equals_simulator(simulator, [account])
        assert_next_sync_changes_nothing(mirrored, atlassian, [account])


class TestProductAccess:
    def test_removing_and_restoring_a_product_reads_the_account_back_once_each(self, simulator, mirrored, atlassian):
        jira = Product.objects.get(key="jira-software")
        account = next(a for a in _plain(product_access__product=jira) if _single_product_groups(a, jira))
        plan = product_access_plan(account=account, products=[jira])
        before = atlassian.stats.requests
        product_access_remove(account=account, plan=plan, client=atlassian, actor=ACTOR, reason="inactive")
        # One call per group and role, then one read for the account: not one read per step.
        assert atlassian.stats.requests - before == len(plan["groups"]) + len(plan["roles"]) + 1
        assert not ProductAccess.objects.filter(account=account, product=jira).exists()
        assert_mirror_equals_simulator(simulator, [account])
        product_access_restore(account=account, removed=plan, client=atlassian, actor=ACTOR, reason="back")
        # Back in the mirror with its activity: product policies see the account in scope again.
        access = ProductAccess.objects.get(account=account, product=jira)
        assert access.last_active is not None
        assert_mirror_equals_simulator(simulator, [account])
        assert_next_sync_changes_nothing(mirrored, atlassian, [account])

    def test_an_account_refresh_alone_brings_a_lagging_mirror_up_to_date(self, simulator, mirrored, atlassian):
        account = _plain(billable=True).first()
        Account.objects.filter(pk=account.pk).update(billable=False, licence_group_count=0)
        Membership.objects.filter(account=account).delete()
        assert mirror_differences(simulator, account)
        assert account_refresh(account=account, client=atlassian, actor=ACTOR) is True
        assert_mirror_equals_simulator(simulator, [account])


class TestBulk:
    def test_after_a_bulk_action_every_account_s_mirror_equals_atlassian(self, simulator, mirrored, atlassian):
        jira = Product.objects.get(key="jira-software")
        suspended = list(_plain(billable=True)[:3])
        others = _plain(product_access__product=jira).exclude(pk__in=[a.pk for a in suspended])
        losing = [a for a in others[:20] if _single_product_groups(a, jira)][:3]

        def clients(organization):
            return client_for(organization, sleep=lambda seconds: None, max_total_wait=5)

        for action, accounts, params in (
            ("suspend", suspended, {}),
            ("remove_product_access", losing, {"product": jira.pk}),
        ):
            outcome = accounts_bulk_apply(
                action=action,
                account_ids=[a.pk for a in accounts],
                params={"reason": "tidy-up", **params},
                actor=ACTOR,
                client_factory=clients,
            )
            assert outcome.counts["done"] == len(accounts), outcome.results
        assert_mirror_equals_simulator(simulator, suspended + losing)
        assert_next_sync_changes_nothing(mirrored, atlassian, suspended + losing)


def test_the_client_reads_one_user_back_exactly_as_the_sync_reads_them(simulator, mirrored, atlassian):
    account = _plain().first()
    listed = next(u for u in atlassian.iter_users(expand=USER_EXPAND) if u.account_id == account.account_id)
    assert atlassian.user_by_id(account.account_id, expand=USER_EXPAND) == listed
    assert atlassian.user_by_id("557058:nobody-at-all") is None

import pytest

from accounts.models import Account, AccountStatus, Group, Membership, Product
from accounts.services.errors import ServiceRefused
from accounts.services.lifecycle import (
    account_activate,
    account_deactivate,
    account_delete,
    account_suspend,
)
from accounts.services.memberships import (
    membership_add,
    membership_remove,
    product_access_plan,
    product_access_remove,
    product_access_restore,
)
from accounts.sync.runner import organization_sync
from governance.atlassian.errors import AtlassianError
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.audit.verify import verify_chain
from tests.group_forms import both_group_id_forms

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


@pytest.fixture
def mirrored(organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    return organization


def _plain_active(**extra) -> Account:
    # Not one an identity provider provisions: Atlassian refuses their lifecycle (tests/accounts/test_idp.py).
    accounts = Account.objects.exclude(management_source="synced")
    return accounts.filter(status=AccountStatus.ACTIVE, is_org_admin=False, managed=True, **extra).first()


class TestLifecycle:
    def test_suspend_changes_atlassian_the_mirror_and_writes_one_event(self, simulator, mirrored, atlassian):
        account = _plain_active()
        events = AuditEvent.objects.count()
        account_suspend(account=account, client=atlassian, actor=ACTOR, reason="inactive 200 days")
        assert simulator.state.user(account.account_id).status == "suspended"
        account.refresh_from_db()
        assert account.status == AccountStatus.SUSPENDED
        assert account.billable is False
        assert AuditEvent.objects.count() == events + 1
        event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_SUSPENDED)
        assert (event.reason, event.before) == ("inactive 200 days", {"status": "active"})
        assert verify_chain().ok

    def test_activate_restores_a_suspension_and_records_when(self, simulator, mirrored, atlassian):
        account = _plain_active()
        account_suspend(account=account, client=atlassian, actor=ACTOR, reason="x")
        account_activate(account=account, client=atlassian, actor=ACTOR, reason="back from leave")
        account.refresh_from_db()
        assert account.status == AccountStatus.ACTIVE
        assert account.restored_at is not None
        assert simulator.state.user(account.account_id).status == "active"

    def test_deactivate_and_delete_then_activate_each_step_back(self, simulator, mirrored, atlassian):
        account = _plain_active()
        account_deactivate(account=account, client=atlassian, actor=ACTOR, reason="left")
        assert simulator.state.user(account.account_id).status == "deactivated"
        account_activate(account=account, client=atlassian, actor=ACTOR, reason="rehired")
        account_delete(account=account, client=atlassian, actor=ACTOR, reason="left for good")
        assert simulator.state.user(account.account_id).status == "for_deletion"
        account_activate(account=account, client=atlassian, actor=ACTOR, reason="mistake")
        assert simulator.state.user(account.account_id).status == "active"

    def test_a_failed_call_changes_nothing_and_writes_one_failure_event(self, simulator, mirrored, atlassian):
        account = _plain_active()
        simulator.faults.fail_next(1, status=403, path_contains="/suspend")
        events = AuditEvent.objects.count()
        with pytest.raises(AtlassianError):
            account_suspend(account=account, client=atlassian, actor=ACTOR, reason="x")
        account.refresh_from_db()
        assert account.status == AccountStatus.ACTIVE
        assert AuditEvent.objects.count() == events + 1
        failure = AuditEvent.objects.get(action=AuditAction.ATLASSIAN_CALL_FAILED)
        assert failure.after["attempted"] == "account.suspended"
        assert failure.after["status"] == 403

    def test_org_admins_are_refused(self, mirrored, atlassian):
        admin = Account.objects.filter(is_org_admin=True).first()
        assert admin is not None, "the simulated org has org admins"
        with pytest.raises(ServiceRefused, match="organization admin"):
            account_suspend(account=admin, client=atlassian, actor=ACTOR, reason="x")

    def test_unmanaged_accounts_cannot_be_deactivated(self, mirrored, atlassian):
        external = Account.objects.filter(managed=False, status=AccountStatus.ACTIVE, is_org_admin=False).first()
        with pytest.raises(ServiceRefused, match="not a managed account"):
            account_deactivate(account=external, client=atlassian, actor=ACTOR, reason="x")
        assert not AuditEvent.objects.filter(action=AuditAction.ACCOUNT_DEACTIVATED).exists()


@both_group_id_forms
class TestMemberships:
    def test_add_and_remove_round_trip(self, simulator, mirrored, atlassian):
        group = Group.objects.filter(external_synced=False, is_licence_group=False).first()
        account = _plain_active()
        Membership.objects.filter(account=account, group=group).delete()
        membership_add(account=account, group=group, client=atlassian, actor=ACTOR, reason="project")
        assert Membership.objects.filter(account=account, group=group).exists()
        assert group.name in simulator.state.user(account.account_id).groups
        membership_remove(account=account, group=group, client=atlassian, actor=ACTOR, reason="project over")
        assert not Membership.objects.filter(account=account, group=group).exists()
        assert group.name not in simulator.state.user(account.account_id).groups

    def test_idp_synced_groups_are_refused(self, mirrored, atlassian):
        group = Group.objects.filter(external_synced=True).first()
        with pytest.raises(ServiceRefused, match="identity provider"):
            membership_add(account=_plain_active(), group=group, client=atlassian, actor=ACTOR, reason="x")


@both_group_id_forms
class TestProductAccess:
    def test_removing_a_product_leaves_its_licence_groups_and_restoring_gives_them_back(
        self, simulator, mirrored, atlassian
    ):
        jira = Product.objects.get(key="jira-software")
        account = _plain_active(product_access__product=jira, memberships__group__external_synced=False)
        account = Account.objects.get(pk=account.pk)
        if Group.objects.filter(memberships__account=account, grants__product=jira, external_synced=True).exists():
            pytest.skip("seeded account gets Jira from an IdP group")
        plan = product_access_plan(account=account, products=[jira])
        removed = product_access_remove(account=account, plan=plan, client=atlassian, actor=ACTOR, reason="x")
        assert removed["groups"]
        assert "jira-software" not in simulator.state.user(account.account_id).products
        assert not account.product_access.filter(product=jira).exists()
        product_access_restore(account=account, removed=removed, client=atlassian, actor=ACTOR, reason="back")
        assert "jira-software" in simulator.state.user(account.account_id).products

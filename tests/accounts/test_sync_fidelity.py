"""What the sync makes of the fidelity cases: group ids in either form, products never opened, product
keys and statuses it does not know, managed accounts in no directory, a sandbox Jira site."""

import importlib

import pytest
from django.apps import apps as django_apps

from accounts.clients import client_for
from accounts.models import Account, AccountStatus, Group, Membership, Organization, Product, ProductAccess
from accounts.services.memberships import membership_remove
from accounts.sync import groups as sync_groups
from accounts.sync.runner import organization_sync
from governance.atlassian.client.mappers import directory_user_v1
from governance.atlassian.errors import AtlassianError
from governance.atlassian.groupids import GROUP_ARI_PREFIX, canonical_group_id
from governance.atlassian.simulator import Simulator, SimulatorConfig
from governance.atlassian.simulator.state import SimulatorState
from governance.audit.record import Actor
from governance.runs.models import TaskRun
from tests.accounts.conftest import API_KEY, SIM_NOW
from tests.factories import OrganizationFactory
from tests.group_forms import both_group_id_forms

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def _sync(organization, client):
    result = organization_sync(organization=organization, client=client)
    assert result.ok, result.error
    return result


@both_group_id_forms
class TestGroupIdForms:
    def test_memberships_land_on_the_listed_groups_and_no_phantom_is_made(
        self, simulator, organization, atlassian, group_id_form
    ):
        _sync(organization, atlassian)
        groups = Group.objects.filter(organization=organization)
        assert groups.count() == 12  # the listed groups, no group made from a user's "groups"
        assert not groups.filter(group_id__startswith=GROUP_ARI_PREFIX).exists()  # stored canonical
        state = simulator.state
        expected = {
            (account_id, canonical_group_id(g))
            for account_id in state.account_ids()
            for g in state.user(account_id).group_ids
        }
        mirrored = set(Membership.objects.values_list("account__account_id", "group__group_id"))
        assert mirrored == expected
        organization.refresh_from_db()
        assert organization.group_id_form == group_id_form

    def test_licence_group_counts_are_those_of_atlassian(self, simulator, organization, atlassian):
        _sync(organization, atlassian)
        licence = {g.name for g in Group.objects.filter(organization=organization, is_licence_group=True)}
        assert licence == {
            "jira-software-users",
            "confluence-users",
            "jira-servicedesk-agents",
            "bitbucket-users",
            "site-admins",
        }
        for account in Account.objects.filter(organization=organization, status=AccountStatus.ACTIVE)[:40]:
            held = {name for name in simulator.state.user(account.account_id).groups if name in licence}
            assert account.licence_group_count == len(held), account.account_id

    def test_a_removal_through_a_fresh_client_takes_the_seat(self, simulator, organization, atlassian):
        _sync(organization, atlassian)
        organization.refresh_from_db()
        group = Group.objects.get(organization=organization, name="bitbucket-users")
        account = Account.objects.filter(
            memberships__group=group, status=AccountStatus.ACTIVE, is_org_admin=False
        ).first()
        seats = simulator.state.product_usage(3)
        # A service's client: built from the organization, which remembers the form the sync saw.
        with client_for(organization) as client:
            membership_remove(account=account, group=group, client=client, actor=ACTOR, reason="left the team")
        assert "bitbucket-users" not in simulator.state.user(account.account_id).groups
        assert simulator.state.product_usage(3) == seats - 1

    def test_a_path_in_the_wrong_form_is_refused_not_taken_for_success(
        self, simulator, organization, atlassian, group_id_form
    ):
        _sync(organization, atlassian)
        group = Group.objects.get(organization=organization, name="bitbucket-users")
        member = simulator.state.group("bitbucket-users").member_ids[0]
        wrong = "uuid" if group_id_form == "ari" else "ari"
        with client_for(organization, group_id_form=wrong) as client, pytest.raises(AtlassianError) as caught:
            client.group_membership_remove(group.group_id, member, directory_id=group.directory_id)
        assert (caught.value.status, caught.value.code) == (404, "ADMIN-404-10")
        assert member in simulator.state.group("bitbucket-users").member_ids

    def test_jira_group_members_by_the_mirrors_id(self, simulator, organization, atlassian):
        _sync(organization, atlassian)
        group = Group.objects.get(organization=organization, name="confluence-users")
        members = {u.account_id for u in atlassian.iter_jira_group_members(group.group_id, include_inactive=True)}
        assert members == set(simulator.state.group("confluence-users").member_ids)


class TestProductsAndStatuses:
    def test_access_never_opened_is_mirrored_without_a_date(self, simulator, organization, atlassian):
        _sync(organization, atlassian)
        state = simulator.state
        never = [
            (account_id, key)
            for account_id in state.account_ids(status="active")
            for key in state.user(account_id).products
            if state.user(account_id).last_active[key] is None
        ]
        assert {key for _a, key in never} >= {"rovo", "loom"}
        for account_id, key in never:
            access = ProductAccess.objects.get(account__account_id=account_id, product__key=key)
            assert access.last_active is None, (account_id, key)
        account = Account.objects.get(account_id=never[0][0])
        opened = [pa.last_active for pa in account.product_access.exclude(last_active=None)]
        assert account.last_active == (max(opened) if opened else None)

    def test_the_newer_products_are_mirrored_by_name(self, organization, atlassian):
        _sync(organization, atlassian)
        names = dict(Product.objects.filter(organization=organization).values_list("key", "name"))
        assert names["jira-product-discovery"] == "Jira Product Discovery"
        assert {"loom", "rovo", "compass"} <= names.keys()
        assert Product.objects.get(organization=organization, key="bitbucket").resource_id.startswith(
            "ari:cloud:bitbucket::workspace/"
        )

    def test_a_product_key_the_portal_does_not_know_is_mirrored_and_reported(
        self, organization, atlassian, monkeypatch
    ):
        monkeypatch.delitem(sync_groups.PRODUCT_NAMES, "loom")  # as if Atlassian had just added Loom
        result = _sync(organization, atlassian)
        assert Product.objects.get(organization=organization, key="loom").name == "loom"
        assert ProductAccess.objects.filter(product__key="loom").exists()
        run = TaskRun.objects.get(pk=result.run.pk)
        assert "keys the portal does not know, mirrored under their key: loom" in run.log_excerpt

    def test_an_unknown_status_is_mirrored_as_unknown_and_reported(
        self, simulator, organization, atlassian, monkeypatch
    ):
        odd = simulator.state.find_user(status="active")
        status = SimulatorState.status

        def archived(a):
            return "archived" if a.account_id == odd else status(a)

        monkeypatch.setattr(SimulatorState, "status", staticmethod(archived))
        result = _sync(organization, atlassian)
        account = Account.objects.get(account_id=odd)
        assert account.status == AccountStatus.UNKNOWN
        assert not account.billable
        assert result.counts["accounts_unknown_status"] == 1
        assert "unknown status 'archived' for 1 account(s)" in TaskRun.objects.get(pk=result.run.pk).log_excerpt
        assert Account.objects.filter(status=AccountStatus.ACTIVE).count() > 100  # the others are mirrored

    def test_an_unknown_v1_status_is_passed_on_not_refused(self):
        user = directory_user_v1(
            {"account_id": "a1", "account_type": "atlassian", "account_status": "archived", "name": "A", "picture": "p"}
        )
        assert user.status == "archived"

    def test_a_managed_account_in_no_directory_is_mirrored_as_such(self, simulator, organization, atlassian):
        _sync(organization, atlassian)
        [outside] = simulator.state.account_ids(in_directory=False, claim_status="managed")
        account = Account.objects.get(account_id=outside)
        assert (account.status, account.managed, account.billable) == (AccountStatus.NOT_IN_DIRECTORY, True, False)
        assert not account.product_access.exists()


class TestSandboxSite:
    @pytest.fixture
    def sandboxed(self, db, settings):
        settings.ATLASSIAN_ADMIN_API_KEY = settings.ATLASSIAN_API_TOKEN = API_KEY
        config = SimulatorConfig(users=120, groups=12, seed=7, org_id="sim-org", api_key=API_KEY, now=SIM_NOW)
        with Simulator(config, sandbox_site=True) as sim:
            yield sim

    def _organization(self, sim, **fields) -> Organization:
        return Organization.objects.create(
            org_id="sim-org", api_base=sim.base_url, site_url=sim.base_url, jira_email="admin@example.com", **fields
        )

    @pytest.mark.parametrize("cloud_id_known", [True, False])
    def test_two_jira_sites_are_two_products_and_jiras_seats_go_to_its_own(self, sandboxed, cloud_id_known):
        organization = self._organization(sandboxed, cloud_id=sandboxed.state.cloud_id if cloud_id_known else "")
        with client_for(organization, sleep=lambda s: None) as client:
            _sync(organization, client)
            role = next(r for r in client.application_roles() if r.key == "jira-software")
        jira = Product.objects.filter(organization=organization, key="jira-software")
        assert jira.count() == 2
        production = jira.get(resource_id=sandboxed.state.data.resource_id(0))
        sandbox = jira.exclude(pk=production.pk).get()
        assert (production.seats_total, production.seats_used) == (role.number_of_seats, role.user_count)
        assert sandbox.seats_total is None
        assert sandbox.seats_used == sandbox.access.filter(account__status=AccountStatus.ACTIVE).count()


class TestMigration:
    def test_group_ids_are_made_canonical_unless_the_bare_id_exists(self):
        migration = importlib.import_module("accounts.migrations.0006_unknown_status_group_id_form")
        org = OrganizationFactory()
        renamed = Group.objects.create(organization=org, group_id=GROUP_ARI_PREFIX + "aaa", name="a")
        real = Group.objects.create(organization=org, group_id="bbb", name="b")
        phantom = Group.objects.create(organization=org, group_id=GROUP_ARI_PREFIX + "bbb", name="b")
        migration.canonical_group_ids(django_apps, None)
        assert Group.objects.get(pk=renamed.pk).group_id == "aaa"
        assert Group.objects.get(pk=real.pk).group_id == "bbb"
        assert Group.objects.get(pk=phantom.pk).group_id == GROUP_ARI_PREFIX + "bbb"  # the next sync retires it

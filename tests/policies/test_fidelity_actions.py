"""Safety rails of destructive actions, against the simulator over HTTP (DESIGN.md 5.10-5.12).

- Right before acting, the account is read from Atlassian; the action is cancelled (with the
  reason) when it was active since the sync, changed status, lost the product or moved directory.
- Accounts an identity provider provisions (SCIM) are never sent lifecycle calls Atlassian refuses
  for them; they get "action needed in the identity provider", in the preview, the run and bulk.
- A direct product role is revoked by its exact name, and a revoke that changed nothing fails.
"""

import csv
import io
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core import mail
from django.urls import reverse

from accounts.bulk import Outcome, accounts_bulk_apply
from accounts.clients import client_for as atlassian_client_for
from accounts.models import Account, Product
from accounts.services.memberships import product_access_plan, product_access_remove
from accounts.sync.runner import organization_sync
from governance.atlassian.errors import AtlassianError
from governance.atlassian.simulator.dataset import PRODUCT_BY_KEY
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from policies.models import Enforcement, EnforcementStatus
from policies.selectors.preview import policy_preview
from policies.services.runs import policy_run
from tests.factories import jira_suspend_policy
from tests.policies.conftest import RUN_AT, SIM_NOW

pytestmark = pytest.mark.django_db
IDLE = SIM_NOW - timedelta(days=200)
JOINED = SIM_NOW - timedelta(days=800)
ACTOR = Actor.system("fidelity test")
PEOPLE = ("scim", "mover", "woke", "suspended", "lost", "steady", "admin")


@pytest.fixture
def people(simulator):
    state = simulator.state

    def idle(name, **extra):
        extra.setdefault("groups", ["jira-software-users"])
        return state.add_user(
            name,
            f"{name.split()[0].lower()}@example.com",
            last_active={"jira-software": IDLE},
            added_to_org=JOINED,
            **extra,
        )

    ids = SimpleNamespace(
        scim=idle("Sam Scim", directory="idp"),
        mover=idle("Mo Mover"),
        woke=idle("Al Awake"),
        suspended=idle("Stu Status"),
        lost=idle("Lu Lost"),
        steady=idle("Ste Steady"),
        admin=idle("Ada Admin", groups=[]),
    )
    state.assign_role(state.account(ids.admin), "atlassian/admin", PRODUCT_BY_KEY["jira-software"])
    return ids


@pytest.fixture
def world(simulator, people, organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    organization.refresh_from_db()
    accounts = {name: Account.objects.get(account_id=getattr(people, name)) for name in PEOPLE}
    return SimpleNamespace(organization=organization, jira=Product.objects.get(key="jira-software"), **accounts)


def _changed_after_the_sync(simulator, world):
    """What happens in Atlassian between the sync and the action."""
    state = simulator.state
    state.move_to_directory(world.mover.account_id, 1)
    state.set_last_active(world.woke.account_id, "jira-software", SIM_NOW - timedelta(minutes=5))
    state.suspend(state.account(world.suspended.account_id))
    state.remove_member(state.group_by_name("jira-software-users"), state.account(world.lost.account_id))


def _requests_for(simulator, account_id, since=0):
    return [s for s in simulator.requests_log[since:] if account_id in s.path]


def _writes(simulator, since=0):
    return [s for s in simulator.requests_log[since:] if s.method != "GET" and not s.path.endswith("/search")]


def _bulk(action, accounts, **params):
    return accounts_bulk_apply(
        action=action,
        account_ids=[a.pk for a in accounts],
        params={"reason": "idle in Jira", **params},
        actor=ACTOR,
        client_factory=lambda org: atlassian_client_for(org, sleep=lambda s: None, max_total_wait=5),
    )


class TestRecheck:
    def test_a_policy_run_cancels_each_account_that_changed_since_the_sync_and_says_why(self, simulator, world):
        policy = jira_suspend_policy(world.organization)
        _changed_after_the_sync(simulator, world)
        since = len(simulator.requests_log)
        result = policy_run(policy=policy, now=RUN_AT)
        cases = {e.account_id: e for e in Enforcement.objects.filter(policy=policy)}
        expected = {
            world.mover: "no longer in the directory",
            world.woke: "was active in Atlassian",
            world.suspended: "status changed since the sync: active in the mirror, suspended in Atlassian",
            world.lost: "no longer has Jira Software",
        }
        for account, why in expected.items():
            case = cases[account.pk]
            assert case.status == EnforcementStatus.CANCELLED, (account, case.error)
            assert why in case.decision_note
            event = AuditEvent.objects.get(action=AuditAction.ENFORCEMENT_CANCELLED, target_id=str(case.pk))
            assert why in event.reason
            # Read, never written.
            assert not [s for s in _requests_for(simulator, account.account_id, since) if s.method != "POST"]
            assert not [s for s in _writes(simulator, since) if account.account_id in s.path]
        assert cases[world.steady.pk].status == EnforcementStatus.DONE
        assert simulator.state.user(world.steady.account_id).status == "suspended"
        assert simulator.state.user(world.mover.account_id).status == "active"
        assert result.counts["cancelled_changed_since_sync"] == len(expected)

    def test_the_re_check_brings_the_mirror_up_to_date_for_the_account(self, simulator, world):
        policy = jira_suspend_policy(world.organization)
        _changed_after_the_sync(simulator, world)
        policy_run(policy=policy, now=RUN_AT)
        world.suspended.refresh_from_db()
        world.woke.refresh_from_db()
        assert world.suspended.status == "suspended"
        assert world.woke.last_active > IDLE

    def test_a_bulk_action_skips_each_account_that_changed_since_the_sync(self, simulator, world):
        _changed_after_the_sync(simulator, world)
        accounts = [world.mover, world.woke, world.suspended, world.steady]
        since = len(simulator.requests_log)
        outcome = _bulk("suspend", accounts)
        results = {r.account_pk: r for r in outcome.results}
        for account in (world.mover, world.woke, world.suspended):
            assert results[account.pk].outcome == Outcome.SKIPPED
            assert results[account.pk].message.startswith("changed since the sync: ")
        assert results[world.steady.pk].outcome == Outcome.DONE
        assert [s.path for s in _writes(simulator, since)] == [
            f"/admin/v2/orgs/sim-org/directories/{world.steady.directory_id}/users/{world.steady.account_id}/suspend"
        ]

    def test_a_bulk_product_removal_skips_an_account_that_already_lost_the_product(self, simulator, world):
        _changed_after_the_sync(simulator, world)
        since = len(simulator.requests_log)
        outcome = _bulk("remove_product_access", [world.lost], product=world.jira.pk)
        assert [r.outcome for r in outcome.results] == [Outcome.SKIPPED]
        assert "no longer has Jira Software" in outcome.results[0].message
        assert _writes(simulator, since) == []


class TestIdentityProvider:
    def _policy(self, world):
        return jira_suspend_policy(world.organization, action="deactivate", name="Deactivate idle Jira users")

    def test_the_preview_counts_and_lists_them_for_the_identity_team(self, world, client_for, alice):
        policy = self._policy(world)
        preview = policy_preview(policy, RUN_AT)
        row = next(r for r in preview.rows if r.account_pk == world.scim.pk)
        assert row.today == "act"
        assert row.idp == world.organization.directory_name(world.scim.directory_id)
        assert preview.today_counts["idp"] >= 1
        assert world.steady.pk not in {r.account_pk for r in preview.shown("idp")}
        response = client_for(alice).get(
            reverse("admin:policies_inactivitypolicy_preview_csv", args=[policy.pk]) + "?show=idp"
        )
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert world.scim.account_id in {r["atlassian_account_id"] for r in rows}
        assert all(r["identity_provider"] for r in rows)

    def test_a_run_sends_them_no_lifecycle_call_and_records_the_outcome(self, simulator, world, settings):
        settings.IDP_TEAM_EMAIL = "identity-team@example.com"
        policy = self._policy(world)
        since = len(simulator.requests_log)
        result = policy_run(policy=policy, now=RUN_AT)
        case = Enforcement.objects.get(policy=policy, account=world.scim)
        assert case.status == EnforcementStatus.IDP_ACTION_NEEDED
        assert "identity provider" in case.decision_note
        assert result.counts["idp_action_needed"] >= 1
        assert result.counts["to_act_idp"] == result.counts["idp_action_needed"]
        assert _requests_for(simulator, world.scim.account_id, since) == []
        lifecycle = [s for s in simulator.requests_log[since:] if "/manage/lifecycle/" in s.path]
        assert lifecycle
        assert all(s.status == 204 for s in lifecycle)
        assert AuditEvent.objects.filter(
            action=AuditAction.ENFORCEMENT_IDP_ACTION_NEEDED, target_id=str(case.pk)
        ).exists()
        [message] = [m for m in mail.outbox if m.to == ["identity-team@example.com"]]
        [(_name, content, kind)] = message.attachments
        assert kind == "text/csv"
        assert world.scim.account_id in content
        # The next run neither opens the case again nor calls Atlassian for it.
        since = len(simulator.requests_log)
        policy_run(policy=policy, now=RUN_AT + timedelta(minutes=5))
        assert Enforcement.objects.filter(policy=policy, account=world.scim).count() == 1
        assert _requests_for(simulator, world.scim.account_id, since) == []

    def test_the_run_page_offers_the_identity_team_s_csv(self, world, client_for, alice):
        policy = self._policy(world)
        result = policy_run(policy=policy, now=RUN_AT)
        response = client_for(alice).get(reverse("admin:policies_policyrun_idp_csv", args=[result.run.pk]))
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        scim = next(r for r in rows if r["atlassian_account_id"] == world.scim.account_id)
        assert scim["action_needed"] == "deactivate"
        assert scim["identity_provider"] == world.organization.directory_name(world.scim.directory_id)
        assert {r["atlassian_account_id"] for r in rows} == set(
            Account.objects.filter(
                enforcements__policy=policy, enforcements__status=EnforcementStatus.IDP_ACTION_NEEDED
            ).values_list("account_id", flat=True)
        )

    def test_a_bulk_deactivation_refuses_them_up_front_naming_the_identity_provider(self, simulator, world):
        since = len(simulator.requests_log)
        outcome = _bulk("deactivate", [world.scim, world.steady])
        results = {r.account_pk: r for r in outcome.results}
        assert results[world.scim.pk].outcome == Outcome.IDP_ACTION_NEEDED
        assert world.organization.directory_name(world.scim.directory_id) in results[world.scim.pk].message
        assert results[world.steady.pk].outcome == Outcome.DONE
        assert outcome.count_dict()["idp_action_needed"] == 1
        assert _requests_for(simulator, world.scim.account_id, since) == []

    def test_atlassian_answers_the_documented_403_when_asked_anyway(self, simulator, world, atlassian):
        with pytest.raises(AtlassianError) as caught:
            atlassian.lifecycle_disable(world.scim.account_id)
        assert caught.value.status == 403
        assert simulator.state.user(world.scim.account_id).status == "active"


class TestDirectRoles:
    def test_the_exact_direct_role_is_revoked_not_atlassian_user(self, simulator, world, atlassian):
        since = len(simulator.requests_log)
        outcome = _bulk("remove_product_access", [world.admin], product=world.jira.pk)
        assert [r.outcome for r in outcome.results] == [Outcome.DONE], outcome.results
        event = AuditEvent.objects.get(action=AuditAction.ROLE_REVOKED, target_id=str(world.admin.pk))
        assert event.after["role"] == "atlassian/admin"
        assert not simulator.state.data.direct_roles.get(simulator.state.account(world.admin.account_id).idx)
        assert "jira-software" not in simulator.state.user(world.admin.account_id).products
        assert not [s for s in _writes(simulator, since) if "/directories/-/" in s.path]

    def test_a_policy_plans_the_exact_role_too(self, simulator, world):
        policy = jira_suspend_policy(world.organization, action="remove_product_access")
        policy_run(policy=policy, now=RUN_AT)
        case = Enforcement.objects.get(policy=policy, account=world.admin)
        assert case.status == EnforcementStatus.DONE, case.error
        assert case.removed["roles"] == [{"role": "atlassian/admin", "resource": world.jira.resource_id}]

    def test_a_revoke_that_changes_nothing_is_reported_as_a_failure(self, simulator, world, atlassian):
        # A plan recorded before (the mirror's guess): atlassian/user, while Ada holds atlassian/admin.
        plan = product_access_plan(account=world.admin, products=[world.jira])
        assert plan["roles"] == [{"role": "atlassian/user", "resource": world.jira.resource_id}]
        with pytest.raises(AtlassianError, match="changed nothing"):
            product_access_remove(account=world.admin, plan=plan, client=atlassian, actor=ACTOR, reason="idle")
        failed = AuditEvent.objects.get(action=AuditAction.ATLASSIAN_CALL_FAILED, target_id=str(world.admin.pk))
        assert "changed nothing" in failed.after["error"]
        assert not AuditEvent.objects.filter(action=AuditAction.ROLE_REVOKED, target_id=str(world.admin.pk)).exists()
        assert "jira-software" in simulator.state.user(world.admin.account_id).products

"""Removing one product takes that product's seat and nothing else (DESIGN.md 5.9), and the mirror
equals Atlassian right after every change (5.10). Against the simulator over HTTP, no sync between.

Three people join the seeded organization, each idle in Jira Software for 200 days:
- Ida gets Jira from ``jira-software-users`` and from ``site-admins``, which also grants Confluence,
  Jira Service Management, admin roles and the site-admin role: she keeps all of it and goes to the
  review queue with the reason;
- Jo gets Jira from ``jira-software-users`` only: she leaves that group and keeps Confluence;
- Di holds Jira by a role given to her directly: the role is revoked, Confluence stays.
"""

import html
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.bulk import Outcome, accounts_bulk_apply
from accounts.clients import client_for as atlassian_client_for
from accounts.models import Account, Group, Organization, Product
from accounts.sync.runner import organization_sync
from governance.atlassian.simulator.dataset import PRODUCT_BY_KEY
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from policies.access.services import access_request_create, access_request_fulfil
from policies.models import Enforcement, EnforcementStatus, Exemption, PolicyMode
from policies.models.access_requests import AccessRequestStatus
from policies.selectors.preview import policy_preview
from policies.services.policies import exemption_create
from policies.services.review import ReviewRefused, enforcement_approve, run_undo
from policies.services.runs import evaluate, policy_run
from tests.accounts.mirror import assert_mirror_equals_simulator, assert_next_sync_changes_nothing
from tests.factories import jira_suspend_policy
from tests.policies.conftest import RUN_AT, SIM_NOW

pytestmark = pytest.mark.django_db
IDLE = SIM_NOW - timedelta(days=200)
RECENT = SIM_NOW - timedelta(days=3)
JOINED = SIM_NOW - timedelta(days=800)
EVERYTHING = {"jira-software", "confluence", "jira-servicedesk"}
ACTOR = Actor.system("precise removal test")


@pytest.fixture
def people(simulator):
    state = simulator.state
    ida = state.add_user(
        "Ida Sharedadmin",
        "ida.sharedadmin@example.com",
        groups=["jira-software-users", "site-admins"],
        last_active=dict.fromkeys(EVERYTHING, IDLE),
        added_to_org=JOINED,
    )
    jo = state.add_user(
        "Jo Jiraonly",
        "jo.jiraonly@example.com",
        groups=["jira-software-users", "confluence-users"],
        last_active={"jira-software": IDLE, "confluence": RECENT},
        added_to_org=JOINED,
    )
    di = state.add_user(
        "Di Direct",
        "di.direct@example.com",
        groups=["confluence-users"],
        last_active={"jira-software": IDLE, "confluence": RECENT},
        added_to_org=JOINED,
    )
    state.assign_role(state.account(di), "atlassian/user", PRODUCT_BY_KEY["jira-software"])
    return SimpleNamespace(ida=ida, jo=jo, di=di)


@pytest.fixture
def world(people, organization, atlassian):
    """The organization, synced once the three people are in it."""
    assert organization_sync(organization=organization, client=atlassian).ok
    organization.refresh_from_db()
    mirror = {name: Account.objects.get(account_id=account_id) for name, account_id in vars(people).items()}
    return SimpleNamespace(organization=organization, jira=Product.objects.get(key="jira-software"), **mirror)


@pytest.fixture
def api_client_for():
    def login(user):
        client = APIClient()
        client.force_login(user)
        return client

    return login


def _policy(world, **fields):
    return jira_suspend_policy(world.organization, action="remove_product_access", **fields)


def _remote(simulator, account):
    return simulator.state.user(account.account_id)


def _assert_ida_keeps_everything(simulator, world):
    ida = _remote(simulator, world.ida)
    assert set(ida.groups) == {"jira-software-users", "site-admins"}
    assert set(ida.products) == EVERYTHING
    assert "atlassian/site-admin" in ida.platform_roles


def _assert_jo_and_di_lost_only_jira(simulator, world):
    jo, di = _remote(simulator, world.jo), _remote(simulator, world.di)
    assert (set(jo.groups), set(jo.products)) == ({"confluence-users"}, {"confluence"})
    assert (set(di.groups), set(di.products)) == ({"confluence-users"}, {"confluence"})
    assert not simulator.state.data.direct_roles.get(simulator.state.account(world.di.account_id).idx)


class TestPreview:
    def test_the_preview_counts_ida_apart_from_the_seats_really_freed(self, world):
        policy = _policy(world)
        preview = policy_preview(policy, RUN_AT)
        rows = {row.account_pk: row for row in preview.rows}
        assert "site-admins" in rows[world.ida.pk].needs_review
        assert "the site-admin role" in rows[world.ida.pk].needs_review
        assert rows[world.jo.pk].needs_review == rows[world.di.pk].needs_review == ""
        acted = [r for r in preview.rows if r.today == "act" and "Jira Software" in r.products]
        waiting = [r for r in acted if r.needs_review]
        assert world.ida.pk in {r.account_pk for r in waiting}
        jira = next(seat for seat in preview.seats if seat.product == "Jira Software")
        assert (jira.today, jira.needs_review_today) == (len(acted) - len(waiting), len(waiting))
        assert preview.today_counts["needs_review"] == len(waiting)

    def test_the_admin_preview_page_and_the_api_say_so(self, world, client_for, alice, api_client_for):
        policy = _policy(world)
        with time_machine.travel(RUN_AT, tick=False):
            page = html.unescape(
                client_for(alice)
                .get(reverse("admin:policies_inactivitypolicy_preview", args=[policy.pk]))
                .content.decode()
            )
            body = api_client_for(alice).get(reverse("api:policy-preview", args=[policy.pk]), {"limit": 1000}).json()
        assert re.search(r"Needs a decision, nothing removed: Jira Software comes through site-admins", page)
        assert 'id="needs-review"' in page
        row = next(r for r in body["decisions"] if r["account"] == world.ida.pk)
        assert "site-admins" in row["needs_review"]
        jira = next(seat for seat in body["seats"] if seat["product"] == "Jira Software")
        assert jira["needs_review_today"] == body["today_counts"]["needs_review"] >= 1


class TestBulk:
    def test_the_bulk_action_leaves_ida_alone_and_takes_only_jira_from_jo_and_di(self, simulator, world, atlassian):
        accounts = [world.ida, world.jo, world.di]
        outcome = accounts_bulk_apply(
            action="remove_product_access",
            account_ids=[a.pk for a in accounts],
            params={"reason": "idle in Jira", "product": world.jira.pk},
            actor=ACTOR,
            client_factory=lambda org: atlassian_client_for(org, sleep=lambda s: None, max_total_wait=5),
        )
        results = {r.account_pk: r for r in outcome.results}
        assert results[world.ida.pk].outcome == Outcome.NEEDS_REVIEW
        assert "Jira Software comes through site-admins, which also grants Confluence" in results[world.ida.pk].message
        assert (results[world.jo.pk].outcome, results[world.di.pk].outcome) == (Outcome.DONE, Outcome.DONE)
        assert outcome.count_dict() == {"done": 2, "skipped": 0, "refused": 0, "failed": 0, "needs_review": 1}
        _assert_ida_keeps_everything(simulator, world)
        _assert_jo_and_di_lost_only_jira(simulator, world)
        assert not AuditEvent.objects.filter(target_id__startswith=f"{world.ida.account_id}:").exists()
        assert_mirror_equals_simulator(simulator, accounts)
        assert_next_sync_changes_nothing(world.organization, atlassian, accounts)

    def test_the_confirmation_page_counts_the_seats_freed_and_who_is_left_alone(self, world, client_for, alice):
        data = {
            "action": "bulk_remove_product_access",
            "index": "0",
            "select_across": "0",
            "_selected_action": [world.ida.pk, world.jo.pk, world.di.pk],
        }
        page = html.unescape(
            client_for(alice).post(reverse("admin:accounts_account_changelist"), data).content.decode()
        )
        jira = re.search(
            r'<tr class="removal-row"><td>Jira Software</td><td>(\d+)</td>\s*<td>(\d+)</td><td>(\d+)</td>', page
        )
        assert jira, page
        assert jira.groups() == ("3", "2", "1")
        assert "Ida Sharedadmin: Jira Software comes through site-admins" in page


class TestPolicyRun:
    def _run(self, policy):
        return policy_run(policy=policy, now=RUN_AT)

    def test_ida_goes_to_the_review_queue_with_the_reason_and_keeps_everything(self, simulator, world, atlassian):
        result = self._run(_policy(world))
        ida = Enforcement.objects.get(account=world.ida)
        assert ida.status == EnforcementStatus.AWAITING_REVIEW
        attention = ida.removed["attention"]
        assert attention.startswith("Jira Software comes through site-admins, which also grants Confluence")
        assert ida.removed == {"attention": attention}
        assert ida.reason.startswith(f"Needs a decision: {attention}. ")
        assert result.counts["needs_review"] == result.counts["to_act_needs_review"] == 1
        _assert_ida_keeps_everything(simulator, world)

        jo, di = Enforcement.objects.get(account=world.jo), Enforcement.objects.get(account=world.di)
        assert (jo.status, di.status) == (EnforcementStatus.DONE, EnforcementStatus.DONE)
        assert jo.removed["groups"] == [Group.objects.get(name="jira-software-users").group_id]
        assert jo.removed["roles"] == []
        assert di.removed["groups"] == []
        assert di.removed["roles"] == [{"role": "atlassian/user", "resource": world.jira.resource_id}]
        _assert_jo_and_di_lost_only_jira(simulator, world)

        executed = set(Account.objects.filter(enforcements__executed_run=result.run).values_list("pk", flat=True))
        assert len(executed) == result.counts["executed_done"]
        touched = Account.objects.filter(pk__in=executed | {world.ida.pk})
        assert_mirror_equals_simulator(simulator, touched)
        assert_next_sync_changes_nothing(world.organization, atlassian, touched)

    def test_a_review_mode_run_queues_everyone_and_says_why_ida_needs_a_decision(self, simulator, world):
        result = self._run(_policy(world, mode=PolicyMode.REVIEW))
        queued = {e.account_id: e for e in Enforcement.objects.filter(status=EnforcementStatus.AWAITING_REVIEW)}
        assert {world.ida.pk, world.jo.pk, world.di.pk} <= set(queued)
        assert queued[world.ida.pk].removed["attention"].startswith("Jira Software comes through site-admins")
        assert queued[world.ida.pk].reason.startswith("Needs a decision: Jira Software comes through site-admins")
        assert "attention" not in queued[world.jo.pk].removed
        assert result.counts["needs_review"] == result.counts["to_act_needs_review"] == 1
        _assert_ida_keeps_everything(simulator, world)

    def test_the_next_run_leaves_the_item_waiting_and_an_exemption_cancels_it(self, simulator, world, alice):
        policy = _policy(world)
        self._run(policy)
        self._run(policy)
        assert Enforcement.objects.get(account=world.ida).status == EnforcementStatus.AWAITING_REVIEW
        exemption = Exemption(organization=world.organization, account=world.ida, reason="site admin", created_by=alice)
        exemption_create(exemption=exemption, actor=Actor.for_user(alice))
        self._run(policy)
        assert Enforcement.objects.get(account=world.ida).status == EnforcementStatus.CANCELLED
        _assert_ida_keeps_everything(simulator, world)

    def test_a_plain_approval_is_refused_and_removing_the_shared_groups_is_explicit(
        self, simulator, world, atlassian, alice
    ):
        self._run(_policy(world))
        ida = Enforcement.objects.get(account=world.ida)
        Organization.objects.filter(pk=world.organization.pk).update(last_complete_sync_at=timezone.now())
        actor = Actor.for_user(alice)
        with pytest.raises(ReviewRefused, match="site-admins"):
            enforcement_approve(enforcement=ida, actor=actor, reason="ok", client=atlassian)
        _assert_ida_keeps_everything(simulator, world)
        assert Enforcement.objects.get(pk=ida.pk).status == EnforcementStatus.AWAITING_REVIEW

        status = enforcement_approve(
            enforcement=ida, actor=actor, reason="left the admin team", client=atlassian, remove_shared_groups=True
        )
        assert status == EnforcementStatus.DONE
        ida.refresh_from_db()
        assert ida.removed["shared_groups"] == ["site-admins"]
        approved = AuditEvent.objects.get(action=AuditAction.ENFORCEMENT_APPROVED)
        assert approved.after == {"remove_shared_groups": ["site-admins"]}
        remote = _remote(simulator, world.ida)
        assert "jira-software" not in remote.products
        assert not {"jira-software-users", "site-admins"} & set(remote.groups)
        assert_mirror_equals_simulator(simulator, [world.ida])

    def test_the_admin_queue_shows_why_and_offers_the_explicit_approval(self, simulator, world, client_for, alice):
        self._run(_policy(world))
        Organization.objects.filter(pk=world.organization.pk).update(last_complete_sync_at=timezone.now())
        ida = Enforcement.objects.get(account=world.ida)
        client = client_for(alice)
        changelist = reverse("admin:policies_enforcement_changelist")
        flagged = client.get(changelist + "?needs_decision=yes")
        assert [e.pk for e in flagged.context["cl"].result_list] == [ida.pk]

        def post(action):
            data = {"action": action, "index": "0", "_selected_action": [ida.pk], "_confirm": "1", "reason": "seen"}
            return html.unescape(client.post(changelist, data, follow=True).content.decode())

        assert "Not approved: 1 — Ida Sharedadmin (Jira Software comes through site-admins" in post("approve_selected")
        assert Enforcement.objects.get(pk=ida.pk).status == EnforcementStatus.AWAITING_REVIEW
        post("approve_removing_shared_groups")
        assert Enforcement.objects.get(pk=ida.pk).status == EnforcementStatus.DONE
        assert "site-admins" not in _remote(simulator, world.ida).groups

    def test_the_api_refuses_a_plain_approval_with_the_reason(self, world, api_client_for, alice):
        self._run(_policy(world))
        Organization.objects.filter(pk=world.organization.pk).update(last_complete_sync_at=timezone.now())
        ida = Enforcement.objects.get(account=world.ida)
        url = reverse("api:enforcement-approve", args=[ida.pk])
        refused = api_client_for(alice).post(url, {"reason": "ok"}, format="json")
        assert refused.status_code == 409
        assert "site-admins" in refused.json()["detail"]
        done = api_client_for(alice).post(url, {"reason": "ok", "remove_shared_groups": True}, format="json")
        assert done.status_code == 200, done.json()
        assert done.json()["status"] == EnforcementStatus.DONE


class TestGivingBack:
    def test_after_an_undo_the_mirror_equals_atlassian(self, simulator, world, atlassian):
        result = policy_run(policy=_policy(world), now=RUN_AT)
        touched = list(Account.objects.filter(enforcements__executed_run=result.run))
        assert {world.jo, world.di} <= set(touched)
        counts = run_undo(run=result.run, actor=ACTOR, reason="wrong policy", client=atlassian)
        assert counts == {"reversed": len(touched), "failed": 0}
        assert "jira-software" in _remote(simulator, world.jo).products
        assert "jira-software" in _remote(simulator, world.di).products
        assert_mirror_equals_simulator(simulator, touched)
        assert_next_sync_changes_nothing(world.organization, atlassian, touched)

    def test_after_a_request_is_fulfilled_the_mirror_equals_atlassian(self, simulator, world, atlassian):
        policy = _policy(world)
        policy_run(policy=policy, now=RUN_AT)
        enforcement = Enforcement.objects.get(account=world.jo)
        request = access_request_create(enforcement=enforcement, nonce=enforcement.nonce, justification="back")
        assert access_request_fulfil(access_request=request, client=atlassian) == AccessRequestStatus.FULFILLED
        assert set(_remote(simulator, world.jo).groups) == {"jira-software-users", "confluence-users"}
        assert_mirror_equals_simulator(simulator, [world.jo])
        # Back in the mirror at once: the product policy sees Jo in its scope again.
        assert evaluate(policy, RUN_AT, account_pks=[world.jo.pk]).scope_size == 1
        assert_next_sync_changes_nothing(world.organization, atlassian, [world.jo])

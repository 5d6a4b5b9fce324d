"""Access reviews in the admin: starting, closing and raising the cap (portal admins), deciding
(reviewers, their own items only), group owners, and the evidence CSV (auditors)."""

import csv
import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import Membership
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from policies.models import CampaignStatus, GroupReviewOwner, ItemOutcome, ReviewCampaign, ReviewDecision
from policies.services.review_items import items_decide
from policies.services.reviews import campaign_close, review_link
from tests.policies.reviews_world import reviewable_groups, reviewer, start

CAMPAIGNS = "/admin/policies/reviewcampaign/"
ITEMS = "/admin/policies/reviewitem/"
OWNERS = "/admin/policies/groupreviewowner/"


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def action(client, url, name, pks, **confirm):
    data = {"action": name, "_selected_action": [str(pk) for pk in pks], "index": "0"}
    if confirm:
        data.update({"_confirm": "1", **confirm})
    return client.post(url, data)


@pytest.fixture
def two_reviewers(mirrored, alice):
    """Rita owns one group's review and Sam another's; one campaign over both."""
    rita, sam = reviewer("rita"), reviewer("sam")
    first, second = reviewable_groups(mirrored, 2)
    GroupReviewOwner.objects.create(group=first, user=rita)
    GroupReviewOwner.objects.create(group=second, user=sam)
    campaign = start(mirrored, alice, [first, second])
    return campaign, rita, sam


class TestStartingACampaign:
    def _form(self, organization, groups, **fields):
        deadline = timezone.localtime(timezone.now() + timedelta(days=10))
        return {
            "organization": organization.pk,
            "name": "Contractors Q3",
            "scope": "groups",
            "groups": [g.pk for g in groups],
            "deadline_0": deadline.strftime("%Y-%m-%d"),
            "deadline_1": deadline.strftime("%H:%M:%S"),
            "remind_days_before": "2",
            "undecided": "keep",
            "max_revocations": "10",
            **fields,
        }

    def test_alice_starts_a_campaign_with_the_form_and_it_is_audited(self, mirrored, alice):
        rita = reviewer("rita")
        [group] = reviewable_groups(mirrored, 1)

        response = login(alice).post(CAMPAIGNS + "add/", self._form(mirrored, [group], reviewer=rita.pk))

        assert response.status_code == 302, response.content[:2000]
        campaign = ReviewCampaign.objects.get()
        assert campaign.reviewer == rita
        assert campaign.max_revocations == 10
        assert campaign.items.count() == Membership.objects.filter(group=group).count()
        assert AuditEvent.objects.filter(action=AuditAction.REVIEW_CAMPAIGN_STARTED).count() == 1

    def test_the_form_refuses_a_group_nobody_would_review(self, mirrored, alice):
        [group] = reviewable_groups(mirrored, 1)

        response = login(alice).post(CAMPAIGNS + "add/", self._form(mirrored, [group]))

        assert response.status_code == 200
        assert b"Nobody would review" in response.content
        assert not ReviewCampaign.objects.exists()

    def test_a_reviewer_without_the_reviewers_role_cannot_be_named(self, mirrored, alice, hank):
        [group] = reviewable_groups(mirrored, 1)

        response = login(alice).post(CAMPAIGNS + "add/", self._form(mirrored, [group], reviewer=hank.pk))

        assert response.status_code == 200
        assert not ReviewCampaign.objects.exists()

    @pytest.mark.parametrize("persona", ["hank", "audrey"])
    def test_only_portal_admins_start_campaigns(self, db, request, persona):
        # ``db`` named here, not only reached through getfixturevalue: pytest-django orders tests by
        # the database access they declare, and this one, run among the tests without any, left a
        # connection open that kept PostgreSQL from dropping the test database at the end.
        assert login(request.getfixturevalue(persona)).get(CAMPAIGNS + "add/").status_code == 403

    def test_a_started_campaign_is_read_only(self, two_reviewers, alice):
        campaign, _rita, _sam = two_reviewers
        page = login(alice).get(f"{CAMPAIGNS}{campaign.pk}/change/")
        assert page.status_code == 200
        assert b'name="name"' not in page.content
        assert b"review-close" in page.content
        assert login(alice).post(f"{CAMPAIGNS}{campaign.pk}/delete/", {"post": "yes"}).status_code == 403


class TestReviewersSeeOnlyTheirItems:
    def test_the_email_link_shows_a_reviewer_their_own_items_and_nobody_elses(self, two_reviewers):
        campaign, rita, sam = two_reviewers
        link = review_link(campaign).removeprefix(settings.PORTAL_BASE_URL)

        listing = login(rita).get(link)

        assert listing.status_code == 200
        shown = set(listing.context["cl"].result_list.values_list("pk", flat=True))
        assert shown == set(campaign.items.filter(reviewer=rita).values_list("pk", flat=True))
        assert shown
        ritas_accounts = campaign.items.filter(reviewer=rita).values("account")
        others = campaign.items.filter(reviewer=sam).exclude(account__in=ritas_accounts).select_related("account")
        assert others
        for item in others:
            assert f">{item.account}<".encode() not in listing.content

    def test_another_reviewers_item_page_is_not_found(self, two_reviewers):
        campaign, rita, sam = two_reviewers
        sams = campaign.items.filter(reviewer=sam).first()

        assert login(rita).get(f"{ITEMS}{sams.pk}/change/").status_code == 404
        assert login(sam).get(f"{ITEMS}{sams.pk}/change/").status_code == 200

    def test_a_reviewer_cannot_decide_another_reviewers_items(self, two_reviewers):
        campaign, rita, sam = two_reviewers
        sams = list(campaign.items.filter(reviewer=sam).values_list("pk", flat=True))

        action(login(rita), ITEMS, "revoke_selected", sams, reason="not mine to say")

        assert not campaign.items.exclude(decision="").exists()
        assert not AuditEvent.objects.filter(action=AuditAction.REVIEW_DECIDED).exists()

    def test_a_reviewer_decides_their_own_items_in_bulk_with_a_reason(self, two_reviewers):
        campaign, rita, _sam = two_reviewers
        ritas = list(campaign.items.filter(reviewer=rita).values_list("pk", flat=True))
        client = login(rita)

        confirm = action(client, ITEMS, "revoke_selected", ritas)
        assert confirm.status_code == 200
        assert b"Reason" in confirm.content
        assert action(client, ITEMS, "revoke_selected", ritas, reason="").status_code == 200
        assert not campaign.items.exclude(decision="").exists()

        done = action(client, ITEMS, "revoke_selected", ritas, reason="left the project")

        assert done.status_code == 302
        assert set(campaign.items.filter(pk__in=ritas).values_list("decision", flat=True)) == {ReviewDecision.REVOKE}
        assert set(campaign.items.exclude(pk__in=ritas).values_list("decision", flat=True)) == {""}
        events = AuditEvent.objects.filter(action=AuditAction.REVIEW_DECIDED)
        assert events.count() == len(ritas)
        assert {e.reason for e in events} == {"left the project"}

    @pytest.mark.parametrize("persona", ["alice", "hank", "audrey"])
    def test_staff_roles_see_every_item_but_decide_none_of_anothers(self, request, two_reviewers, persona):
        campaign, _rita, _sam = two_reviewers
        client = login(request.getfixturevalue(persona))

        listing = client.get(ITEMS)

        assert listing.status_code == 200
        assert listing.context["cl"].result_count == campaign.items.count()
        first = campaign.items.first()
        # Portal admins hold every policies permission (they may be named reviewers themselves),
        # but only the assigned reviewer decides an item: the others' actions are refused outright.
        response = action(client, ITEMS, "keep_selected", [first.pk], reason="x")
        assert response.status_code == (302 if persona == "alice" else 403)
        assert not campaign.items.exclude(decision="").exists()
        assert not AuditEvent.objects.filter(action=AuditAction.REVIEW_DECIDED).exists()

    def test_a_user_without_a_role_sees_no_items(self, two_reviewers, nobody):
        assert login(nobody).get(ITEMS).status_code == 403


class TestClosing:
    def test_alice_closes_with_a_reason_and_revoked_memberships_are_removed(self, two_reviewers, alice):
        campaign, rita, _sam = two_reviewers
        revoked = campaign.items.filter(reviewer=rita).first()
        items_decide(items=[revoked], decision="revoke", reason="gone", user=rita, actor=Actor.for_user(rita))
        client = login(alice)

        assert action(client, CAMPAIGNS, "close_selected", [campaign.pk]).status_code == 200
        done = action(client, CAMPAIGNS, "close_selected", [campaign.pk], reason="quarter ended")

        assert done.status_code == 302
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.CLOSED
        revoked.refresh_from_db()
        assert revoked.outcome == ItemOutcome.REVOKED
        assert not Membership.objects.filter(account=revoked.account, group=revoked.group).exists()
        closed = AuditEvent.objects.get(action=AuditAction.REVIEW_CAMPAIGN_CLOSED)
        assert closed.reason == "quarter ended"

    def test_over_the_cap_it_halts_and_the_raise_cap_action_lets_it_close(self, mirrored, alice):
        rita = reviewer("rita")
        [group] = reviewable_groups(mirrored, 1)
        campaign = start(mirrored, alice, [group], reviewer=rita, undecided="revoke", max_revocations=1)
        client = login(alice)

        action(client, CAMPAIGNS, "close_selected", [campaign.pk], reason="deadline")
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.HALTED
        assert b"review-raise-cap" in client.get(f"{CAMPAIGNS}{campaign.pk}/change/").content

        refused = action(client, CAMPAIGNS, "raise_cap_selected", [campaign.pk], max_revocations="50", reason="")
        assert refused.status_code == 200
        action(client, CAMPAIGNS, "raise_cap_selected", [campaign.pk], max_revocations="50", reason="list checked")
        campaign.refresh_from_db()
        assert campaign.max_revocations == 50
        assert AuditEvent.objects.get(action=AuditAction.REVIEW_CAP_RAISED).reason == "list checked"

        action(client, CAMPAIGNS, "close_selected", [campaign.pk], reason="deadline")
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.CLOSED

    @pytest.mark.parametrize("persona", ["hank", "audrey"])
    def test_only_portal_admins_close(self, request, two_reviewers, persona):
        campaign, _rita, _sam = two_reviewers
        client = login(request.getfixturevalue(persona))
        assert action(client, CAMPAIGNS, "close_selected", [campaign.pk], reason="x").status_code == 403
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.OPEN


class TestGroupOwners:
    def test_alice_names_a_groups_review_owner_and_it_is_audited(self, mirrored, alice):
        rita = reviewer("rita")
        [group] = reviewable_groups(mirrored, 1)

        response = login(alice).post(OWNERS + "add/", {"group": group.pk, "user": rita.pk})

        assert response.status_code == 302, response.content[:2000]
        assert GroupReviewOwner.objects.get(group=group).user == rita
        event = AuditEvent.objects.get(action=AuditAction.REVIEW_OWNER_SET)
        assert event.after == {"group": group.name, "owner": str(rita)}

    def test_removing_an_owner_is_audited(self, mirrored, alice):
        rita = reviewer("rita")
        [group] = reviewable_groups(mirrored, 1)
        owner = GroupReviewOwner.objects.create(group=group, user=rita)

        login(alice).post(f"{OWNERS}{owner.pk}/delete/", {"post": "yes"})

        assert not GroupReviewOwner.objects.exists()
        assert AuditEvent.objects.filter(action=AuditAction.REVIEW_OWNER_REMOVED).count() == 1

    @pytest.mark.parametrize("persona", ["hank", "audrey"])
    def test_other_roles_cannot_name_owners(self, request, mirrored, persona):
        rita = reviewer("rita")
        [group] = reviewable_groups(mirrored, 1)
        response = login(request.getfixturevalue(persona)).post(OWNERS + "add/", {"group": group.pk, "user": rita.pk})
        assert response.status_code == 403
        assert not GroupReviewOwner.objects.exists()


def _evidence(client, campaign):
    response = client.get(f"{CAMPAIGNS}{campaign.pk}/evidence.csv")
    body = b"".join(response.streaming_content).decode() if response.status_code == 200 else ""
    return response, list(csv.reader(io.StringIO(body)))


class TestEvidence:
    def test_auditors_download_every_item_with_its_decision_and_action_formula_safe(
        self, two_reviewers, alice, audrey, atlassian
    ):
        campaign, rita, _sam = two_reviewers
        revoked = campaign.items.filter(reviewer=rita).select_related("account", "group").first()
        items_decide(
            items=[revoked], decision="revoke", reason='=HYPERLINK("x")', user=rita, actor=Actor.for_user(rita)
        )
        campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice))

        response, rows = _evidence(login(audrey), campaign)

        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert response["Content-Disposition"] == f'attachment; filename="access-review-{campaign.pk}-evidence.csv"'
        header, *body = rows
        assert header[:8] == [
            "campaign",
            "scope",
            "access",
            "account_id",
            "account_email",
            "account_name",
            "reviewer",
            "decision",
        ]
        assert header[-3:] == ["action_carried_out", "action_detail", "acted_at"]
        assert len(body) == campaign.items.count()
        [row] = [r for r in body if r[3] == revoked.account.account_id and r[2] == revoked.group.name]
        assert row[1] == "Members of chosen groups"
        assert row[6] == "rita"
        assert row[7] == "Revoke"
        assert row[8]  # when
        assert row[9] == '\'=HYPERLINK("x")'
        assert row[10] == "Access removed"
        assert {r[7] for r in body if r is not row} == {"undecided"}
        assert {r[10] for r in body if r is not row} == {"Kept"}
        event = AuditEvent.objects.get(action=AuditAction.REVIEW_EVIDENCE_EXPORTED)
        assert event.actor_user == audrey
        assert event.target_id == str(campaign.pk)
        assert event.after["items"] == len(body)

    @pytest.mark.parametrize("who", ["rita", "nobody"])
    def test_reviewers_and_users_without_a_role_cannot_download_it(self, request, two_reviewers, who):
        campaign, rita, _sam = two_reviewers
        user = rita if who == "rita" else request.getfixturevalue("nobody")
        response, _rows = _evidence(login(user), campaign)
        assert response.status_code == 403
        assert not AuditEvent.objects.filter(action=AuditAction.REVIEW_EVIDENCE_EXPORTED).exists()


def _panel(client) -> str:
    index = client.get("/admin/").content.decode()
    return index.split('id="dashboard-reviews"')[1].split("</div>")[0] if 'id="dashboard-reviews"' in index else ""


class TestDashboard:
    def test_portal_admins_see_every_open_campaigns_progress(self, two_reviewers, alice):
        campaign, rita, _sam = two_reviewers
        mine = list(campaign.items.filter(reviewer=rita))
        items_decide(items=mine, decision="keep", reason="ok", user=rita, actor=Actor.for_user(rita))

        panel = _panel(login(alice))

        assert "Access reviews in progress" in panel
        assert campaign.name in panel
        assert f"{len(mine)} of {campaign.items.count()}" in panel

    def test_a_reviewer_sees_the_progress_of_their_own_items_only(self, two_reviewers):
        campaign, rita, _sam = two_reviewers
        own = campaign.items.filter(reviewer=rita).count()
        assert own < campaign.items.count()

        panel = _panel(login(rita))

        assert "Your access reviews" in panel
        assert f"0 of {own}<" in panel
        assert f"?campaign__id__exact={campaign.pk}" in panel

    def test_closed_campaigns_leave_the_panel_and_users_without_a_role_never_see_it(
        self, two_reviewers, alice, nobody, atlassian
    ):
        campaign, _rita, _sam = two_reviewers
        assert _panel(login(nobody)) == ""
        campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice))

        assert _panel(login(alice)) == ""

"""The access reviews API: reviewers see and decide only their own items, auditors read and
download the evidence, portal admins start, close and raise the cap."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from governance.audit.models import ActorKind, AuditAction, AuditEvent
from governance.audit.record import Actor
from policies.models import CampaignStatus, GroupReviewOwner, ReviewCampaign, ReviewDecision
from policies.services.review_items import items_decide
from policies.services.reviews import campaign_close
from tests.policies.reviews_world import reviewable_groups, reviewer, start

ITEMS = reverse("api:reviewitem-list")
CAMPAIGNS = reverse("api:reviewcampaign-list")
BULK = reverse("api:reviewitem-decide-many")


def post(client, url, body):
    """The API reads JSON bodies only."""
    return client.post(url, body, format="json")


def _decide_url(item) -> str:
    return reverse("api:reviewitem-decide", args=[item.pk])


@pytest.fixture
def world(mirrored, alice):
    """Rita reviews one group and Sam another in one campaign; Sam alone reviews a second campaign."""
    rita, sam = reviewer("rita"), reviewer("sam")
    first, second, third = reviewable_groups(mirrored, 3)
    GroupReviewOwner.objects.create(group=first, user=rita)
    GroupReviewOwner.objects.create(group=second, user=sam)
    shared = start(mirrored, alice, [first, second])
    sams_only = start(mirrored, alice, [third], reviewer=sam)
    return {"shared": shared, "sams_only": sams_only, "rita": rita, "sam": sam}


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content[:300]
    return {row["id"] for row in response.json()["results"]}


class TestReviewerIsolation:
    def test_a_reviewer_lists_only_their_own_items_and_campaigns(self, api_as, world):
        rita = world["rita"]
        client = api_as(rita)

        assert _ids(client.get(ITEMS, {"limit": 1000})) == set(
            world["shared"].items.filter(reviewer=rita).values_list("pk", flat=True)
        )
        assert _ids(client.get(CAMPAIGNS)) == {world["shared"].pk}
        sams_campaign = reverse("api:reviewcampaign-detail", args=[world["sams_only"].pk])
        assert client.get(sams_campaign).status_code == 404

    def test_another_reviewers_item_is_not_found_and_cannot_be_decided(self, api_as, world):
        client = api_as(world["rita"])
        sams = world["shared"].items.filter(reviewer=world["sam"]).first()

        assert client.get(reverse("api:reviewitem-detail", args=[sams.pk])).status_code == 404
        assert post(client, _decide_url(sams), {"decision": "revoke", "reason": "x"}).status_code == 404
        bulk = post(client, BULK, {"items": [sams.pk], "decision": "revoke", "reason": "x"})
        assert bulk.status_code == 404
        assert not ReviewCampaign.objects.filter(items__decision__gt="").exists()

    def test_a_bulk_decision_with_one_foreign_item_decides_none(self, api_as, world):
        rita, sam = world["rita"], world["sam"]
        ritas = list(world["shared"].items.filter(reviewer=rita).values_list("pk", flat=True))
        sams = world["shared"].items.filter(reviewer=sam).first()

        response = post(api_as(rita), BULK, {"items": [*ritas, sams.pk], "decision": "keep", "reason": "x"})

        assert response.status_code == 404
        assert not world["shared"].items.exclude(decision="").exists()

    def test_a_portal_admin_who_is_not_the_reviewer_is_refused(self, api_as, world, alice):
        item = world["shared"].items.first()
        response = post(api_as(alice), _decide_url(item), {"decision": "revoke", "reason": "x"})
        assert response.status_code == 403
        item.refresh_from_db()
        assert item.decision == ""

    def test_a_reviewer_decides_their_items_one_by_one_and_in_bulk(self, api_as, world):
        rita = world["rita"]
        client = api_as(rita)
        first, *rest = world["shared"].items.filter(reviewer=rita).order_by("pk")

        one = post(client, _decide_url(first), {"decision": "revoke", "reason": "left"})
        assert one.status_code == 200
        assert one.json()["decision"] == ReviewDecision.REVOKE
        assert post(client, _decide_url(first), {"decision": "revoke"}).status_code == 400
        many = post(client, BULK, {"items": [i.pk for i in rest], "decision": "keep", "reason": "needed"})
        assert many.json() == {"decided": len(rest)}

        undecided = _ids(client.get(ITEMS, {"decision": "undecided"}))
        assert undecided == set()
        events = AuditEvent.objects.filter(action=AuditAction.REVIEW_DECIDED)
        assert events.count() == 1 + len(rest)
        assert {e.actor_kind for e in events} == {ActorKind.API}

    def test_a_closed_campaigns_items_are_a_conflict(self, api_as, world, atlassian, alice):
        campaign_close(campaign=world["shared"], client=atlassian, actor=Actor.for_user(alice))
        item = world["shared"].items.filter(reviewer=world["rita"]).first()
        response = post(api_as(world["rita"]), _decide_url(item), {"decision": "revoke", "reason": "late"})
        assert response.status_code == 409


class TestRoles:
    @pytest.mark.parametrize("persona", ["hank", "audrey"])
    def test_help_desk_and_auditors_read_everything_and_write_nothing(self, request, api_as, world, persona):
        client = api_as(request.getfixturevalue(persona))
        campaign = world["shared"]

        assert _ids(client.get(CAMPAIGNS)) == {campaign.pk, world["sams_only"].pk}
        all_items = ReviewCampaign.objects.filter(pk__in=[campaign.pk, world["sams_only"].pk])
        assert len(_ids(client.get(ITEMS, {"limit": 1000}))) == sum(c.items.count() for c in all_items)
        item = campaign.items.first()
        assert post(client, _decide_url(item), {"decision": "keep", "reason": "x"}).status_code == 403
        assert post(client, reverse("api:reviewcampaign-close", args=[campaign.pk]), {"reason": "x"}).status_code == 403
        assert post(client, CAMPAIGNS, {}).status_code == 403
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.OPEN

    def test_without_a_role_nothing_is_readable(self, api_as, world, nobody):
        client = api_as(nobody)
        assert client.get(CAMPAIGNS).status_code == 403
        assert client.get(ITEMS).status_code == 403

    def test_reviewers_cannot_start_or_close(self, api_as, world):
        client = api_as(world["rita"])
        assert post(client, CAMPAIGNS, {}).status_code == 403
        close = reverse("api:reviewcampaign-close", args=[world["shared"].pk])
        assert post(client, close, {"reason": "x"}).status_code == 403


class TestPortalAdmins:
    def test_alice_starts_closes_and_raises_the_cap(self, api_as, mirrored, alice):
        rita = reviewer("rita")
        [group] = reviewable_groups(mirrored, 1)
        client = api_as(alice)
        body = {
            "organization": mirrored.pk,
            "name": "API review",
            "groups": [group.pk],
            "reviewer": rita.pk,
            "deadline": (timezone.now() + timedelta(days=3)).isoformat(),
            "undecided": "revoke",
            "max_revocations": 1,
        }

        started = post(client, CAMPAIGNS, body)
        assert started.status_code == 201, started.content
        data = started.json()
        assert data["items"] == Membership.objects.filter(group=group).count() >= 2
        assert data["status"] == CampaignStatus.OPEN
        close = reverse("api:reviewcampaign-close", args=[data["id"]])

        assert post(client, close, {"reason": "deadline"}).json()["status"] == CampaignStatus.HALTED
        raise_cap = reverse("api:reviewcampaign-raise-cap", args=[data["id"]])
        assert post(client, raise_cap, {"max_revocations": 1000}).status_code == 400  # no reason
        assert post(client, raise_cap, {"max_revocations": 1000, "reason": "checked"}).json()["max_revocations"] == 1000
        assert post(client, close, {"reason": "deadline"}).json()["status"] == CampaignStatus.CLOSED
        assert not Membership.objects.filter(group=group).exists()
        assert AuditEvent.objects.filter(action=AuditAction.REVIEW_CAMPAIGN_STARTED, actor_kind=ActorKind.API).exists()

    def test_a_campaign_nobody_would_review_is_bad_input(self, api_as, mirrored, alice):
        [group] = reviewable_groups(mirrored, 1)
        body = {
            "organization": mirrored.pk,
            "name": "Orphan",
            "groups": [group.pk],
            "deadline": (timezone.now() + timedelta(days=3)).isoformat(),
        }
        response = post(api_as(alice), CAMPAIGNS, body)
        assert response.status_code == 400
        assert "Nobody would review" in response.content.decode()
        assert not ReviewCampaign.objects.exists()


class TestEvidence:
    def test_auditors_download_the_evidence_and_the_download_is_audited(self, api_as, world, audrey):
        campaign = world["shared"]
        rita = world["rita"]
        item = campaign.items.filter(reviewer=rita).first()
        items_decide(items=[item], decision="revoke", reason="+1 formula", user=rita, actor=Actor.for_user(rita))

        response = api_as(audrey).get(
            reverse("api:reviewcampaign-evidence", args=[campaign.pk]), HTTP_ACCEPT="text/csv"
        )

        assert response.status_code == 200
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert len(rows) == 1 + campaign.items.count()
        assert [row[9] for row in rows[1:] if row[7] == "Revoke"] == ["'+1 formula"]
        event = AuditEvent.objects.get(action=AuditAction.REVIEW_EVIDENCE_EXPORTED)
        assert event.actor_kind == ActorKind.API
        assert event.after["via"] == "api"

    def test_reviewers_cannot_download_the_evidence(self, api_as, world):
        url = reverse("api:reviewcampaign-evidence", args=[world["shared"].pk])
        assert api_as(world["rita"]).get(url).status_code == 403
        assert not AuditEvent.objects.filter(action=AuditAction.REVIEW_EVIDENCE_EXPORTED).exists()

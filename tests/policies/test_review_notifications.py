"""``review_campaign.due`` and ``review_campaign.overdue`` reach a webhook receiver (a real HTTP server
on loopback), each once per campaign however often the daily job runs: due when the deadline comes,
overdue when the campaign is still not closed a day later."""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance.audit.record import Actor
from policies.events import REVIEW_CAMPAIGN_DUE, REVIEW_CAMPAIGN_OVERDUE
from policies.models import CampaignStatus, UndecidedOutcome
from policies.services.review_schedule import campaigns_daily
from policies.services.reviews import campaign_close, campaign_raise_cap
from tests.governance.scripted_server import Reply, ScriptedServer
from tests.governance.webhook_helpers import drain, fernet_keys, subscribe
from tests.policies.reviews_world import reviewable_groups, reviewer, start


@pytest.fixture(autouse=True)
def _keys(settings):
    fernet_keys(settings)


@pytest.fixture
def receiver():
    with ScriptedServer() as server:
        server.script(*[Reply(200)] * 10)
        subscribe(f"{server.url}/hooks", [REVIEW_CAMPAIGN_DUE, REVIEW_CAMPAIGN_OVERDUE])
        yield server


def _daily(capture, now):
    with capture(execute=True):
        counts = campaigns_daily(now=now)
    drain()
    return counts


def _events(receiver):
    return [(r.json()["event"], r.json()["data"]) for r in receiver.received]


def test_the_due_event_goes_out_once_when_the_deadline_comes_and_a_closed_campaign_is_never_overdue(
    mirrored, alice, receiver, django_capture_on_commit_callbacks
):
    rita = reviewer("rita")
    now = timezone.now()
    campaign = start(mirrored, alice, reviewable_groups(mirrored, 1), reviewer=rita, deadline=now + timedelta(days=2))

    assert _daily(django_capture_on_commit_callbacks, now + timedelta(days=1))["due"] == 0
    assert receiver.received == []
    counts = _daily(django_capture_on_commit_callbacks, now + timedelta(days=2, hours=1))
    assert (counts["due"], counts["closed"]) == (1, 1)
    for later in (timedelta(days=2, hours=2), timedelta(days=4), timedelta(days=9)):
        assert _daily(django_capture_on_commit_callbacks, now + later) == {
            "reminded": 0,
            "closed": 0,
            "due": 0,
            "overdue": 0,
        }

    [(event, data)] = _events(receiver)
    assert event == REVIEW_CAMPAIGN_DUE
    assert (data["campaign"], data["campaign_name"]) == (campaign.pk, "Q3 review")
    assert data["undecided"] == data["items"] == campaign.items.count()
    assert "@" not in str(data)  # no reviewer's or account's email leaves the portal


def test_a_campaign_still_not_closed_a_day_after_its_deadline_is_overdue_once(
    mirrored, atlassian, alice, receiver, django_capture_on_commit_callbacks
):
    rita = reviewer("rita")
    now = timezone.now()
    campaign = start(
        mirrored,
        alice,
        reviewable_groups(mirrored, 1),
        reviewer=rita,
        deadline=now + timedelta(days=2),
        undecided=UndecidedOutcome.REVOKE,
        max_revocations=1,
    )
    deadline = campaign.deadline

    first = _daily(django_capture_on_commit_callbacks, deadline + timedelta(hours=1))
    assert (first["due"], first["closed"], first["overdue"]) == (1, 0, 0)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.HALTED
    assert _daily(django_capture_on_commit_callbacks, deadline + timedelta(hours=23))["overdue"] == 0
    assert _daily(django_capture_on_commit_callbacks, deadline + timedelta(days=1, hours=1))["overdue"] == 1
    assert _daily(django_capture_on_commit_callbacks, deadline + timedelta(days=2, hours=1))["overdue"] == 0

    assert [event for event, _ in _events(receiver)] == [REVIEW_CAMPAIGN_DUE, REVIEW_CAMPAIGN_OVERDUE]
    overdue = _events(receiver)[1][1]
    assert overdue["status"] == CampaignStatus.HALTED
    assert "cap" in overdue["status_note"]
    # A person raises the cap and closes it at last: nothing more is announced.
    campaign_raise_cap(campaign=campaign, max_revocations=1000, actor=Actor.for_user(alice), reason="checked")
    assert campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice)) == CampaignStatus.CLOSED
    _daily(django_capture_on_commit_callbacks, deadline + timedelta(days=3))
    assert len(receiver.received) == 2

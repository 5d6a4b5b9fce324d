"""Access removed by a review can be asked back by the person (issue 22 part 1: "restorable through
the request form"), end to end against the simulator: the campaign closes, the person is emailed a
personal link, the public page records the request (audited, the help desk told), the help desk
gives it back (the membership is back in the simulator) or refuses it (the person is told why)."""

import re

import pytest
from django.core import mail

from accounts.models import Membership
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.logging import mask_access_tokens
from policies.events import ACCESS_REQUEST_WAITING
from policies.models import GiveBackStatus, ItemOutcome
from policies.selectors.dashboard import waiting_for_a_decision
from policies.services.review_items import items_decide
from policies.services.reviews import campaign_close
from tests.policies.reviews_world import remote_access, reviewable_groups, reviewer, start
from tests.policies.test_reviews_admin import ITEMS, action, login

BASE = "https://portal.example.com"
LINK = re.compile(re.escape(BASE) + r"(/access/review/[^/\s]+/)")


@pytest.fixture
def closed(mirrored, atlassian, alice, settings):
    """A campaign closed with one membership revoked by its reviewer (with a reason)."""
    settings.PORTAL_BASE_URL = BASE
    rita = reviewer("rita")
    campaign = start(mirrored, alice, reviewable_groups(mirrored, 1), reviewer=rita)
    item = campaign.items.select_related("account", "group").first()
    assert item.account.email, "the simulator's member has an address to write to"
    items_decide(items=[item], decision="revoke", reason="left the project", user=rita, actor=Actor.for_user(rita))
    mail.outbox.clear()
    campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice))
    item.refresh_from_db()
    assert item.outcome == ItemOutcome.REVOKED
    return item, rita


def _removal_email(item):
    return next(m for m in mail.outbox if item.account.email in m.to and "review removed" in m.subject)


def _link(item) -> str:
    return LINK.search(_removal_email(item).body).group(1)


def test_closing_a_campaign_emails_the_person_what_was_removed_why_and_a_link_to_ask_for_it_back(closed):
    item, _ = closed
    email = _removal_email(item)
    assert item.group.name in email.body
    assert "Q3 review" in email.body
    assert "left the project" in email.body
    assert LINK.search(email.body)
    assert "works once" in email.body
    assert item.give_back_nonce


def test_the_person_asks_back_the_help_desk_gives_it_back_and_the_membership_is_back_in_the_simulator(
    closed, client, simulator, hank, alice, monkeypatch, django_capture_on_commit_callbacks
):
    item, _ = closed
    notified = []
    monkeypatch.setattr("policies.events.notify_event", lambda name, payload: notified.append((name, payload)))
    path = _link(item)
    page = client.get(path)
    assert page.status_code == 200
    assert item.group.name in page.content.decode()
    assert page["Referrer-Policy"] == "no-referrer"
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(path, {"justification": "I still run the project's board"})

    assert sent.status_code == 200
    assert b"Your request was sent" in sent.content
    item.refresh_from_db()
    assert item.give_back_status == GiveBackStatus.REQUESTED
    assert item.give_back_justification == "I still run the project's board"
    event = AuditEvent.objects.get(action=AuditAction.REVIEW_GIVE_BACK_REQUESTED)
    assert (event.actor_name, event.reason) == (item.account.email, "I still run the project's board")
    assert any(alice.email in m.to and "asks for access an access review removed" in m.subject for m in mail.outbox)
    assert [(name, p["review_item"]) for name, p in notified] == [(ACCESS_REQUEST_WAITING, item.pk)]
    assert item.account.email not in str(notified), "a webhook leaves the portal: no address in it"

    again = client.post(path, {"justification": "again"})
    assert again.status_code == 410, "the link works once: a second submit records nothing new"
    assert AuditEvent.objects.filter(action=AuditAction.REVIEW_GIVE_BACK_REQUESTED).count() == 1

    desk = login(hank)
    item_page = desk.get(f"{ITEMS}{item.pk}/change/").content.decode()
    assert "I still run the project&#x27;s board" in item_page
    assert 'id="review-refuse"' in item_page
    assert 'id="review-restore"' in item_page
    assert b"Access asked back after a review" in desk.get("/admin/").content
    with django_capture_on_commit_callbacks(execute=True):
        given = action(desk, ITEMS, "restore_selected", [item.pk], reason="asked back, justified")
    assert given.status_code == 302

    item.refresh_from_db()
    assert (item.outcome, item.give_back_status) == (ItemOutcome.RESTORED, GiveBackStatus.FULFILLED)
    assert Membership.objects.filter(account=item.account, group=item.group).exists()
    assert item.group.name in remote_access(simulator, item.account)[0]
    restored = AuditEvent.objects.get(action=AuditAction.REVIEW_ITEM_RESTORED)
    assert restored.after["request"] == "fulfilled"
    assert any(item.account.email in m.to and "access is back" in m.subject for m in mail.outbox)


def test_the_help_desk_refuses_a_request_with_a_reason_and_the_person_is_told(
    closed, client, hank, django_capture_on_commit_callbacks
):
    item, _ = closed
    client.post(_link(item), {"justification": "please"})
    desk = login(hank)
    mail.outbox.clear()
    assert action(desk, ITEMS, "refuse_give_back_selected", [item.pk], reason="").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        refused = action(desk, ITEMS, "refuse_give_back_selected", [item.pk], reason="no longer on the team")
    assert refused.status_code == 302

    item.refresh_from_db()
    assert (item.outcome, item.give_back_status) == (ItemOutcome.REVOKED, GiveBackStatus.REFUSED)
    assert item.give_back_refusal == "no longer on the team"
    event = AuditEvent.objects.get(action=AuditAction.REVIEW_GIVE_BACK_REFUSED)
    assert (event.actor_user, event.reason) == (hank, "no longer on the team")
    told = next(m for m in mail.outbox if item.account.email in m.to)
    assert "declined" in told.subject
    assert "no longer on the team" in told.body
    assert not Membership.objects.filter(account=item.account, group=item.group).exists()
    assert 'id="review-refuse"' not in desk.get(f"{ITEMS}{item.pk}/change/").content.decode()


@pytest.mark.parametrize("persona", ["audrey", "rita"])
def test_auditors_and_reviewers_cannot_refuse_or_give_back_a_request(request, closed, client, persona):
    item, rita = closed
    client.post(_link(item), {"justification": "please"})
    user = rita if persona == "rita" else request.getfixturevalue(persona)
    other = login(user)

    page = other.get(f"{ITEMS}{item.pk}/change/").content.decode()
    assert 'id="review-refuse"' not in page
    assert 'id="review-restore"' not in page
    assert action(other, ITEMS, "refuse_give_back_selected", [item.pk], reason="x").status_code == 403
    assert action(other, ITEMS, "restore_selected", [item.pk], reason="x").status_code == 403
    item.refresh_from_db()
    assert (item.outcome, item.give_back_status) == (ItemOutcome.REVOKED, GiveBackStatus.REQUESTED)


def test_a_tampered_link_shows_the_same_generic_page_as_the_other_access_links(closed, client):
    item, _ = closed
    path = _link(item)
    tampered = client.get(path[:-3] + "xx/")
    unknown_restore = client.get("/access/restore/nope/")
    assert tampered.status_code == unknown_restore.status_code == 410
    assert tampered.content == unknown_restore.content
    assert not AuditEvent.objects.filter(action=AuditAction.REVIEW_GIVE_BACK_REQUESTED).exists()


def test_a_link_stops_working_once_the_help_desk_gave_the_access_back_anyway(closed, client, atlassian, hank):
    from policies.services.review_items import item_restore

    item, _ = closed
    path = _link(item)
    item_restore(item=item, client=atlassian, actor=Actor.for_user(hank), reason="mistake")
    assert client.get(path).status_code == 410


def test_the_page_is_rate_limited_like_the_other_access_pages(closed, client, settings):
    settings.ACCESS_RATE_LIMIT_PER_TOKEN = 2
    item, _ = closed
    path = _link(item)
    assert [client.get(path).status_code for _ in range(3)] == [200, 200, 429]


def test_the_api_shows_the_request_on_the_item(closed, client, hank):
    item, _ = closed
    client.post(_link(item), {"justification": "needed for the audit"})
    body = login(hank).get(f"/api/reviews/items/{item.pk}/").json()
    assert body["give_back_status"] == "requested"
    assert body["give_back_justification"] == "needed for the audit"
    assert body["give_back_requested_at"]


def test_the_help_desk_refuses_a_request_through_the_api(
    closed, client, hank, audrey, django_capture_on_commit_callbacks
):
    item, _ = closed
    client.post(_link(item), {"justification": "please"})
    url = f"/api/reviews/items/{item.pk}/refuse-request/"
    assert login(audrey).post(url, {"reason": "no"}, content_type="application/json").status_code == 403
    desk = login(hank)
    assert desk.post(url, {}, content_type="application/json").status_code == 400

    with django_capture_on_commit_callbacks(execute=True):
        refused = desk.post(url, {"reason": "not on the project"}, content_type="application/json")
    assert refused.status_code == 200
    assert refused.json()["give_back_status"] == "refused"
    assert AuditEvent.objects.get(action=AuditAction.REVIEW_GIVE_BACK_REFUSED).reason == "not on the project"
    assert any("not on the project" in m.body for m in mail.outbox if item.account.email in m.to)
    again = desk.post(url, {"reason": "still no"}, content_type="application/json")
    assert again.status_code == 409
    assert AuditEvent.objects.filter(action=AuditAction.REVIEW_GIVE_BACK_REFUSED).count() == 1


def test_asking_for_a_link_by_email_sends_the_removal_email_again_until_the_person_has_asked(closed, client):
    from policies.access.services import restore_links_send

    item, _ = closed
    mail.outbox.clear()
    assert restore_links_send(email=item.account.email.upper()) == 1
    fresh = _link(item)
    assert client.get(fresh).status_code == 200

    client.post(fresh, {"justification": "please"})
    mail.outbox.clear()
    assert restore_links_send(email=item.account.email) == 0  # asked already: nothing to resend
    assert not [m for m in mail.outbox if "review removed" in m.subject]


def test_the_waiting_count_counts_requests_for_the_help_desk_only(closed, client, rf, hank, audrey):
    item, _ = closed
    client.post(_link(item), {"justification": "please"})
    as_hank, as_audrey = rf.get("/admin/"), rf.get("/admin/")
    as_hank.user, as_audrey.user = hank, audrey
    assert waiting_for_a_decision(as_hank)["review_give_backs"] == 1
    assert "review_give_backs" not in (waiting_for_a_decision(as_audrey) or {})


def test_the_link_is_masked_in_logs():
    assert mask_access_tokens("Gone: /access/review/eyJyIjo1fQ:abc/") == "Gone: /access/review/[token]/"

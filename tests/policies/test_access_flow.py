"""From a policy email to access given back, against the simulator; and every kind of bad link."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.template.loader import render_to_string
from django.utils import timezone
from django_q.conf import Conf

from accounts.models import Account, AccountStatus
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.verify import verify_chain
from policies.models import AccessRequest, Enforcement, EnforcementStatus
from policies.models.access_requests import AccessRequestStatus
from tests.policies.test_access_support import (
    act,
    emails_to,
    link_path,
    path_for,
    run,
    warn_then_act,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def sync_tasks(monkeypatch):
    """django-q2 runs queued tasks inline (DJANGO-NOTES 1.5): the fulfilment happens in the test."""
    monkeypatch.setattr(Conf, "SYNC", True)


def test_from_a_warning_email_to_a_restored_account(
    make_policy, simulator, client, settings, sync_tasks, django_capture_on_commit_callbacks
):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    policy = make_policy(warning_days=[14])
    run(policy)
    warned = Enforcement.objects.filter(status=EnforcementStatus.WARNED).select_related("account").first()
    account = warned.account
    warning = emails_to(account.email, "will be suspended")[-1]
    assert "https://portal.example.com/access/restore/" in warning.body

    enforcement = warn_then_act(policy)
    enforcement = Enforcement.objects.get(account=account, policy=policy)
    assert enforcement.status == EnforcementStatus.DONE
    assert simulator.state.user(account.account_id).status == "suspended"
    # The warning's link stood for the warned case; the case moved on, so it stopped working.
    assert client.get(link_path(warning)).status_code == 410

    notice = emails_to(account.email, "was suspended")[-1]
    path = link_path(notice)
    page = client.get(path)
    assert page.status_code == 200
    assert "access/restore_form.html" in [t.name for t in page.templates]
    assert b"suspended" in page.content

    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(path, {"justification": "Back from parental leave"})
    assert answer.status_code == 200
    assert b"approved" in answer.content

    access_request = AccessRequest.objects.get(account=account)
    assert access_request.status == AccessRequestStatus.FULFILLED
    assert access_request.justification == "Back from parental leave"
    assert simulator.state.user(account.account_id).status == "active"
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE
    assert account.restored_at is not None
    assert timezone.now() - account.restored_at < timedelta(minutes=1)
    enforcement.refresh_from_db()
    assert enforcement.status == EnforcementStatus.REVERSED
    outcome = emails_to(account.email, "access is back")
    assert len(outcome) == 1

    trail = list(
        AuditEvent.objects.filter(correlation_id=access_request.correlation_id)
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert trail == [
        AuditAction.REQUEST_CREATED,
        AuditAction.REQUEST_AUTO_APPROVED,
        AuditAction.ACCOUNT_RESTORED,
        AuditAction.REQUEST_FULFILLED,
    ]
    assert verify_chain().ok
    # The link is used up.
    assert client.get(path).status_code == 410


def test_a_warning_link_keeps_access_before_anything_is_removed(
    make_policy, simulator, client, sync_tasks, django_capture_on_commit_callbacks
):
    policy = make_policy(warning_days=[14])
    run(policy)
    warned = Enforcement.objects.filter(status=EnforcementStatus.WARNED).select_related("account").first()
    path = link_path(emails_to(warned.account.email, "will be suspended")[-1])
    page = client.get(path)
    assert b"Keep your Atlassian access" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(path, {"justification": ""}, follow=True)
    # Access was never lost: the pages and the email say it is kept, not "back".
    assert b"Your access stays as it is" in done.content
    assert b"back" not in done.content.split(b"<main")[1]
    kept = emails_to(warned.account.email, "You keep your Atlassian access")
    assert len(kept) == 1
    assert "is back" not in kept[0].body
    assert "sign in again" not in kept[0].body
    warned.refresh_from_db()
    assert warned.status == EnforcementStatus.CANCELLED
    assert AccessRequest.objects.get(enforcement=warned).status == AccessRequestStatus.FULFILLED
    account = Account.objects.get(pk=warned.account_id)
    assert account.restored_at is not None
    # The next run counts from the restore: nothing happens to this person.
    run(policy, now=timezone.now() + timedelta(days=14, minutes=1))
    assert not Enforcement.objects.filter(account=account, status=EnforcementStatus.DONE).exists()
    assert simulator.state.user(account.account_id).status == "active"


@pytest.mark.parametrize(
    ("kind", "heading", "absent"),
    [("keep", "You keep your access", "is back"), ("restore", "Your access is back", "You keep")],
)
def test_a_fulfilled_request_s_page_says_what_happened(kind, heading, absent):
    page = render_to_string(
        "access/request_status.html",
        {"access_request": AccessRequest(kind=kind, status=AccessRequestStatus.FULFILLED)},
    )
    assert heading in page
    assert absent not in page


def test_a_pending_request_s_expiry_is_in_plain_words():
    expires = timezone.now() + timedelta(days=13, hours=23, minutes=59)
    page = render_to_string(
        "access/request_status.html",
        {"access_request": AccessRequest(status=AccessRequestStatus.PENDING, expires_at=expires)},
    )
    assert "if nobody decides within\n13 days, the request expires" in page


class TestBadLinks:
    """Tampered, expired and used links all get the same page and status."""

    def _bad_page(self, client, path):
        response = client.get(path)
        assert response.status_code == 410
        assert "access/bad_link.html" in [t.name for t in response.templates]
        assert b'href="/access/"' in response.content
        return response.content

    def test_tampered_expired_and_used_links_look_the_same(self, make_policy, client):
        enforcement = act(make_policy())
        path = path_for(enforcement)
        token = path.split("/")[3]
        tampered = path.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
        truncated = f"/access/restore/{token[:20]}/"
        bodies = {self._bad_page(client, tampered), self._bad_page(client, truncated)}
        with time_machine.travel(timezone.now() + timedelta(days=31)):
            bodies.add(self._bad_page(client, path))
        assert client.post(path, {"justification": "x"}).status_code == 200
        bodies.add(self._bad_page(client, path))
        assert len(bodies) == 1

    def test_a_link_stops_working_when_the_case_changes(self, make_policy, client, atlassian):
        from governance.audit.record import Actor
        from policies.services.review import enforcement_reverse

        enforcement = act(make_policy())
        path = path_for(enforcement)
        assert client.get(path).status_code == 200
        enforcement_reverse(enforcement=enforcement, client=atlassian, actor=Actor.system(), reason="undo")
        self._bad_page(client, path)

    def test_a_link_within_its_age_works(self, make_policy, client, settings):
        settings.ACCESS_LINK_MAX_AGE_DAYS = 30
        enforcement = act(make_policy())
        path = path_for(enforcement)
        with time_machine.travel(timezone.now() + timedelta(days=29)):
            assert client.get(path).status_code == 200

    def test_two_submits_of_one_link_make_one_request(self, make_policy, client):
        enforcement = act(make_policy())
        path = path_for(enforcement)
        client.get(path)
        first = client.post(path, {"justification": "a"})
        second = client.post(path, {"justification": "b"})
        assert first.status_code == 200
        assert second.status_code == 410
        assert AccessRequest.objects.filter(enforcement=enforcement).count() == 1


class TestForm:
    def test_it_shows_exactly_what_was_removed(self, make_policy, client):
        enforcement = act(make_policy(action="remove_product_access"))
        if enforcement is None:
            pytest.skip("every due account gets Jira through an IdP group in this seed")
        page = client.get(path_for(enforcement)).content.decode()
        assert "Products: Jira" in page
        from accounts.models import Group

        for group_id in enforcement.removed["groups"]:
            assert Group.objects.get(group_id=group_id).name in page

    def test_a_justification_is_required_when_the_policy_says_so(self, make_policy, client):
        enforcement = act(make_policy(justification_required=True))
        path = path_for(enforcement)
        response = client.post(path, {"justification": "  "})
        assert response.status_code == 200
        assert b"it is required for this request" in response.content
        assert not AccessRequest.objects.exists()
        # Nothing was used up: the same link still works.
        assert client.post(path, {"justification": "Project restarts"}).status_code == 200
        assert AccessRequest.objects.get().justification == "Project restarts"

    def test_an_open_request_is_shown_instead_of_a_second_form(self, make_policy, client):
        enforcement = act(make_policy(self_service_restore=False))
        client.post(path_for(enforcement), {"justification": "please"})
        fresh = client.get(path_for(enforcement))
        assert fresh.status_code == 200
        assert b"needs a decision from the help desk" in fresh.content
        assert AccessRequest.objects.count() == 1


def test_deleted_past_the_grace_explains_what_to_do_instead(make_policy, client, simulator):
    policy = make_policy(action="delete", claim_scope="managed")
    enforcement = act(policy)
    assert enforcement is not None
    path = path_for(enforcement)
    with time_machine.travel(enforcement.executed_at + timedelta(days=15)):
        page = client.get(path)
        assert page.status_code == 200
        assert "access/too_late.html" in [t.name for t in page.templates]
        assert b"new invitation" in page.content
        assert b"14 days" in page.content
        posted = client.post(path, {"justification": "please"})
        assert b"new invitation" in posted.content
    assert not AccessRequest.objects.exists()


def test_deleted_within_the_grace_is_cancelled_and_restored(
    make_policy, client, simulator, sync_tasks, django_capture_on_commit_callbacks
):
    policy = make_policy(action="delete", claim_scope="managed")
    enforcement = act(policy)
    account = enforcement.account
    assert simulator.state.account(account.account_id).deletion_at is not None
    with time_machine.travel(enforcement.executed_at + timedelta(days=10)):
        with django_capture_on_commit_callbacks(execute=True):
            client.post(path_for(enforcement), {"justification": "I am back"})
        access_request = AccessRequest.objects.get()
        assert access_request.status == AccessRequestStatus.FULFILLED
    assert simulator.state.account(account.account_id).deletion_at is None
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE
    assert account.restored_at is not None  # the lifecycle path records the restore too
    assert len(mail.outbox) >= 1

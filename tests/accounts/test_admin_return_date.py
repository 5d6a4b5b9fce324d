"""The account page's "Set return date" / "Clear return date": through the service, audited,
held to the permission that restores accounts, refusals shown as messages."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, AccountStatus
from governance.audit.models import AuditAction, AuditEvent
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(db):
    return AccountFactory(name="Ada Away", status=AccountStatus.SUSPENDED)


def _page(account) -> str:
    return reverse("admin:accounts_account_change", args=[account.pk])


def _url(account) -> str:
    return reverse("admin:accounts_account_return_date", args=[account.pk])


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _events(account) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action=AuditAction.ACCOUNT_RETURN_DATE_SET, target_id=str(account.pk)).order_by("seq")
    )


@pytest.mark.parametrize("persona", ["alice", "hank"])
def test_an_admin_or_the_help_desk_sets_a_return_date_on_the_account_page(client_for, request, ada, persona):
    user = request.getfixturevalue(persona)
    day = timezone.localdate() + timedelta(days=10)
    response = client_for(user).post(_url(ada), {"return_on": day.isoformat(), "reason": "back from parental leave"})
    assert response.status_code == 302
    assert response.url == _page(ada)
    assert Account.objects.get(pk=ada.pk).return_on == day
    [event] = _events(ada)
    assert (event.actor_name, event.reason) == (user.username, "back from parental leave")
    assert event.after == {"return_on": day.isoformat()}
    assert any(f"returns on {day:%Y-%m-%d}" in m for m in _messages(response))
    page = client_for(user).get(_page(ada)).content.decode()
    assert f"Returns on {day:%Y-%m-%d}" in page
    assert 'id="return-date-clear"' in page


def test_clearing_the_return_date_is_audited(client_for, alice, ada):
    day = timezone.localdate() + timedelta(days=3)
    client_for(alice).post(_url(ada), {"return_on": day.isoformat(), "reason": "leave"})
    response = client_for(alice).post(_url(ada), {"clear": "on", "return_on": "", "reason": "stays away longer"})
    assert response.status_code == 302
    assert Account.objects.get(pk=ada.pk).return_on is None
    assert _events(ada)[-1].after == {"return_on": None}
    assert "No return date." in client_for(alice).get(_page(ada)).content.decode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"return_on": "past"}, "has passed"),
        ({"account_status": AccountStatus.REMOVED}, "no longer in the organization"),
        ({"reason": ""}, "This field is required"),
        ({"return_on": ""}, "Give the day the person comes back"),
        ({"return_on": "soon"}, "Enter a valid date"),
    ],
)
def test_a_refused_or_incomplete_date_changes_nothing_and_says_why(client_for, alice, ada, change, message):
    if "account_status" in change:
        Account.objects.filter(pk=ada.pk).update(status=change["account_status"])
    day = timezone.localdate() + timedelta(days=5)
    body = {"return_on": day.isoformat(), "reason": "leave"}
    body.update({k: v for k, v in change.items() if k != "account_status"})
    if body["return_on"] == "past":
        body["return_on"] = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = client_for(alice).post(_url(ada), body)
    assert response.status_code == 302
    assert Account.objects.get(pk=ada.pk).return_on is None
    assert not _events(ada)
    [text] = _messages(response)
    assert "The return date was not changed" in text
    assert message in text


def test_an_auditor_sees_the_date_but_may_not_change_it(client_for, alice, audrey, ada):
    day = timezone.localdate() + timedelta(days=2)
    client_for(alice).post(_url(ada), {"return_on": day.isoformat(), "reason": "leave"})
    auditor = client_for(audrey)
    page = auditor.get(_page(ada)).content.decode()
    assert f"Returns on {day:%Y-%m-%d}" in page
    assert "return-date-form" not in page
    assert auditor.post(_url(ada), {"clear": "on", "reason": "no"}).status_code == 403
    assert Account.objects.get(pk=ada.pk).return_on == day


def test_the_form_takes_post_only_and_a_csrf_token(alice, ada):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.get(_url(ada)).status_code == 405
    day = (timezone.localdate() + timedelta(days=4)).isoformat()
    assert browser.post(_url(ada), {"return_on": day, "reason": "leave"}).status_code == 403
    assert Account.objects.get(pk=ada.pk).return_on is None

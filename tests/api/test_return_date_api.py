"""``POST /api/accounts/{id}/return-date/``: the account's return date set or cleared through the
service (audited), held to accounts.activate_account, 400 with a clear message when refused."""

from datetime import timedelta
from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, AccountStatus
from governance.audit.models import ActorKind, AuditAction, AuditEvent

pytestmark = pytest.mark.django_db


def _url(account) -> str:
    return reverse("api:account-return-date", args=[account.pk])


def _events(account) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action=AuditAction.ACCOUNT_RETURN_DATE_SET, target_id=str(account.pk)).order_by("seq")
    )


@pytest.mark.parametrize("persona", ["alice", "hank"])
def test_a_return_date_is_set_and_shown_on_the_account(api_as, request, mirror, persona):
    account = mirror["accounts"][4]  # suspended
    day = timezone.localdate() + timedelta(days=14)
    response = api_as(request.getfixturevalue(persona)).post(
        _url(account), {"return_on": day.isoformat(), "reason": "back from leave"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["return_on"] == day.isoformat()
    assert Account.objects.get(pk=account.pk).return_on == day
    [event] = _events(account)
    assert (event.actor_kind, event.reason, event.after) == (
        ActorKind.API,
        "back from leave",
        {"return_on": day.isoformat()},
    )
    shown = api_as(request.getfixturevalue(persona)).get(reverse("api:account-detail", args=[account.pk])).json()
    assert shown["return_on"] == day.isoformat()


def test_null_clears_the_return_date(api_as, alice, mirror):
    account = mirror["accounts"][4]
    day = timezone.localdate() + timedelta(days=1)
    api_as(alice).post(_url(account), {"return_on": day.isoformat(), "reason": "leave"}, format="json")
    response = api_as(alice).post(_url(account), {"return_on": None, "reason": "stays away"}, format="json")
    assert response.status_code == 200
    assert response.json()["return_on"] is None
    assert _events(account)[-1].after == {"return_on": None}


@pytest.mark.parametrize(
    ("body", "removed", "message"),
    [
        ({"return_on": "yesterday"}, False, "has passed"),
        ({}, True, "no longer in the organization"),
        ({"return_on": "13/01/2030"}, False, "Date has wrong format"),
        ({"reason": ""}, False, "may not be blank"),
    ],
)
def test_a_refused_date_is_a_400_that_says_why_and_changes_nothing(api_as, alice, mirror, body, removed, message):
    account = mirror["accounts"][0]
    if removed:
        Account.objects.filter(pk=account.pk).update(status=AccountStatus.REMOVED)
    payload = {"return_on": (timezone.localdate() + timedelta(days=3)).isoformat(), "reason": "leave", **body}
    if payload["return_on"] == "yesterday":
        payload["return_on"] = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = api_as(alice).post(_url(account), payload, format="json")
    assert response.status_code == 400
    assert message in str(response.json())
    assert Account.objects.get(pk=account.pk).return_on is None
    assert not _events(account)


def test_an_auditor_may_not_set_a_return_date(api_as, audrey, mirror):
    account = mirror["accounts"][4]
    day = (timezone.localdate() + timedelta(days=3)).isoformat()
    response = api_as(audrey).post(_url(account), {"return_on": day, "reason": "leave"}, format="json")
    assert response.status_code == 403
    assert Account.objects.get(pk=account.pk).return_on is None


def test_the_schema_documents_the_return_date_action(db):
    out = StringIO()
    call_command("spectacular", "--format", "openapi", stdout=out, stderr=StringIO())
    operation = yaml.safe_load(out.getvalue())["paths"]["/api/accounts/{id}/return-date/"]["post"]
    assert set(operation["responses"]) >= {"200", "400", "403"}
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/ReturnDateRequest")

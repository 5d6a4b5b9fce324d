"""``/api/webhooks/``: Portal admins write, auditors read, others nothing; the URL and the secret go
in and never come back out (responses, audit trail); bad destinations and unknown events are refused."""

import json

import pytest
from django.urls import reverse

from governance.audit.models import AuditAction, AuditEvent
from governance.notifications.models import WebhookSubscription
from tests.governance.webhook_helpers import fernet_keys, subscribe

pytestmark = pytest.mark.django_db
WEBHOOKS = reverse("api:webhook-list")
URL = "https://hooks.example.com/services/T000/B000/very-secret-token"
SECRET = "s3cret-signing-key-0123456789"


@pytest.fixture(autouse=True)
def _keys(settings):
    fernet_keys(settings)


def _create(client, **overrides):
    body = {"name": "ops", "kind": "webhook", "events": ["sync.failed"], "url": URL, "secret": SECRET, **overrides}
    return client.post(WEBHOOKS, body, format="json")


def test_alice_creates_a_webhook_and_neither_url_nor_secret_comes_back(api_as, alice):
    response = _create(api_as(alice))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["destination"] == "https://hooks.example.com"
    assert body["has_secret"] is True
    assert "very-secret-token" not in response.content.decode()
    assert SECRET not in response.content.decode()
    listed = api_as(alice).get(WEBHOOKS).content.decode()
    assert "very-secret-token" not in listed
    assert SECRET not in listed
    subscription = WebhookSubscription.objects.get()
    assert (subscription.reveal_url(), subscription.reveal_secret()) == (URL, SECRET)
    event = AuditEvent.objects.get(action=AuditAction.WEBHOOK_CREATED)
    recorded = json.dumps([event.before, event.after, event.reason, event.target_repr])
    assert "very-secret-token" not in recorded
    assert SECRET not in recorded
    assert event.after["secrets"] == ["url replaced", "secret replaced"]


def test_alice_changes_the_events_and_disables_a_webhook_keeping_its_secrets(api_as, alice):
    subscription = subscribe(URL, ["sync.failed"])
    detail = reverse("api:webhook-detail", args=[subscription.pk])

    response = api_as(alice).patch(detail, {"events": ["policy_run.halted"], "enabled": False}, format="json")

    assert response.status_code == 200, response.content
    subscription.refresh_from_db()
    assert (subscription.events, subscription.enabled, subscription.reveal_url()) == (["policy_run.halted"], False, URL)
    event = AuditEvent.objects.get(action=AuditAction.WEBHOOK_UPDATED)
    assert event.before == {"events": ["sync.failed"], "enabled": True}


def test_alice_deletes_a_webhook_with_an_audit_event(api_as, alice):
    subscription = subscribe(URL, ["sync.failed"])

    response = api_as(alice).delete(reverse("api:webhook-detail", args=[subscription.pk]))

    assert response.status_code == 204
    assert not WebhookSubscription.objects.exists()
    assert AuditEvent.objects.filter(action=AuditAction.WEBHOOK_DELETED).count() == 1


def test_audrey_reads_webhooks_but_cannot_create_change_or_delete_them(api_as, audrey):
    subscription = subscribe(URL, ["sync.failed"])
    client = api_as(audrey)
    detail = reverse("api:webhook-detail", args=[subscription.pk])

    assert [row["name"] for row in client.get(WEBHOOKS).json()["results"]] == ["ops hook"]
    assert _create(client).status_code == 403
    assert client.patch(detail, {"enabled": False}, format="json").status_code == 403
    assert client.delete(detail).status_code == 403
    assert WebhookSubscription.objects.get().enabled


@pytest.mark.parametrize("persona", ["hank", "nobody"])
def test_help_desk_and_users_without_a_role_see_no_webhooks(request, api_as, persona):
    subscribe(URL, ["sync.failed"])
    client = api_as(request.getfixturevalue(persona))

    assert client.get(WEBHOOKS).status_code == 403
    assert _create(client).status_code == 403


def test_anonymous_callers_get_nothing(api):
    assert api.get(WEBHOOKS).status_code in (401, 403)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "url"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "url"),
        ({"url": "http://10.0.0.8/hook"}, "url"),
        ({"events": ["no.such.event"]}, "events"),
        ({"secret": None}, "secret"),
    ],
)
def test_bad_destinations_unknown_events_and_unsigned_webhooks_are_refused(settings, api_as, alice, overrides, field):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    body = {"name": "ops", "kind": "webhook", "events": ["sync.failed"], "url": URL, "secret": SECRET, **overrides}
    body = {k: v for k, v in body.items() if v is not None}

    response = api_as(alice).post(WEBHOOKS, body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not WebhookSubscription.objects.exists()


def test_webhooks_are_filtered_by_the_event_they_chose(api_as, audrey):
    subscribe(URL, ["sync.failed", "policy_run.halted"], name="both")
    subscribe(URL, ["policy_run.completed"], name="runs")
    client = api_as(audrey)

    names = [row["name"] for row in client.get(WEBHOOKS, {"event": "policy_run.halted"}).json()["results"]]

    assert names == ["both"]

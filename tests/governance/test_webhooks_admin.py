"""The admin's webhook pages: Portal admins subscribe (URL and secret write-only, never shown again),
auditors read the subscriptions and the delivery log (every attempt), and nobody edits the log."""

import pytest
from django.urls import reverse

from governance.audit.models import AuditAction, AuditEvent
from governance.notifications import notify_event
from governance.notifications.models import WebhookDelivery, WebhookSubscription
from tests.governance.scripted_server import Reply, ScriptedServer
from tests.governance.webhook_helpers import SECRET, drain, fernet_keys, subscribe

pytestmark = pytest.mark.django_db
URL = "https://hooks.example.com/services/T000/B000/very-secret-token"


@pytest.fixture(autouse=True)
def _keys(settings):
    fernet_keys(settings)


def test_alice_subscribes_in_the_admin_and_the_url_is_never_shown_again(client_for, alice):
    client = client_for(alice)
    form = {
        "name": "ops",
        "kind": "webhook",
        "enabled": "on",
        "events": ["sync.failed", "policy_run.halted"],
        "new_url": URL,
        "new_secret": SECRET,
    }

    response = client.post(reverse("admin:governance_webhooksubscription_add"), form)

    assert response.status_code == 302, response.content.decode()[:2000]
    subscription = WebhookSubscription.objects.get()
    assert subscription.events == ["sync.failed", "policy_run.halted"]
    assert subscription.reveal_url() == URL
    page = client.get(reverse("admin:governance_webhooksubscription_change", args=[subscription.pk])).content.decode()
    assert "https://hooks.example.com" in page
    assert "very-secret-token" not in page
    assert SECRET not in page
    assert AuditEvent.objects.filter(action=AuditAction.WEBHOOK_CREATED).count() == 1


def test_an_admin_form_with_a_private_address_is_refused(settings, client_for, alice):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    form = {"name": "ops", "kind": "slack", "events": ["sync.failed"], "new_url": "http://127.0.0.1:9/hook"}

    response = client_for(alice).post(reverse("admin:governance_webhooksubscription_add"), form)

    assert response.status_code == 200
    assert "private, loopback or reserved" in response.content.decode()
    assert not WebhookSubscription.objects.exists()


def test_audrey_reads_the_delivery_log_with_every_attempt_and_cannot_change_anything(
    client_for, audrey, django_capture_on_commit_callbacks
):
    with ScriptedServer() as receiver:
        receiver.script(Reply(500))
        subscription = subscribe(f"{receiver.url}/hook", ["sync.failed"])
        with django_capture_on_commit_callbacks(execute=True):
            notify_event("sync.failed", {"organization": "acme", "run": 1, "error": "boom"})
        drain()
    delivery = WebhookDelivery.objects.get()
    client = client_for(audrey)

    listing = client.get(reverse("admin:governance_webhookdelivery_changelist"))
    page = client.get(reverse("admin:governance_webhookdelivery_change", args=[delivery.pk])).content.decode()

    assert listing.status_code == 200
    assert "HTTP 500" in page
    assert client.get(reverse("admin:governance_webhooksubscription_add")).status_code == 403
    change = reverse("admin:governance_webhooksubscription_change", args=[subscription.pk])
    assert client.post(change, {"name": "renamed"}).status_code == 403
    assert client.post(reverse("admin:governance_webhookdelivery_delete", args=[delivery.pk])).status_code == 403
    assert WebhookSubscription.objects.get().name == "ops hook"


def test_nobody_edits_the_delivery_log_not_even_alice(client_for, alice):
    assert client_for(alice).get(reverse("admin:governance_webhookdelivery_add")).status_code == 403

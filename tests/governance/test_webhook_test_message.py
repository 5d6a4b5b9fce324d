"""The "Send a test message" button: one signed ``test`` event through the normal delivery path, from the admin's
webhook page and from ``POST /api/webhooks/{id}/test/``, with its result shown, logged and audited."""

import pytest
from django.urls import reverse

from governance.audit.models import AuditAction, AuditEvent
from governance.notifications.models import DeliveryStatus, WebhookDelivery, WebhookKind
from governance.notifications.signing import EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_valid
from governance.notifications.tasks import retry_webhook_deliveries
from tests.governance.scripted_server import Reply, ScriptedServer
from tests.governance.webhook_helpers import SECRET, fernet_keys, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keys(settings):
    fernet_keys(settings)


@pytest.fixture
def receiver():
    with ScriptedServer() as server:
        yield server


def test_alice_sends_a_test_message_from_the_webhook_page_and_the_receiver_gets_it_signed(client_for, alice, receiver):
    receiver.script(Reply(204))
    subscription = subscribe(f"{receiver.url}/hooks", ["sync.failed"])
    client = client_for(alice)
    page = client.get(reverse("admin:governance_webhooksubscription_change", args=[subscription.pk]))
    assert 'id="webhook-send-test"' in page.content.decode()

    url = reverse("admin:governance_webhooksubscription_send_test", args=[subscription.pk])
    response = client.post(url, follow=True)

    [request] = receiver.received
    timestamp = int(request.headers[TIMESTAMP_HEADER])
    assert signature_valid(SECRET, timestamp, request.body, request.headers[SIGNATURE_HEADER])
    assert request.headers[EVENT_HEADER] == "test"
    assert request.json()["event"] == "test"
    assert "Test message delivered (HTTP 204)" in response.content.decode()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.event, delivery.status) == ("test", DeliveryStatus.DELIVERED)
    event = AuditEvent.objects.get(action=AuditAction.WEBHOOK_TESTED)
    assert event.after["status"] == DeliveryStatus.DELIVERED
    assert event.actor_user_id == alice.pk


def test_a_failed_test_message_shows_why_and_is_not_retried_by_the_sweep(client_for, alice, receiver):
    receiver.script(Reply(500), Reply(200))
    subscription = subscribe(f"{receiver.url}/hooks", ["sync.failed"])

    response = client_for(alice).post(
        reverse("admin:governance_webhooksubscription_send_test", args=[subscription.pk]), follow=True
    )

    assert "Test message not delivered: HTTP 500" in response.content.decode()
    assert WebhookDelivery.objects.get().status == DeliveryStatus.FAILED
    retry_webhook_deliveries()
    assert len(receiver.received) == 1


def test_the_test_button_is_post_only_and_not_for_auditors(client_for, alice, audrey, receiver):
    subscription = subscribe(f"{receiver.url}/hooks", ["sync.failed"])
    url = reverse("admin:governance_webhooksubscription_send_test", args=[subscription.pk])

    assert client_for(alice).get(url).status_code == 405
    assert client_for(audrey).post(url).status_code == 403
    page = client_for(audrey).get(reverse("admin:governance_webhooksubscription_change", args=[subscription.pk]))
    assert 'id="webhook-send-test"' not in page.content.decode()
    assert receiver.received == []
    assert not WebhookDelivery.objects.exists()


def test_a_slack_test_message_is_plain_text(receiver):
    from governance.audit.record import Actor
    from governance.notifications.services import webhook_send_test

    receiver.script(Reply(200))
    subscription = subscribe(f"{receiver.url}/slack", ["sync.failed"], kind=WebhookKind.SLACK)

    webhook_send_test(subscription=subscription, actor=Actor.system("test"))

    [request] = receiver.received
    assert request.json()["text"].startswith("[Governance portal] Test message")
    assert SIGNATURE_HEADER not in request.headers

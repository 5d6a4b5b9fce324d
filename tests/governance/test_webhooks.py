"""Webhooks end to end: an event reaches a receiver on loopback (a real HTTP server thread), signed,
retried after a failure, as a Slack message; secrets at rest; the job that emitted never suffers."""

import json
from datetime import datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from governance.notifications import notify_event
from governance.notifications.events import AUDIT_VERIFICATION_FAILED
from governance.notifications.models import DeliveryStatus, WebhookDelivery, WebhookKind
from governance.notifications.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_valid
from governance.notifications.tasks import retry_webhook_deliveries
from tests.governance.scripted_server import Reply, ScriptedServer
from tests.governance.webhook_helpers import SECRET, drain, fernet_keys, subscribe

pytestmark = pytest.mark.django_db

PAYLOAD = {"task": "verify_audit_log", "message": "event #12 does not match its hash", "run": 7}


@pytest.fixture(autouse=True)
def _keys(settings):
    fernet_keys(settings)


@pytest.fixture
def receiver():
    with ScriptedServer() as server:
        yield server


def _emit(django_capture_on_commit_callbacks, name=AUDIT_VERIFICATION_FAILED, payload=PAYLOAD):
    with django_capture_on_commit_callbacks(execute=True):
        notify_event(name, payload)
    drain()


def test_a_subscribed_event_reaches_the_receiver_signed_with_the_subscription_secret(
    receiver, django_capture_on_commit_callbacks
):
    receiver.script(Reply(200))
    subscribe(f"{receiver.url}/hooks/portal", [AUDIT_VERIFICATION_FAILED])

    _emit(django_capture_on_commit_callbacks)

    [request] = receiver.received
    assert (request.method, request.path) == ("POST", "/hooks/portal")
    timestamp = int(request.headers[TIMESTAMP_HEADER])
    assert signature_valid(SECRET, timestamp, request.body, request.headers[SIGNATURE_HEADER])
    assert not signature_valid("another-secret-entirely", timestamp, request.body, request.headers[SIGNATURE_HEADER])
    body = request.json()
    assert (body["event"], body["data"]) == (AUDIT_VERIFICATION_FAILED, PAYLOAD)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert [a["status_code"] for a in delivery.attempts] == [200]
    assert body["id"] == str(delivery.event_id)


def test_an_event_nobody_subscribed_to_sends_nothing(receiver, django_capture_on_commit_callbacks):
    subscribe(f"{receiver.url}/hooks", ["sync.failed"])

    _emit(django_capture_on_commit_callbacks)

    assert receiver.received == []
    assert not WebhookDelivery.objects.exists()


def test_a_failed_delivery_is_retried_later_and_the_log_shows_both_attempts(
    settings, receiver, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60
    receiver.script(Reply(500), Reply(200))
    subscribe(f"{receiver.url}/hooks", [AUDIT_VERIFICATION_FAILED])

    _emit(django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING
    first_at = datetime.fromisoformat(delivery.attempts[0]["at"])
    assert delivery.next_attempt_at == first_at + timedelta(seconds=60)
    with time_machine.travel(first_at + timedelta(seconds=30), tick=False):
        assert retry_webhook_deliveries() == {}  # not due yet: the receiver hears nothing more
    assert len(receiver.received) == 1
    with time_machine.travel(first_at + timedelta(seconds=61), tick=False):
        assert retry_webhook_deliveries() == {DeliveryStatus.DELIVERED: 1}

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert [(a["status_code"], a["error"]) for a in delivery.attempts] == [(500, "HTTP 500"), (200, "")]
    first, second = (r.json() for r in receiver.received)
    assert first == second  # the same event, with the same id, both times


def test_a_delivery_gives_up_after_the_last_attempt(settings, receiver, django_capture_on_commit_callbacks):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    receiver.script(Reply(503), Reply(503))
    subscribe(f"{receiver.url}/hooks", [AUDIT_VERIFICATION_FAILED])

    _emit(django_capture_on_commit_callbacks)
    with time_machine.travel(timezone.now() + timedelta(hours=1), tick=False):
        assert retry_webhook_deliveries() == {DeliveryStatus.FAILED: 1}
    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
        assert retry_webhook_deliveries() == {}

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, len(delivery.attempts)) == (DeliveryStatus.FAILED, 2)
    assert len(receiver.received) == 2


def test_a_slack_subscription_gets_a_text_message_and_no_signature(receiver, django_capture_on_commit_callbacks):
    receiver.script(Reply(200, body="ok"))
    subscribe(f"{receiver.url}/services/T000/B000/XXXX", [AUDIT_VERIFICATION_FAILED], kind=WebhookKind.SLACK)

    _emit(django_capture_on_commit_callbacks)

    [request] = receiver.received
    assert request.json() == {
        "text": "[Governance portal] The audit chain failed verification (verify_audit_log): "
        "event #12 does not match its hash"
    }
    assert SIGNATURE_HEADER not in request.headers


def test_the_url_and_secret_are_stored_encrypted(receiver):
    url = f"{receiver.url}/services/T000/B000/secret-token-in-the-path"
    subscription = subscribe(url, [AUDIT_VERIFICATION_FAILED])

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT url_encrypted, secret_encrypted, url_host FROM governance_webhooksubscription WHERE id = %s",
            [subscription.pk],
        )
        stored_url, stored_secret, host = cursor.fetchone()
    assert "secret-token-in-the-path" not in stored_url
    assert SECRET not in stored_secret
    assert "secret-token" not in host
    assert host == receiver.url
    assert (subscription.reveal_url(), subscription.reveal_secret()) == (url, SECRET)


def test_a_receiver_that_is_down_fails_only_its_delivery(receiver, django_capture_on_commit_callbacks):
    subscribe(f"{receiver.url}/hooks", [AUDIT_VERIFICATION_FAILED])
    receiver.stop()  # nobody listens on that port any more

    _emit(django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.attempts[0]["error"] == "Could not connect."
    assert receiver.url not in json.dumps(delivery.attempts)


def test_notify_event_never_raises_into_the_job_that_called_it(receiver, django_capture_on_commit_callbacks):
    subscribe(f"{receiver.url}/hooks", [AUDIT_VERIFICATION_FAILED])
    broker_down = mock.patch("django_q.tasks.async_task", side_effect=RuntimeError("broker down"))
    with broker_down as async_task, django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        notify_event(AUDIT_VERIFICATION_FAILED, PAYLOAD)
        notify_event("no.such.event", PAYLOAD)
        notify_event(AUDIT_VERIFICATION_FAILED, {"not json": object()})
    assert async_task.call_count == 1  # the one valid event was tried, and its failure swallowed
    assert receiver.received == []


def test_a_receiver_on_loopback_is_refused_at_delivery_unless_private_networks_are_allowed(
    settings, receiver, django_capture_on_commit_callbacks
):
    receiver.script(Reply(200))
    subscribe(f"http://localhost:{receiver.url.rsplit(':', 1)[1]}/hooks", [AUDIT_VERIFICATION_FAILED])
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False

    _emit(django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert "private, loopback or reserved" in delivery.attempts[0]["error"]
    assert receiver.received == []

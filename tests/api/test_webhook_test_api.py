"""``POST /api/webhooks/{id}/test/``: Portal admins send a signed test message and get the delivery back."""

import pytest
from django.urls import reverse

from governance.audit.models import AuditAction, AuditEvent
from governance.notifications.models import DeliveryStatus
from tests.governance.scripted_server import Reply, ScriptedServer
from tests.governance.webhook_helpers import fernet_keys, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keys(settings):
    fernet_keys(settings)


@pytest.fixture
def receiver():
    with ScriptedServer() as server:
        yield server


def test_the_api_sends_a_test_message_and_answers_with_the_delivery(api_as, alice, audrey, receiver):
    receiver.script(Reply(200))
    subscription = subscribe(f"{receiver.url}/hooks", ["sync.failed"])
    url = reverse("api:webhook-send-test", args=[subscription.pk])

    assert api_as(audrey).post(url).status_code == 403
    response = api_as(alice).post(url)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == DeliveryStatus.DELIVERED
    assert response.json()["attempts"][0]["status_code"] == 200
    assert len(receiver.received) == 1
    assert AuditEvent.objects.filter(action=AuditAction.WEBHOOK_TESTED).count() == 1

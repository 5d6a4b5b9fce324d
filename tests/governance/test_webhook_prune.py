"""The daily prune of the webhook delivery log: old delivered and given-up deliveries go, anything
still waiting to be sent stays whatever its age, and the prune is in the audit trail."""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from governance.audit.models import AuditAction, AuditEvent
from governance.notifications.models import DeliveryStatus, WebhookDelivery
from governance.notifications.tasks import prune_webhook_deliveries
from governance.schedules import declared_jobs
from tests.governance.webhook_helpers import fernet_keys, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keys(settings):
    fernet_keys(settings)


def _delivery(subscription, status, created_at):
    return WebhookDelivery.objects.create(
        subscription=subscription, event="sync.failed", event_id=uuid.uuid4(), status=status, created_at=created_at
    )


def test_old_finished_deliveries_are_pruned_and_waiting_ones_never(settings):
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    now = timezone.now()
    subscription = subscribe("https://hooks.example.com/x", ["sync.failed"])
    old, recent = now - timedelta(days=31), now - timedelta(days=29)
    gone = [_delivery(subscription, s, old) for s in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)]
    kept = [
        _delivery(subscription, DeliveryStatus.PENDING, old),
        _delivery(subscription, DeliveryStatus.RETRYING, old),
        _delivery(subscription, DeliveryStatus.DELIVERED, recent),
        _delivery(subscription, DeliveryStatus.FAILED, recent),
    ]

    with time_machine.travel(now, tick=False):
        assert prune_webhook_deliveries() == {"deleted": 2}

    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {d.pk for d in kept}
    assert not WebhookDelivery.objects.filter(pk__in=[d.pk for d in gone]).exists()
    event = AuditEvent.objects.get(action=AuditAction.WEBHOOK_DELIVERIES_PRUNED)
    assert (event.after["deleted"], event.after["retention_days"]) == (2, 30)


def test_the_retention_is_a_setting_and_a_prune_with_nothing_to_do_records_nothing(settings):
    now = timezone.now()
    subscription = subscribe("https://hooks.example.com/x", ["sync.failed"])
    _delivery(subscription, DeliveryStatus.DELIVERED, now - timedelta(days=8))
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 10

    with time_machine.travel(now, tick=False):
        assert prune_webhook_deliveries() == {"deleted": 0}
        settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 7
        assert prune_webhook_deliveries() == {"deleted": 1}

    assert AuditEvent.objects.filter(action=AuditAction.WEBHOOK_DELIVERIES_PRUNED).count() == 1


def test_the_prune_is_a_daily_job_the_cluster_may_run(settings):
    [job] = [job for job in declared_jobs() if job.name == "portal:prune-webhook-deliveries"]
    assert job.func in settings.PORTAL_TASK_FUNCTIONS

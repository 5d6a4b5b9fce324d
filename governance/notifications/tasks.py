"""django-q2 entry points of the notifications (thin: governance.notifications.delivery does the work)."""

import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.audit.record import Actor
from governance.notifications import delivery as deliveries
from governance.notifications.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from governance.notifications.services import webhook_deliveries_prune

log = logging.getLogger(__name__)

SWEEP_LIMIT = 100


def dispatch_event(name: str, event_id: str, occurred_at: str, payload: dict[str, Any]) -> int:
    """One delivery row per enabled subscription that chose ``name``, each then queued on its own.
    Idempotent: a task delivered twice finds the rows of the first run (one per event id)."""
    from django_q.tasks import async_task

    created = 0
    for subscription in WebhookSubscription.objects.filter(enabled=True):
        if name not in subscription.events:
            continue
        try:
            with transaction.atomic():
                row = WebhookDelivery.objects.create(
                    subscription=subscription,
                    event=name,
                    event_id=event_id,
                    payload={"occurred_at": occurred_at, "data": payload},
                    status=DeliveryStatus.PENDING,
                    next_attempt_at=timezone.now(),
                )
        except IntegrityError:
            continue  # this event reached this subscription already
        created += 1
        try:
            async_task(
                "governance.notifications.tasks.deliver_webhook",
                row.pk,
                task_name=f"webhook:{row.pk}",
                group="webhooks",
            )
        except Exception:
            # The row is due now: the retry sweep sends it within a minute.
            log.warning("Webhook delivery %s not queued; the retry sweep will send it.", row.pk)
    return created


def deliver_webhook(delivery_id: int) -> str:
    """First attempt of one delivery (later ones come from :func:`retry_webhook_deliveries`)."""
    now = timezone.now()
    delivery = deliveries.claim(delivery_id, now=now)
    if delivery is None:
        return "skipped: not due or taken by another worker"
    return deliveries.attempt(delivery, now=now).status


def retry_webhook_deliveries() -> dict[str, int]:
    """Every minute: the deliveries due (retries, and first attempts whose task was lost)."""
    counts: dict[str, int] = {}
    for delivery_id in deliveries.due_deliveries(now=timezone.now(), limit=SWEEP_LIMIT):
        now = timezone.now()
        delivery = deliveries.claim(delivery_id, now=now)
        if delivery is None:
            continue
        status = deliveries.attempt(delivery, now=now).status
        counts[status] = counts.get(status, 0) + 1
    return counts


def prune_webhook_deliveries() -> dict[str, int]:
    """Daily: delete delivered and given-up deliveries older than WEBHOOK_DELIVERY_RETENTION_DAYS
    (pending and retrying ones are kept)."""
    deleted = webhook_deliveries_prune(
        now=timezone.now(),
        retention_days=settings.WEBHOOK_DELIVERY_RETENTION_DAYS,
        actor=Actor.scheduler("webhook log"),
    )
    return {"deleted": deleted}

"""One attempt to deliver one ``WebhookDelivery``, and what happens next (done, retry later, give up).

A delivery is claimed with a conditional UPDATE before it is sent, so the queued task and the
retry sweep never both send it. Errors are recorded by kind ("timed out", "HTTP 500"), never with
the exception's text: requests puts the URL (a Slack token) in its messages.
"""

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.db.models import Q

from governance.crypto import SecretUnavailable
from governance.notifications import signing
from governance.notifications.events import get_event
from governance.notifications.models import DeliveryStatus, WebhookDelivery, WebhookKind, WebhookSubscription
from governance.notifications.safety import UnsafeDestination, check_destination

log = logging.getLogger(__name__)

WAITING = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
# Statuses worth another try; any other 4xx means the receiver refuses this request as it is.
RETRY_STATUSES = frozenset({408, 425, 429})
# The event of "Send a test message" (services.webhook_send_test): no subscription chooses it.
TEST_EVENT = "test"


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str
    retryable: bool

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def webhook_body(delivery: WebhookDelivery) -> dict[str, Any]:
    """The JSON a receiver gets: the event, its id (the same on every retry), when, and its data."""
    if delivery.subscription.kind == WebhookKind.SLACK:
        event = get_event(delivery.event)
        if delivery.event == TEST_EVENT:
            text = "Test message: this Slack destination receives the portal's notifications."
        else:
            text = event.describe(delivery.payload.get("data", {})) if event else delivery.event
        return {"text": f"[Governance portal] {text}"}
    return {
        "event": delivery.event,
        "id": str(delivery.event_id),
        "occurred_at": delivery.payload.get("occurred_at"),
        "portal": settings.PORTAL_BASE_URL,
        "data": delivery.payload.get("data", {}),
    }


def claim(delivery_id: int, *, now: datetime) -> WebhookDelivery | None:
    """The delivery when it is due and this caller got it; None otherwise (delivered, given up, or
    being sent by another worker: its claim pushes ``next_attempt_at`` past the send's timeout)."""
    lease = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS * 3 + 60)
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status__in=WAITING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(next_attempt_at=lease)
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)


def attempt(delivery: WebhookDelivery, *, now: datetime) -> WebhookDelivery:
    """Send once, append the attempt to the log, and set what comes next."""
    started = time.monotonic()
    outcome = _send(delivery.subscription, delivery)
    attempts = [
        *delivery.attempts,
        {
            "at": now.isoformat(),
            "status_code": outcome.status_code,
            "error": outcome.error,
            "ms": round((time.monotonic() - started) * 1000),
        },
    ]
    delivery.attempts = attempts
    if outcome.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED, now, None
    elif outcome.retryable and len(attempts) < settings.WEBHOOK_MAX_ATTEMPTS:
        delay = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (len(attempts) - 1)
        delivery.status, delivery.next_attempt_at = DeliveryStatus.RETRYING, now + timedelta(seconds=delay)
    else:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        log.warning(
            "Webhook %r gave up on %s (%s) after %d attempt(s): %s",
            delivery.subscription.name,
            delivery.event,
            delivery.event_id,
            len(attempts),
            outcome.error or f"HTTP {outcome.status_code}",
        )
    delivery.save(update_fields=["attempts", "status", "delivered_at", "next_attempt_at"])
    return delivery


def _send(subscription: WebhookSubscription, delivery: WebhookDelivery) -> Outcome:
    if not subscription.enabled:
        return Outcome(None, "The subscription is disabled.", retryable=False)
    try:
        url = subscription.reveal_url()
        secret = subscription.reveal_secret()
        check_destination(url)
    except SecretUnavailable:
        return Outcome(None, "The stored URL or secret cannot be decrypted with PORTAL_FERNET_KEYS.", retryable=False)
    except UnsafeDestination as exc:
        return Outcome(None, str(exc), retryable=False)
    body = json.dumps(webhook_body(delivery), separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "governance-portal-webhooks"}
    if subscription.kind == WebhookKind.WEBHOOK:
        timestamp = int(time.time())
        headers |= {
            signing.EVENT_HEADER: delivery.event,
            signing.DELIVERY_HEADER: str(delivery.event_id),
            signing.TIMESTAMP_HEADER: str(timestamp),
        }
        if secret:
            headers[signing.SIGNATURE_HEADER] = signing.signature(secret, timestamp, body)
    try:
        # Redirects are not followed: a receiver must not bounce the portal to another address.
        response = requests.post(
            url, data=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS, allow_redirects=False
        )
    except requests.Timeout:
        return Outcome(None, "Timed out.", retryable=True)
    except requests.ConnectionError:
        return Outcome(None, "Could not connect.", retryable=True)
    except requests.RequestException as exc:
        return Outcome(None, f"Request failed ({type(exc).__name__}).", retryable=True)
    code = response.status_code
    response.close()
    if 200 <= code < 300:
        return Outcome(code, "", retryable=False)
    return Outcome(code, f"HTTP {code}", retryable=code >= 500 or code in RETRY_STATUSES)


def due_deliveries(*, now: datetime, limit: int) -> list[int]:
    return list(
        WebhookDelivery.objects.filter(status__in=WAITING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )

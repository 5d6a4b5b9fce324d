"""Audited changes to webhook subscriptions: the admin and the API both call these.

The audit event names which secrets were replaced, never their values, nor the URL (a Slack URL is a
credential): only its scheme and host.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from governance.notifications import delivery as deliveries
from governance.notifications.events import registered_events
from governance.notifications.models import DeliveryStatus, WebhookDelivery, WebhookKind, WebhookSubscription
from governance.notifications.safety import UnsafeDestination, check_url_form

# The settings people edit; the URL and the secret are separate, write-only inputs.
EDITABLE_FIELDS = ("name", "kind", "events", "enabled")
MIN_SECRET_LENGTH = 16


def webhook_validate(*, subscription: WebhookSubscription, new_url: str, new_secret: str) -> None:
    """Raise ``ValidationError`` (by field) unless the subscription would be valid once saved."""
    errors: dict[str, list[str]] = {}
    if (new_url or new_secret) and not settings.PORTAL_FERNET_KEYS:
        errors.setdefault("url", []).append("PORTAL_FERNET_KEYS must be set before a webhook can be stored.")
    if new_url:
        try:
            check_url_form(new_url)
        except UnsafeDestination as exc:
            errors.setdefault("url", []).append(str(exc))
    elif not subscription.url_encrypted:
        errors.setdefault("url", []).append("A URL is needed.")
    known = registered_events()
    events = subscription.events if isinstance(subscription.events, list) else []
    unknown = [name for name in events if not isinstance(name, str) or name not in known]
    if not isinstance(subscription.events, list) or unknown:
        errors.setdefault("events", []).append(f"Unknown events: {', '.join(map(str, unknown)) or 'not a list'}.")
    if new_secret and len(new_secret) < MIN_SECRET_LENGTH:
        errors.setdefault("secret", []).append(f"Use at least {MIN_SECRET_LENGTH} characters.")
    if subscription.kind == WebhookKind.WEBHOOK and not (new_secret or subscription.secret_encrypted):
        errors.setdefault("secret", []).append("A signed webhook needs a secret (receivers check the signature).")
    if errors:
        raise ValidationError(errors)


def webhook_save(
    *,
    subscription: WebhookSubscription,
    actor: Actor,
    previous: dict[str, Any] | None,
    new_url: str = "",
    new_secret: str = "",
) -> WebhookSubscription:
    """Save ``subscription`` as it now stands, with a new URL or secret when typed (encrypted), and
    one audit event. ``previous``: the changed settings with their old values; None when creating."""
    webhook_validate(subscription=subscription, new_url=new_url, new_secret=new_secret)
    created = previous is None
    changed_secrets = []
    if new_url:
        subscription.set_url(new_url)
        changed_secrets.append("url replaced")
    if new_secret:
        subscription.set_secret(new_secret)
        changed_secrets.append("secret replaced")
    if subscription.kind == WebhookKind.SLACK and subscription.secret_encrypted and not new_secret:
        subscription.set_secret("")  # Slack messages are not signed: keep no secret nobody uses
        changed_secrets.append("secret forgotten")
    if not created and not previous and not changed_secrets:
        return subscription
    names: Iterable[str] = EDITABLE_FIELDS if previous is None else previous
    after: dict[str, Any] = {name: getattr(subscription, name) for name in names}
    after["destination"] = subscription.url_host
    if changed_secrets:
        after["secrets"] = changed_secrets
    with transaction.atomic():
        subscription.updated_at = timezone.now()
        if created and actor.user is not None:
            subscription.created_by = actor.user
        subscription.full_clean()
        subscription.save()
        record_event(
            actor=actor,
            action=AuditAction.WEBHOOK_CREATED if created else AuditAction.WEBHOOK_UPDATED,
            target=subscription,
            before=None if previous is None else dict(previous),
            after=after,
        )
    return subscription


def webhook_delete(*, subscription: WebhookSubscription, actor: Actor) -> None:
    """Delete the subscription and its delivery log, with one audit event."""
    with transaction.atomic():
        record_event(
            actor=actor,
            action=AuditAction.WEBHOOK_DELETED,
            target=subscription,
            before={"name": subscription.name, "kind": subscription.kind, "destination": subscription.url_host},
        )
        subscription.delete()


def webhook_send_test(*, subscription: WebhookSubscription, actor: Actor) -> WebhookDelivery:
    """Send ``subscription`` one signed ``test`` event now, through the normal delivery path (the
    destination checks, the signature, the delivery log), and record the result in the audit trail.

    One attempt only: a person is waiting for the answer, so a failed test is marked failed (not
    retried by the sweep minutes later); they send another when the receiver is fixed."""
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        event=deliveries.TEST_EVENT,
        event_id=uuid.uuid4(),
        payload={
            "occurred_at": now.isoformat(),
            "data": {"message": "A test message from the governance portal.", "subscription": subscription.name},
        },
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
    )
    claimed = deliveries.claim(delivery.pk, now=now)
    assert claimed is not None  # just created and due: nobody else knows its id
    delivery = deliveries.attempt(claimed, now=now)
    if delivery.status == DeliveryStatus.RETRYING:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        delivery.save(update_fields=["status", "next_attempt_at"])
    last = delivery.attempts[-1]
    record_event(
        actor=actor,
        action=AuditAction.WEBHOOK_TESTED,
        target=subscription,
        after={
            "delivery": delivery.pk,
            "status": delivery.status,
            "status_code": last.get("status_code"),
            "error": last.get("error", ""),
            "destination": subscription.url_host,
        },
    )
    return delivery


def webhook_deliveries_prune(*, now: datetime, retention_days: int, actor: Actor) -> int:
    """Delete the delivered and given-up deliveries created more than ``retention_days`` ago, with
    one audit event when any went. Pending and retrying ones stay whatever their age: they are work
    still to do, not history."""
    cutoff = now - timedelta(days=retention_days)
    with transaction.atomic():
        old = WebhookDelivery.objects.filter(
            status__in=(DeliveryStatus.DELIVERED, DeliveryStatus.FAILED), created_at__lt=cutoff
        )
        deleted = old.delete()[0]
        if deleted:
            record_event(
                actor=actor,
                action=AuditAction.WEBHOOK_DELIVERIES_PRUNED,
                target_type="governance.webhookdelivery",
                target_id="",
                target_repr="webhook delivery log",
                after={"deleted": deleted, "older_than": cutoff.isoformat(), "retention_days": retention_days},
            )
    return deleted

"""Audited changes to webhook subscriptions: the admin and the API both call these.

The audit event names which secrets were replaced, never their values, nor the URL (a Slack URL is a
credential): only its scheme and host.
"""

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from governance.notifications.events import registered_events
from governance.notifications.models import WebhookKind, WebhookSubscription
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

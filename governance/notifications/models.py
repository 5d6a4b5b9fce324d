"""Webhook subscriptions and their delivery log.

A subscription's URL and signing secret are stored encrypted (``PORTAL_FERNET_KEYS``,
governance/crypto.py): a Slack incoming-webhook URL is itself a credential. Neither is ever shown,
returned by the API, logged or exported; pages show the URL's scheme and host only.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils import timezone

from governance import crypto


class WebhookKind(models.TextChoices):
    WEBHOOK = "webhook", "Webhook (JSON, signed)"
    SLACK = "slack", "Slack-compatible incoming webhook"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Waiting to retry"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class WebhookSubscription(models.Model):
    """Where to send which events. ``events`` lists registered event names
    (governance.notifications.events)."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=WebhookKind.choices, default=WebhookKind.WEBHOOK)
    url_encrypted = models.TextField(editable=False)
    # Shown in place of the URL: scheme and host, never the path (Slack's token is in the path).
    url_host = models.CharField("destination", max_length=300, editable=False)
    secret_encrypted = models.TextField(blank=True, editable=False)
    events = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        verbose_name = "webhook subscription"
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    # Setters and readers, named so no admin field or template calls them by accident.
    def set_url(self, value: str) -> None:
        parts = urlsplit(value)
        self.url_encrypted = crypto.encrypt(value)
        self.url_host = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"

    def set_secret(self, value: str) -> None:
        self.secret_encrypted = crypto.encrypt(value) if value else ""

    def reveal_url(self) -> str:
        return crypto.decrypt(self.url_encrypted)

    def reveal_secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted) if self.secret_encrypted else ""

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)


class WebhookDelivery(models.Model):
    """One event for one subscription, and every attempt to deliver it (``attempts``: a list of
    ``{"at", "status_code", "error", "ms"}``, oldest first). Written by the delivery tasks only."""

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=100, db_index=True)
    event_id = models.UUIDField(editable=False)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.JSONField(default=list)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event_id"], name="webhookdelivery_once_per_event"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due")]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription_id}"

"""Subscriptions for the webhook tests, and a way to run what an event queues."""

from cryptography.fernet import Fernet

from governance.audit.record import Actor
from governance.notifications.models import WebhookKind, WebhookSubscription
from governance.notifications.services import webhook_save
from tests import taskqueue

SECRET = "a-long-signing-secret-for-tests"


def fernet_keys(settings) -> None:
    settings.PORTAL_FERNET_KEYS = [Fernet.generate_key().decode()]


def subscribe(url: str, events: list[str], *, kind: str = WebhookKind.WEBHOOK, name: str = "ops hook"):
    subscription = WebhookSubscription(name=name, kind=kind, events=events)
    return webhook_save(
        subscription=subscription,
        actor=Actor.system("test"),
        previous=None,
        new_url=url,
        new_secret=SECRET if kind == WebhookKind.WEBHOOK else "",
    )


def drain() -> int:
    """Run queued tasks until none is left (an event's dispatch queues one delivery per subscription)."""
    ran = 0
    while count := taskqueue.run_queued_tasks():
        ran += count
    return ran

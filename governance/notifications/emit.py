"""``notify_event``: what the rest of the portal calls when something worth a message happened."""

import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from governance.logging import redact
from governance.notifications.events import get_event

log = logging.getLogger(__name__)


def notify_event(name: str, payload: Mapping[str, Any]) -> None:
    """Queue ``name`` with ``payload`` (JSON-serialisable; dates become ISO strings) for every
    enabled subscription that chose it, once the caller's transaction commits (nothing is sent
    for work that was rolled back).

    Never raises and never waits on a receiver: the job that called it (a sync, a policy run, the
    audit check) must not fail or slow down because a webhook is down. Put no secret in ``payload``.
    """
    try:
        if get_event(name) is None:
            log.error("notify_event(%r): no such event is registered; nothing sent.", name)
            return
        body = json.loads(json.dumps(dict(payload), cls=DjangoJSONEncoder))
        event_id = str(uuid.uuid4())
        occurred_at = timezone.now().isoformat()
        transaction.on_commit(lambda: _queue(name, event_id, occurred_at, body))
    except Exception as exc:
        log.error("notify_event(%r) failed, nothing sent: %s", name, redact(str(exc)))


def _queue(name: str, event_id: str, occurred_at: str, payload: dict[str, Any]) -> None:
    from django_q.tasks import async_task

    from governance.notifications.models import WebhookSubscription

    try:
        if not WebhookSubscription.objects.filter(enabled=True).exists():
            return  # nobody listens: no task for the queue
        async_task(
            "governance.notifications.tasks.dispatch_event",
            name,
            event_id,
            occurred_at,
            payload,
            task_name=f"event:{name}:{event_id}",
            group="webhooks",
        )
    except Exception as exc:
        log.error("Event %s (%s) could not be queued for its webhooks: %s", name, event_id, redact(str(exc)))

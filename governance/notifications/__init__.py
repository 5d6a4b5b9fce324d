"""Notifications to the outside: signed JSON webhooks and Slack-compatible messages.

Call :func:`notify_event` (``governance.notifications.emit``) when something happened; register the
event's name first (``governance.notifications.events.register_event``, from an ``AppConfig.ready``).
The package's modules: ``events`` (names), ``emit`` (queueing), ``tasks`` and ``delivery`` (sending,
retries), ``safety`` (where a webhook may point), ``signing`` (the signature), ``models``,
``services`` (audited changes to subscriptions), ``admin`` and ``api``.
"""

from governance.notifications.emit import notify_event
from governance.notifications.events import register_event

__all__ = ["notify_event", "register_event"]

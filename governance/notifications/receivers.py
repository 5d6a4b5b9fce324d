"""Signal receivers that turn the bottom layer's own happenings into events."""

from typing import Any

from governance.notifications.emit import notify_event
from governance.notifications.events import AUDIT_ANCHOR


def send_anchor(sender: object, *, record: dict[str, Any], **kwargs: Any) -> None:
    """``anchor_appended``: the signed anchor (the chain's head, no secret) to whoever subscribed."""
    notify_event(AUDIT_ANCHOR, record)

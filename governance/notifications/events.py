"""The registry of event names a subscription can choose.

This bottom layer registers its own events (the audit chain's); the apps above register theirs
from their ``AppConfig.ready`` (``register_event``), so this module never names them.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Text = Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True)
class Event:
    """``name`` is dotted (``sync.failed``); ``label`` reads as a sentence in the admin; ``text``
    turns a payload into the one line a Slack message shows (default: the label and the payload)."""

    name: str
    label: str
    text: Text | None = None

    def describe(self, payload: Mapping[str, Any]) -> str:
        if self.text is not None:
            return self.text(payload)
        details = ", ".join(f"{key}: {value}" for key, value in payload.items() if value not in (None, "", [], {}))
        return f"{self.label}" + (f" ({details})" if details else "")


_EVENTS: dict[str, Event] = {}


def register_event(name: str, label: str, text: Text | None = None) -> None:
    """Make ``name`` an event subscriptions can choose. Registering a name again replaces it."""
    _EVENTS[name] = Event(name, label, text)


def registered_events() -> dict[str, Event]:
    return dict(sorted(_EVENTS.items()))


def event_choices() -> list[tuple[str, str]]:
    return [(event.name, f"{event.name} — {event.label}") for event in registered_events().values()]


def get_event(name: str) -> Event | None:
    return _EVENTS.get(name)


# The bottom layer's own events.
AUDIT_VERIFICATION_FAILED = "audit.verification_failed"
AUDIT_ANCHOR = "audit.anchor"
register_event(
    AUDIT_VERIFICATION_FAILED,
    "The audit chain failed verification",
    lambda p: f"The audit chain failed verification ({p.get('task', '')}): {p.get('message', '')}",
)
register_event(
    AUDIT_ANCHOR,
    "A new audit anchor was written (its head, to keep outside the portal)",
    lambda p: f"Audit anchor #{p.get('seq')}: hash {p.get('hash')} at {p.get('created_at')}",
)

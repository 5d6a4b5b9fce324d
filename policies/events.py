"""The policies app's events for webhooks and Slack (governance.notifications): policy runs that
completed, halted or were refused, an access request waiting for a decision, and a review campaign
due or overdue (policies/services/review_schedule.py says exactly when).
Registered from PoliciesConfig.ready. Payloads carry ids, names and counts, never an email address
or a requester's justification: a webhook leaves the portal."""

from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings

from governance.notifications import notify_event, register_event
from governance.runs.models import RunStatus

POLICY_RUN_COMPLETED = "policy_run.completed"
POLICY_RUN_HALTED = "policy_run.halted"
POLICY_RUN_REFUSED = "policy_run.refused"
ACCESS_REQUEST_WAITING = "access_request.waiting"
REVIEW_CAMPAIGN_DUE = "review_campaign.due"
REVIEW_CAMPAIGN_OVERDUE = "review_campaign.overdue"

_RUN_EVENTS: dict[str, str] = {
    RunStatus.SUCCEEDED: POLICY_RUN_COMPLETED,
    RunStatus.HALTED: POLICY_RUN_HALTED,
    RunStatus.REFUSED: POLICY_RUN_REFUSED,
}


def _run_text(verb: str) -> Callable[[Mapping[str, Any]], str]:
    def text(p: Mapping[str, Any]) -> str:
        line = f"Policy {p.get('policy_name')!r} ({p.get('mode')}, {p.get('organization')}) {verb}, run {p.get('run')}"
        return f"{line}: {p.get('message')}" if p.get("message") else line

    return text


def register_events() -> None:
    register_event(POLICY_RUN_COMPLETED, "A policy run completed", _run_text("completed"))
    register_event(POLICY_RUN_HALTED, "A policy run halted (its cap or a safety check stopped it)", _run_text("halted"))
    register_event(POLICY_RUN_REFUSED, "A policy run was refused (stale sync, another run)", _run_text("was refused"))
    register_event(
        ACCESS_REQUEST_WAITING,
        "An access request waits for a decision",
        lambda p: (
            f"Request to give back access review item #{p.get('review_item')} ({p.get('organization')}) "
            f"waits for a decision: {p.get('url')}"
            if p.get("review_item")
            else f"Access request #{p.get('request')} ({p.get('organization')}) waits for a decision: {p.get('url')}"
        ),
    )
    register_event(
        REVIEW_CAMPAIGN_DUE,
        "An access review campaign reached its deadline (it is being closed)",
        lambda p: (
            f"Access review {p.get('campaign_name')!r} ({p.get('organization')}) reached its deadline "
            f"{p.get('deadline')} with {p.get('undecided')} of {p.get('items')} item(s) undecided; "
            f"closing it: {p.get('url')}"
        ),
    )
    register_event(
        REVIEW_CAMPAIGN_OVERDUE,
        "An access review campaign is still not closed a day after its deadline",
        lambda p: (
            f"Access review {p.get('campaign_name')!r} ({p.get('organization')}) is overdue since {p.get('deadline')} "
            f"({p.get('status')}: {p.get('status_note') or 'not closed'}): {p.get('url')}"
        ),
    )


def policy_run_finished(
    *,
    policy_id: int,
    policy_name: str,
    mode: str,
    organization: str,
    run_id: int,
    status: str,
    message: str,
    counts: dict[str, Any],
) -> None:
    name = _RUN_EVENTS.get(status)
    if name is None:
        return
    notify_event(
        name,
        {
            "policy": policy_id,
            "policy_name": policy_name,
            "mode": mode,
            "organization": organization,
            "run": run_id,
            "status": status,
            "message": message,
            "counts": counts,
        },
    )


def access_request_waiting(*, request_id: int, organization: str, kind: str, reason: str) -> None:
    notify_event(
        ACCESS_REQUEST_WAITING,
        {
            "request": request_id,
            "organization": organization,
            "kind": kind,
            "reason": reason,
            "url": f"{settings.PORTAL_BASE_URL}/admin/policies/accessrequest/{request_id}/change/",
        },
    )


def review_give_back_waiting(*, item_id: int, organization: str, url: str) -> None:
    """Someone asks for what an access review removed back: a waiting request like any other
    (``review_item`` instead of ``request``)."""
    notify_event(
        ACCESS_REQUEST_WAITING,
        {"review_item": item_id, "organization": organization, "kind": "review_give_back", "url": url},
    )


def review_campaign_notice(name: str, payload: dict[str, Any]) -> None:
    """``review_campaign.due`` or ``.overdue`` (policies/services/review_schedule.py decides when)."""
    notify_event(name, payload)

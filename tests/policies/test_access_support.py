"""Helpers shared by the access-request tests (no tests here): policy runs on the simulator, links
taken from the outbox, and draining the django-q2 queue in-process."""

import re
from datetime import timedelta

from django.core import mail
from django.utils.module_loading import import_string

from accounts.models import Organization
from policies.links import make_token
from policies.models import Enforcement, EnforcementStatus
from policies.services.runs import policy_run
from tests import taskqueue
from tests.policies.conftest import RUN_AT

ACTED_AT = RUN_AT + timedelta(days=14, minutes=1)
_LINK = re.compile(r"https?://[^/\s]+(/access/restore/[^/\s]+/)")


def run(policy, now=RUN_AT):
    """A policy run at ``now``, as if a sync had just completed (the simulator's clock stands still)."""
    if now > RUN_AT:
        Organization.objects.filter(pk=policy.organization_id).update(last_complete_sync_at=now)
        policy.organization.refresh_from_db()
    return policy_run(policy=policy, now=now)


def warn_then_act(policy) -> Enforcement:
    """Warn everyone due, then act 14 days later; returns one enforcement that was carried out."""
    run(policy, RUN_AT)
    run(policy, ACTED_AT)
    return Enforcement.objects.filter(status=EnforcementStatus.DONE).select_related("account", "policy").first()


def act(policy) -> Enforcement:
    """Act at once (no warnings); returns one enforcement that was carried out."""
    run(policy, RUN_AT)
    return Enforcement.objects.filter(status=EnforcementStatus.DONE).select_related("account", "policy").first()


def link_path(message) -> str:
    """The ``/access/restore/<token>/`` path of the link in an email."""
    found = _LINK.search(message.body)
    assert found, f"no restore link in: {message.body!r}"
    return found.group(1)


def emails_to(address: str, containing: str = "") -> list:
    return [m for m in mail.outbox if address in m.to and containing in (m.subject + m.body)]


def path_for(enforcement: Enforcement) -> str:
    enforcement.refresh_from_db()
    return f"/access/restore/{make_token(enforcement)}/"


def drain_queue() -> list:
    """Run every queued task, in-process and in order (no cluster needed)."""
    return [import_string(task["func"])(*task["args"], **task["kwargs"]) for task in taskqueue.take_all()]


def queued_funcs() -> list[str]:
    return [task["func"] for task in taskqueue.queued()]

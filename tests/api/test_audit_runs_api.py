"""The audit trail and run history through the API, filtered like their admin lists."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from governance.runs.models import RunStatus
from governance.runs.services import task_run_finish, task_run_start

pytestmark = pytest.mark.django_db
DAY = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def events(db):
    for offset in range(-2, 3):
        with time_machine.travel(DAY + timedelta(days=offset), tick=False):
            record_event(
                actor=Actor.system(),
                action=AuditAction.SYNC_COMPLETED if offset % 2 else AuditAction.ACCOUNT_SUSPENDED,
                target_type="accounts.account",
                target_id=str(100 + offset),
                target_repr=f"Person {offset}",
                correlation_id=f"corr-{offset}",
            )


def _ids(client, url, params) -> list[str]:
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    return [row["target_id"] for row in response.json()["results"]]


def test_events_are_newest_first_by_sequence(api_as, audrey, events):
    rows = api_as(audrey).get(reverse("api:auditevent-list")).json()["results"]
    assert [r["seq"] for r in rows] == sorted((r["seq"] for r in rows), reverse=True)
    assert {"hash", "prev_hash", "before", "after"} <= set(rows[0])


def test_date_filters_take_whole_utc_days_like_the_admins(api_as, client_for, audrey, events):
    url = reverse("api:auditevent-list")
    client = api_as(audrey)
    params = {"created_at_from": "2026-05-09", "created_at_to": "2026-05-10"}
    assert _ids(client, url, params) == ["100", "99"]
    page = client_for(audrey).get(reverse("admin:governance_auditevent_changelist"), params)
    admin_ids = [e.target_id for e in page.context["cl"].queryset]
    assert admin_ids == ["100", "99"]
    assert client.get(url, {"created_at_from": "yesterday"}).status_code == 400


def test_action_target_correlation_and_search(api_as, audrey, events):
    url = reverse("api:auditevent-list")
    client = api_as(audrey)
    assert _ids(client, url, {"action": "account.suspended"}) == ["102", "100", "98"]
    assert _ids(client, url, {"correlation_id": "corr-1"}) == ["101"]
    assert _ids(client, url, {"target_type": "accounts.account", "target_id": "99"}) == ["99"]
    assert _ids(client, url, {"q": "person -2"}) == ["98"]
    assert client.get(url, {"action": "account.exploded"}).status_code == 400


def test_runs_show_status_counts_and_progress(api_as, alice):
    run = task_run_start(name="sync", correlation_id="c-9")
    task_run_finish(run=run, status=RunStatus.SUCCEEDED, counts={"created": 3})
    client = api_as(alice)
    rows = client.get(reverse("api:run-list"), {"status": "succeeded", "name": "sync"}).json()["results"]
    assert [(r["id"], r["counts"]) for r in rows] == [(run.pk, {"created": 3})]
    assert client.get(reverse("api:run-list"), {"status": "failed"}).json()["results"] == []

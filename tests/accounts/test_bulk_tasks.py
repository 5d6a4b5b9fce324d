"""The background task behind large bulk actions."""

from datetime import timedelta

import pytest

from accounts.bulk_tasks import actor_spec, run_bulk_action
from accounts.models import Account, AccountStatus
from accounts.sync.runner import organization_sync
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.runs import locks
from governance.runs.models import RunStatus, TaskRun
from governance.runs.services import task_run_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def mirrored(organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    return organization


def _plain(n: int) -> list[int]:
    accounts = Account.objects.exclude(management_source="synced").filter(
        status=AccountStatus.ACTIVE, is_org_admin=False, managed=True
    )
    return list(accounts.order_by("pk").values_list("pk", flat=True)[:n])


def test_it_applies_the_action_as_the_admin_who_confirmed_it(alice, simulator, mirrored):
    run = task_run_start(name="bulk_action", correlation_id="c-1")
    ids = _plain(2)
    counts = run_bulk_action(run.pk, "suspend", ids, {"reason": "r"}, actor_spec(Actor.for_user(alice)))
    assert counts == {"done": 2, "skipped": 0, "refused": 0, "failed": 0}
    event = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED).first()
    assert (event.actor_name, event.actor_user_id, event.correlation_id) == ("alice", alice.pk, "c-1")
    assert TaskRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED


def test_a_second_delivery_of_a_finished_run_does_nothing(alice, mirrored):
    run = task_run_start(name="bulk_action")
    ids = _plain(1)
    run_bulk_action(run.pk, "suspend", ids, {"reason": "r"}, actor_spec(Actor.for_user(alice)))
    events = AuditEvent.objects.count()
    result = run_bulk_action(run.pk, "activate", ids, {"reason": "r"}, actor_spec(Actor.for_user(alice)))
    assert "already succeeded" in result["skipped"]
    assert AuditEvent.objects.count() == events


def test_a_delivery_while_another_worker_holds_the_run_does_nothing(alice, mirrored):
    run = task_run_start(name="bulk_action")
    locks.acquire(f"bulk_action:{run.pk}", ttl=timedelta(minutes=5), holder="other-worker")
    result = run_bulk_action(run.pk, "suspend", _plain(1), {"reason": "r"}, actor_spec(Actor.for_user(alice)))
    assert result == {"skipped": "another worker is running this bulk action"}
    assert TaskRun.objects.get(pk=run.pk).status == RunStatus.RUNNING
    assert not AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED).exists()

"""Undo, applied imports and bulk actions past their time budget at Atlassian's pace
(accounts/pool.py): several accounts at a time against the simulator over HTTP, each acted on once
with its own audit event, none lost, the audit chain intact. Threads need their own connections:
committed data (transactional_db)."""

import csv
import io
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import bulk_tasks, clients
from accounts.bulk_tasks import actor_spec, run_bulk_action
from accounts.importexport.apply import apply_changes, plan_changes
from accounts.importexport.formats import read_csv
from accounts.models import Account, AccountStatus
from accounts.sync.runner import organization_sync
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.audit.verify import verify_chain
from governance.runs.models import RunStatus, TaskRun
from governance.runs.services import task_run_progress, task_run_start
from policies.models import Enforcement, EnforcementStatus
from policies.services.review import run_undo
from policies.services.runs import policy_run
from tests.factories import jira_suspend_policy
from tests.policies.conftest import RUN_AT

pytestmark = pytest.mark.django_db(transaction=True)
ACTOR = Actor.system("pace test")


@pytest.fixture
def mirrored(organization, simulator):
    with clients.client_for(organization) as client:
        assert organization_sync(organization=organization, client=client).ok
    organization.refresh_from_db()
    return organization


def _active(organization, n: int) -> list[Account]:
    accounts = list(
        Account.objects.filter(
            organization=organization,
            status=AccountStatus.ACTIVE,
            is_org_admin=False,
            managed=True,
            account_type="atlassian",
        )
        .exclude(management_source="synced")
        .order_by("pk")[:n]
    )
    assert len(accounts) == n
    return accounts


def _writes(simulator, accounts, verb: str) -> Counter:
    return Counter(
        {a.account_id: sum(1 for w in simulator.writes_for(a.account_id) if w.path.endswith(verb)) for a in accounts}
    )


def test_an_undo_gives_back_several_accounts_at_once_and_each_once(mirrored, simulator, settings):
    policy = jira_suspend_policy(mirrored)
    result = policy_run(policy=policy, now=RUN_AT)
    done = list(Enforcement.objects.filter(executed_run=result.run, status=EnforcementStatus.DONE))
    assert len(done) >= 8
    settings.ATLASSIAN_CONCURRENCY = 5
    simulator.faults.latency_ms = 60
    simulator.reset_in_flight()
    counts = run_undo(run=result.run, actor=ACTOR, reason="wrong policy")
    assert counts == {"reversed": len(done), "failed": 0}
    assert 3 <= simulator.max_in_flight <= 5  # calls overlapped, within the pool's bound
    accounts = [e.account for e in done]
    assert set(_writes(simulator, accounts, "/restore").values()) == {1}  # none twice, none lost
    restored = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_RESTORED, correlation_id=result.run.correlation_id)
    assert sorted(restored.values_list("target_id", flat=True)) == sorted(str(a.pk) for a in accounts)
    assert all(simulator.state.user(a.account_id).status == "active" for a in accounts)
    assert Enforcement.objects.filter(pk__in=[e.pk for e in done], status=EnforcementStatus.REVERSED).count() == len(
        done
    )
    assert AuditEvent.objects.filter(action=AuditAction.POLICY_RUN_UNDONE).count() == 1
    assert verify_chain().ok


def _changes_file(accounts, status: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("account_id", "status"))
    writer.writerows([a.account_id, status] for a in accounts)
    return out.getvalue().encode()


def _plan(organization, accounts, status="suspended"):
    plan = plan_changes(organization=organization, table=read_csv(_changes_file(accounts, status)), file_name="f.csv")
    assert plan.errors == []
    return plan


def test_an_applied_import_runs_several_rows_at_once_and_each_once(mirrored, simulator, settings):
    settings.ATLASSIAN_CONCURRENCY = 5
    accounts = _active(mirrored, 15)
    simulator.faults.latency_ms = 60
    simulator.reset_in_flight()
    handled: list[int] = []
    with clients.client_for(mirrored) as client:
        report = apply_changes(plan=_plan(mirrored, accounts), client=client, actor=ACTOR, progress=handled.append)
    assert report.ok
    assert 3 <= simulator.max_in_flight <= 5
    assert handled == list(range(1, 16))  # progress in the file's order
    assert [o.row for o in report.outcomes] == list(range(2, 17))
    assert set(_writes(simulator, accounts, "/suspend").values()) == {1}
    events = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED, correlation_id=report.correlation_id)
    assert sorted(events.values_list("target_id", flat=True)) == sorted(str(a.pk) for a in accounts)
    assert verify_chain().ok


def test_a_failed_row_stops_a_pooled_import_from_starting_more_rows(mirrored, simulator, settings):
    settings.ATLASSIAN_CONCURRENCY = 3
    accounts = _active(mirrored, 12)
    simulator.faults.latency_ms = 60
    simulator.faults.fail_next(1, status=403, path_contains=f"{accounts[1].account_id.split(':')[-1]}/suspend")
    with clients.client_for(mirrored) as client:
        report = apply_changes(plan=_plan(mirrored, accounts), client=client, actor=ACTOR)
    states = [o.state for o in report.outcomes]
    assert report.failed.row == 3
    assert states[:2] == ["applied", "failed"]
    # Only rows already under way when it failed went on (at most two more, with three workers).
    assert states.count("not_attempted") >= 12 - 2 - 2
    first_left = states.index("not_attempted")
    assert set(states[first_left:]) == {"not_attempted"}  # nothing started after the first left out
    suspended = {a.account_id for a in accounts if simulator.state.user(a.account_id).status == "suspended"}
    applied = {accounts[i].account_id for i, s in enumerate(states) if s == "applied"}
    assert suspended == applied  # the report says exactly what happened in Atlassian
    summary = AuditEvent.objects.get(action=AuditAction.IMPORT_APPLIED)
    assert summary.after["not_attempted"] == states.count("not_attempted")
    assert verify_chain().ok


def test_a_bulk_task_out_of_time_stops_between_accounts_and_its_follow_up_does_the_rest_once(
    mirrored, simulator, settings, monkeypatch, client_for, alice
):
    settings.ATLASSIAN_CONCURRENCY = 2
    settings.ACTION_TIME_BUDGET = 0.6  # spent while the first accounts are under way (10 take >= 1.5 s)
    accounts = _active(mirrored, 10)
    ids = [a.pk for a in accounts]
    simulator.faults.latency_ms = 100
    queued: list[tuple] = []
    monkeypatch.setattr(bulk_tasks, "_continue_later", lambda run, *args: queued.append(args))
    run = task_run_start(name="bulk_action", correlation_id="bulk-budget")
    task_run_progress(run=run, done=0, total=len(ids))
    actor = actor_spec(Actor.for_user(alice))

    first = run_bulk_action(run.pk, "suspend", ids, {"reason": "leavers"}, actor)
    assert 1 <= first["done"] < 10
    assert first["continues_as_part"] == 2
    ((action, left, params, _, part, holder),) = queued
    assert (action, part) == ("suspend", 2)
    assert left == ids[first["done"] :]  # the accounts never started, in order
    assert first["not_started"] == len(left)
    paused = TaskRun.objects.get(pk=run.pk)
    assert paused.status == RunStatus.RUNNING
    assert (paused.progress["done"], paused.progress["total"], paused.progress["part"]) == (first["done"], 10, 2)
    page = client_for(alice).get(reverse("admin:accounts_account_bulk_run", args=[run.pk]))
    assert "Continuing in task 2" in page.content.decode()
    # The first part delivered again by the broker does nothing: the lease waits for part 2 (and
    # were it free, the run's progress names part 2).
    redelivered = run_bulk_action(run.pk, "suspend", ids, {"reason": "leavers"}, actor)
    assert redelivered == {"skipped": "another worker is running this bulk action"}

    # While part 2 waits in the queue the run keeps its lease: a bulk action started long after
    # (past TASK_TIMEOUT) does not close it as abandoned.
    task_run_start(name="bulk_action", now=timezone.now() + timedelta(seconds=settings.TASK_TIMEOUT + 60))
    assert TaskRun.objects.get(pk=run.pk).status == RunStatus.RUNNING

    settings.ACTION_TIME_BUDGET = 600
    second = run_bulk_action(run.pk, action, left, params, actor, part, holder)
    assert second == {"done": 10, "skipped": 0, "refused": 0, "failed": 0}  # the run's counts, both parts
    finished = TaskRun.objects.get(pk=run.pk)
    assert finished.status == RunStatus.SUCCEEDED
    assert (finished.progress["done"], finished.progress["total"]) == (10, 10)
    assert finished.counts["done"] == 10
    assert len(queued) == 1
    # Part 2 delivered again by the broker finds the lease taken over: it does nothing.
    assert "another worker" in run_bulk_action(run.pk, action, left, params, actor, part, holder)["skipped"]
    assert set(_writes(simulator, accounts, "/suspend").values()) == {1}  # none twice, none lost
    events = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED, correlation_id="bulk-budget")
    assert sorted(events.values_list("target_id", flat=True)) == sorted(str(pk) for pk in ids)
    assert (
        "Done in 2 tasks"
        in client_for(alice).get(reverse("admin:accounts_account_bulk_run", args=[run.pk])).content.decode()
    )
    assert verify_chain().ok


def test_approved_access_requests_are_given_back_several_at_once_and_each_once(mirrored, simulator, settings, hank):
    from policies.access.services import access_requests_fulfil
    from policies.models import AccessRequest
    from policies.models.access_requests import AccessRequestStatus

    policy = jira_suspend_policy(mirrored)
    result = policy_run(policy=policy, now=RUN_AT)
    done = list(
        Enforcement.objects.filter(executed_run=result.run, status=EnforcementStatus.DONE).select_related("account")
    )
    assert len(done) >= 8
    requests = [
        AccessRequest.objects.create(
            account=e.account, enforcement=e, email=e.account.email or "", status=AccessRequestStatus.APPROVED
        )
        for e in done
    ]
    settings.ATLASSIAN_CONCURRENCY = 5
    simulator.faults.latency_ms = 60
    simulator.reset_in_flight()
    loaded = list(AccessRequest.objects.filter(pk__in=[r.pk for r in requests]).select_related("account__organization"))
    statuses = access_requests_fulfil(access_requests=loaded, actor=Actor.for_user(hank))
    assert statuses == {r.pk: AccessRequestStatus.FULFILLED for r in requests}
    assert 3 <= simulator.max_in_flight <= 5
    accounts = [e.account for e in done]
    assert set(_writes(simulator, accounts, "/restore").values()) == {1}  # none twice, none lost
    fulfilled = AuditEvent.objects.filter(action=AuditAction.REQUEST_FULFILLED)
    assert sorted(fulfilled.values_list("target_id", flat=True)) == sorted(str(r.pk) for r in requests)
    for request in requests:  # each restore carries its own request's correlation id
        assert AuditEvent.objects.filter(
            action=AuditAction.ACCOUNT_RESTORED,
            correlation_id=request.correlation_id,
            target_id=str(request.account_id),
        ).exists()
    assert verify_chain().ok


def test_a_follow_up_that_never_runs_leaves_the_run_to_be_closed_as_abandoned_once_its_lease_expires(
    mirrored, simulator, settings, monkeypatch, alice
):
    settings.ATLASSIAN_CONCURRENCY = 2
    settings.ACTION_TIME_BUDGET = 0.3
    settings.TASK_TIMEOUT = 2  # the lease handed to the follow-up lasts this long
    ids = [a.pk for a in _active(mirrored, 8)]
    simulator.faults.latency_ms = 100
    monkeypatch.setattr(bulk_tasks, "_continue_later", lambda run, *args: None)  # the queue loses it
    run = task_run_start(name="bulk_action", correlation_id="bulk-lost-follow-up")
    task_run_progress(run=run, done=0, total=len(ids))
    first = run_bulk_action(run.pk, "suspend", ids, {"reason": "leavers"}, actor_spec(Actor.for_user(alice)))
    assert first["continues_as_part"] == 2
    task_run_start(name="bulk_action", now=timezone.now() + timedelta(seconds=60))
    assert TaskRun.objects.get(pk=run.pk).status == RunStatus.RUNNING  # the lease is still live
    time.sleep(2.5)  # the lease's TTL (by the database's clock) goes by
    task_run_start(name="bulk_action", now=timezone.now() + timedelta(seconds=60))
    abandoned = TaskRun.objects.get(pk=run.pk)
    assert abandoned.status == RunStatus.FAILED
    assert abandoned.error.startswith("Abandoned")

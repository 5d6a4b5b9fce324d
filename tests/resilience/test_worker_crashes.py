"""A real worker process (``manage.py sync_atlassian``, ``manage.py enforce_policies``) killed with
SIGKILL part-way, then started again: the mirror ends up exactly Atlassian's, nothing is acted on
twice, nothing is lost, the killed run is not left "running" forever, and the audit chain verifies.

The workers use this test run's database (a file per run, see governance/settings.py) through
``DATABASE_URL`` and ``tests/resilience/worker_settings.py``, whose ``TASK_TIMEOUT`` (lease and
claim lifetime) is a few seconds so that a restart need not wait half an hour for a dead
worker's lease. The simulator runs in this process, slowed where the kill should land, and
records every write it carries out.
"""

import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.clients import client_for
from accounts.models import Account, AccountStatus, Organization
from accounts.sync.runner import PROGRESS_EVERY, USER_BATCH, organization_sync
from governance.atlassian.simulator import Simulator, SimulatorConfig
from governance.audit.models import AuditAction, AuditEvent
from governance.runs.models import RunLock, RunStatus, TaskRun
from governance.runs.services import ABANDONED
from policies.engine import Verdict
from policies.models import Enforcement, EnforcementStatus
from policies.services.runs import evaluate
from tests.factories import jira_suspend_policy
from tests.resilience.helpers import USERS_SEARCH, assert_chain_verifies, assert_mirror_matches

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ORG = "crash-org"
API_KEY = "crash-key-4b1d09"
LEASE_SECONDS = 3  # the workers' TASK_TIMEOUT


@pytest.fixture
def crash_simulator(request):
    """Real time (no frozen clock): the workers decide with the wall clock. The size is the
    test's (indirect parametrization): a sync needs more than one batch of users to be killed
    with part of them written, a policy run only a few dozen due accounts."""
    users = getattr(request, "param", USER_BATCH + 200)
    sim = Simulator(SimulatorConfig(users=users, groups=30, seed=3, org_id=ORG, api_key=API_KEY))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def crash_org(transactional_db, crash_simulator, settings):
    settings.ATLASSIAN_ADMIN_API_KEY = settings.ATLASSIAN_API_TOKEN = API_KEY
    organization = Organization.objects.create(
        org_id=ORG,
        name="Crash-tested org",
        api_base=crash_simulator.base_url,
        site_url=crash_simulator.base_url,
        jira_email="admin@example.com",
    )
    with client_for(organization) as client:
        assert organization_sync(organization=organization, client=client).ok
    organization.refresh_from_db()
    return organization


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = quote(db["USER"] or "", safe="")
    password = quote(db["PASSWORD"] or "", safe="")
    return f"postgres://{user}:{password}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def _worker_env() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.resilience.worker_settings",
        "DATABASE_URL": _database_url(),
        "RESILIENCE_TASK_TIMEOUT": str(LEASE_SECONDS),
        "ATLASSIAN_ADMIN_API_KEY": API_KEY,
        "ATLASSIAN_API_TOKEN": API_KEY,
    }


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _manage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_worker_env(),
        capture_output=True,
        text=True,
        timeout=90,
    )


def _wait_until(predicate, worker: subprocess.Popen, *, timeout: float = 45.0):
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if worker.poll() is not None:
            pytest.fail(
                f"the worker ended (exit {worker.returncode}) before it could be killed:\n{worker.stdout.read()}"
            )
        if time.monotonic() > deadline:
            worker.kill()
            pytest.fail("the worker never reached the point where it should be killed")
        time.sleep(0.05)


def _kill(worker: subprocess.Popen) -> None:
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    worker.stdout.close()
    assert worker.returncode == -signal.SIGKILL


def _wait_for_lease_to_expire(name: str) -> None:
    # The dead worker never releases its lease; it lapses LEASE_SECONDS after it was taken.
    lease = RunLock.objects.get(name=name)
    assert lease.holder, "the killed worker should still hold its lease"
    delay = (lease.expires_at - timezone.now()).total_seconds()
    time.sleep(max(0.0, delay) + 0.2)


def _assert_audit_log_verifies() -> None:
    assert_chain_verifies()
    out = StringIO()
    call_command("verify_audit_log", stdout=out)  # raises CommandError (exit 1) on a broken chain
    assert "intact" in out.getvalue()


def _assert_killed_run_closed(killed: TaskRun, name: str) -> None:
    killed.refresh_from_db()
    assert killed.status == RunStatus.FAILED
    assert killed.error == ABANDONED
    assert killed.finished_at is not None
    assert not TaskRun.objects.filter(name=name, status=RunStatus.RUNNING).exists()
    assert TaskRun.objects.filter(name=name, status=RunStatus.SUCCEEDED).latest("started_at").started_at > (
        killed.started_at
    )


def test_a_sync_killed_mid_way_and_restarted_leaves_the_mirror_exactly_atlassians(crash_simulator, crash_org):
    state = crash_simulator.state
    people = state.account_ids(status="active", org_admin=False)
    # Changes the next sync must pick up, some in its first batch of users and some in its last.
    early, late = people[10:15], people[-5:]
    for account_id in early + late:
        state.suspend(state.account(account_id))
    gone = people[20:23] + people[-8:-6]
    for account_id in gone:
        state.remove_user(account_id)
    # The pages after the first fifty crawl, so the worker is killed with the first batches written
    # (the run reports its progress every PROGRESS_EVERY users) and the last pages not yet read.
    # Only the full listing over "-" crawls: the per-directory searches (ids only) run beside it.
    crash_simulator.faults.delay_next(10, seconds=2.0, path_contains=USERS_SEARCH, after=USER_BATCH // 100)

    worker = _start("sync_atlassian", "--org", ORG)
    running = TaskRun.objects.filter(name="sync", status=RunStatus.RUNNING)
    killed = _wait_until(lambda: running.filter(progress__done__gte=PROGRESS_EVERY).first(), worker)
    _kill(worker)

    # Half-way for real: the first batch is written, the last is not, and nobody is removed.
    mirrored = dict(Account.objects.filter(organization=crash_org).values_list("account_id", "status"))
    assert {mirrored[a] for a in early} == {AccountStatus.SUSPENDED}
    assert {mirrored[a] for a in late} == {AccountStatus.ACTIVE}
    assert not Account.objects.filter(status=AccountStatus.REMOVED).exists()
    killed.refresh_from_db()
    assert killed.status == RunStatus.RUNNING

    crash_simulator.faults.clear()
    _wait_for_lease_to_expire(f"sync:{ORG}")
    restarted = _manage("sync_atlassian", "--org", ORG)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr

    assert_mirror_matches(crash_simulator, crash_org)
    removed = Account.objects.filter(organization=crash_org, status=AccountStatus.REMOVED)
    assert set(removed.values_list("account_id", flat=True)) == set(gone)
    # The suspensions the killed run mirrored are not recorded a second time by the restart.
    suspended_events = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED)
    assert sorted(suspended_events.values_list("target_repr", flat=True)) == sorted(
        str(Account.objects.get(account_id=a)) for a in early + late
    )
    _assert_killed_run_closed(killed, "sync")
    _assert_audit_log_verifies()


@pytest.mark.parametrize("crash_simulator", [400], indirect=True)
def test_enforcement_killed_mid_way_and_restarted_acts_on_every_due_account_once(crash_simulator, crash_org):
    policy = jira_suspend_policy(crash_org, cap_absolute=10_000)
    decisions = evaluate(policy, timezone.now()).by_verdict(Verdict.ACT)
    due = set(Account.objects.filter(pk__in=[d.account_pk for d in decisions]).values_list("account_id", flat=True))
    assert len(due) >= 20
    # Each suspend takes 0.3 s, so the kill lands with one of them in flight: the server carries
    # it out after the worker is gone, which the portal cannot know.
    crash_simulator.faults.delay_next(10_000, seconds=0.3, path_contains="/suspend")

    worker = _start("enforce_policies", "--policy", str(policy.pk))
    _wait_until(lambda: Enforcement.objects.filter(policy=policy, status=EnforcementStatus.DONE).count() >= 5, worker)
    _kill(worker)
    killed = TaskRun.objects.get(name="policy", status=RunStatus.RUNNING)
    time.sleep(0.5)  # let the in-flight suspend land

    done_before = set(
        Enforcement.objects.filter(policy=policy, status=EnforcementStatus.DONE).values_list(
            "account__account_id", flat=True
        )
    )
    assert 5 <= len(done_before) < len(due)  # killed part-way for real
    crash_simulator.faults.clear()
    # Both the policy lease and the claim on the interrupted enforcement lapse after TASK_TIMEOUT.
    _wait_for_lease_to_expire(f"policy:{policy.pk}")
    restarted = _manage("enforce_policies", "--policy", str(policy.pk))
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr

    enforcements = list(Enforcement.objects.filter(policy=policy).select_related("account"))
    assert sorted(e.account.account_id for e in enforcements) == sorted(due)  # one decision each
    assert {e.status for e in enforcements} == {EnforcementStatus.DONE}  # none lost
    executed = AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_EXECUTED)
    assert sorted(executed.values_list("target_id", flat=True)) == sorted(str(e.pk) for e in enforcements)
    assert all(crash_simulator.state.user(a).status == "suspended" for a in due)
    suspends: dict[str, int] = {}
    for write in crash_simulator.writes:
        if write.path.endswith("/suspend"):
            account_id = write.path.split("/users/")[1].split("/")[0]
            suspends[account_id] = suspends.get(account_id, 0) + 1
    assert suspends.keys() == due  # nobody else touched
    # Only the suspend in flight at the kill may have been sent twice (it is sequential work);
    # the ones the killed worker had finished are never sent again.
    repeated = {a for a, n in suspends.items() if n > 1}
    assert len(repeated) <= 1
    assert not repeated & done_before
    assert max(suspends.values()) <= 2
    _assert_killed_run_closed(killed, "policy")
    _assert_audit_log_verifies()

"""Two task clusters sharing one database and one schedule list (DESIGN.md 5.5, section 8).

Real ``manage.py qcluster`` processes, against this run's test database (SQLite file, or PostgreSQL
when DATABASE_URL says so; the ORM broker, or Redis when REDIS_URL is set), with the sync and a
policy due now and the Atlassian simulator answering over loopback: each slot must produce one sync
run and one policy run, and no account may be acted on twice. Then, in threads: a bulk action and a
policy run while a sync is running leave the mirror equal to Atlassian and the audit chain intact.

The fixtures of tests/production/conftest.py are for the production-settings gunicorn test and skip
without PostgreSQL and Redis; these tests run on every profile and bring their own.
"""

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule, Task

from accounts.bulk import accounts_bulk_apply
from accounts.clients import client_for
from accounts.models import Account, AccountStatus, Group, Membership, Organization
from accounts.sync.runner import organization_sync
from governance.atlassian.groupids import canonical_group_id
from governance.atlassian.simulator import Simulator, SimulatorConfig
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.audit.verify import verify_chain
from governance.runs.models import RunStatus, TaskRun
from governance.schedules import apply_schedules
from policies.models import Enforcement, EnforcementStatus, InactivityPolicy
from policies.schedules import schedule_name
from policies.services.runs import policy_run
from tests.accounts.conftest import API_KEY, SIM_NOW
from tests.factories import jira_suspend_policy
from tests.processes import stop_processes

ROOT = Path(__file__).resolve().parents[2]
SYNC_SCHEDULE = "portal:sync-atlassian"
STARTUP_SECONDS = 90
# django-q2's guard loop calls the scheduler every 30 seconds; a slot fires within one such period.
SCHEDULER_PERIOD = 30
SLOT_SECONDS = 120

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user, password = quote(s["USER"] or "", safe=""), quote(s["PASSWORD"] or "", safe="")
    return f"postgres://{user}:{password}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{s['NAME']}"


class Clusters:
    """``manage.py qcluster`` processes of one test, their logs, and how to stop them."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.processes: list[subprocess.Popen] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ATLASSIAN_", "DATABASE_URL"))}
        # The test settings (test HMAC key, locmem email) against this run's test database; the same
        # PORTAL_TEST_RUN, so with Redis the same queue name and cache prefix as this process.
        env.update(
            DJANGO_SETTINGS_MODULE="governance.settings_test",
            DATABASE_URL=_database_url(),
            ATLASSIAN_ADMIN_API_KEY=API_KEY,
            ATLASSIAN_API_TOKEN=API_KEY,
            Q_WORKERS="2",
            LOG_LEVEL="INFO",
        )
        self.env = env

    def start(self, count: int) -> None:
        for number in range(count):
            with open(self.logs / f"qcluster-{number}.log", "w") as out:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "manage.py", "qcluster"],
                        cwd=ROOT,
                        env=self.env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

    def log(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-6000:]}" for path in sorted(self.logs.glob("*.log"))
        )

    def wait_for(self, condition, *, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            if any(process.poll() is not None for process in self.processes):
                pytest.fail(f"a qcluster stopped while waiting for {what}:\n{self.log()}")
            time.sleep(0.5)
        pytest.fail(f"{what} did not happen within {seconds:.0f} s:\n{self.log()}")

    def stop(self) -> None:
        stop_processes(self.processes)


@pytest.fixture
def sim():
    """The simulated organization, with a little latency so a sync takes long enough to overlap."""
    simulator = Simulator(
        SimulatorConfig(users=120, groups=12, seed=7, org_id="sim-org", api_key=API_KEY, now=SIM_NOW, latency_ms=40)
    )
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def mirrored(sim, settings) -> Organization:
    settings.ATLASSIAN_ADMIN_API_KEY = API_KEY
    settings.ATLASSIAN_API_TOKEN = API_KEY
    organization = Organization.objects.create(
        org_id="sim-org",
        name="Simulated org",
        api_base=sim.base_url,
        site_url=sim.base_url,
        jira_email="admin@example.com",
    )
    with client_for(organization) as client:
        assert organization_sync(organization=organization, client=client).ok
    organization.refresh_from_db()
    return organization


@pytest.fixture
def policy(mirrored) -> InactivityPolicy:
    """Suspends Jira users inactive for 90 days, at once (no warning), with no cap in the way."""
    return jira_suspend_policy(mirrored)


def _acted_on_at_most_once() -> Counter:
    """Suspensions per account, from the audit trail (one ``account.suspended`` event per remote call)."""
    suspended = Counter(
        AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED).values_list("target_id", flat=True)
    )
    twice = {pk: n for pk, n in suspended.items() if n > 1}
    history = [
        (event.target_id, event.seq, event.action, event.actor_name)
        for event in AuditEvent.objects.filter(target_type="accounts.account", target_id__in=twice).order_by("seq")
    ]
    assert twice == {}, f"accounts suspended more than once: {twice}; their history: {history}"
    executed = Counter(
        AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_EXECUTED).values_list("target_id", flat=True)
    )
    assert all(n == 1 for n in executed.values()), executed
    per_account = Counter(Enforcement.objects.values_list("policy_id", "account_id"))
    assert all(n == 1 for n in per_account.values()), per_account
    return suspended


def _mirror_matches_atlassian(sim, organization) -> None:
    """Status and group memberships of every mirrored account equal what the simulator holds."""
    remote_status = {"active": AccountStatus.ACTIVE, "suspended": AccountStatus.SUSPENDED}
    groups = dict(Group.objects.filter(organization=organization).values_list("pk", "group_id"))
    memberships: dict[int, set[str]] = {}
    for account_pk, group_pk in Membership.objects.filter(account__organization=organization).values_list(
        "account_id", "group_id"
    ):
        memberships.setdefault(account_pk, set()).add(groups[group_pk])
    wrong = []
    for account in Account.objects.filter(organization=organization).exclude(status=AccountStatus.REMOVED):
        info = sim.state.user(account.account_id)
        if info is None or info.status not in remote_status:
            continue
        if account.status != remote_status[info.status]:
            wrong.append(f"{account.account_id}: mirror {account.status}, Atlassian {info.status}")
        if memberships.get(account.pk, set()) != {canonical_group_id(g) for g in info.group_ids}:
            wrong.append(f"{account.account_id}: memberships differ from Atlassian's")
    assert wrong == [], "\n".join(wrong[:20])


def test_two_clusters_run_one_sync_and_one_policy_run_for_a_slot(sim, policy, tmp_path):
    call_command("createcachetable", verbosity=0)  # the database cache django-q2's stats use without Redis
    apply_schedules()
    due_now = [SYNC_SCHEDULE, schedule_name(policy.pk)]
    assert set(Schedule.objects.filter(name__in=due_now).values_list("name", flat=True)) == set(due_now)
    syncs_before = TaskRun.objects.filter(name="sync").count()  # the fixture's own sync

    clusters = Clusters(tmp_path)
    try:
        clusters.start(2)
        slot = timezone.now()
        # The slot: both schedules due at once, for both clusters' schedulers to find.
        Schedule.objects.filter(name__in=due_now).update(next_run=slot - timedelta(seconds=1))

        def fired():
            return not Schedule.objects.filter(name__in=due_now, next_run__lte=slot).exists()

        def finished():
            runs = TaskRun.objects.filter(name__in=["sync", "policy"], started_at__gte=slot)
            return runs.count() >= 2 and not runs.filter(status=RunStatus.RUNNING).exists()

        clusters.wait_for(fired, seconds=STARTUP_SECONDS + SLOT_SECONDS, what="the slot firing")
        fired_at = time.monotonic()
        clusters.wait_for(finished, seconds=SLOT_SECONDS, what="the runs of the slot")
        # Each cluster's scheduler runs every 30 s: by now the other one has looked at the schedules too,
        # and would have queued a second copy had it found them still due.
        time.sleep(max(0.0, fired_at + SCHEDULER_PERIOD + 3 - time.monotonic()))
        clusters.wait_for(finished, seconds=SLOT_SECONDS, what="the runs of the slot")
    finally:
        clusters.stop()

    tasks = Counter(Task.objects.filter(group__in=due_now).values_list("group", flat=True))
    assert tasks == {SYNC_SCHEDULE: 1, schedule_name(policy.pk): 1}, tasks
    syncs = TaskRun.objects.filter(name="sync").order_by("started_at")[syncs_before:]
    policies = TaskRun.objects.filter(name="policy")
    # One of each, and never a REFUSED one: a second delivery would have met the run's lease.
    assert [run.status for run in syncs] == [RunStatus.SUCCEEDED], clusters.log()
    assert [run.status for run in policies] == [RunStatus.SUCCEEDED], [run.error for run in policies]

    suspended = _acted_on_at_most_once()
    done = set(Enforcement.objects.filter(status=EnforcementStatus.DONE).values_list("account_id", flat=True))
    assert done, "the policy acted on someone (the seeded organization has long-inactive Jira users)"
    assert set(suspended) == {str(pk) for pk in done}
    for account in Account.objects.filter(pk__in=done):
        assert sim.state.user(account.account_id).status == "suspended"
    report = verify_chain()
    assert report.ok, report.problem


class _PausingClient:
    """The sync's Atlassian client, held after it has read every user page and before the sync writes
    them: whatever the portal changes meanwhile lands exactly inside the sync, every time."""

    can_fork = False  # the sync then reads pages through iter_user_pages below

    def __init__(self, client, *, fetched: threading.Event, resume: threading.Event):
        self._client, self.fetched, self.resume = client, fetched, resume

    def __getattr__(self, name):
        return getattr(self._client, name)

    def iter_user_pages(self, **kwargs):
        yield from self._client.iter_user_pages(**kwargs)
        self.fetched.set()
        if not self.resume.wait(120):
            raise TimeoutError("the test never let the sync go on")


def test_a_bulk_action_and_a_policy_run_during_a_sync_leave_a_consistent_mirror(sim, policy):
    organization = policy.organization
    # A plain group (no licence, not IdP-synced): adding members can never hit a seat limit.
    group = (
        Group.objects.filter(organization=organization, external_synced=False, is_licence_group=False)
        .order_by("name")
        .first()
    )
    assert group is not None
    # The bulk action: the most recently active people added to the group.
    recent = list(
        Account.objects.filter(organization=organization, status=AccountStatus.ACTIVE, is_org_admin=False)
        .exclude(memberships__group=group)
        .order_by("-last_active")
        .values_list("pk", flat=True)[:15]
    )
    assert len(recent) == 15
    fetched, resume = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    results: dict[str, object] = {}

    def in_thread(name, work):
        def run():
            try:
                results[name] = work()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                connection.close()

        return threading.Thread(target=run, name=name)

    def sync():
        with client_for(organization) as client:
            pausing = _PausingClient(client, fetched=fetched, resume=resume)
            return organization_sync(organization=Organization.objects.get(pk=organization.pk), client=pausing)

    def bulk():
        return accounts_bulk_apply(
            action="add_to_group",
            account_ids=recent,
            params={"reason": "project kick-off", "group": group.pk},
            actor=Actor.system("bulk-test"),
            client_factory=lambda org: client_for(org),
        )

    def enforce():
        return policy_run(policy=InactivityPolicy.objects.get(pk=policy.pk))

    sync_thread = in_thread("sync", sync)
    sync_thread.start()
    assert fetched.wait(60), "the sync never finished reading the users"
    others = [in_thread("bulk", bulk), in_thread("policy", enforce)]
    for thread in others:
        thread.start()
    for thread in others:
        thread.join(timeout=240)
    resume.set()
    sync_thread.join(timeout=240)
    assert errors == []
    # The next scheduled run of the policy, on the mirror the sync left behind.
    rerun = policy_run(policy=InactivityPolicy.objects.get(pk=policy.pk))

    assert results["sync"].ok, results["sync"].error
    assert results["bulk"].counts["done"] == 15, [r for r in results["bulk"].results if r.outcome != "done"]
    assert results["policy"].status == RunStatus.SUCCEEDED
    assert rerun.status == RunStatus.SUCCEEDED
    suspended = _acted_on_at_most_once()
    assert suspended, "the policy acted while the sync ran"
    report = verify_chain()
    assert report.ok, report.problem
    _mirror_matches_atlassian(sim, organization)
    false_news = AuditEvent.objects.filter(
        actor_name="sync", action__in=[AuditAction.ACCOUNT_RESTORED, AuditAction.MEMBERSHIP_REMOVED]
    )
    assert list(false_news.values_list("action", "target_repr")) == []

"""The checks a careful operator makes after a fault: did the run finish, or fail and say why; is
the mirror what Atlassian holds; was anyone deprovisioned who should not be; does the audit
chain verify."""

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from accounts.models import Account, AccountStatus, Membership
from accounts.sync.runner import organization_sync
from accounts.sync.users import STATUS_FROM_REMOTE
from governance.atlassian.groupids import canonical_group_id
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.verify import verify_chain
from governance.runs.models import RunStatus, TaskRun
from policies.engine import Verdict
from policies.services.runs import evaluate, policy_run
from tests.accounts.conftest import SIM_NOW

RUN_AT = SIM_NOW + timedelta(hours=1)
PAGE = 20  # users per page: the simulator's 120 users come in 6+ pages, so a fault can strike mid-listing
# The full user listing over every directory. The sync also lists each directory's ids (reads of
# /directories/{id}/users/search) beside it, in another thread; faults aimed at the listing spare them.
USERS_SEARCH = "/directories/-/users/search"


class Waits(list):
    """The waits a client asked for, recorded instead of slept. Its ``clock`` and ``now`` run that
    much ahead of real time, so that a wait counts as over once taken (as it would if slept)."""

    def clock(self) -> float:
        return time.monotonic() + sum(self)

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=sum(self))


@dataclass
class Staged:
    """Changes made in Atlassian since the last sync that only a complete sync may apply."""

    removed: list[str]  # gone from Atlassian: a complete sync marks them removed
    blanked: list[str]  # recently active, joined long ago, activity now missing from Atlassian's answer


def sync(organization, client):
    return organization_sync(organization=organization, client=client)


def due_now(policy) -> set[str]:
    """Account ids the policy would act on now (a preview: nothing changes)."""
    decisions = evaluate(policy, RUN_AT).by_verdict(Verdict.ACT)
    return set(Account.objects.filter(pk__in=[d.account_pk for d in decisions]).values_list("account_id", flat=True))


def enforce(policy, client):
    result = policy_run(policy=policy, now=RUN_AT, client=client)
    assert result.status == RunStatus.SUCCEEDED, result.message
    return result


def mirror_state(organization) -> dict[str, tuple]:
    """What a sync may change destructively, per account: status, activity, membership count."""
    members = {}
    for account_id in Membership.objects.filter(account__organization=organization).values_list(
        "account__account_id", flat=True
    ):
        members[account_id] = members.get(account_id, 0) + 1
    return {
        account_id: (status, last_active, members.get(account_id, 0))
        for account_id, status, last_active in Account.objects.filter(organization=organization).values_list(
            "account_id", "status", "last_active"
        )
    }


def assert_mirror_matches(simulator, organization) -> None:
    """Every user the v2 search lists (directory users, and managed accounts in no directory) is
    mirrored with its status, groups (canonical ids) and latest activity, and every other mirrored
    account is marked removed."""
    expected = {}
    state = simulator.state
    for account_id in state.account_ids() + state.account_ids(in_directory=False, claim_status="managed"):
        user = state.user(account_id)
        activity = [t for key, t in user.last_active.items() if key in user.products and t is not None]
        groups = {canonical_group_id(g) for g in user.group_ids}
        expected[account_id] = (STATUS_FROM_REMOTE[user.status], groups, max(activity, default=None))
    groups = {}
    for account_id, group_id in Membership.objects.filter(account__organization=organization).values_list(
        "account__account_id", "group__group_id"
    ):
        groups.setdefault(account_id, set()).add(group_id)
    accounts = Account.objects.filter(organization=organization)
    live = {
        account_id: (status, groups.get(account_id, set()), last_active)
        for account_id, status, last_active in accounts.exclude(status=AccountStatus.REMOVED).values_list(
            "account_id", "status", "last_active"
        )
    }
    assert live.keys() == expected.keys()
    for account_id, (status, member_of, last_active) in expected.items():
        got_status, got_groups, got_last_active = live[account_id]
        assert (got_status, got_groups) == (status, member_of), account_id
        if last_active is None:
            assert got_last_active is None, account_id
        else:
            assert abs((got_last_active - last_active).total_seconds()) < 1, account_id


def assert_chain_verifies() -> None:
    report = verify_chain()
    assert report.ok, f"audit chain broken at #{report.first_bad_seq}: {report.problem}"


def assert_completed(result, simulator, organization, staged: Staged) -> None:
    """The sync finished, applied what only a complete sync may apply, and the mirror is Atlassian's."""
    assert result.ok, result.error
    assert_mirror_matches(simulator, organization)
    assert set(
        Account.objects.filter(organization=organization, status=AccountStatus.REMOVED).values_list(
            "account_id", flat=True
        )
    ) == set(staged.removed)
    assert not Account.objects.filter(account_id__in=staged.blanked).exclude(last_active=None).exists()
    assert_chain_verifies()


def assert_failed_cleanly(result, organization, before: dict, *, mentions: str) -> None:
    """A failed run says so and why; nothing destructive was written; the chain verifies."""
    assert result.status == RunStatus.FAILED
    assert mentions in result.error
    run = TaskRun.objects.get(pk=result.run.pk)
    assert (run.status, run.finished_at is not None) == (RunStatus.FAILED, True)
    assert mentions in run.error
    assert AuditEvent.objects.filter(action=AuditAction.SYNC_FAILED, correlation_id=run.correlation_id).exists()
    # Status, activity and memberships of every account exactly as before the failed sync:
    # nobody marked removed, no activity blanked.
    assert mirror_state(organization) == before
    previous_complete = organization.last_complete_sync_at
    organization.refresh_from_db()
    assert organization.last_complete_sync_at == previous_complete
    assert_chain_verifies()


def assert_no_partial_deprovisioning(policy, client, staged: Staged, simulator, expected: set[str]) -> None:
    """After a failed sync, a policy run acts on exactly the accounts it would have acted on before
    the fault, and on none of those whose activity only vanished from a half-read answer."""
    result = enforce(policy, client)
    suspended = {w.path.split("/users/")[1].split("/")[0] for w in simulator.writes if w.path.endswith("/suspend")}
    assert suspended == expected, (sorted(suspended - expected), sorted(expected - suspended), result.counts)
    assert not suspended & set(staged.blanked)
    assert result.counts.get("executed_done", 0) == len(expected)
    assert_chain_verifies()

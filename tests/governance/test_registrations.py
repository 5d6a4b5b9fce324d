"""The bottom layer learns the upper apps' names from them: which lease a run of each kind holds,
and which permissions the portal roles give of each app, are registered at start-up by the app
that owns them (AppConfig.ready), not written into governance."""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance import roles
from governance.runs import locks
from governance.runs.models import RunStatus
from governance.runs.services import RUN_LEASES, register_run_lease, task_run_start
from policies.leases import policy_run_lease


@pytest.fixture
def probe_run_kind():
    register_run_lease("probe", lambda run: f"probe:{run.subject}")
    yield
    del RUN_LEASES["probe"]


def test_accounts_and_policies_register_the_leases_their_runs_hold():
    assert set(RUN_LEASES) == {"sync", "bulk_action", "policy", "import"}
    assert RUN_LEASES["policy"] is policy_run_lease


@pytest.mark.django_db
def test_an_old_run_of_a_registered_kind_is_left_running_while_its_lease_is_live(probe_run_kind):
    old = task_run_start(name="probe", subject="x", now=timezone.now() - timedelta(hours=2))
    assert locks.acquire("probe:x", ttl=timedelta(minutes=30), holder="the-long-run")
    task_run_start(name="probe", subject="x")
    old.refresh_from_db()
    assert old.status == RunStatus.RUNNING


@pytest.mark.django_db
def test_an_old_run_of_an_unregistered_kind_is_judged_by_its_age_alone():
    old = task_run_start(name="unregistered", subject="x", now=timezone.now() - timedelta(hours=2))
    assert locks.acquire("probe:x", ttl=timedelta(minutes=30), holder="the-long-run")
    task_run_start(name="unregistered", subject="x")
    old.refresh_from_db()
    assert old.status == RunStatus.FAILED


def test_a_policy_run_names_its_lease_in_its_subject():
    class Run:
        subject = "policy:7 Jira 90 days"

    assert policy_run_lease(Run()) == "policy:7"
    Run.subject = "something else"
    assert policy_run_lease(Run()) is None


def test_the_roles_know_accounts_and_policies_through_their_registrations():
    assert set(roles._PORTAL_APPS) == {"governance", "accounts", "policies"}
    policies = roles._PORTAL_APPS["policies"]
    assert (policies.help_desk, policies.admin_writes) == (True, True)
    assert "decide_accessrequest" in policies.help_desk_extra
    assert roles._PORTAL_APPS["accounts"].help_desk_extra == ("activate_account", "decide_membershipend")


def test_an_unregistered_apps_permissions_go_to_no_role():
    rows = [(1, "elsewhere", "view_thing"), (2, "elsewhere", "change_thing")]
    assert all(not ids for ids in roles.role_permissions(rows).values())

"""Only the portal's own task functions run in the cluster (DESIGN.md 5.13).

Schedules and queued tasks naming anything else go through django-q2's real scheduler, pusher, worker
and monitor, in this process (tests/taskqueue.py), on whichever broker the settings chose.
"""

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Failure, Schedule, Success, Task
from django_q.tasks import async_task

from governance.audit.models import AuditAction, AuditEvent
from governance.audit.verify import verify_chain
from governance.runs.models import TaskRun
from governance.schedules import Job, apply_schedules, declared_jobs
from governance.taskqueue import guard
from governance.taskqueue.allowlist import is_portal_function, refusal_summary
from tests import taskqueue
from tests.governance import task_fakes

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
FOREIGN = "tests.governance.task_fakes.leave_mark"


def _due_schedule(name: str, func: str, **fields) -> Schedule:
    schedule = Schedule.objects.create(
        name=name, func=func, schedule_type=Schedule.MINUTES, minutes=60, repeats=-1, **fields
    )
    Schedule.objects.filter(pk=schedule.pk).update(next_run=timezone.now() - timedelta(minutes=1))
    return schedule


def _refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.TASK_REFUSED).order_by("seq"))


class TestForeignFunctionsAreRefusedBeforeTheyRun:
    def test_a_schedule_naming_a_foreign_function_never_runs_it_and_is_recorded_audited_and_reported(
        self, tmp_path, alice
    ):
        mark = tmp_path / "mark"
        _due_schedule("innocent-looking", FOREIGN, args=repr((str(mark),)))
        taskqueue.run_due_schedules()
        assert taskqueue.run_queued_tasks() == 1

        assert not mark.exists()
        failure = Failure.objects.get()
        assert failure.func == FOREIGN
        assert failure.result == refusal_summary(FOREIGN)
        assert (failure.args, failure.kwargs, failure.hook) == ((), {}, None)
        assert not Success.objects.exists()
        [event] = _refusals()
        assert event.after["func"] == FOREIGN
        assert event.after["group"] == "innocent-looking"
        assert event.target_id == failure.id
        assert event.get_action_display() == "Task refused: not a portal function"
        assert verify_chain().ok
        [message] = mail.outbox
        assert message.to == [alice.email]
        assert FOREIGN in message.subject
        assert refusal_summary(FOREIGN) in message.body

    def test_an_enqueued_os_getenv_never_reads_the_audit_key(self, settings, alice):
        async_task("os.getenv", "AUDIT_HMAC_KEY", task_name="sneaky")
        assert taskqueue.run_queued_tasks() == 1

        failure = Failure.objects.get(name="sneaky")
        assert failure.result == refusal_summary("os.getenv")
        assert settings.AUDIT_HMAC_KEY not in repr(list(Task.objects.values()))
        assert [e.after["func"] for e in _refusals()] == ["os.getenv"]
        assert len(mail.outbox) == 1

    def test_a_portal_function_carrying_a_foreign_result_hook_is_refused_too(self, alice):
        task_fakes.HOOK_CALLS.clear()
        async_task("governance.tasks.verify_audit_log", hook="tests.governance.task_fakes.note_hook")
        taskqueue.run_queued_tasks()

        assert task_fakes.HOOK_CALLS == []
        assert not TaskRun.objects.filter(name="verify_audit_log").exists()  # the function was never entered
        failure = Failure.objects.get()
        assert failure.result == refusal_summary("tests.governance.task_fakes.note_hook", kind="result hook")
        assert failure.hook is None
        assert _refusals()[0].after["refused"] == "result hook"

    def test_a_refused_task_stays_refused_when_the_audit_log_and_mail_fail(self, tmp_path, monkeypatch, alice):
        def broken(*args, **kwargs):
            raise RuntimeError("database unavailable")

        monkeypatch.setattr(guard, "record_event", broken)
        monkeypatch.setattr(guard, "portal_admins_notify", broken)
        mark = tmp_path / "mark"
        async_task(FOREIGN, str(mark))
        taskqueue.run_queued_tasks()

        assert not mark.exists()
        assert Failure.objects.get().result == refusal_summary(FOREIGN)

    def test_the_failed_tasks_page_shows_the_portal_summary(self, client_for, alice, tmp_path):
        async_task("os.getenv", "AUDIT_HMAC_KEY")
        taskqueue.run_queued_tasks()

        page = client_for(alice).get(reverse("admin:django_q_failure_changelist")).content.decode()
        assert "Refused before it ran: the function os.getenv is not a portal task function." in page


class TestPortalFunctionsStillRun:
    def test_a_scheduled_portal_function_runs_through_the_same_path(self, alice):
        job = Job(name="portal:verify-audit-log", func="governance.tasks.verify_audit_log", cron="43 3 * * *", help="")
        apply_schedules(jobs=[job], names={job.name})
        Schedule.objects.filter(name=job.name).update(next_run=timezone.now() - timedelta(minutes=1))
        taskqueue.run_due_schedules()
        assert taskqueue.run_queued_tasks() == 1

        success = Success.objects.get(func="governance.tasks.verify_audit_log")
        assert success.result is True
        assert TaskRun.objects.filter(name="verify_audit_log").count() == 1
        assert not Failure.objects.exists()
        assert _refusals() == []
        assert mail.outbox == []

    def test_a_queued_portal_function_passed_as_a_callable_runs(self):
        from governance.tasks import verify_audit_log

        async_task(verify_audit_log)
        taskqueue.run_queued_tasks()
        assert Success.objects.get().result is True


def _task_names_in_the_code() -> list[tuple[str, str | None]]:
    """(where, dotted name) of every async_task / schedule call and every Job(func=...) in the apps;
    the name is None when it is not a string literal (so this scan could not see it)."""
    found = []
    for app in ("governance", "accounts", "policies"):
        for path in sorted((ROOT / app).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                callee = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if callee in ("async_task", "schedule"):
                    target = node.args[0] if node.args else None
                elif callee == "Job":
                    target = next((kw.value for kw in node.keywords if kw.arg == "func"), None)
                else:
                    continue
                literal = target.value if isinstance(target, ast.Constant) and isinstance(target.value, str) else None
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", literal))
    return found


class TestTheAllowlist:
    def test_every_function_the_portal_queues_or_schedules_is_listed(self):
        found = _task_names_in_the_code()
        assert len(found) >= 11  # the scan sees the portal's calls (6 async_task, 5 Job today)
        unlisted = [(where, name) for where, name in found if name not in django_settings.PORTAL_TASK_FUNCTIONS]
        assert unlisted == []

    def test_every_declared_schedule_names_a_listed_function(self, organization_with_policy):
        jobs = declared_jobs()
        assert any(job.func == "policies.tasks.run_policy" for job in jobs)
        assert {job.func for job in jobs} <= set(django_settings.PORTAL_TASK_FUNCTIONS)

    def test_every_listed_function_imports_to_a_callable(self):
        for name in django_settings.PORTAL_TASK_FUNCTIONS:
            assert callable(import_string(name)), name

    def test_a_callable_counts_only_when_it_is_the_listed_function_itself(self):
        from governance.tasks import verify_audit_log

        def verify_audit_log_lookalike():
            pass

        verify_audit_log_lookalike.__module__ = "governance.tasks"
        verify_audit_log_lookalike.__qualname__ = "verify_audit_log"
        assert is_portal_function(verify_audit_log)
        assert is_portal_function("governance.tasks.verify_audit_log")
        assert not is_portal_function(verify_audit_log_lookalike)
        assert not is_portal_function("os.getenv")
        assert not is_portal_function(" governance.tasks.verify_audit_log")

    def test_setup_schedules_refuses_a_job_naming_a_foreign_function(self):
        from django.core.exceptions import ImproperlyConfigured

        job = Job(name="portal:x", func="subprocess.getoutput", cron="0 * * * *", help="", args=("id",))
        with pytest.raises(ImproperlyConfigured, match=r"subprocess\.getoutput"):
            apply_schedules(jobs=[job])
        assert not Schedule.objects.filter(name="portal:x").exists()


@pytest.fixture
def organization_with_policy():
    from accounts.models import Organization
    from tests.factories import jira_suspend_policy

    organization = Organization.objects.create(org_id="guard-org", name="Guard org")
    return jira_suspend_policy(organization)


def test_the_fake_foreign_function_does_leave_its_mark_when_called(tmp_path):
    """The refusal tests would pass for nothing if leave_mark could not write."""
    mark = tmp_path / "mark"
    task_fakes.leave_mark(str(mark))
    assert Path(mark).read_text() == "this ran"

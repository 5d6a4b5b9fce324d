from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from governance.audit.models import AuditAction, AuditEvent
from governance.schedules import Job, apply_schedules, declared_jobs

NOW = datetime(2026, 11, 22, 10, 5, tzinfo=UTC)


@pytest.mark.django_db
class TestSetupSchedules:
    def test_it_creates_every_declared_schedule_once_with_a_future_next_run(self):
        apply_schedules(now=NOW)
        apply_schedules(now=NOW)
        names = list(Schedule.objects.values_list("name", flat=True))
        assert sorted(names) == sorted(job.name for job in declared_jobs())
        assert len(names) == len(set(names))
        assert all(s.next_run > NOW for s in Schedule.objects.all())

    def test_a_re_run_changes_nothing_and_audits_nothing(self):
        apply_schedules(now=NOW)
        events = AuditEvent.objects.count()
        outcome = apply_schedules(now=NOW)
        assert set(outcome.values()) == {"unchanged"}
        assert AuditEvent.objects.count() == events

    def test_a_changed_cron_is_applied_with_a_recomputed_next_run(self):
        job = Job(name="portal:x", func="governance.tasks.verify_audit_log", cron="0 * * * *", help="")
        apply_schedules(jobs=[job], now=NOW)
        assert Schedule.objects.get(name="portal:x").next_run == datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
        moved = Job(name="portal:x", func=job.func, cron="30 2 * * *", help="")
        assert apply_schedules(jobs=[moved], now=NOW) == {"portal:x": "updated"}
        schedule = Schedule.objects.get(name="portal:x")
        assert schedule.cron == "30 2 * * *"
        assert schedule.next_run == datetime(2026, 11, 23, 2, 30, tzinfo=UTC)
        assert AuditEvent.objects.filter(action=AuditAction.SCHEDULES_APPLIED).count() == 2

    def test_duplicates_made_by_hand_are_collapsed(self):
        for _ in range(3):
            Schedule.objects.create(
                name="portal:x", func="governance.tasks.verify_audit_log", schedule_type="C", cron="0 * * * *"
            )
        job = Job(name="portal:x", func="governance.tasks.verify_audit_log", cron="0 * * * *", help="")
        apply_schedules(jobs=[job], now=NOW)
        assert Schedule.objects.filter(name="portal:x").count() == 1

    def test_schedules_no_longer_declared_are_removed_but_foreign_ones_are_kept(self):
        Schedule.objects.create(name="portal:old", func="x.y", schedule_type="C", cron="0 * * * *")
        Schedule.objects.create(name="someone-elses", func="x.y", schedule_type="C", cron="0 * * * *")
        apply_schedules(now=NOW)
        assert not Schedule.objects.filter(name="portal:old").exists()
        assert Schedule.objects.filter(name="someone-elses").exists()

    def test_the_sync_cron_comes_from_the_environment(self, settings):
        settings.SYNC_SCHEDULE_CRON = "5 */2 * * *"
        call_command("setup_schedules")
        assert Schedule.objects.get(name="portal:sync-atlassian").cron == "5 */2 * * *"

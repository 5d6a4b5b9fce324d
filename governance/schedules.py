"""Every recurring job the portal runs, in one list, applied by ``manage.py setup_schedules``.

Functions are named by dotted path so this bottom layer imports nothing from the apps above it.
"""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Job:
    name: str
    func: str
    cron: str
    help: str


def declared_jobs() -> list[Job]:
    return [
        Job(
            name="portal:sync-atlassian",
            func="accounts.tasks.sync_all_organizations",
            cron=settings.SYNC_SCHEDULE_CRON,
            help="Mirror every organization from Atlassian.",
        ),
        Job(
            name="portal:verify-audit-log",
            func="governance.tasks.verify_audit_log",
            cron="43 3 * * *",
            help="Check the audit chain and report a break.",
        ),
    ]

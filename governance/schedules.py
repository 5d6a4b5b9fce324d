"""Every recurring job the portal runs, in one list, applied by ``manage.py setup_schedules``.

Functions are named by dotted path so this bottom layer imports nothing from the apps above it.
"""

from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Job:
    name: str
    func: str
    cron: str
    help: str
    args: tuple = ()


def declared_jobs() -> list[Job]:
    """The bottom layer's own jobs plus those of the apps above, found through
    ``PORTAL_SCHEDULE_PROVIDERS`` (dotted paths), so this module imports no upper layer."""
    jobs = _own_jobs()
    for provider in settings.PORTAL_SCHEDULE_PROVIDERS:
        jobs += import_string(provider)()
    return jobs


def _own_jobs() -> list[Job]:
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

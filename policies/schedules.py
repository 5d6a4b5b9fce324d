"""Each enabled policy runs on its own cron (read by governance.schedules via PORTAL_SCHEDULE_PROVIDERS)."""

from governance.schedules import Job
from policies.models import InactivityPolicy


def policy_jobs() -> list[Job]:
    return [
        Job(
            name=f"portal:policy-{policy.pk}",
            func="policies.tasks.run_policy",
            cron=policy.schedule_cron,
            help=f"Run policy {policy.name}.",
            args=(policy.pk,),
        )
        for policy in InactivityPolicy.objects.filter(enabled=True).order_by("pk")
    ]


def fixed_jobs() -> list[Job]:
    return [
        Job(
            name="portal:send-notices",
            func="policies.tasks.send_pending_notices",
            cron="*/15 * * * *",
            help="Retry warning and action emails that failed.",
        )
    ]

"""Each enabled policy runs on its own cron (read by governance.schedules via PORTAL_SCHEDULE_PROVIDERS)."""

from governance.schedules import Job, apply_schedules
from policies.models import InactivityPolicy

SCHEDULE_PREFIX = "portal:policy-"


def schedule_name(policy_pk: int) -> str:
    return f"{SCHEDULE_PREFIX}{policy_pk}"


def _job(policy: InactivityPolicy) -> Job:
    return Job(
        name=schedule_name(policy.pk),
        func="policies.tasks.run_policy",
        cron=policy.schedule_cron,
        help=f"Run policy {policy.name}.",
        args=(policy.pk,),
    )


def policy_jobs() -> list[Job]:
    return [_job(policy) for policy in InactivityPolicy.objects.filter(enabled=True).order_by("pk")]


def apply_policy_schedule(policy_pk: int) -> dict[str, str]:
    """Bring one policy's schedule in line with the policy: created or re-timed when it is
    enabled, removed when it is disabled or gone. Called after a policy change commits, so
    an admin's edit takes effect without anyone re-running ``setup_schedules``."""
    policy = InactivityPolicy.objects.filter(pk=policy_pk, enabled=True).first()
    return apply_schedules(jobs=[_job(policy)] if policy else [], names={schedule_name(policy_pk)})


def fixed_jobs() -> list[Job]:
    return [
        Job(
            name="portal:send-notices",
            func="policies.tasks.send_pending_notices",
            cron="*/15 * * * *",
            help="Retry warning and action emails that failed.",
        )
    ]

"""Recurring jobs of the access pages (read by governance.schedules via PORTAL_SCHEDULE_PROVIDERS)."""

from governance.schedules import Job


def access_jobs() -> list[Job]:
    return [
        Job(
            name="portal:access-expire-requests",
            func="policies.access.tasks.expire_pending_requests",
            cron="25 * * * *",
            help="Expire access requests that waited ACCESS_REQUEST_EXPIRY_DAYS without a decision.",
        ),
        Job(
            name="portal:access-return-dates",
            func="policies.access.tasks.restore_on_return_dates",
            cron="5 6 * * *",
            help="Give back what policies took from accounts whose return date is today (or passed); idempotent.",
        ),
        Job(
            name="portal:access-purge-rate-limits",
            func="policies.access.tasks.purge_rate_limit_counters",
            cron="51 4 * * *",
            help="Delete rate-limit counters of windows that ended more than a day ago.",
        ),
        Job(
            name="portal:expire-access",
            func="policies.access.tasks.expire_access",
            cron="17 6 * * *",
            help="Warn 7 and 1 days ahead about access given until a date; remove the memberships that ended.",
        ),
        Job(
            name="portal:access-reviews",
            func="policies.tasks.review_campaigns_daily",
            cron="33 6 * * *",
            help="Remind reviewers ahead of an access review's deadline; close the reviews past it (capped).",
        ),
    ]

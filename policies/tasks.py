"""django-q2 entry points for policies (thin: they call the services)."""

from accounts.bulk_tasks import actor_from_spec
from governance.runs.models import RunTrigger
from policies.models import Enforcement, InactivityPolicy
from policies.services import notifications
from policies.services.runs import policy_run


def run_policy(policy_id: int) -> str:
    policy = InactivityPolicy.objects.select_related("organization").filter(pk=policy_id, enabled=True).first()
    if policy is None:
        return "skipped: policy disabled or gone"
    return policy_run(policy=policy, trigger=RunTrigger.SCHEDULE).status


def run_policy_now(policy_id: int, actor: dict, reason: str = "", confirmed_act: int | None = None) -> str:
    """An admin's confirmed "Run now" of an enforcing policy: remote calls for many accounts
    outlast a web request, so the admin queues this instead. Deleted meanwhile: nothing to do."""
    policy = InactivityPolicy.objects.select_related("organization").filter(pk=policy_id).first()
    if policy is None:
        return "skipped: policy gone"
    return policy_run(
        policy=policy,
        trigger=RunTrigger.MANUAL,
        actor=actor_from_spec(actor),
        reason=reason,
        confirmed_act=confirmed_act,
    ).status


def send_pending_notices() -> dict:
    return notifications.send_pending(enforcements=Enforcement.objects.all())


def review_campaigns_daily() -> dict:
    """Remind reviewers ahead of a campaign's deadline; announce and close the campaigns past it."""
    from policies.services.review_schedule import campaigns_daily

    return campaigns_daily()

"""django-q2 entry points for policies (thin: they call the services)."""

from governance.runs.models import RunTrigger
from policies.models import Enforcement, InactivityPolicy
from policies.services import notifications
from policies.services.runs import policy_run


def run_policy(policy_id: int) -> str:
    policy = InactivityPolicy.objects.select_related("organization").filter(pk=policy_id, enabled=True).first()
    if policy is None:
        return "skipped: policy disabled or gone"
    return policy_run(policy=policy, trigger=RunTrigger.SCHEDULE).status


def send_pending_notices() -> dict:
    return notifications.send_pending(enforcements=Enforcement.objects.all())

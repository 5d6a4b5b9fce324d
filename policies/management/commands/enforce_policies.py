from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from governance.audit.record import Actor
from governance.runs.models import RunStatus, RunTrigger
from policies.models import InactivityPolicy
from policies.selectors.snapshots import shared_account_data
from policies.services.runs import policy_run


class Command(BaseCommand):
    help = (
        "Run enabled policies now (or one with --policy) and print what was, or with --dry-run would be, done. "
        "Each run refuses on a stale sync and halts above its cap."
    )

    def add_arguments(self, parser):
        parser.add_argument("--policy", type=int, help="Id of one policy (runs it even if disabled).")
        parser.add_argument("--dry-run", action="store_true", help="Report only; change nothing.")

    def handle(self, *args, policy: int | None = None, dry_run: bool = False, **options):
        if policy is not None:
            policies = list(InactivityPolicy.objects.filter(pk=policy).select_related("organization"))
            if not policies:
                raise CommandError(f"No policy with id {policy}.")
        else:
            policies = list(InactivityPolicy.objects.filter(enabled=True).select_related("organization"))
        failed = False
        # Dry runs change no account: they decide at one moment on the accounts read once per
        # organization. Real runs keep their own moment and read afresh.
        now = timezone.now() if dry_run else None
        shared = shared_account_data(policies, now) if now is not None else {}
        for item in policies:
            result = policy_run(
                policy=item,
                now=now,
                trigger=RunTrigger.MANUAL,
                dry_run=dry_run,
                actor=Actor.system("enforce_policies command"),
                shared=shared.get(item.organization_id),
            )
            counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
            self.stdout.write(f"{item.name} [{'dry run' if dry_run else item.mode}]: {result.status}. {counts}")
            if result.message:
                self.stdout.write(f"  {result.message}")
            if result.evaluation and (dry_run or item.mode == "preview"):
                for decision in result.evaluation.decisions[:50]:
                    self.stdout.write(f"  {decision.verdict:<6} account #{decision.account_pk}: {decision.reason}")
            failed |= result.status in (RunStatus.FAILED, RunStatus.HALTED, RunStatus.REFUSED)
        if failed:
            raise CommandError("At least one policy run did not complete (see above).")

from django.core.management.base import BaseCommand, CommandError

from governance.runs.models import RunStatus, RunTrigger
from policies.access.expiry import access_expire


class Command(BaseCommand):
    help = (
        "Carry out access given until a date: warn 7 and 1 days ahead (with a link to ask for more time), "
        "then remove every membership whose end date has come. Safe to run at any time: each warning and "
        "removal happens once."
    )

    def handle(self, *args, **options):
        run = access_expire(trigger=RunTrigger.MANUAL)
        if run is None:
            raise CommandError("Another expire_access run is under way; nothing was done.")
        counts = ", ".join(f"{k} {v}" for k, v in sorted(run.counts.items()))
        self.stdout.write(f"expire_access: {run.status}. {counts}")
        if run.error:
            self.stdout.write(f"  {run.error}")
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError("Some removals did not complete (see above).")

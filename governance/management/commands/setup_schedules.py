from django.core.management.base import BaseCommand

from governance.schedules import apply_schedules


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules from governance.schedules (safe to re-run)."

    def handle(self, *args, **options):
        for name, what in apply_schedules().items():
            self.stdout.write(f"{what:>9}  {name}")

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from governance.roles import PORTAL_ADMINS


class Command(BaseCommand):
    help = "Create the demo portal admin with a random password, printed once. Does nothing if it exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        users = get_user_model()
        if users.objects.filter(username=username).exists():
            self.stdout.write(f"Demo admin '{username}' already exists (its password was printed on the first run).")
            return
        password = secrets.token_urlsafe(12)
        user = users.objects.create_user(username=username, password=password, is_staff=True, is_superuser=False)
        user.groups.add(Group.objects.get(name=PORTAL_ADMINS))
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Demo admin created.  Username: {username}   Password: {password}\n"
                "  (shown only this once; reset with `manage.py changepassword admin`)\n"
            )
        )

import sys

from django.core.management.base import BaseCommand, CommandError

from accounts.clients import client_for
from accounts.models import Organization
from accounts.services.organizations import organization_ensure_default
from accounts.sync.runner import organization_sync
from governance.audit.record import Actor
from governance.runs.models import RunTrigger


class Command(BaseCommand):
    help = (
        "Run one full sync now: groups and the products they grant, every user with per-product activity "
        "and memberships, seats. Without --org, the default organization from ATLASSIAN_ORG_ID."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", help="Atlassian org id of a configured organization.")

    def handle(self, *args, org: str | None = None, **options):
        if org:
            organization = Organization.objects.filter(org_id=org).first()
            if organization is None:
                raise CommandError(f"No organization with org id {org!r} is configured.")
        else:
            organization = organization_ensure_default()
        progress = _ProgressBar(self.stderr) if sys.stderr.isatty() else None
        with client_for(organization) as client:
            result = organization_sync(
                organization=organization,
                client=client,
                trigger=RunTrigger.MANUAL,
                actor=Actor.system("sync_atlassian command"),
                progress=progress,
            )
        if progress:
            progress.done()
        if not result.ok:
            raise CommandError(result.summary())
        self.stdout.write(result.summary())


class _ProgressBar:
    """A one-line counter on a terminal; no total is known up front (Atlassian sends none)."""

    def __init__(self, stream):
        self.stream = stream

    def __call__(self, users_seen: int) -> None:
        self.stream.write(f"\rSyncing... {users_seen:,} users", ending="")
        self.stream.flush()

    def done(self) -> None:
        self.stream.write("")

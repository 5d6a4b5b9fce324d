from datetime import timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from governance.audit.archive import ArchiveError, audit_archive
from governance.audit.record import Actor


class Command(BaseCommand):
    help = (
        "Audit retention: write every event older than --older-than days to a CSV file in --out, with a "
        "signed checkpoint next to it, then prune those events from the table (one transaction, and only "
        "after the file was read back and re-verified). verify_audit_log passes afterwards; "
        "verify_audit_log --archive FILE checks the file."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than", type=int, required=True, metavar="DAYS", help="Events older than this many days go."
        )
        parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="Directory for the archive files.")

    def handle(self, *args, older_than: int, out: Path, **options):
        if older_than < 1:
            raise CommandError("--older-than must be at least 1 day.")
        now = timezone.now()
        try:
            result = audit_archive(
                before=now - timedelta(days=older_than), out_dir=out, actor=Actor.system("archive_audit_log"), now=now
            )
        except (ArchiveError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(result.message)

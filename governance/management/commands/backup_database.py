from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.backup import BackupError, database_backup


class Command(BaseCommand):
    help = (
        "Back up the portal's database to --out while the portal keeps running. SQLite: the online backup API "
        "(never a file copy under WAL), one self-contained file, integrity-checked and its audit chain verified. "
        "PostgreSQL: pg_dump --format=custom, checked with pg_restore --list."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="New file (never overwritten).")

    def handle(self, *args, out: Path, **options):
        try:
            result = database_backup(out=out)
        except (BackupError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        detail = (
            f"audit chain verified ({result.audit.checked} events)"
            if result.audit
            else f"{result.dump_entries} dump entries"
        )
        self.stdout.write(f"Backed up the {result.vendor} database to {result.path} ({result.size} bytes; {detail}).")

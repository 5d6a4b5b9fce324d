from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.backup import BackupError, database_restore


class Command(BaseCommand):
    help = (
        "Restore a backup made by backup_database. By default into the configured database, which must be "
        "stopped (web server and task cluster) and is only overwritten with --force; --to restores elsewhere "
        "(SQLite: a file path; PostgreSQL: a database name, created first with --create). The restored "
        "database's audit chain is verified; exit 1 when it does not verify."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, metavar="FILE", help="A backup file.")
        parser.add_argument("--to", dest="target", metavar="TARGET", help="Restore here instead.")
        parser.add_argument("--create", action="store_true", help="PostgreSQL: create the --to database first.")
        parser.add_argument("--force", action="store_true", help="Overwrite a database that already holds tables.")

    def handle(self, *args, file: Path, target: str | None, create: bool, force: bool, **options):
        if create and not target:
            raise CommandError("--create goes with --to: the configured database exists already.")
        try:
            result = database_restore(source=file, target=target, force=force, create=create)
        except (BackupError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        if not result.audit.ok:
            raise CommandError(
                f"Restored into {result.target}, but its audit chain is broken at #{result.audit.first_bad_seq}: "
                f"{result.audit.problem}.",
                returncode=1,
            )
        self.stdout.write(
            f"Restored {file} into {result.target}; audit chain intact ({result.audit.checked} events verified)."
        )

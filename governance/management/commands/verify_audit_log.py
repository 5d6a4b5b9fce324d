from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.audit.archive import verify_archive
from governance.audit.verify import verify_chain


class Command(BaseCommand):
    help = (
        "Check the audit log's hash chain (from the latest retention checkpoint on). Exit 0 when intact, "
        "1 naming the first bad sequence number. With --archive, check archive files against their "
        "checkpoints instead."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--archive",
            type=Path,
            nargs="+",
            metavar="FILE",
            help="Archive CSV files written by archive_audit_log (each checked against its .checkpoint.json).",
        )
        parser.add_argument(
            "--checkpoint", type=Path, metavar="JSON", help="The checkpoint file, when it is not next to one archive."
        )

    def handle(self, *args, archive=None, checkpoint=None, **options):
        if archive:
            return self._archives(archive, checkpoint)
        if checkpoint:
            raise CommandError("--checkpoint goes with --archive.", returncode=2)
        report = verify_chain()
        if not report.ok:
            raise CommandError(f"Audit chain broken at #{report.first_bad_seq}: {report.problem}.", returncode=1)
        since = f" (from #{report.start_seq}, after {report.checkpoints} checkpoints)" if report.checkpoints else ""
        self.stdout.write(f"Audit chain intact: {report.checked} events verified{since}.")

    def _archives(self, files: list[Path], checkpoint: Path | None):
        if checkpoint and len(files) > 1:
            raise CommandError("--checkpoint names the checkpoint of one archive file.", returncode=2)
        failed = []
        for path in files:
            report = verify_archive(path, checkpoint_file=checkpoint)
            if report.ok:
                self.stdout.write(f"{path}: intact, {report.checked} events up to #{report.last_seq} verified.")
            else:
                where = f" at #{report.first_bad_seq}" if report.first_bad_seq else ""
                failed.append(f"{path}: broken{where}: {report.problem}.")
        if failed:
            raise CommandError("\n".join(failed), returncode=1)

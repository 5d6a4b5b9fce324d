from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.audit.anchors import AnchorError, audit_verify_and_anchor
from governance.audit.archive import verify_archive


class Command(BaseCommand):
    help = (
        "Check the audit log's hash chain (from the latest retention checkpoint on) and that it still reaches "
        "every anchor in AUDIT_ANCHOR_DIR (and in --anchor files): exit 0 when intact, then append a new "
        "anchor; 1 naming the first bad or missing sequence number. With --archive, check archive files "
        "against their checkpoints instead."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--anchor",
            type=Path,
            nargs="+",
            metavar="FILE",
            help="Anchor files kept elsewhere (an auditor's copy, a mailed anchor), checked as well.",
        )
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

    def handle(self, *args, anchor=None, archive=None, checkpoint=None, **options):
        if archive:
            if anchor:
                raise CommandError("--anchor checks the audit table; leave it out with --archive.", returncode=2)
            return self._archives(archive, checkpoint)
        if checkpoint:
            raise CommandError("--checkpoint goes with --archive.", returncode=2)
        for path in anchor or []:
            if not path.is_file():
                raise CommandError(f"{path}: no such anchor file.", returncode=2)
        try:
            check = audit_verify_and_anchor(by="verify_audit_log", extra=anchor or ())
        except AnchorError as exc:
            raise CommandError(f"The audit chain verified, but its new anchor was not written: {exc}.") from exc
        if not check.ok:
            raise CommandError(check.message, returncode=1)
        report, newest = check.chain, check.anchors.newest
        since = f" (from #{report.start_seq}, after {report.checkpoints} checkpoints)" if report.checkpoints else ""
        reaches = (
            f"; it reaches the newest of {check.anchors.anchors} anchors ({newest} names #{newest.seq})"
            if newest
            else "; no anchor to check yet"
        )
        self.stdout.write(f"Audit chain intact: {report.checked} events verified{since}{reaches}.")
        assert check.written is not None  # an ok check has appended its anchor
        self.stdout.write(f"Anchor #{check.written['seq']} appended to {check.path}.")

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

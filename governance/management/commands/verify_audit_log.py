from django.core.management.base import BaseCommand, CommandError

from governance.audit.verify import verify_chain


class Command(BaseCommand):
    help = "Check the audit log's hash chain. Exit 0 when intact, 1 naming the first bad sequence number."

    def handle(self, *args, **options):
        report = verify_chain()
        if not report.ok:
            raise CommandError(f"Audit chain broken at #{report.first_bad_seq}: {report.problem}.", returncode=1)
        self.stdout.write(f"Audit chain intact: {report.checked} events verified.")

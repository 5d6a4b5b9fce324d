"""Read-only preflight against the organization's Atlassian: what the portal assumes, checked.

python manage.py check_atlassian [--org ORG] [--sample N]
"""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from accounts.preflight import FAIL, PASS, WARN, organization_check, preflight_failed
from accounts.services.organizations import organization_ensure_default

LABELS = {PASS: "PASS", WARN: "WARN", FAIL: "FAIL"}


class Command(BaseCommand):
    help = (
        "Check, without changing anything, that the organization's Atlassian matches what the portal relies on: "
        "the Admin API key and Jira token, directories, users by status/claim/management source/account type, "
        "group id forms, product keys, rate-limit headers, Jira seats. Exits non-zero when a check fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", help="Atlassian org id of a configured organization (default: ATLASSIAN_ORG_ID).")
        parser.add_argument(
            "--sample", type=int, default=None, metavar="N", help="read only the first N users (default: all)"
        )

    def handle(self, *args, org: str | None = None, sample: int | None = None, **options):
        if sample is not None and sample < 1:
            raise CommandError("--sample must be at least 1.")
        if org:
            organization = Organization.objects.filter(org_id=org).first()
            if organization is None:
                raise CommandError(f"No organization with org id {org!r} is configured.")
        else:
            try:
                organization = organization_ensure_default()
            except ImproperlyConfigured as exc:
                raise CommandError(str(exc)) from exc
        checks = organization_check(organization=organization, user_limit=sample)
        width = max(len(check.name) for check in checks)
        for check in checks:
            style = {PASS: self.style.SUCCESS, WARN: self.style.WARNING, FAIL: self.style.ERROR}[check.outcome]
            self.stdout.write(f"{style(LABELS[check.outcome])}  {check.name.ljust(width)}  {check.detail}")
            if check.advice:
                self.stdout.write(f"{'':6}{'':{width}}  → {check.advice}")
        counts = {outcome: sum(c.outcome == outcome for c in checks) for outcome in (PASS, WARN, FAIL)}
        summary = f"{counts[PASS]} passed, {counts[WARN]} warned, {counts[FAIL]} failed."
        if preflight_failed(checks):
            raise CommandError(f"{summary} Fix what failed before the first sync.")
        self.stdout.write(summary)

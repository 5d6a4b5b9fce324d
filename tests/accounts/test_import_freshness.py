"""Importing an Atlassian export over a mirror that may be newer: the newer source wins, field by field.

Every file here is built from one ``NOW`` (the suite's clock): the mirror "as the last sync left it"
a day before, and files whose dates are placed before or after that sync. Nothing is compared with
fixed dates.
"""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from accounts.importexport.apply import plan_changes
from accounts.importexport.formats import read_csv
from accounts.importexport.seed import apply_seed, plan_seed, show_day
from accounts.importexport.variants import detect, seed_records
from accounts.models import Account, AccountStatus, Membership, Product, ProductAccess
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from tests.clock import SUITE_NOW
from tests.factories import AccountFactory, GroupFactory, MembershipFactory, OrganizationFactory, ProductFactory

pytestmark = pytest.mark.django_db
NOW = SUITE_NOW
SYNCED = NOW - timedelta(days=1)  # the last complete sync ("20 Nov")
ACTOR = Actor.system("test")
ANN = "5b10ac8d82e05b22cc7d4ef5"
HEADER = ["User id", "User name", "email", "User status", "Group name", "Jira - acme", "Last seen in Jira - acme"]


def midnight(value: datetime) -> datetime:
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def day_text(value: datetime) -> str:
    """A day as Atlassian's exports write it: ``14 Dec 2025``."""
    return f"{value.day} {value:%b %Y}"


def export(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def ann_row(*, groups="jira-software-users", status="Active", access="User", last_seen: datetime | None = None):
    seen = day_text(last_seen) if last_seen else "Never accessed"
    return [ANN, "Ann Smith", "ann.smith@acme.example", status, groups, access, seen]


def plan(org, data: bytes, *, exported_at=None):
    table = read_csv(data)
    return plan_seed(
        organization=org, parsed=seed_records(table, detect(table.headers)), exported_at=exported_at, now=NOW
    )


def seed(org, data: bytes, *, exported_at=None):
    seed_plan = plan(org, data, exported_at=exported_at)
    assert not seed_plan.errors, [str(e) for e in seed_plan.errors]
    apply_seed(plan=seed_plan, actor=ACTOR)
    return seed_plan


def groups_of(account_id: str) -> set[str]:
    return set(Membership.objects.filter(account__account_id=account_id).values_list("group__name", flat=True))


@pytest.fixture
def synced():
    """Ann as the last sync left her: active two days ago in Jira, in four groups, synced a day ago."""
    org = OrganizationFactory(site_url="https://acme.atlassian.net", last_complete_sync_at=SYNCED)
    jira = ProductFactory(organization=org, key="jira-software", resource_id="ari:cloud:jira-software::site/c1")
    ann = AccountFactory(
        organization=org,
        account_id=ANN,
        name="Ann Smith",
        email="ann.smith@acme.example",
        last_active=NOW - timedelta(days=2),
        last_synced_at=NOW - timedelta(days=30),
    )
    ProductAccess.objects.create(account=ann, product=jira, last_active=NOW - timedelta(days=2))
    for name in ("jira-software-users", "confluence-users", "engineering", "release-managers"):
        MembershipFactory(account=ann, group=GroupFactory(organization=org, name=name))
    return org


class TestAnOlderFile:
    """A file older than the last sync: the story of the finding, and each rule of it."""

    OLD = midnight(NOW - timedelta(days=341))  # "14 Dec 2025"

    def test_it_does_not_move_last_activity_back_and_the_preview_says_so_row_by_row(self, synced):
        seed_plan = plan(synced, export([ann_row(last_seen=self.OLD)]))
        kept = (NOW - timedelta(days=2)).date().isoformat()
        assert [str(n) for n in seed_plan.notes] == [
            f"Row 2, Groups: not applied: remove from confluence-users, remove from engineering, "
            f"remove from release-managers; the sync of {show_day(SYNCED)} is newer than the file",
            f"Row 2, Jira Software, last active: kept {kept} from the sync of {show_day(SYNCED)}; "
            f"the file says {day_text(self.OLD)}",
            f"Row 2, Last active: kept {kept} from the sync of {show_day(SYNCED)}; the file says {day_text(self.OLD)}",
        ]
        assert seed_plan.changes == [], "nothing of the file is newer than the mirror"
        assert seed_plan.as_of == self.OLD, "undated: as of the latest date in the file"
        apply_seed(plan=seed_plan, actor=ACTOR)
        ann = Account.objects.get(account_id=ANN)
        assert ann.last_active == NOW - timedelta(days=2)
        assert ProductAccess.objects.get(account=ann).last_active == NOW - timedelta(days=2)
        assert ann.imported_as_of is None, "nothing was imported: nothing waits for a sync"

    def test_its_memberships_status_and_access_are_not_applied(self, synced):
        row = ann_row(groups="jira-software-users", status="Suspended", access="No access", last_seen=self.OLD)
        seed_plan = plan(synced, export([row]))
        notes = [str(n) for n in seed_plan.notes]
        assert f"Row 2, Status: kept active from the sync of {show_day(SYNCED)}; the file says suspended" in notes
        assert (
            f"Row 2, Jira Software: not applied: no access; the sync of {show_day(SYNCED)} is newer than the file"
            in (notes)
        )
        apply_seed(plan=seed_plan, actor=ACTOR)
        assert groups_of(ANN) == {"jira-software-users", "confluence-users", "engineering", "release-managers"}
        ann = Account.objects.get(account_id=ANN)
        assert ann.status == AccountStatus.ACTIVE
        assert ProductAccess.objects.filter(account=ann).exists()

    def test_an_account_the_newer_sync_did_not_find_is_not_created(self, synced):
        gone = ["557058:gone", "Gus Gone", "gus@acme.example", "Active", "engineering", "User", day_text(self.OLD)]
        seed_plan = plan(synced, export([ann_row(last_seen=self.OLD), gone]))
        assert seed_plan.not_created == 1
        assert (
            f"Row 3: not created: the sync of {show_day(SYNCED)}, newer than the file, did not find this account "
            "in Atlassian" in [str(n) for n in seed_plan.notes]
        )
        apply_seed(plan=seed_plan, actor=ACTOR)
        assert not Account.objects.filter(account_id="557058:gone").exists()

    def test_the_preview_page_shows_the_file_date_and_every_value_it_keeps(self, synced, client_for, alice, settings):
        settings.ROOT_URLCONF = "governance.urls"
        upload = io.BytesIO(export([ann_row(groups="jira-software-users", last_seen=self.OLD)]))
        upload.name = "users.csv"
        response = client_for(alice).post(
            reverse("admin:accounts_account_import"),
            {"resource": "1", "organization": synced.pk, "format": "0", "import_file": upload},
        )
        page = response.content.decode()
        assert f"File dated: {day_text(self.OLD)} (the latest date in the file" in page
        assert "3 values of the file will not be applied: the mirror's are newer" in page
        assert f"Row 2, Last active: kept {(NOW - timedelta(days=2)).date().isoformat()} from the sync of" in page
        assert response.context["confirm_form"] is None, "nothing to change: nothing to confirm"


class TestAFresherFile:
    def test_it_moves_last_activity_forward(self, synced):
        later = midnight(NOW)  # seen today, after the sync of yesterday
        seed_plan = plan(synced, export([ann_row(groups="jira-software-users", last_seen=later)]))
        assert seed_plan.as_of == later
        apply_seed(plan=seed_plan, actor=ACTOR)
        ann = Account.objects.get(account_id=ANN)
        assert ann.last_active == later
        assert ProductAccess.objects.get(account=ann).last_active == later

    def test_its_memberships_and_status_are_applied(self, synced):
        later = midnight(NOW)
        seed(synced, export([ann_row(groups="jira-software-users", status="Suspended", last_seen=later)]))
        assert groups_of(ANN) == {"jira-software-users"}
        assert Account.objects.get(account_id=ANN).status == AccountStatus.SUSPENDED

    def test_the_export_time_given_on_the_upload_form_dates_the_file(self, synced):
        old = midnight(NOW - timedelta(days=341))
        seed_plan = plan(synced, export([ann_row(last_seen=old)]), exported_at=NOW - timedelta(hours=1))
        assert seed_plan.as_of == NOW - timedelta(hours=1)
        apply_seed(plan=seed_plan, actor=ACTOR)
        assert groups_of(ANN) == {"jira-software-users"}, "newer than the sync: its memberships apply"
        ann = Account.objects.get(account_id=ANN)
        assert ann.last_active == NOW - timedelta(days=2), "but last activity still never moves back"

    def test_an_export_time_in_the_future_or_a_file_without_any_date_is_refused(self, synced):
        in_future = plan(synced, export([ann_row(last_seen=NOW)]), exported_at=NOW + timedelta(days=1))
        assert [str(e) for e in in_future.errors] == [
            f"The export time given, {NOW + timedelta(days=1):%Y-%m-%d %H:%M}, is in the future"
        ]
        undated = plan(synced, export([ann_row(last_seen=None)]))
        assert len(undated.errors) == 1
        assert str(undated.errors[0]).startswith("The file holds no date")

    def test_through_the_admin_with_the_export_time(self, synced, client_for, alice, settings):
        settings.ROOT_URLCONF = "governance.urls"
        client = client_for(alice)
        upload = io.BytesIO(export([ann_row(last_seen=midnight(NOW - timedelta(days=341)))]))
        upload.name = "users.csv"
        exported = NOW - timedelta(hours=2)
        preview = client.post(
            reverse("admin:accounts_account_import"),
            {
                "resource": "1",
                "organization": synced.pk,
                "format": "0",
                "import_file": upload,
                "exported_at": f"{exported:%Y-%m-%d %H:%M:%S}",
            },
        )
        assert f"File dated: {exported:%Y-%m-%d %H:%M} UTC (the export time given" in preview.content.decode()
        form = preview.context["confirm_form"]
        client.post(reverse("admin:accounts_account_process_import"), {n: form.initial[n] for n in form.fields})
        assert groups_of(ANN) == {"jira-software-users"}
        assert Account.objects.get(account_id=ANN).imported_as_of == exported


class TestImportedNotYetSynced:
    def test_what_an_import_writes_is_marked_with_the_file_date_and_shown(self, client_for, alice, settings):
        settings.ROOT_URLCONF = "governance.urls"
        org = OrganizationFactory()
        seen = midnight(NOW - timedelta(days=5))
        seed(org, export([ann_row(last_seen=seen)]))
        ann = Account.objects.get(account_id=ANN)
        assert (ann.imported_as_of, ann.last_synced_at) == (seen, None), "an import is not a sync"
        event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_IMPORTED)
        assert event.after["imported_as_of"] == seen.isoformat()
        client = client_for(alice)
        listing = client.get(reverse("admin:accounts_account_changelist")).content.decode()
        assert "imported, not yet synced" in listing
        page = client.get(reverse("admin:accounts_account_change", args=[ann.pk])).content.decode()
        assert 'id="imported-unconfirmed"' in page

    def test_an_account_with_nothing_imported_has_no_marker(self, synced, client_for, alice, settings):
        settings.ROOT_URLCONF = "governance.urls"
        listing = client_for(alice).get(reverse("admin:accounts_account_changelist")).content.decode()
        assert "imported, not yet synced" not in listing


class TestCells:
    def test_no_access_cells_are_not_access(self):
        org = OrganizationFactory()
        header = ["User id", "User name", "email", "User status", "Jira - acme", "Confluence - acme"]
        header += ["Last seen in Jira - acme", "Last seen in Confluence - acme"]
        seen = day_text(NOW - timedelta(days=3))
        seed(org, export([[ANN, "Ann", "ann@acme.example", "Active", "No access", "User", "No access", seen]], header))
        ann = Account.objects.get(account_id=ANN)
        assert set(ProductAccess.objects.filter(account=ann).values_list("product__key", flat=True)) == {"confluence"}
        assert ann.billable is True

    def test_no_access_removes_access_the_mirror_had_from_a_newer_file(self, synced):
        seed(synced, export([ann_row(access="No access", last_seen=midnight(NOW))]))
        assert not ProductAccess.objects.filter(account__account_id=ANN).exists()

    def test_invited_is_an_accepted_status_an_active_account_that_never_signed_in(self):
        org = OrganizationFactory()
        seed(org, export([[ANN, "Ann", "ann@acme.example", "Invited", "", "User", "Never accessed"]]), exported_at=NOW)
        ann = Account.objects.get(account_id=ANN)
        assert (ann.status, ann.last_active) == (AccountStatus.ACTIVE, None)

    def test_two_sites_of_one_product_stay_two_products(self, synced):
        header = ["User id", "User name", "email", "User status", "Jira - acme", "Jira - acme-sandbox"]
        header += ["Last seen in Jira - acme", "Last seen in Jira - acme-sandbox"]
        production, sandbox = midnight(NOW - timedelta(days=200)), midnight(NOW)
        row = [ANN, "Ann Smith", "ann.smith@acme.example", "Active", "User", "User"]
        seed(synced, export([[*row, day_text(production), day_text(sandbox)]], header))
        access = dict(
            ProductAccess.objects.filter(account__account_id=ANN).values_list("product__resource_id", "last_active")
        )
        assert access == {
            "ari:cloud:jira-software::site/c1": NOW - timedelta(days=2),  # the synced one: acme, the org's site
            "csv:jira-software:acme-sandbox": sandbox,
        }, "the sandbox's activity is not credited to production"
        assert Product.objects.get(resource_id="csv:jira-software:acme-sandbox").name == "Jira (acme-sandbox)"

    def test_a_later_file_s_sandbox_is_not_merged_into_an_earlier_import_s_site(self):
        org = OrganizationFactory()
        header = ["User id", "User name", "email", "User status", "Jira - acme", "Last seen in Jira - acme"]
        seed(
            org, export([[ANN, "Ann", "ann@acme.example", "Active", "User", day_text(NOW - timedelta(days=9))]], header)
        )
        header = [h.replace("acme", "acme-sandbox") for h in header]
        seed(org, export([[ANN, "Ann", "ann@acme.example", "Active", "User", day_text(NOW)]], header))
        access = dict(
            ProductAccess.objects.filter(account__account_id=ANN).values_list("product__resource_id", "last_active")
        )
        assert access == {
            "csv:jira-software:acme": midnight(NOW - timedelta(days=9)),
            "csv:jira-software:acme-sandbox": midnight(NOW),
        }

    def test_without_the_org_s_site_several_sites_are_kept_apart_with_a_warning(self, synced):
        synced.site_url = ""
        synced.save()
        header = ["User id", "User name", "email", "User status", "Jira - acme", "Jira - acme-sandbox"]
        seed_plan = plan(
            synced, export([[ANN, "Ann Smith", "ann.smith@acme.example", "Active", "User", "User"]], header)
        )
        assert [str(w) for w in seed_plan.warnings] == [
            "The organization's site URL is not set, so the portal cannot tell which of the file's Jira sites "
            "(acme, acme-sandbox) is the synced Jira product: each site is recorded as a product of its own. "
            "Set the organization's Jira site URL and preview again"
        ]


class TestThePortalCsvGroupsCell:
    """The account-changes file: an empty ``groups`` cell changes nothing; ``(none)`` empties."""

    @pytest.fixture
    def ann(self):
        org = OrganizationFactory()
        ann = AccountFactory(organization=org, account_id=ANN)
        for name in ("a-team", "b-team", "c-team"):
            MembershipFactory(account=ann, group=GroupFactory(organization=org, name=name))
        return ann

    def _plan(self, ann, rows):
        data = export(rows, header=["account_id", "groups", "status"])
        return plan_changes(organization=ann.organization, table=read_csv(data))

    def test_an_empty_groups_cell_is_no_change_so_a_status_edit_keeps_every_group(self, ann):
        change_plan = self._plan(ann, [[ANN, "", "suspended"]])
        assert change_plan.errors == []
        assert [p.describe() for p in change_plan.plans] == [["status active → suspended"]]

    def test_none_in_the_groups_cell_removes_every_group(self, ann):
        change_plan = self._plan(ann, [[ANN, "(None)", ""]])
        assert change_plan.errors == []
        assert change_plan.plans[0].describe() == ["remove from a-team", "remove from b-team", "remove from c-team"]

    def test_none_cannot_be_listed_with_groups(self, ann):
        change_plan = self._plan(ann, [[ANN, "(none); a-team", ""]])
        assert [str(e) for e in change_plan.errors] == [
            "Row 2, groups: “(none)” means in no group at all; it cannot be listed with groups"
        ]

"""Seeding and refreshing the mirror from the CSVs admin.atlassian.com exports (no API key)."""

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from accounts.importexport.formats import read_csv
from accounts.importexport.seed import SeedPlan, apply_seed, plan_seed
from accounts.importexport.variants import ProductCell, Variant, detect, seed_records
from accounts.importexport.views import SEED, build_preview
from accounts.models import Account, AccountStatus, Group, Membership, Product, ProductAccess
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.audit.verify import verify_chain
from tests.factories import AccountFactory, GroupFactory, MembershipFactory, OrganizationFactory, ProductFactory

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"
ACTOR = Actor.system("test")
ANN = "5b10ac8d82e05b22cc7d4ef5"
CARLA = "6a1b2c3d4e5f60718293a4b5"


def day(year, month, d):
    return datetime(year, month, d, tzinfo=UTC)


def _plan(organization, name: str | None = None, *, data: bytes | None = None):
    table = read_csv(data if data is not None else (FIXTURES / name).read_bytes())
    parsed = seed_records(table, detect(table.headers))
    return plan_seed(organization=organization, parsed=parsed, file_name=name or "upload.csv")


def _seed(organization, name: str | None = None, *, data: bytes | None = None):
    plan = _plan(organization, name, data=data)
    assert not plan.errors, [str(e) for e in plan.errors]
    return plan, apply_seed(plan=plan, actor=ACTOR)


def _groups(account_id: str) -> set[str]:
    return set(Membership.objects.filter(account__account_id=account_id).values_list("group__name", flat=True))


def _activity(account_id: str) -> dict[str, datetime | None]:
    rows = ProductAccess.objects.filter(account__account_id=account_id).values_list("product__key", "last_active")
    return dict(rows)


@pytest.fixture
def org():
    return OrganizationFactory()


class TestUsersExport:
    def test_an_empty_mirror_is_seeded_with_accounts_groups_and_activity(self, org):
        plan, outcome = _seed(org, "atlassian_users_export.csv")
        assert plan.variant == Variant.USERS
        assert outcome.counts["created"] == 4
        ann = Account.objects.get(account_id=ANN)
        assert (ann.name, ann.email, ann.status) == ("Ann Smith", "ann.smith@acme.example", AccountStatus.ACTIVE)
        assert ann.added_to_org == day(2023, 12, 14)
        assert ann.last_active == day(2025, 12, 14), "the latest over the products"
        assert ann.billable is True
        assert _groups(ANN) == {"jira-software-users", "confluence-users"}
        assert _activity(ANN) == {"jira-software": day(2025, 12, 14), "confluence": day(2025, 11, 2)}
        bob = Account.objects.get(name="Bob Müller")
        assert (bob.status, bob.is_org_admin, bob.billable) == (AccountStatus.SUSPENDED, True, False)
        assert Account.objects.get(account_id=CARLA).status == AccountStatus.DEACTIVATED
        assert Group.objects.get(name="jira-software-users").group_id == "g-1001"
        assert Group.objects.get(name="jira-software-users").member_count == 2

    def test_never_accessed_means_access_without_activity(self, org):
        _seed(org, "atlassian_users_export.csv")
        assert _activity("5c2d9e7f1a3b4c5d6e7f8091") == {"confluence": None}
        assert Account.objects.get(account_id="5c2d9e7f1a3b4c5d6e7f8091").last_active is None

    def test_existing_products_are_reused_and_missing_ones_created(self, org):
        jira = ProductFactory(organization=org, key="jira-software", resource_id="ari:cloud:jira-software::site/x")
        _seed(org, "atlassian_users_export.csv")
        assert ProductAccess.objects.filter(product=jira).count() == 2
        jsm = Product.objects.get(organization=org, key="jira-servicedesk")
        assert jsm.resource_id == "csv:jira-servicedesk:acme"
        assert jsm.name == "Jira Service Management (acme)"

    def test_every_created_account_gets_an_audit_event_and_one_summary(self, org):
        _, outcome = _seed(org, "atlassian_users_export.csv")
        imported = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_IMPORTED)
        assert imported.count() == 4
        ann = imported.get(target_repr="Ann Smith")
        assert ann.after["groups_added"] == ["jira-software-users", "confluence-users"]
        assert ann.after["status"] == "active"
        assert ann.correlation_id == outcome.correlation_id
        summary = AuditEvent.objects.get(action=AuditAction.IMPORT_APPLIED)
        assert summary.after["variant"] == "users"
        assert summary.after["created"] == 4
        assert summary.correlation_id == outcome.correlation_id
        assert verify_chain().ok

    def test_a_second_import_of_the_same_file_changes_nothing(self, org):
        _seed(org, "atlassian_users_export.csv")
        events = AuditEvent.objects.count()
        plan = _plan(org, "atlassian_users_export.csv")
        assert plan.changes == []
        assert plan.unchanged == 4
        apply_seed(plan=plan, actor=ACTOR)
        assert AuditEvent.objects.count() == events + 1, "only the summary"

    def test_a_refresh_writes_only_what_changed_with_before_and_after(self, org):
        _seed(org, "atlassian_users_export.csv")
        newer = (FIXTURES / "atlassian_users_export.csv").read_text().replace("Ann Smith,", "Ann Smith-Jones,")
        newer = newer.replace('"g-1001, g-1002","jira-software-users, confluence-users"', "g-1002,confluence-users")
        plan, _ = _seed(org, data=newer.encode())
        assert [c.account_id for c in plan.changes] == [ANN]
        event = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_IMPORTED).order_by("-seq").first()
        assert event.before == {"name": "Ann Smith"}
        assert event.after["name"] == "Ann Smith-Jones"
        assert event.after["groups_removed"] == ["jira-software-users"]
        assert _groups(ANN) == {"confluence-users"}
        assert Group.objects.get(name="jira-software-users").member_count == 1

    def test_accounts_missing_from_the_file_are_left_alone(self, org):
        other = AccountFactory(organization=org, status=AccountStatus.ACTIVE)
        MembershipFactory(account=other, group=GroupFactory(organization=org, name="jira-software-users"))
        _seed(org, "atlassian_users_export.csv")
        other.refresh_from_db()
        assert other.status == AccountStatus.ACTIVE
        assert _groups(other.account_id) == {"jira-software-users"}

    def test_groups_already_in_the_mirror_are_matched_by_name(self, org):
        synced = GroupFactory(organization=org, name="confluence-users", group_id="ari:cloud:identity::group/real")
        pivot = _seed(org, "atlassian_users_export_pivot.csv")[0]
        assert Membership.objects.filter(group=synced).count() == 1
        assert "ari:cloud:identity::group/real" not in pivot.new_groups

    def test_pivoted_group_columns_and_site_less_activity_headers_in_any_case(self, org):
        plan, _ = _seed(org, "atlassian_users_export_pivot.csv")
        assert plan.variant == Variant.USERS
        assert _groups(ANN) == {"jira-software-users", "confluence-users", "engineering"}
        assert _groups(CARLA) == {"engineering"}
        assert Account.objects.get(account_id=ANN).added_to_org == day(2023, 12, 14)
        assert _activity(ANN) == {"jira-software": day(2025, 12, 14)}
        assert _activity(CARLA) == {"confluence": day(2025, 9, 30)}

    def test_rows_repeated_per_group_are_merged_by_user_id(self, org):
        plan, _ = _seed(org, "atlassian_users_export_rows_per_group.csv")
        assert plan.people == 2
        assert _groups(ANN) == {"jira-software-users", "confluence-users", "engineering"}
        assert AuditEvent.objects.filter(action=AuditAction.ACCOUNT_IMPORTED).count() == 2

    def test_repeated_rows_that_disagree_are_errors(self, org):
        text = (FIXTURES / "atlassian_users_export_rows_per_group.csv").read_text()
        text = text.replace("Active,14 Dec 2023,confluence-users", "Suspended,14 Dec 2023,confluence-users")
        plan = _plan(org, data=text.encode())
        assert [str(e) for e in plan.errors] == [
            f"Row 3: account {ANN} is also on row 2 with a different status (“active” there, “suspended” here)"
        ]


class TestOtherVariants:
    def test_the_managed_accounts_export(self, org):
        plan, _ = _seed(org, "atlassian_managed_accounts_export.csv")
        assert plan.variant == Variant.MANAGED
        ann = Account.objects.get(account_id=ANN)
        assert (ann.managed, ann.billable, ann.last_active) == (True, True, day(2025, 12, 14))
        dan = Account.objects.get(name="Dan Okafor")
        assert (dan.status, dan.billable, dan.last_active) == (AccountStatus.DEACTIVATED, False, None)
        sites = set(ProductAccess.objects.filter(account=ann).values_list("product__resource_id", flat=True))
        assert sites == {"csv:jira-software:acme", "csv:jira-software:acme-labs", "csv:confluence:acme"}
        assert set(_activity("5d6e7f8091a2b3c4d5e6f708")) == {"jira-software", "jira-servicedesk"}
        assert not Membership.objects.exists(), "this export has no groups"

    def test_the_legacy_site_export_merges_rows_per_group_and_maps_yes_no(self, org):
        plan, _ = _seed(org, "atlassian_legacy_site_export.csv")
        assert plan.variant == Variant.LEGACY
        ann = Account.objects.get(account_id=ANN)
        assert ann.last_active == datetime(2025, 12, 14, 10, tzinfo=UTC), "the later of last login and last session"
        assert _groups(ANN) == {"jira-software-users", "confluence-users"}
        frank = Account.objects.get(account_id="fsmith")
        assert frank.status == AccountStatus.SUSPENDED, "active=No was revoked site access"
        assert set(_activity("fsmith")) == {"confluence"}

    def test_legacy_usernames_match_existing_accounts_by_email(self, org):
        known = AccountFactory(organization=org, account_id="557058:real-id", email="Frank.Smith@acme.example")
        _seed(org, "atlassian_legacy_site_export.csv")
        assert not Account.objects.filter(account_id="fsmith").exists()
        assert _groups(known.account_id) == {"site-admins"}


class TestAllOrNothing:
    def test_row_errors_are_numbered_and_nothing_is_written(self, org):
        text = (FIXTURES / "atlassian_users_export.csv").read_text()
        text = text.replace("ann.smith@acme.example", "ann.smith@").replace("3 Jan 2022", "yesterday")
        plan = _plan(org, data=text.encode())
        assert [str(e) for e in plan.errors] == [
            "Row 2, email: “ann.smith@” is not a valid email address",
            "Row 3, Added to org: “yesterday” is not a date (expected e.g. “14 Dec 2025” or “2025-12-14”)",
        ]
        with pytest.raises(ValueError, match="errors"):
            apply_seed(plan=plan, actor=ACTOR)
        assert not Account.objects.exists()

    def test_an_unknown_status_is_an_error_listing_the_known_ones(self, org):
        text = (FIXTURES / "atlassian_users_export.csv").read_text().replace("Deactivated", "Frozen")
        plan = _plan(org, data=text.encode())
        assert len(plan.errors) == 1
        assert "“Frozen” is not a status the portal knows" in str(plan.errors[0])
        assert str(plan.errors[0]).startswith("Row 5, User status:")

    def test_a_failure_while_writing_rolls_everything_back(self, org, monkeypatch):
        plan = _plan(org, "atlassian_users_export.csv")

        def broken(events):
            raise RuntimeError("disk full")

        monkeypatch.setattr("accounts.importexport.seed.append_events", broken)
        with pytest.raises(RuntimeError):
            apply_seed(plan=plan, actor=ACTOR)
        assert not Account.objects.exists()
        assert not Group.objects.exists()


class TestLowMemoryPlanning:
    """The admin's preview drops the file's rows as records are made, and the records as the plan is
    made (``consume``); the plan must be the one planning without dropping gives."""

    FILES = ("atlassian_users_export.csv", "atlassian_users_export_rows_per_group.csv",
             "atlassian_managed_accounts_export.csv", "atlassian_legacy_site_export.csv")  # fmt: skip

    @pytest.mark.parametrize("name", FILES)
    def test_consuming_rows_and_records_plans_the_same_changes(self, org, name, monkeypatch):
        monkeypatch.setattr("accounts.importexport.seed.CHUNK", 2)  # several chunks, each dropped
        now = day(2026, 12, 1)
        data = (FIXTURES / name).read_bytes()
        table = read_csv(data)
        kept = plan_seed(organization=org, parsed=seed_records(table, detect(table.headers)), now=now)
        assert table.rows, "without consume the table is left as it was"
        table = read_csv(data)
        parsed = seed_records(table, detect(table.headers), consume=True)
        assert table.rows == []
        consumed = plan_seed(organization=org, parsed=parsed, now=now, consume=True)
        assert parsed.records == []
        assert consumed.fingerprint() == kept.fingerprint()
        assert consumed.counts() == kept.counts()
        assert [(c.row, c.label, c.before, c.after, c.values) for c in consumed.changes] == [
            (c.row, c.label, c.before, c.after, c.values) for c in kept.changes
        ]
        assert [str(n) for n in consumed.notes] == [str(n) for n in kept.notes]

    @pytest.mark.parametrize("name", [*FILES, "atlassian_users_export_pivot.csv"])
    def test_the_preview_streaming_the_file_plans_what_reading_it_whole_plans(self, org, name):
        data = (FIXTURES / name).read_bytes()
        with time_machine.travel(day(2026, 12, 1), tick=False):  # new accounts' status_changed_at is now
            table = read_csv(data)
            kept = plan_seed(organization=org, parsed=seed_records(table, detect(table.headers)), file_name=name)
            preview = build_preview(data=data, file_name=name, kind=SEED, organization=org, user=None)
        streamed = preview.plan
        assert isinstance(streamed, SeedPlan)
        assert not preview.refused
        assert streamed.changes, "the fixture plans something"
        assert streamed.fingerprint() == kept.fingerprint()
        assert streamed.counts() == kept.counts()
        assert [
            (c.row, c.label, c.before, c.after, c.values, c.groups_added, c.access_upserts) for c in streamed.changes
        ] == [(c.row, c.label, c.before, c.after, c.values, c.groups_added, c.access_upserts) for c in kept.changes]
        assert [str(e) for e in (*streamed.errors, *streamed.warnings, *streamed.notes)] == [
            str(e) for e in (*kept.errors, *kept.warnings, *kept.notes)
        ]

    def test_streamed_row_errors_are_those_of_the_whole_file_in_row_order(self, org):
        text = (FIXTURES / "atlassian_users_export.csv").read_text().replace("3 Jan 2022", "yesterday")
        lines = text.splitlines()
        lines.insert(2, lines[1] + ",extra,cells")  # a row wider than the header, read as the records are made
        data = "\n".join(lines).encode()
        table = read_csv(data)
        whole = plan_seed(organization=org, parsed=seed_records(table, detect(table.headers)))
        preview = build_preview(data=data, file_name="f.csv", kind=SEED, organization=org, user=None)
        assert [str(e) for e in preview.errors] == [str(e) for e in whole.errors]
        assert [e.row for e in preview.errors] == [3, 4], [str(e) for e in preview.errors]

    def test_equal_product_cells_are_one_object_and_merging_a_repeated_row_leaves_the_others_alone(self):
        text = (
            "User id,User name,email,User status,Added to org,Group name,Jira - acme,Last seen in Jira - acme\n"
            "a1,Ann,ann@example.com,Active,1 Dec 2025,team-a,User,1 Dec 2025\n"
            "b1,Bob,bob@example.com,Active,1 Dec 2025,team-a,User,1 Dec 2025\n"
            "c1,Cem,cem@example.com,Active,1 Dec 2025,team-a,User,1 Dec 2025\n"
            "a1,Ann,ann@example.com,Active,1 Dec 2025,team-b,User,14 Dec 2025\n"
        )
        table = read_csv(text.encode())
        ann, bob, cem = seed_records(table, detect(table.headers)).records
        assert bob.products[0] is cem.products[0], "one shared (product, cell) pair"
        assert bob.groups is not None
        assert cem.groups is not None
        assert bob.groups[0] is cem.groups[0]
        assert ann.products == ((("jira", "acme"), ProductCell(True, True, day(2025, 12, 14))),)
        assert bob.products == ((("jira", "acme"), ProductCell(True, True, day(2025, 12, 1))),), "not merged into"
        assert ann.groups == (("team-a", ""), ("team-b", ""))
        with pytest.raises(dataclasses.FrozenInstanceError):
            bob.products[0][1].last_active = None  # type: ignore[misc]

    def test_row_errors_keep_their_row_numbers_when_consumed(self, org):
        text = (FIXTURES / "atlassian_users_export.csv").read_text().replace("3 Jan 2022", "yesterday")
        table = read_csv(text.encode())
        parsed = seed_records(table, detect(table.headers), consume=True)
        plan = plan_seed(organization=org, parsed=parsed, consume=True)
        assert [str(e) for e in plan.errors] == [
            "Row 3, Added to org: “yesterday” is not a date (expected e.g. “14 Dec 2025” or “2025-12-14”)"
        ]

    def test_writing_in_blocks_writes_what_one_block_writes(self, org, monkeypatch):
        monkeypatch.setattr("accounts.importexport.seed.APPLY_BLOCK", 1)
        _, outcome = _seed(org, "atlassian_users_export.csv")
        assert outcome.counts["created"] == Account.objects.count() == 4
        assert Membership.objects.count() == outcome.counts["memberships_added"] > 1
        assert ProductAccess.objects.count() == outcome.counts["product_access_written"] > 1
        ann = Account.objects.get(account_id=ANN)
        assert (ann.name, ann.email) == ("Ann Smith", "ann.smith@acme.example")


def test_a_group_name_shared_by_two_mirror_groups_is_an_error_of_the_file(org):
    GroupFactory(organization=org, name="confluence-users")
    GroupFactory(organization=org, name="confluence-users")
    plan = _plan(org, "atlassian_users_export_pivot.csv")
    assert [str(e) for e in plan.errors] == ["The group name “confluence-users” matches 2 groups in the mirror"]


def _limit(model, name: str) -> int:
    return model._meta.get_field(name).max_length


def _users_export(replace: dict[str, str]) -> bytes:
    text = (FIXTURES / "atlassian_users_export.csv").read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text.encode()


class TestLengths:
    """Values longer than their database column are row errors in the preview, on every database."""

    def test_an_account_id_a_name_and_an_email_over_their_columns_are_row_errors_and_nothing_is_written(self, org):
        long_id, long_name = "x" * 200, "N" * 5000
        long_email = "a" * 250 + "@acme.example"
        data = _users_export(
            {ANN: long_id, "Ann Smith": long_name, "bob.muller@acme.example": long_email},
        )
        plan = _plan(org, data=data)
        assert [str(e) for e in plan.errors] == [
            f"Row 2, User id: at most {_limit(Account, 'account_id')} characters (got 200)",
            f"Row 3, email: at most {_limit(Account, 'email')} characters (got {len(long_email)})",
        ]
        with pytest.raises(ValueError, match="errors"):
            apply_seed(plan=plan, actor=ACTOR)
        assert not Account.objects.exists()

    def test_the_name_is_checked_once_the_id_fits(self, org):
        plan = _plan(org, data=_users_export({"Ann Smith": "N" * 5000}))
        assert [str(e) for e in plan.errors] == [
            f"Row 2, User name: at most {_limit(Account, 'name')} characters (got 5000)"
        ]

    def test_values_exactly_at_the_limit_are_accepted(self, org):
        name, account_id = "N" * _limit(Account, "name"), "i" * _limit(Account, "account_id")
        _seed(org, data=_users_export({"Ann Smith": name, ANN: account_id}))
        assert Account.objects.get(account_id=account_id).name == name

    def test_a_long_group_name_in_a_list_is_named_in_its_row_error(self, org):
        long_group = "g" * (_limit(Group, "name") + 1)
        plan = _plan(org, data=_users_export({"jira-software-users, confluence-users": f"{long_group}, ok"}))
        assert [str(e) for e in plan.errors] == [
            f"Row 2, Group name: the group name “{long_group[:39]}…” is too long: "
            f"at most {_limit(Group, 'name')} characters (got {len(long_group)})"
        ]

    def test_a_new_group_without_an_id_must_leave_room_for_the_made_up_one(self, org):
        name = "g" * (_limit(Group, "group_id") - 3)  # "csv:" + name is one character too long
        data = (FIXTURES / "atlassian_users_export_pivot.csv").read_text().replace("engineering", name).encode()
        plan = _plan(org, data=data)
        assert [str(e) for e in plan.errors] == [
            f"Row 2: the new group “{name[:39]}…” needs an id of at most {_limit(Group, 'group_id')} characters "
            f"(got {len(name) + 4})"
        ]

    def test_a_product_site_too_long_to_record_is_an_error(self, org):
        site = "s" * _limit(Product, "name")
        data = _users_export({"Confluence - acme": f"Confluence - {site}"})
        plan = _plan(org, data=data)
        assert len(plan.errors) == 1
        assert str(plan.errors[0]).startswith(f"The Confluence site “{site[:39]}…” is too long: at most ")

    def test_without_the_check_postgresql_refuses_the_row_and_sqlite_stores_it(self, org, monkeypatch):
        """Why the check exists: the databases disagree about an over-long value."""
        from django.db import DataError, connection

        from accounts.importexport import variants

        monkeypatch.setattr(variants, "_limits", lambda: dict.fromkeys(variants._LIMITED, 10**6))
        plan = _plan(org, data=_users_export({"Ann Smith": "N" * 5000}))
        assert not plan.errors
        if connection.vendor == "postgresql":
            with pytest.raises(DataError, match="too long"):
                apply_seed(plan=plan, actor=ACTOR)
            assert not Account.objects.exists()
        else:
            apply_seed(plan=plan, actor=ACTOR)
            assert len(Account.objects.get(account_id=ANN).name) == 5000


class TestSharedEmails:
    def test_an_address_under_two_account_ids_is_a_warning_naming_both_rows(self, org):
        plan = _plan(org, data=_users_export({"carla.rossi@acme.example": "ann.smith@acme.example"}))
        assert not plan.errors
        assert [str(w) for w in plan.warnings] == [
            f"Row 5, email: “ann.smith@acme.example” is also the email of account {ANN} on row 2"
        ]
        apply_seed(plan=plan, actor=ACTOR)  # a warning does not stop the import
        assert Account.objects.filter(email="ann.smith@acme.example").count() == 2

    def test_addresses_differing_only_in_case_are_a_warning_too(self, org):
        plan = _plan(org, data=_users_export({"carla.rossi@acme.example": "Ann.Smith@ACME.example"}))
        assert [str(w) for w in plan.warnings] == [
            f"Row 5, email: “Ann.Smith@ACME.example” is also the email of account {ANN} on row 2 "
            "(as “ann.smith@acme.example”: the addresses differ only in case)"
        ]

    def test_one_person_on_several_rows_is_not_a_shared_address(self, org):
        plan = _plan(org, "atlassian_users_export_rows_per_group.csv")
        assert plan.warnings == []
        assert _plan(org, "atlassian_users_export.csv").warnings == []

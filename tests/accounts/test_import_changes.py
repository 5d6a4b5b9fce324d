"""The portal's accounts CSV: validated as a whole, then applied in Atlassian through the services."""

import csv
import io

import pytest

from accounts.importexport.apply import apply_changes, plan_changes
from accounts.importexport.formats import read_csv
from accounts.importexport.resources import AccountExportResource
from accounts.models import Account, AccountStatus, Group, Membership
from accounts.sync.runner import organization_sync
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.audit.verify import verify_chain
from governance.csvexport import csv_lines

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("import-test")


def _file(rows, header=("account_id", "groups", "status")) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _plan(organization, data: bytes, user=None):
    return plan_changes(organization=organization, table=read_csv(data), user=user, file_name="changes.csv")


def _groups_of(account) -> list[str]:
    names = Membership.objects.filter(account=account, group__removed_at=None).values_list("group__name", flat=True)
    return sorted(names)


@pytest.fixture
def mirrored(organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    return organization


@pytest.fixture
def team_groups(mirrored):
    """Two groups the portal may edit: not IdP-synced, not licence groups."""
    groups = list(Group.objects.filter(external_synced=False, is_licence_group=False, removed_at=None)[:2])
    assert len(groups) == 2
    return groups


def _plain(n: int = 1, **extra) -> list[Account]:
    accounts = Account.objects.filter(
        status=AccountStatus.ACTIVE, is_org_admin=False, managed=True, account_type="atlassian", **extra
    ).order_by("pk")
    return list(accounts[:n])


class TestPreview:
    def test_it_lists_each_rows_changes_and_sends_nothing(self, simulator, mirrored, team_groups):
        ann, bob = _plain(2)
        first, _second = team_groups
        keep = "; ".join([*_groups_of(ann), first.name])
        plan = _plan(mirrored, _file([[ann.account_id, keep, ""], [bob.account_id, "(none)", "suspended"]]))
        assert plan.errors == []
        changes = {p.account_id: p.describe() for p in plan.plans}
        assert changes[ann.account_id] == [f"add to {first.name}"]
        assert changes[bob.account_id] == [f"remove from {g}" for g in _groups_of(bob)] + ["status active → suspended"]
        assert first.name not in simulator.state.user(ann.account_id).groups
        assert simulator.state.user(bob.account_id).status == "active"
        assert not AuditEvent.objects.filter(action__startswith="membership.").exists()

    def test_status_words_may_be_labels_in_any_case_and_empty_means_unchanged(self, mirrored):
        ann, bob = _plain(2)
        data = _file([[ann.account_id, "Suspended"], [bob.account_id, ""]], header=("account_id", "status"))
        plan = _plan(mirrored, data)
        assert [(p.account_id, p.status_to) for p in plan.plans] == [(ann.account_id, "suspended")]
        assert plan.unchanged == 1

    def test_accounts_may_be_found_by_email_alone(self, mirrored):
        ann = _plain(1, email__isnull=False)[0]
        plan = _plan(mirrored, _file([[ann.email.upper(), "suspended"]], header=("email", "status")))
        assert plan.errors == []
        assert plan.plans[0].account_pk == ann.pk


class TestApply:
    def test_changes_are_made_in_atlassian_through_the_services(self, simulator, mirrored, atlassian, team_groups):
        ann, bob = _plain(2)
        first, _ = team_groups
        plan = _plan(
            mirrored,
            _file(
                [
                    [ann.account_id, "; ".join([*_groups_of(ann), first.name]), ""],
                    [bob.account_id, "(none)", "suspended"],
                ]
            ),
        )
        report = apply_changes(plan=plan, client=atlassian, actor=ACTOR)
        assert report.ok, [o.error for o in report.outcomes]
        assert first.name in simulator.state.user(ann.account_id).groups
        assert not simulator.state.user(bob.account_id).groups
        assert simulator.state.user(bob.account_id).status == "suspended"
        assert Membership.objects.filter(account=ann, group=first).exists()
        assert not Membership.objects.filter(account=bob).exists()
        assert Account.objects.get(pk=bob.pk).status == AccountStatus.SUSPENDED
        events = AuditEvent.objects.filter(correlation_id=report.correlation_id)
        actions = sorted(events.values_list("action", flat=True))
        removed = len(plan.plans[1].remove)
        assert actions == sorted(
            ["account.suspended", "import.applied", "membership.added"] + ["membership.removed"] * removed
        )
        summary = events.get(action=AuditAction.IMPORT_APPLIED)
        assert summary.after["outcome"] == "completed"
        assert summary.after["applied"] == 2
        assert verify_chain().ok

    def test_importing_the_same_file_again_plans_nothing(self, mirrored, atlassian, team_groups):
        ann = _plain(1)[0]
        data = _file([[ann.account_id, team_groups[0].name, "suspended"]])
        apply_changes(plan=_plan(mirrored, data), client=atlassian, actor=ACTOR)
        again = _plan(mirrored, data)
        assert (again.plans, again.unchanged) == ([], 1)

    def test_activation_comes_first_then_groups(self, simulator, mirrored, atlassian, team_groups):
        ann = _plain(1)[0]
        emptied = _file([[ann.account_id, "(none)", "suspended"]])
        apply_changes(plan=_plan(mirrored, emptied), client=atlassian, actor=ACTOR)
        plan = _plan(mirrored, _file([[ann.account_id, team_groups[0].name, "active"]]))
        assert plan.plans[0].describe() == ["status suspended → active", f"add to {team_groups[0].name}"]
        report = apply_changes(plan=plan, client=atlassian, actor=ACTOR)
        assert report.outcomes[0].done == ["status → active", f"added to {team_groups[0].name}"]
        assert simulator.state.user(ann.account_id).status == "active"

    def test_an_exported_file_imports_back_as_no_change(self, mirrored):
        header, rows = AccountExportResource().rows(Account.objects.all())
        data = "".join(csv_lines(header, rows)).encode()
        plan = _plan(mirrored, data)
        assert plan.errors == []
        assert plan.plans == []
        assert "last_active:jira-software" in plan.ignored


class TestAtlassianFailures:
    def test_a_failure_stops_the_import_reports_each_row_and_is_not_a_success(
        self, simulator, mirrored, atlassian, team_groups
    ):
        ann, bob, cid = _plain(3)
        rows = [[a.account_id, "suspended"] for a in (ann, bob, cid)]
        plan = _plan(mirrored, _file(rows, header=("account_id", "status")))
        simulator.faults.fail_next(1, status=403, path_contains=f"/users/{bob.account_id}/suspend")
        report = apply_changes(plan=plan, client=atlassian, actor=ACTOR)
        assert not report.ok
        assert [o.state for o in report.outcomes] == ["applied", "failed", "not_attempted"]
        assert "403" in report.outcomes[1].error
        assert report.failed.row == 3
        assert simulator.state.user(ann.account_id).status == "suspended"
        assert simulator.state.user(cid.account_id).status == "active"
        assert Account.objects.get(pk=cid.pk).status == AccountStatus.ACTIVE
        summary = AuditEvent.objects.get(action=AuditAction.IMPORT_APPLIED)
        assert summary.after["outcome"] == "failed"
        assert (summary.after["failed_row"], summary.after["not_attempted"]) == (3, 1)
        assert AuditEvent.objects.filter(action=AuditAction.ATLASSIAN_CALL_FAILED).count() == 1


class TestRowErrors:
    def test_every_bad_row_is_reported_by_number_and_nothing_is_planned(self, mirrored):
        ann, bob, cid = _plain(3)
        admin = Account.objects.filter(is_org_admin=True, status=AccountStatus.ACTIVE).first()
        external = Account.objects.filter(managed=False, status=AccountStatus.ACTIVE, is_org_admin=False).first()
        rows = [
            ["no-such-account", "", "suspended"],
            [ann.account_id, "not-an-email", "suspended"],
            [bob.account_id, "", "suspended"],
            [bob.account_id, "", "active"],
            [cid.account_id, "", "frozen"],
            [admin.account_id, "", "suspended"],
            [external.account_id, "", "deactivated"],
            ["", "", "suspended"],
        ]
        plan = _plan(mirrored, _file(rows, header=("account_id", "email", "status")))
        assert [str(e) for e in plan.errors] == [
            "Row 2, account_id: unknown account “no-such-account” (not in the mirror)",
            "Row 3, email: “not-an-email” is not a valid email address",
            f"Row 5: account {bob.account_id} is already on row 4",
            "Row 6, status: “frozen” is not a status (active, suspended, deactivated)",
            f"Row 7, status: {admin} is an organization admin; the portal does not suspend org admins",
            f"Row 8, status: {external} is not a managed account; Atlassian only deactivates managed accounts",
            "Row 9: no account_id and no email: which account is this?",
        ]

    def test_unknown_identity_provider_and_org_admin_licence_groups_are_rejected(self, mirrored):
        synced = Group.objects.filter(external_synced=True, removed_at=None).first()
        ann, bob = [a for a in _plain(20) if synced.name not in _groups_of(a)][:2]
        admin = Account.objects.filter(is_org_admin=True, memberships__group__is_licence_group=True).first()
        without_licences = [g.name for g in Group.objects.filter(memberships__account=admin, is_licence_group=False)]
        rows = [
            [ann.account_id, "; ".join([*_groups_of(ann), "no-such-group"])],
            [bob.account_id, "; ".join([*_groups_of(bob), synced.name])],
            [admin.account_id, "; ".join(without_licences)],
        ]
        messages = [str(e) for e in _plan(mirrored, _file(rows, header=("account_id", "groups"))).errors]
        assert messages[0] == "Row 2, groups: unknown group “no-such-group”"
        assert messages[1] == f"Row 3, groups: “{synced}” is synced from an identity provider; change it there"
        assert messages[2].startswith(f"Row 4: {admin} is an org admin; the portal does not take their licence")

    def test_an_email_that_is_not_the_accounts_is_refused(self, mirrored):
        ann = _plain(1, email__isnull=False)[0]
        plan = _plan(
            mirrored, _file([[ann.account_id, "someone.else@example.com", "active"]], ("account_id", "email", "status"))
        )
        assert [str(e) for e in plan.errors] == [
            f"Row 2, email: “someone.else@example.com” is not the email of {ann.account_id} ({ann.email})"
        ]

    @pytest.mark.parametrize(
        ("header", "message"),
        [
            (("account_id", "groups", "colour"), "Row 1: unknown column “colour”."),
            (("name", "groups"), "Row 1: there is no “account_id” or “email” column"),
            (("account_id", "name"), "Row 1: there is no “groups” or “status” column"),
            (("account_id", "groups", "Groups"), "Row 1: the column “Groups” appears twice"),
        ],
    )
    def test_wrong_headers_are_refused(self, mirrored, header, message):
        errors = [str(e) for e in _plan(mirrored, _file([["x"] * len(header)], header=header)).errors]
        assert any(e.startswith(message) for e in errors), errors

    def test_the_help_desk_may_activate_but_not_suspend(self, mirrored, hank):
        ann = _plain(1)[0]
        plan = _plan(mirrored, _file([[ann.account_id, "suspended"]], header=("account_id", "status")), user=hank)
        assert [str(e) for e in plan.errors] == ["Row 2, status: you may not make accounts suspended"]

    def test_a_plan_with_errors_cannot_be_applied(self, mirrored, atlassian):
        plan = _plan(mirrored, _file([["nobody", "", "suspended"]]))
        with pytest.raises(ValueError, match="errors"):
            apply_changes(plan=plan, client=atlassian, actor=ACTOR)


class TestEditedExports:
    def test_the_quotes_the_export_adds_to_formula_like_cells_are_not_part_of_the_names(self):
        from tests.factories import AccountFactory, GroupFactory, MembershipFactory, OrganizationFactory

        org = OrganizationFactory()
        account = AccountFactory(organization=org)
        for name in ("-ops", "team"):
            MembershipFactory(account=account, group=GroupFactory(organization=org, name=name))
        header, rows = AccountExportResource().rows(Account.objects.filter(organization=org))
        exported = "".join(csv_lines(header, rows))
        assert "'-ops; team" in exported
        plan = _plan(org, exported.replace("'-ops; team", "'-ops").encode())
        assert plan.errors == []
        assert [p.describe() for p in plan.plans] == [["remove from team"]]

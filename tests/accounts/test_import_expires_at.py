"""The change import's ``expires_at`` column: the groups a row adds are given until that date; for
the groups it lists that the person is already in, it follows the bulk "Add to group" (an import
never shortens access): a membership ending earlier moves to the date, audited under the import's
correlation id; one with no end date or a later one is left as it is, and the preview says why."""

import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.importexport.apply import apply_changes
from accounts.models import AccessEndStatus, Membership, MembershipEnd
from accounts.services.access_ends import membership_end_set
from accounts.services.memberships import membership_add
from governance.audit.models import AuditAction, AuditEvent
from tests.accounts.test_import_changes import ACTOR, _file, _groups_of, _plain, _plan, mirrored, team_groups  # noqa: F401

pytestmark = pytest.mark.django_db
HEADER = ("account_id", "groups", "expires_at")


def test_the_groups_a_row_adds_are_given_until_its_expires_at(simulator, mirrored, atlassian, team_groups):  # noqa: F811
    (ann,) = _plain(1)
    first, _ = team_groups
    until = (timezone.now() + timedelta(days=40)).date()
    row = [ann.account_id, "; ".join([*_groups_of(ann), first.name]), until.isoformat()]
    plan = _plan(mirrored, _file([row], header=HEADER))
    assert not plan.errors
    assert plan.plans[0].describe() == [f"add to {first.name} until {until:%Y-%m-%d} 00:00 UTC"]
    report = apply_changes(plan=plan, client=atlassian, actor=ACTOR)
    assert report.ok, [o.error for o in report.outcomes]
    end = MembershipEnd.objects.get(account=ann, group=first)
    assert end.expires_at.date() == until
    assert first.name in simulator.state.user(ann.account_id).groups


@pytest.mark.parametrize(
    ("cell", "message"),
    [("someday", "is not a date"), ("2001-01-01", "must be in the future")],
)
def test_a_bad_or_past_end_date_is_a_row_error_and_nothing_is_planned(mirrored, team_groups, cell, message):  # noqa: F811
    (ann,) = _plain(1)
    first, _ = team_groups
    plan = _plan(mirrored, _file([[ann.account_id, "; ".join([*_groups_of(ann), first.name]), cell]], header=HEADER))
    assert [(e.row, e.column) for e in plan.errors] == [(2, "expires_at")]
    assert message in plan.errors[0].message


def test_an_end_date_on_a_row_that_lists_no_group_is_refused(mirrored):  # noqa: F811
    (ann,) = _plain(1)
    future = (timezone.now() + timedelta(days=5)).date().isoformat()
    plan = _plan(mirrored, _file([[ann.account_id, "", future]], header=HEADER))
    assert [(e.row, e.column) for e in plan.errors] == [(2, "expires_at")]
    assert "needs a group this row lists" in plan.errors[0].message


@pytest.fixture
def world(mirrored, atlassian, team_groups):  # noqa: F811
    """A team group and four plain accounts: outside it, in it open-ended, in it until soon, in it
    until long after the date the file gives (as the bulk action's tests have them)."""
    group = team_groups[0]
    outside, open_ended, soon, later = [
        a for a in _plain(12) if not Membership.objects.filter(account=a, group=group).exists()
    ][:4]
    now = timezone.now().replace(microsecond=0)
    for account in (open_ended, soon, later):
        membership_add(account=account, group=group, client=atlassian, actor=ACTOR, reason="set-up")
    membership_end_set(account=soon, group=group, expires_at=now + timedelta(days=5), actor=ACTOR, reason="set-up")
    membership_end_set(account=later, group=group, expires_at=now + timedelta(days=90), actor=ACTOR, reason="set-up")
    until = (now + timedelta(days=30)).replace(hour=0, minute=0, second=0)
    return {"group": group, "outside": outside, "open": open_ended, "soon": soon, "later": later, "until": until}


def _rows(world, *keys):
    """One row per account: the groups it is in, plus the world's group, until the world's date."""
    group = world["group"].name
    return [
        [world[k].account_id, "; ".join(sorted({*_groups_of(world[k]), group})), world["until"].date().isoformat()]
        for k in keys
    ]


def _end(account, group):
    return MembershipEnd.objects.filter(account=account, group=group, status=AccessEndStatus.SCHEDULED).first()


def test_an_import_never_shortens_the_access_of_people_already_in_a_listed_group(simulator, atlassian, world):
    group, until = world["group"], world["until"]
    soon_was = _end(world["soon"], group).expires_at
    plan = _plan(world["group"].organization, _file(_rows(world, "outside", "open", "soon", "later"), header=HEADER))
    assert not plan.errors, [str(e) for e in plan.errors]

    # The preview: an add for the outsider, the earlier end moved for "soon", the others left with the reason.
    described = {p.account_id: p.describe() for p in plan.plans}
    assert described == {
        world["outside"].account_id: [f"add to {group.name} until {until:%Y-%m-%d} 00:00 UTC"],
        world["soon"].account_id: [
            f"access to {group.name} until {until:%Y-%m-%d} 00:00 UTC (ended earlier: {soon_was:%Y-%m-%d %H:%M} UTC)"
        ],
    }
    assert plan.counts()["end_dates_moved_later"] == 1
    assert plan.unchanged == 2
    # The row lists every group the person is in: each one already held is decided the same way.
    warnings = {e.row: e.message for e in plan.warnings if f" of {group.name} " in e.message}
    assert set(warnings) == {3, 5}
    assert "with no end date: left open-ended (an add never shortens access)" in warnings[3]
    assert f"until {_end(world['later'], group).expires_at:%Y-%m-%d %H:%M} UTC: left as it is" in warnings[5]
    assert all(e.column == "expires_at" for e in plan.warnings)

    writes = {k: len(simulator.writes_for(world[k].account_id)) for k in ("open", "soon", "later")}
    report = apply_changes(plan=plan, client=atlassian, actor=ACTOR)
    assert report.ok, [o.error for o in report.outcomes]

    assert _end(world["outside"], group).expires_at == until
    assert _end(world["soon"], group).expires_at == until
    assert _end(world["open"], group) is None, "an open-ended membership gets no end date from an import"
    assert _end(world["later"], group).expires_at > until
    assert {k: len(simulator.writes_for(world[k].account_id)) for k in writes} == writes, "an end date is local"

    [moved] = AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_END_SET, correlation_id=report.correlation_id)
    assert moved.target_repr == f"{world['soon']} in {group}"
    assert moved.reason == "import “changes.csv”, row 4"
    assert moved.before["expires_at"] == soon_was.isoformat()
    assert moved.after["expires_at"] == until.isoformat()
    summary = AuditEvent.objects.get(action=AuditAction.IMPORT_APPLIED, correlation_id=report.correlation_id)
    assert summary.after["end_dates_moved_later"] == 1

    again = _plan(world["group"].organization, _file(_rows(world, "outside", "open", "soon", "later"), header=HEADER))
    assert not again.plans, "importing the same file again changes nothing"


def test_an_end_that_moved_later_since_the_preview_is_left_as_it_is(atlassian, world):
    group, until = world["group"], world["until"]
    plan = _plan(group.organization, _file(_rows(world, "soon"), header=HEADER))
    assert len(plan.plans[0].extend) == 1
    later = until + timedelta(days=10)
    membership_end_set(account=world["soon"], group=group, expires_at=later, actor=ACTOR, reason="help desk")

    report = apply_changes(plan=plan, client=atlassian, actor=ACTOR)

    assert report.ok
    assert _end(world["soon"], group).expires_at == later
    assert report.outcomes[0].done == [f"already a member of {group} until {later:%Y-%m-%d %H:%M} UTC: left as it is"]
    assert not AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_END_SET, correlation_id=report.correlation_id)


def test_an_identity_provider_group_the_person_is_in_keeps_its_end_and_the_preview_says_why(world):
    group = world["group"]
    type(group).objects.filter(pk=group.pk).update(external_synced=True)
    plan = _plan(group.organization, _file(_rows(world, "soon"), header=HEADER))
    assert not plan.errors
    assert not plan.plans
    [warning] = [e.message for e in plan.warnings if group.name in e.message]
    assert "synced from an identity provider: its end date is not set here" in warning


def test_the_admin_preview_shows_the_moved_end_and_the_reasons_and_confirm_applies_it(
    client_for, alice, settings, world
):
    settings.ROOT_URLCONF = "governance.urls"
    group, until = world["group"], world["until"]
    client = client_for(alice)
    upload = io.BytesIO(_file(_rows(world, "open", "soon"), header=HEADER))
    upload.name = "ends.csv"
    preview = client.post(
        reverse("admin:accounts_account_import"),
        {"resource": "0", "organization": group.organization.pk, "format": "0", "import_file": upload},
    )
    text = preview.content.decode()
    assert f"access to {group.name} until {until:%Y-%m-%d} 00:00 UTC (ended earlier" in text
    assert "left open-ended (an add never shortens access)" in text
    assert _end(world["soon"], group).expires_at < until, "the preview changes nothing"

    form = preview.context["confirm_form"]
    client.post(reverse("admin:accounts_account_process_import"), {n: form.initial[n] for n in form.fields})

    assert _end(world["soon"], group).expires_at == until
    assert _end(world["open"], group) is None
    summary = AuditEvent.objects.get(action=AuditAction.IMPORT_APPLIED)
    moved = AuditEvent.objects.get(action=AuditAction.MEMBERSHIP_END_SET, correlation_id=summary.correlation_id)
    assert (moved.actor_name, moved.reason) == ("alice", "import “ends.csv”, row 3")

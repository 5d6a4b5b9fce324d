"""The change import's ``expires_at`` column: the groups a row adds are given until that date."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.importexport.apply import apply_changes
from accounts.models import MembershipEnd
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


def test_an_end_date_on_a_row_that_adds_no_group_is_refused(mirrored):  # noqa: F811
    (ann,) = _plain(1)
    future = (timezone.now() + timedelta(days=5)).date().isoformat()
    plan = _plan(mirrored, _file([[ann.account_id, "; ".join(_groups_of(ann)), future]], header=HEADER))
    assert "needs a group this row adds" in plan.errors[0].message

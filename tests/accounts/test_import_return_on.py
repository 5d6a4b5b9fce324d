"""The change import's ``return_on`` column: set (or with ``(none)`` clear) an account's return
date through the service, audited; a bad or past date is a row error; the export writes the
column, so an export imported back changes nothing."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.importexport.apply import apply_changes
from accounts.importexport.resources import AccountExportResource
from accounts.models import Account, AccountStatus
from accounts.services.returns import account_return_date_set
from governance.audit.models import AuditAction, AuditEvent
from tests.accounts.test_import_changes import ACTOR, _file, _plain, _plan, mirrored  # noqa: F401

pytestmark = pytest.mark.django_db
HEADER = ("account_id", "return_on")


def test_a_return_date_is_planned_then_set_through_the_service(simulator, mirrored, hank):  # noqa: F811
    (ann,) = _plain(1)
    day = timezone.localdate() + timedelta(days=20)
    plan = _plan(mirrored, _file([[ann.account_id, day.isoformat()]], header=HEADER), user=hank)
    assert not plan.errors
    assert plan.plans[0].describe() == [f"return date {day:%Y-%m-%d}"]
    assert plan.counts()["return_dates"] == 1
    assert Account.objects.get(pk=ann.pk).return_on is None, "planning changes nothing"
    report = apply_changes(plan=plan, client=None, actor=ACTOR)
    assert report.ok, [o.error for o in report.outcomes]
    assert Account.objects.get(pk=ann.pk).return_on == day
    [event] = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_RETURN_DATE_SET, target_id=str(ann.pk))
    assert event.correlation_id == report.correlation_id
    assert "row 2" in event.reason


def test_none_clears_the_return_date_and_an_empty_cell_leaves_it(mirrored):  # noqa: F811
    ann, bob = _plain(2)
    day = timezone.localdate() + timedelta(days=3)
    for account in (ann, bob):
        account_return_date_set(account=account, return_on=day, actor=ACTOR)
    plan = _plan(mirrored, _file([[ann.account_id, "(none)"], [bob.account_id, ""]], header=HEADER))
    assert [p.describe() for p in plan.plans] == [[f"return date cleared (was {day:%Y-%m-%d})"]]
    assert plan.unchanged == 1
    assert apply_changes(plan=plan, client=None, actor=ACTOR).ok
    assert Account.objects.get(pk=ann.pk).return_on is None
    assert Account.objects.get(pk=bob.pk).return_on == day


@pytest.mark.parametrize(
    ("cell", "message"),
    [("next week", "is not a date"), ("2030-02-30", "is not a date"), ("past", "has passed")],
)
def test_a_bad_or_past_date_is_a_row_error(mirrored, cell, message):  # noqa: F811
    (ann,) = _plain(1)
    if cell == "past":
        cell = (timezone.localdate() - timedelta(days=1)).isoformat()
    plan = _plan(mirrored, _file([[ann.account_id, cell]], header=HEADER))
    assert [(e.row, e.column) for e in plan.errors] == [(2, "return_on")]
    assert message in plan.errors[0].message


def test_a_removed_account_or_a_user_who_may_not_restore_gets_a_row_error(mirrored, audrey):  # noqa: F811
    ann, bob = _plain(2)
    Account.objects.filter(pk=bob.pk).update(status=AccountStatus.REMOVED)
    day = (timezone.localdate() + timedelta(days=2)).isoformat()
    plan = _plan(mirrored, _file([[bob.account_id, day]], header=HEADER))
    assert "removed from the organization" in plan.errors[0].message
    plan = _plan(mirrored, _file([[ann.account_id, day]], header=HEADER), user=audrey)
    assert "may not set return dates" in plan.errors[0].message


def test_an_export_imported_back_keeps_the_return_date(mirrored):  # noqa: F811
    (ann,) = _plain(1)
    day = timezone.localdate() + timedelta(days=9)
    account_return_date_set(account=ann, return_on=day, actor=ACTOR)
    header, rows = AccountExportResource().rows(Account.objects.filter(organization=mirrored))
    rows = list(rows)
    assert "return_on" in header
    exported = {row[0]: row[header.index("return_on")] for row in rows}
    assert exported[ann.account_id] == day.isoformat()
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    plan = _plan(mirrored, out.getvalue().encode())
    assert not plan.errors, plan.errors[:3]
    assert plan.plans == [], "nothing changes: the date and the groups are as they are"

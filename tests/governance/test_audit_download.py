import csv
import io
from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from governance.audit.models import ActorKind, AuditAction, AuditEvent
from governance.audit.record import Actor, record_event

URL = reverse("admin:governance_auditevent_download")


def _csv(response) -> list[dict]:
    assert response.streaming, "the download must stream, not build the file in memory"
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def _event(action=AuditAction.ACCOUNT_SUSPENDED, *, kind=ActorKind.SYSTEM, name="system", **fields):
    return record_event(actor=Actor(kind=kind, name=name), action=action, **fields)


@pytest.mark.django_db
class TestAuditDownload:
    def test_an_auditor_downloads_every_event_with_iso_utc_times(self, client_for, audrey):
        with time_machine.travel(datetime(2026, 3, 1, 12, 30, tzinfo=UTC), tick=False):
            _event(target_repr="Ann", reason="inactive 120 days")
        rows = _csv(client_for(audrey).get(URL))
        suspended = [r for r in rows if r["action"] == "account.suspended"]
        assert len(suspended) == 1
        assert suspended[0]["created_at"] == "2026-03-01T12:30:00.000000Z"
        assert suspended[0]["reason"] == "inactive 120 days"
        assert len(suspended[0]["hash"]) == 64

    @pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
    def test_formula_cells_are_escaped(self, client_for, audrey, prefix):
        _event(target_repr=f'{prefix}HYPERLINK("http://evil")', reason=f"{prefix}1+1")
        row = next(r for r in _csv(client_for(audrey).get(URL)) if r["action"] == "account.suspended")
        assert row["target_repr"].startswith("'" + prefix)
        assert row["reason"] == f"'{prefix}1+1"

    def test_the_admin_filters_apply(self, client_for, audrey):
        with time_machine.travel(datetime(2026, 1, 10, tzinfo=UTC)):
            _event(AuditAction.ACCOUNT_SUSPENDED, target_type="accounts.account", target_id="old")
        with time_machine.travel(datetime(2026, 2, 10, tzinfo=UTC)):
            _event(AuditAction.ACCOUNT_SUSPENDED, target_type="accounts.account", target_id="a", kind=ActorKind.ADMIN)
            _event(AuditAction.MEMBERSHIP_ADDED, target_type="accounts.membership", target_id="b")
            _event(AuditAction.ACCOUNT_SUSPENDED, target_type="accounts.account", target_id="c")
        query = (
            "?created_at_from=2026-02-01&created_at_to=2026-02-28"
            "&action__exact=account.suspended&actor_kind__exact=system&target_type=accounts.account"
        )
        rows = _csv(client_for(audrey).get(URL + query))
        assert [r["target_id"] for r in rows] == ["c"]

    def test_a_date_range_is_inclusive_of_both_days(self, client_for, audrey):
        for day in (1, 2, 3):
            with time_machine.travel(datetime(2026, 5, day, 23, 59, tzinfo=UTC)):
                _event(target_id=str(day))
        rows = _csv(client_for(audrey).get(URL + "?created_at_from=2026-05-02&created_at_to=2026-05-03"))
        assert sorted(r["target_id"] for r in rows if r["action"] == "account.suspended") == ["2", "3"]

    def test_a_bad_date_is_refused_not_ignored(self, client_for, audrey):
        response = client_for(audrey).get(URL + "?created_at_from=yesterday")
        assert response.status_code in (302, 400)
        assert not AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORTED).exists()

    def test_each_download_is_itself_an_audit_event(self, client_for, audrey):
        _csv(client_for(audrey).get(URL + "?action__exact=account.suspended"))
        event = AuditEvent.objects.get(action=AuditAction.AUDIT_EXPORTED)
        assert event.actor_name == "audrey"
        assert event.after == {"filters": {"action__exact": "account.suspended"}}

    def test_staff_without_the_view_permission_are_refused(self, client_for, nobody):
        response = client_for(nobody).get(URL)
        assert response.status_code == 403
        assert not AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORTED).exists()

    def test_anonymous_visitors_are_sent_to_the_login_page(self, client):
        response = client.get(URL)
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]

    def test_the_changelist_offers_the_download_with_its_filters(self, client_for, audrey):
        page = client_for(audrey).get(
            reverse("admin:governance_auditevent_changelist") + "?action__exact=sync.completed"
        )
        assert page.status_code == 200
        assert f'{URL}?action__exact=sync.completed"' in page.content.decode()

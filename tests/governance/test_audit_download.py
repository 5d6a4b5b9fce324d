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


def _reference_rows(queryset) -> list[tuple]:
    """The download's rows as the ordinary ORM gives them (converters applied, datetimes built):
    what ``audit_rows`` returned before it read the driver's values directly."""
    from django.db.models import TextField
    from django.db.models.functions import Cast

    from governance.audit.chain import iso_utc
    from governance.audit.export import CSV_HEADER

    columns = [{"before": "before_text", "after": "after_text"}.get(name, name) for name in CSV_HEADER]
    values = (
        queryset.order_by("seq")
        .annotate(before_text=Cast("before", TextField()), after_text=Cast("after", TextField()))
        .values_list(*columns)
    )
    return [(row[0], iso_utc(row[1]), *row[2:]) for row in values]


@pytest.mark.django_db
class TestAuditRowsWithoutOrmConverters:
    """``audit_rows`` runs the queryset's SQL and formats ``created_at`` from the driver's value."""

    def test_consecutive_equal_and_unequal_times_are_each_spelled_right(self):
        from governance.audit.export import audit_rows
        from governance.audit.record import record_events

        times = [
            datetime(2026, 3, 1, 12, 30, 0, 123456, tzinfo=UTC),
            datetime(2026, 3, 1, 12, 30, 0, tzinfo=UTC),  # no microseconds: SQLite stores no fraction
            datetime(2026, 3, 1, 12, 30, 0, 123456, tzinfo=UTC),
            datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        ]
        for moment in times:
            with time_machine.travel(moment, tick=False):
                specs = [
                    dict(actor=Actor.system(), action=AuditAction.ACCOUNT_SUSPENDED, target_id=str(i)) for i in (1, 2)
                ]
                record_events(specs)  # one batch: two events with one created_at
        cells = [row[1] for row in audit_rows(AuditEvent.objects.all())]
        assert cells == [
            "2026-03-01T12:30:00.123456Z",
            "2026-03-01T12:30:00.123456Z",
            "2026-03-01T12:30:00.000000Z",
            "2026-03-01T12:30:00.000000Z",
            "2026-03-01T12:30:00.123456Z",
            "2026-03-01T12:30:00.123456Z",
            "1999-12-31T23:59:59.999999Z",
            "1999-12-31T23:59:59.999999Z",
        ]

    def test_a_time_stored_without_microseconds_is_read_as_such(self):
        """On SQLite Django stores ``str(datetime)``: '2026-03-01 12:30:00', no '.000000'."""
        from django.db import connection

        from governance.audit.export import audit_rows

        with time_machine.travel(datetime(2026, 3, 1, 12, 30, tzinfo=UTC), tick=False):
            _event()
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("SELECT CAST(created_at AS text) FROM governance_auditevent")
                assert cursor.fetchone() == ("2026-03-01 12:30:00",)
        assert [row[1] for row in audit_rows(AuditEvent.objects.all())] == ["2026-03-01T12:30:00.000000Z"]

    def test_rows_equal_the_orm_and_arrive_over_several_chunks(self):
        from governance.audit.export import audit_rows

        for i in range(7):
            with time_machine.travel(datetime(2026, 4, 1 + i % 3, 8, 0, i, i * 1000, tzinfo=UTC), tick=False):
                _event(target_id=str(i), before={"n": i} if i % 2 else None, after={"n": i, "s": 'a, "b"'})
        queryset = AuditEvent.objects.all()
        assert list(audit_rows(queryset, chunk_size=2)) == _reference_rows(queryset)

    def test_an_empty_selection_gives_no_rows(self):
        from governance.audit.export import audit_rows

        _event()
        assert list(audit_rows(AuditEvent.objects.none())) == []
        assert list(audit_rows(AuditEvent.objects.filter(pk__in=[]))) == []

    def test_the_time_cell_of_an_aware_datetime_in_another_zone(self):
        """PostgreSQL hands over aware datetimes (no converter): any zone must come out in UTC."""
        from zoneinfo import ZoneInfo

        from django.db import connection

        from governance.audit.export import _CreatedAtCells

        cells = _CreatedAtCells(None, connection)
        paris = datetime(2026, 3, 1, 13, 30, tzinfo=ZoneInfo("Europe/Paris"))
        assert cells.cell(paris) == "2026-03-01T12:30:00.000000Z"
        assert cells.cell(datetime(2026, 3, 1, 12, 30, tzinfo=UTC)) == "2026-03-01T12:30:00.000000Z"  # same instant
        assert cells.cell(datetime(2026, 3, 1, 12, 30, 0, 5, tzinfo=UTC)) == "2026-03-01T12:30:00.000005Z"
        # The night the clocks go back, 02:30 comes twice; == ignores fold within one zone.
        first, second = (datetime(2026, 10, 25, 2, 30, tzinfo=ZoneInfo("Europe/Paris"), fold=f) for f in (0, 1))
        assert first == second
        assert cells.cell(first) == "2026-10-25T00:30:00.000000Z"
        assert cells.cell(second) == "2026-10-25T01:30:00.000000Z"

    @pytest.mark.parametrize(
        "query",
        [
            "",
            "?created_at_from=2026-02-01&created_at_to=2026-02-28",
            "?created_at_from=2026-02-11",
            "?actor_kind__exact=admin",
            "?action__exact=membership.added",
            "?target_type=accounts.account",
            "?q=Carla",  # target_repr contains (and actor_name)
            "?q=c",  # =target_id is exact
            "?q=corr-2",  # =correlation_id is exact
            "?created_at_to=2026-02-10&action__exact=account.suspended&q=Ann",
        ],
    )
    def test_every_admin_filter_applies_through_the_download(self, client_for, audrey, query):
        from governance.audit.export import CSV_HEADER
        from governance.csvexport import safe_cell

        def event(moment, action, target_type, target_id, name, kind, correlation_id):
            with time_machine.travel(moment, tick=False):
                _event(
                    action,
                    kind=kind,
                    target_type=target_type,
                    target_id=target_id,
                    target_repr=name,
                    correlation_id=correlation_id,
                    before={"n": target_id, "note": 'a, "b"'},
                )

        suspended, added, revoked = (
            AuditAction.ACCOUNT_SUSPENDED,
            AuditAction.MEMBERSHIP_ADDED,
            AuditAction.ROLE_REVOKED,
        )
        system, admin = ActorKind.SYSTEM, ActorKind.ADMIN
        event(datetime(2026, 1, 10, 9, 0, tzinfo=UTC), suspended, "accounts.account", "old", "Ann", system, "corr-0")
        event(datetime(2026, 2, 10, 9, 0, 0, 1, tzinfo=UTC), suspended, "accounts.account", "a", "Ann", admin, "corr-1")
        event(datetime(2026, 2, 10, 23, 59, 59, tzinfo=UTC), added, "accounts.membership", "b", "Bob", system, "corr-2")
        event(datetime(2026, 2, 11, 0, 0, tzinfo=UTC), suspended, "accounts.account", "c", "Carla", admin, "corr-3")
        event(datetime(2026, 3, 1, 0, 0, tzinfo=UTC), revoked, "accounts.productrole", "d", "=Dmitri", system, "corr-4")

        # What the changelist shows for the same query, read through the ordinary ORM.
        changelist = client_for(audrey).get(reverse("admin:governance_auditevent_changelist") + query)
        expected = [
            dict(zip(CSV_HEADER, map(safe_cell, row), strict=True))
            for row in _reference_rows(changelist.context["cl"].queryset)
        ]
        downloaded = [r for r in _csv(client_for(audrey).get(URL + query)) if r["action"] != "audit.exported"]
        assert downloaded == expected
        assert 0 < len(downloaded) < 5 or not query

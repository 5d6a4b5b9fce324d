import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from governance.audit import triggers
from governance.audit.chain import GENESIS_HASH
from governance.audit.guards import AppendOnlyViolation
from governance.audit.models import AuditAction, AuditCheckpoint, AuditEvent
from governance.audit.record import Actor, record_event, record_events
from governance.audit.triggers import CHECKPOINT_TABLE
from governance.audit.verify import verify_chain
from tests.governance.audit_helpers import TABLE, raw, triggers_dropped

_COLUMNS = ", ".join(connection.ops.quote_name(f.column) for f in AuditEvent._meta.concrete_fields if f.column != "id")


def _checkpoint() -> AuditCheckpoint:
    """A checkpoint row as retention writes one (signed or not does not matter to the triggers)."""
    now = timezone.now()
    checkpoint = AuditCheckpoint(
        created_at=now,
        first_seq=1,
        last_seq=10,
        first_prev_hash=GENESIS_HASH,
        last_hash="a" * 64,
        row_count=10,
        cutoff=now,
        archive_name="audit.csv",
        archive_sha256="b" * 64,
        prev_signature=GENESIS_HASH,
        signature="c" * 64,
    )
    checkpoint.save()
    return checkpoint


def _write(n: int, *, reason: str = "test") -> list[AuditEvent]:
    return [
        record_event(
            actor=Actor.system(),
            action=AuditAction.ACCOUNT_SUSPENDED,
            target_type="accounts.account",
            target_id=str(i),
            target_repr=f"user {i}",
            before={"status": "active"},
            after={"status": "suspended"},
            reason=reason,
        )
        for i in range(n)
    ]


@pytest.mark.django_db
class TestChain:
    def test_an_untouched_chain_verifies(self):
        _write(5)
        report = verify_chain()
        assert report.ok
        assert report.checked == 5

    def test_events_link_each_to_the_one_before(self):
        first, second = _write(2)
        assert second.prev_hash == first.hash
        assert second.seq == first.seq + 1

    def test_it_catches_an_edited_row(self):
        _write(5)
        with triggers_dropped():
            raw(f"UPDATE {TABLE} SET reason = 'nothing to see' WHERE seq = 3")
        report = verify_chain()
        assert not report.ok
        assert report.first_bad_seq == 3

    def test_it_catches_an_edited_json_value(self):
        _write(3)
        with triggers_dropped():
            raw(f"""UPDATE {TABLE} SET "after" = '{{"status": "active"}}' WHERE seq = 2""")
        assert verify_chain().first_bad_seq == 2

    def test_it_catches_a_deleted_row(self):
        _write(5)
        with triggers_dropped():
            raw(f"DELETE FROM {TABLE} WHERE seq = 4")
        report = verify_chain()
        assert not report.ok
        assert report.first_bad_seq == 4

    def test_it_catches_a_deleted_last_row_only_by_count_so_the_head_is_exported(self):
        # Truncating the tail leaves a valid shorter chain; that is why the head is anchored
        # elsewhere (test_audit_anchors). What the chain does guarantee: the remaining rows still verify.
        _write(3)
        with triggers_dropped():
            raw(f"DELETE FROM {TABLE} WHERE seq = 3")
        assert verify_chain().checked == 2

    def test_it_catches_an_inserted_row(self):
        events = _write(4)
        with triggers_dropped():
            raw(f"UPDATE {TABLE} SET seq = seq + 100 WHERE seq >= 3")
            raw(f"UPDATE {TABLE} SET seq = seq - 99 WHERE seq >= 103")  # 3,4 -> 4,5: a hole at 3
            raw(
                f"INSERT INTO {TABLE} (seq, created_at, actor_kind, actor_name, action, target_type, target_id,"
                " target_repr, organization, reason, correlation_id, prev_hash, hash)"
                " VALUES (3, %s, 'system', 'forger', 'account.restored', '', '', '', '', '', '', %s, %s)",
                [events[1].created_at, events[1].hash, "f" * 64],
            )
        report = verify_chain()
        assert not report.ok
        assert report.first_bad_seq == 3

    def test_it_catches_a_swapped_pair(self):
        _write(5)
        with triggers_dropped():
            raw(f"UPDATE {TABLE} SET seq = 1000 WHERE seq = 2")
            raw(f"UPDATE {TABLE} SET seq = 2 WHERE seq = 3")
            raw(f"UPDATE {TABLE} SET seq = 3 WHERE seq = 1000")
        report = verify_chain()
        assert not report.ok
        assert report.first_bad_seq == 2

    def test_a_row_rewritten_with_a_recomputed_hash_but_the_wrong_key_fails(self, settings):
        _write(3)
        settings.AUDIT_HMAC_KEY = "attacker-guess"
        assert not verify_chain().ok


@pytest.mark.django_db
class TestAppendOnly:
    def test_orm_update_raises(self):
        _write(1)
        with pytest.raises(AppendOnlyViolation):
            AuditEvent.objects.update(reason="changed")

    def test_orm_delete_raises(self):
        _write(1)
        with pytest.raises(AppendOnlyViolation):
            AuditEvent.objects.all().delete()
        with pytest.raises(AppendOnlyViolation):
            AuditEvent.objects.get().delete()

    def test_saving_an_existing_event_raises(self):
        (event,) = _write(1)
        event.reason = "changed"
        with pytest.raises(AppendOnlyViolation):
            event.save()

    def test_creating_an_event_outside_the_recorder_raises(self):
        with pytest.raises(AppendOnlyViolation):
            AuditEvent.objects.create(seq=1, actor_kind="system", action="account.suspended")

    def test_the_database_refuses_raw_updates_and_deletes(self):
        _write(1)
        with pytest.raises(DatabaseError), transaction.atomic():
            raw(f"UPDATE {TABLE} SET reason = 'x'")
        with pytest.raises(DatabaseError), transaction.atomic():
            raw(f"DELETE FROM {TABLE}")
        assert AuditEvent.objects.get().reason == "test"

    def test_the_database_refuses_an_insert_that_would_replace_an_event(self):
        """SQLite's INSERT OR REPLACE deletes the row in its way without firing a DELETE trigger:
        copying event #19 onto #20's id used to leave 19 events and a chain that verified."""
        _write(20)
        event_19 = f"{_COLUMNS} FROM {TABLE} WHERE seq = 19"
        id_of_20 = f"(SELECT id FROM {TABLE} WHERE seq = 20)"
        attempts = {
            "sqlite": [
                f"INSERT OR REPLACE INTO {TABLE} (id, {_COLUMNS}) SELECT {id_of_20}, {event_19}",
                f"REPLACE INTO {TABLE} ({_COLUMNS}) SELECT {event_19}",  # a new id, #19's seq
                f"INSERT INTO {TABLE} ({_COLUMNS}) SELECT {event_19} ON CONFLICT (seq) DO UPDATE SET reason = 'x'",
            ],
            "postgresql": [
                f"INSERT INTO {TABLE} (id, {_COLUMNS}) SELECT {id_of_20}, {event_19} "
                "ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
                f"INSERT INTO {TABLE} ({_COLUMNS}) SELECT {event_19} ON CONFLICT (seq) DO UPDATE SET reason = 'x'",
                f"MERGE INTO {TABLE} t USING (SELECT 20 AS seq) s ON t.seq = s.seq WHEN MATCHED THEN DELETE",
                f"MERGE INTO {TABLE} t USING (SELECT 20 AS seq) s ON t.seq = s.seq "
                "WHEN MATCHED THEN UPDATE SET reason = 'x'",
                f"TRUNCATE {TABLE}",
            ],
        }[connection.vendor]
        for sql in attempts:
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                raw(sql)
        if connection.vendor == "postgresql":  # DO NOTHING leaves the table as it was: harmless, allowed
            raw(f"INSERT INTO {TABLE} (id, {_COLUMNS}) SELECT {id_of_20}, {event_19} ON CONFLICT DO NOTHING")
        assert AuditEvent.objects.count() == 20
        assert set(AuditEvent.objects.values_list("reason", flat=True)) == {"test"}
        assert verify_chain().checked == 20

    def test_a_plain_insert_reusing_a_sequence_number_is_refused(self):
        _write(3)
        with pytest.raises(DatabaseError, match=r"append-only|unique|UNIQUE"), transaction.atomic():
            raw(f"INSERT INTO {TABLE} ({_COLUMNS}) SELECT {_COLUMNS} FROM {TABLE} WHERE seq = 2")
        assert AuditEvent.objects.count() == 3

    def test_the_database_refuses_an_insert_that_would_replace_a_checkpoint(self):
        checkpoint = _checkpoint()
        columns = ", ".join(
            connection.ops.quote_name(f.column) for f in AuditCheckpoint._meta.concrete_fields if f.column != "id"
        )
        copy = f"{columns} FROM {CHECKPOINT_TABLE} WHERE id = {checkpoint.pk}"
        attempts = {
            "sqlite": [
                f"INSERT OR REPLACE INTO {CHECKPOINT_TABLE} (id, {columns}) SELECT id, {copy}",
                f"REPLACE INTO {CHECKPOINT_TABLE} ({columns}) SELECT {copy}",
            ],
            "postgresql": [
                f"INSERT INTO {CHECKPOINT_TABLE} (id, {columns}) SELECT id, {copy} "
                "ON CONFLICT (id) DO UPDATE SET last_seq = 0",
                f"TRUNCATE {CHECKPOINT_TABLE}",
            ],
        }[connection.vendor]
        for sql in attempts:
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                raw(sql)
        assert list(AuditCheckpoint.objects.values_list("last_seq", flat=True)) == [10]

    def test_reversing_the_insert_guard_migration_keeps_the_older_guards(self):
        _write(2)
        triggers.remove_insert_guards(connection)
        try:
            with pytest.raises(DatabaseError), transaction.atomic():
                raw(f"UPDATE {TABLE} SET reason = 'x'")  # the older triggers stay
            with pytest.raises(DatabaseError), transaction.atomic():
                raw(f"DELETE FROM {TABLE}")
        finally:
            triggers.install(connection)

    def test_an_event_rolls_back_with_the_callers_transaction(self):
        with pytest.raises(RuntimeError), transaction.atomic():
            _write(1)
            raise RuntimeError("the change failed")
        assert AuditEvent.objects.count() == 0


@pytest.mark.django_db
class TestVerifyCommand:
    def test_it_exits_zero_on_an_intact_chain(self, capsys):
        _write(3)
        call_command("verify_audit_log")
        assert "3 events verified" in capsys.readouterr().out

    def test_it_exits_one_naming_the_first_bad_sequence_number(self):
        _write(3)
        with triggers_dropped():
            raw(f"UPDATE {TABLE} SET actor_name = 'someone else' WHERE seq = 2")
        with pytest.raises(CommandError, match="#2") as excinfo:
            call_command("verify_audit_log")
        assert excinfo.value.returncode == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_leave_a_valid_chain():
    writers, per_writer = 6, 25
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def writer(index: int):
        try:
            start.wait()
            for i in range(per_writer):
                with transaction.atomic():
                    record_event(
                        actor=Actor.system(f"writer-{index}"),
                        action=AuditAction.MEMBERSHIP_ADDED,
                        target_type="t",
                        target_id=f"{index}-{i}",
                    )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert AuditEvent.objects.count() == writers * per_writer
    assert sorted(AuditEvent.objects.values_list("seq", flat=True)) == list(range(1, writers * per_writer + 1))
    assert verify_chain().ok


@pytest.mark.django_db
def test_a_batch_is_one_chain_segment():
    rows = record_events(
        [dict(actor=Actor.system(), action=AuditAction.MEMBERSHIP_REMOVED, target_id=str(i)) for i in range(10)]
    )
    assert [r.seq for r in rows] == list(range(1, 11))
    assert verify_chain().ok


@pytest.mark.django_db
def test_the_stored_row_and_its_hash_are_byte_for_byte_those_of_earlier_releases(settings):
    """Pinned from the bulk_create recorder: a faster recorder must store and hash exactly the same,
    or chains written before and after it would no longer verify as one."""
    import datetime
    import decimal
    import uuid
    from unittest import mock

    settings.AUDIT_HMAC_KEY = "golden-key"
    at = datetime.datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=datetime.UTC)
    specs = [
        dict(
            actor=Actor(kind="admin", name="Zoë Ærøe", client_ip="2001:DB8::4F"),
            action=AuditAction.ACCOUNT_SUSPENDED,
            target_type="accounts.account",
            target_id="712020:abc",
            target_repr="Zoë <z@example.com>",
            before={"status": "active", "b": [1, 2.5, None, True], "a": {"z": "ß", "y": "=cmd"}},
            after={
                "when": datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
                "d": decimal.Decimal("1.10"),
                "u": uuid.UUID("12345678-1234-5678-1234-567812345678"),
                "t": (1, "x"),
                3: "int key",
            },
            reason="Inactive “90” days\n\ttab",
            correlation_id="c" * 32,
            organization="Acme",
        ),
        dict(actor=Actor.system(), action="membership.removed", target_id=7, reason=None, before=None, after={}),
        dict(
            actor=Actor.scheduler("p"),
            action=AuditAction.SYNC_COMPLETED,
            after=[],
            before="plain",
            client_ip="10.0.0.1",
            organization=None,
        ),
    ]
    with mock.patch("django.utils.timezone.now", return_value=at):
        rows = record_events(specs)
    assert [r.hash for r in rows] == [
        "2d18d55ceea6cae3a9e814bcd3e7f4d7655e1c0a425ffbc5d1b355e11e3613cb",
        "83173ca82ff21f3bfe04214917eb3f7e27b66d289f514b6e7ffc4afce52597d1",
        "06df1136aaab3f63e64fb9b5e3c16c2ae9f7cbb13e81ecf53bc530d91cbf4b51",
    ]
    assert [r.pk for r in rows] == list(
        AuditEvent.objects.order_by("seq").values_list("pk", flat=True)
    )  # the returned events are the saved rows
    if connection.vendor == "sqlite":  # the exact text in the JSON and IP columns
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT "before", "after", client_ip, target_id, reason FROM {TABLE} ORDER BY seq')
            assert cursor.fetchall() == [
                (
                    '{"status": "active", "b": [1, 2.5, null, true], "a": {"z": "\\u00df", "y": "=cmd"}}',
                    '{"when": "2025-01-02T03:04:05Z", "d": "1.10", "u": "12345678-1234-5678-1234-567812345678", '
                    '"t": [1, "x"], "3": "int key"}',
                    "2001:db8::4f",
                    "712020:abc",
                    "Inactive “90” days\n\ttab",
                ),
                (None, "{}", None, "7", ""),
                ('"plain"', "[]", "10.0.0.1", "", ""),
            ]
    assert verify_chain().ok


def _imported(i: int) -> dict:
    """An event as a seed import appends it: plain JSON values, nested lists and dicts included."""
    return dict(
        actor=Actor.system("import"),
        action=AuditAction.ACCOUNT_IMPORTED,
        target_type="accounts.account",
        target_id=str(i),
        target_repr=f"Person {i}",
        before={"status": "active", "name": f"Old {i}"} if i % 3 == 0 else None,
        after={
            "name": f"Person {i}",
            "email": None if i % 5 == 0 else f"p{i}@example.com",
            "billable": i % 2 == 0,
            "licence_group_count": i,
            "groups_added": ["jira-users", f"team-{i}"],
            "product_access": {"Jira": "2025-01-02T03:04:05+00:00", "Confluence": None},
        },
        reason=f"created from a file, row {i + 2}",
        correlation_id="c" * 32,
        organization="acme",
    )


def _stored_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT seq, "before", "after", prev_hash, hash FROM {TABLE} ORDER BY seq')
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_append_events_stores_and_hashes_byte_for_byte_what_record_events_does(settings):
    """The bulk path (no instances, plain JSON used as given) against the reference recorder, on
    plain values and on the golden test's awkward ones (floats, datetimes, tuples, int keys)."""
    import datetime
    import decimal
    from unittest import mock

    from governance.audit.record import append_events

    settings.AUDIT_HMAC_KEY = "golden-key"
    at = datetime.datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=datetime.UTC)
    awkward = dict(
        actor=Actor(kind="admin", name="Zoë", client_ip="2001:DB8::4F"),
        action=AuditAction.ACCOUNT_SUSPENDED,
        before={"b": [1, 2.5, None, True], "a": {"z": "ß"}, 3: "int key"},
        after={"when": at, "d": decimal.Decimal("1.10"), "t": (1, "x"), "s": AuditAction.ACCOUNT_SUSPENDED},
    )
    specs = [_imported(i) for i in range(7)] + [awkward, _imported(7)]
    with mock.patch("django.utils.timezone.now", return_value=at):
        with transaction.atomic():
            record_events(specs)
            reference = _stored_rows()
            transaction.set_rollback(True)
        assert AuditEvent.objects.count() == 0
        assert append_events(specs) == len(specs)
    assert _stored_rows() == reference
    assert verify_chain().ok


@pytest.mark.django_db
def test_a_bulk_written_stretch_verifies_and_an_edited_row_in_it_is_caught():
    from governance.audit.record import append_events

    _write(2)
    append_events([_imported(i) for i in range(50)])
    _write(2)
    report = verify_chain()
    assert report.ok
    assert report.checked == 54
    with triggers_dropped():
        raw(f"""UPDATE {TABLE} SET "after" = '{{"name": "Someone else"}}' WHERE seq = 30""")
    report = verify_chain()
    assert not report.ok
    assert report.first_bad_seq == 30


@pytest.mark.django_db
def test_a_row_deleted_from_a_bulk_written_stretch_is_caught():
    from governance.audit.record import append_events

    append_events([_imported(i) for i in range(20)])
    with triggers_dropped():
        raw(f"DELETE FROM {TABLE} WHERE seq = 11")
    assert verify_chain().first_bad_seq == 11

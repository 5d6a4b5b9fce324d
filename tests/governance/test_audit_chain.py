import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from governance.audit.guards import AppendOnlyViolation
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor, record_event, record_events
from governance.audit.verify import verify_chain
from tests.governance.audit_helpers import TABLE, raw, triggers_dropped


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
        # Truncating the tail leaves a valid shorter chain; that is why the head is checkpointed
        # elsewhere. What the chain does guarantee: the remaining rows still verify.
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

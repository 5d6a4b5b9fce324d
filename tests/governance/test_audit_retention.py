"""Audit retention: archive old events to CSV with a signed checkpoint, then prune them.

What must hold: the chain still verifies after pruning; the archive verifies on its own; tampering
with the remaining rows, a checkpoint or an archive file is caught; nothing can be pruned that is not
archived; a failure or crash before the prune commits loses nothing; writers keep appending meanwhile.
"""

import csv
import json
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from governance.audit import archive as archive_module
from governance.audit.archive import ArchiveError, audit_archive, checkpoint_path, read_archive, verify_archive
from governance.audit.chain import GENESIS_HASH
from governance.audit.guards import AppendOnlyViolation
from governance.audit.models import AuditAction, AuditCheckpoint, AuditEvent
from governance.audit.record import Actor, record_event
from governance.audit.triggers import CHECKPOINT_TABLE, SQLITE_PERMIT_TABLE
from governance.audit.verify import verify_chain
from tests.clock import SUITE_NOW
from tests.governance.audit_helpers import TABLE, raw, triggers_dropped

LONG_AGO = SUITE_NOW - timedelta(days=325)  # well past any retention cut-off the tests use
ACTOR = Actor.system("retention-test")


def _write(n: int, *, at: datetime | None = None, reason: str = "test", **fields) -> list[AuditEvent]:
    def one(i):
        return record_event(
            actor=ACTOR,
            action=AuditAction.ACCOUNT_SUSPENDED,
            target_type="accounts.account",
            target_id=str(i),
            target_repr=f"user {i}",
            before={"status": "active"},
            after={"status": "suspended"},
            reason=reason,
            **fields,
        )

    if at is None:
        return [one(i) for i in range(n)]
    with time_machine.travel(at, tick=False):
        return [one(i) for i in range(n)]


def _archive(tmp_path: Path, *, days: int = 30):
    return audit_archive(before=timezone.now() - timedelta(days=days), out_dir=tmp_path, actor=ACTOR)


def _covered_delete_sql(first: int, last: int) -> str:
    return f"DELETE FROM {TABLE} WHERE seq >= {int(first)} AND seq <= {int(last)}"


def _with_prune_permission(sql: str, up_to: int) -> None:
    """Run ``sql`` the way the retention job does, with the permission the triggers ask for."""
    if connection.vendor == "postgresql":
        raw("SET LOCAL governance.audit_prune = 'on'")
    else:
        raw(f"INSERT INTO {SQLITE_PERMIT_TABLE} (up_to_seq) VALUES (%s)", [up_to])
    raw(sql)


@pytest.mark.django_db
class TestArchiveAndPrune:
    def test_old_events_move_to_the_archive_and_the_chain_still_verifies(self, tmp_path):
        _write(10, at=LONG_AGO)
        _write(5)
        result = _archive(tmp_path)

        assert result.deleted == 10
        checkpoint = AuditCheckpoint.objects.get()
        assert (checkpoint.first_seq, checkpoint.last_seq, checkpoint.row_count) == (1, 10, 10)
        assert checkpoint.first_prev_hash == GENESIS_HASH
        assert sorted(AuditEvent.objects.values_list("seq", flat=True)) == list(range(11, 17))
        report = verify_chain()
        assert report.ok, report.problem
        assert (report.checked, report.start_seq, report.checkpoints) == (6, 11, 1)
        assert verify_archive(result.archive).ok
        assert [row["seq"] for row in read_archive(result.archive)] == list(range(1, 11))

    def test_the_prune_is_an_audit_event_naming_the_archive(self, tmp_path):
        _write(3, at=LONG_AGO)
        result = _archive(tmp_path)
        event = AuditEvent.objects.get(action=AuditAction.AUDIT_ARCHIVED)
        assert event.seq == 4
        assert event.target_type == "governance.auditcheckpoint"
        assert event.target_id == str(result.checkpoint.pk)
        assert event.after["archive"] == result.archive.name
        assert event.after["archive_sha256"] == result.checkpoint.archive_sha256
        assert (event.after["first_seq"], event.after["last_seq"], event.after["row_count"]) == (1, 3, 3)

    def test_the_checkpoint_file_next_to_the_archive_is_the_recorded_checkpoint(self, tmp_path):
        _write(3, at=LONG_AGO)
        result = _archive(tmp_path)
        document = json.loads(checkpoint_path(result.archive).read_text())
        assert document["signature"] == result.checkpoint.signature
        assert document["archive_sha256"] == result.checkpoint.archive_sha256
        assert document["last_hash"] == AuditEvent.objects.get(seq=4).prev_hash

    def test_when_every_event_is_archived_the_chain_goes_on_from_the_checkpoint(self, tmp_path):
        events = _write(4, at=LONG_AGO)
        _archive(tmp_path, days=0)  # includes the events just before "now"
        (archived_event,) = AuditEvent.objects.all()
        assert archived_event.seq == 5
        assert archived_event.prev_hash == events[-1].hash
        later = _write(1)[0]
        assert later.seq == 6
        assert verify_chain().ok

    def test_a_second_archive_goes_on_from_the_first(self, tmp_path):
        _write(4, at=LONG_AGO)
        _write(3, at=LONG_AGO + timedelta(days=40))
        _write(2)
        first = audit_archive(before=LONG_AGO + timedelta(days=1), out_dir=tmp_path, actor=ACTOR)
        second = _archive(tmp_path)
        assert (first.checkpoint.first_seq, first.checkpoint.last_seq) == (1, 4)
        # Events 5..7; the first run's own audit.archived event (#10) is recent and stays.
        assert (second.checkpoint.first_seq, second.checkpoint.last_seq) == (5, 7)
        assert second.checkpoint.prev_signature == first.checkpoint.signature
        assert second.checkpoint.first_prev_hash == first.checkpoint.last_hash
        report = verify_chain()
        assert report.ok, report.problem
        assert report.checkpoints == 2
        assert verify_archive(first.archive).ok
        assert verify_archive(second.archive).ok

    def test_nothing_old_enough_means_nothing_happens(self, tmp_path):
        _write(3)
        result = _archive(tmp_path)
        assert result.checkpoint is None
        assert "Nothing to archive" in result.message
        assert AuditEvent.objects.count() == 3
        assert list(tmp_path.iterdir()) == []

    def test_the_archive_round_trips_awkward_values_and_stays_formula_safe(self, tmp_path):
        user = User.objects.create_user("mallory", password="x" * 16)
        with time_machine.travel(LONG_AGO, tick=False):
            record_event(
                actor=Actor.for_user(user, client_ip="203.0.113.9"),
                action=AuditAction.ACCOUNT_RESTORED,
                target_type="accounts.account",
                target_id="=1+1",
                target_repr="'=already quoted",
                reason='=HYPERLINK("http://evil.example","click")\r\nsecond line, with "quotes"',
                before={"name": "Zoë", "nested": {"list": [1, 2.5, None, True]}},
                after=None,
                organization="-org",
            )
        result = _archive(tmp_path)
        report = verify_archive(result.archive)
        assert report.ok, report.problem
        with open(result.archive, newline="", encoding="utf-8") as handle:
            header, row = list(csv.reader(handle))
        cells = dict(zip(header, row, strict=True))
        assert cells["reason"].startswith("'=HYPERLINK")
        assert cells["target_id"] == "'=1+1"
        assert cells["target_repr"] == "''=already quoted"
        assert cells["organization"] == "'-org"
        assert cells["actor_user_id"] == str(user.pk)
        (decoded,) = read_archive(result.archive)
        assert decoded["target_repr"] == "'=already quoted"
        assert decoded["before"] == {"name": "Zoë", "nested": {"list": [1, 2.5, None, True]}}
        assert decoded["after"] is None
        assert decoded["client_ip"] == "203.0.113.9"


@pytest.mark.django_db
class TestTamperingIsCaught:
    @pytest.fixture
    def archived(self, tmp_path):
        _write(6, at=LONG_AGO)
        _write(4)
        return _archive(tmp_path)

    def test_an_edited_remaining_row(self, archived):
        with triggers_dropped():
            raw(f"UPDATE {TABLE} SET reason = 'nothing to see' WHERE seq = 9")
        report = verify_chain()
        assert not report.ok
        assert report.first_bad_seq == 9

    def test_a_removed_first_row_after_the_checkpoint(self, archived):
        with triggers_dropped():
            raw(f"DELETE FROM {TABLE} WHERE seq = 7")
        report = verify_chain()
        assert report.first_bad_seq == 7
        assert "missing" in report.problem

    def test_an_edited_checkpoint(self, archived):
        with triggers_dropped():
            raw(f"UPDATE {CHECKPOINT_TABLE} SET row_count = 5, last_seq = 5")
        report = verify_chain()
        assert not report.ok
        assert "checkpoint" in report.problem
        assert "altered" in report.problem

    def test_a_deleted_checkpoint(self, archived):
        with triggers_dropped():
            raw(f"DELETE FROM {CHECKPOINT_TABLE}")
        report = verify_chain()
        assert not report.ok
        assert report.first_bad_seq == 1

    def test_a_deleted_checkpoint_in_the_middle(self, archived, tmp_path):
        _archive(tmp_path, days=0)
        with triggers_dropped():
            raw(f"DELETE FROM {CHECKPOINT_TABLE} WHERE first_seq = 1")
        report = verify_chain()
        assert not report.ok
        assert "does not follow" in report.problem

    def test_an_archived_event_put_back_into_the_table(self, archived):
        (first,) = [row for row in read_archive(archived.archive) if row["seq"] == 1]
        with triggers_dropped():
            raw(
                f"INSERT INTO {TABLE} (seq, created_at, actor_kind, actor_name, action, target_type, target_id,"
                " target_repr, organization, reason, correlation_id, prev_hash, hash)"
                " VALUES (1, %s, 'system', 'x', 'account.suspended', '', '', '', '', '', '', %s, %s)",
                [LONG_AGO, first["prev_hash"], first["hash"]],
            )
        report = verify_chain()
        assert report.first_bad_seq == 1
        assert "covered by a checkpoint" in report.problem

    def test_an_edited_archive_file(self, archived):
        text = archived.archive.read_text(encoding="utf-8")
        archived.archive.write_text(text.replace("user 3", "user 9", 1), encoding="utf-8")
        report = verify_archive(archived.archive)
        assert not report.ok
        assert report.first_bad_seq == 4  # user 3 is the fourth event written
        assert "altered" in report.problem

    def test_a_line_dropped_from_the_archive(self, archived):
        lines = archived.archive.read_bytes().split(b"\r\n")
        del lines[3]
        archived.archive.write_bytes(b"\r\n".join(lines))
        report = verify_archive(archived.archive)
        assert report.first_bad_seq == 3
        assert "missing" in report.problem

    def test_a_cut_short_archive(self, archived):
        lines = archived.archive.read_bytes().split(b"\r\n")
        archived.archive.write_bytes(b"\r\n".join([*lines[:-2], b""]))
        report = verify_archive(archived.archive)
        assert not report.ok
        assert "the checkpoint covers #1 to #6" in report.problem

    def test_a_harmless_looking_byte_change_still_fails_on_the_sha256(self, archived):
        # Quoting a cell that needs no quotes: the same values, so every event still re-hashes.
        data = archived.archive.read_bytes()
        assert b",user 3," in data
        archived.archive.write_bytes(data.replace(b",user 3,", b',"user 3",', 1))
        report = verify_archive(archived.archive)
        assert report.checked == 6
        assert not report.ok
        assert "SHA-256" in report.problem

    def test_an_edited_checkpoint_file(self, archived):
        sidecar = checkpoint_path(archived.archive)
        document = json.loads(sidecar.read_text())
        document["row_count"] = 5
        sidecar.write_text(json.dumps(document))
        report = verify_archive(archived.archive)
        assert not report.ok
        assert "altered" in report.problem

    def test_an_archive_checked_against_the_database_when_its_checkpoint_file_is_lost(self, archived):
        checkpoint_path(archived.archive).unlink()
        assert verify_archive(archived.archive).ok
        archived.archive.write_bytes(archived.archive.read_bytes().replace(b"user 1", b"user 7", 1))
        assert verify_archive(archived.archive).first_bad_seq == 2

    def test_the_command_checks_an_archive(self, archived, capsys):
        call_command("verify_audit_log", "--archive", str(archived.archive))
        assert "intact, 6 events up to #6 verified" in capsys.readouterr().out
        archived.archive.write_bytes(archived.archive.read_bytes().replace(b"user 0", b"user 8", 1))
        with pytest.raises(CommandError, match="broken at #1") as excinfo:
            call_command("verify_audit_log", "--archive", str(archived.archive))
        assert excinfo.value.returncode == 1

    def test_the_command_checks_the_table_from_the_checkpoint(self, archived, capsys):
        call_command("verify_audit_log")
        assert "5 events verified (from #7, after 1 checkpoints)" in capsys.readouterr().out


@pytest.mark.django_db
class TestPruningWithoutArchiveIsImpossible:
    def test_the_orm_refuses_to_delete_events_and_checkpoints(self, tmp_path):
        _write(2, at=LONG_AGO)
        result = _archive(tmp_path)
        with pytest.raises(AppendOnlyViolation):
            AuditEvent.objects.all().delete()
        with pytest.raises(AppendOnlyViolation):
            AuditCheckpoint.objects.all().delete()
        with pytest.raises(AppendOnlyViolation):
            result.checkpoint.delete()
        with pytest.raises(AppendOnlyViolation):
            AuditCheckpoint.objects.update(row_count=1)

    def test_the_prune_permission_alone_deletes_nothing_without_a_checkpoint(self):
        _write(3, at=LONG_AGO)
        with pytest.raises(DatabaseError), transaction.atomic():
            _with_prune_permission(_covered_delete_sql(1, 1), up_to=1)
        assert AuditEvent.objects.count() == 3

    def test_the_prune_permission_never_reaches_past_the_checkpoint(self, tmp_path):
        _write(3, at=LONG_AGO)
        _write(2)
        result = _archive(tmp_path)
        last = result.checkpoint.last_seq
        with pytest.raises(DatabaseError), transaction.atomic():
            _with_prune_permission(_covered_delete_sql(last + 1, last + 1), up_to=last + 1)
        assert AuditEvent.objects.filter(seq=last + 1).exists()

    def test_an_ordinary_delete_of_covered_events_is_refused(self):
        events = _write(3, at=LONG_AGO)
        # A checkpoint covering the rows, but no prune permission: as if someone recorded a checkpoint
        # and then tried to delete with plain SQL.
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditCheckpoint(
                created_at=timezone.now(),
                first_seq=1,
                last_seq=3,
                first_prev_hash=GENESIS_HASH,
                last_hash=events[-1].hash,
                row_count=3,
                cutoff=timezone.now(),
                archive_name="x.csv",
                archive_sha256="0" * 64,
                prev_signature=GENESIS_HASH,
                signature="f" * 64,
            ).save()
            raw(_covered_delete_sql(1, 3))
        assert AuditEvent.objects.count() == 3

    def test_the_database_refuses_raw_changes_to_checkpoints(self, tmp_path):
        _write(2, at=LONG_AGO)
        _archive(tmp_path)
        with pytest.raises(DatabaseError), transaction.atomic():
            raw(f"UPDATE {CHECKPOINT_TABLE} SET row_count = 1")
        with pytest.raises(DatabaseError), transaction.atomic():
            raw(f"DELETE FROM {CHECKPOINT_TABLE}")
        assert AuditCheckpoint.objects.get().row_count == 2

    def test_a_broken_chain_is_never_archived(self, tmp_path):
        _write(4, at=LONG_AGO)
        with triggers_dropped():
            raw(f"UPDATE {TABLE} SET reason = 'rewritten' WHERE seq = 2")
        with pytest.raises(ArchiveError, match="does not verify at #2"):
            _archive(tmp_path)
        assert AuditEvent.objects.count() == 4
        assert not AuditCheckpoint.objects.exists()


@pytest.mark.django_db
class TestFailuresLoseNothing:
    def test_a_failed_archive_write_deletes_nothing(self, tmp_path, monkeypatch):
        _write(5, at=LONG_AGO)

        def disk_full(path, chunks):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(archive_module, "_write_file", disk_full)
        with pytest.raises(OSError, match="No space"):
            _archive(tmp_path)
        assert AuditEvent.objects.count() == 5
        assert not AuditCheckpoint.objects.exists()
        assert verify_chain().ok

    def test_a_half_written_file_is_never_left_under_the_archive_name(self, tmp_path, monkeypatch):
        _write(5, at=LONG_AGO)

        real_lines = archive_module._archive_lines

        def failing_lines(events):
            for number, line in enumerate(real_lines(events)):
                if number == 4:
                    raise OSError(5, "I/O error")
                yield line

        monkeypatch.setattr(archive_module, "_archive_lines", failing_lines)
        monkeypatch.setattr(archive_module, "_BATCH", 2)  # so some lines reach the disk before the error
        with pytest.raises(OSError, match="I/O error"):
            _archive(tmp_path)
        assert list(tmp_path.iterdir()) == []
        assert AuditEvent.objects.count() == 5

    def test_a_crash_between_archive_and_delete_loses_nothing(self, tmp_path, monkeypatch):
        _write(5, at=LONG_AGO)
        _write(2)
        real_prune = archive_module._prune

        def prune_then_crash(first_seq, last_seq):
            real_prune(first_seq, last_seq)  # the rows are gone inside the transaction ...
            raise RuntimeError("power cut")  # ... which never commits

        monkeypatch.setattr(archive_module, "_prune", prune_then_crash)
        with pytest.raises(RuntimeError, match="power cut"):
            _archive(tmp_path)
        assert AuditEvent.objects.count() == 7
        assert not AuditCheckpoint.objects.exists()
        assert verify_chain().ok
        (orphan,) = tmp_path.glob("*.csv")  # the file written before the crash stays, a spare copy
        assert verify_archive(orphan).ok

        monkeypatch.setattr(archive_module, "_prune", real_prune)
        result = _archive(tmp_path)
        assert (result.checkpoint.first_seq, result.checkpoint.last_seq) == (1, 5)
        assert verify_chain().ok
        assert verify_archive(result.archive).ok

    def test_a_crash_after_the_files_before_the_transaction_loses_nothing(self, tmp_path, monkeypatch):
        _write(5, at=LONG_AGO)

        def crash(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(archive_module, "_commit", crash)
        with pytest.raises(KeyboardInterrupt):
            _archive(tmp_path)
        assert AuditEvent.objects.count() == 5
        assert len(list(tmp_path.glob("*.csv"))) == 1
        monkeypatch.undo()
        assert _archive(tmp_path).deleted == 5
        assert verify_chain().ok

    def test_an_archive_file_removed_before_the_commit_deletes_nothing(self, tmp_path, monkeypatch):
        _write(5, at=LONG_AGO)
        real_commit = archive_module._commit

        def remove_then_commit(values, *, previous, archive, actor):
            archive.unlink()
            return real_commit(values, previous=previous, archive=archive, actor=actor)

        monkeypatch.setattr(archive_module, "_commit", remove_then_commit)
        with pytest.raises(ArchiveError, match="vanished"):
            _archive(tmp_path)
        assert AuditEvent.objects.count() == 5
        assert not AuditCheckpoint.objects.exists()


@pytest.mark.django_db
class TestCommand:
    def test_it_archives_and_prunes(self, tmp_path, capsys):
        _write(3, at=LONG_AGO)
        _write(2)
        call_command("archive_audit_log", "--older-than", "30", "--out", str(tmp_path / "archive"))
        assert "Archived events #1 to #3 (3)" in capsys.readouterr().out
        (archive,) = (tmp_path / "archive").glob("*.csv")
        call_command("verify_audit_log", "--archive", str(archive))
        call_command("verify_audit_log")

    def test_it_refuses_less_than_a_day(self, tmp_path):
        with pytest.raises(CommandError, match="at least 1 day"):
            call_command("archive_audit_log", "--older-than", "0", "--out", str(tmp_path))

    def test_a_refusal_is_a_clear_error(self, tmp_path):
        _write(2, at=LONG_AGO)
        with triggers_dropped():
            raw(f"UPDATE {TABLE} SET reason = 'rewritten' WHERE seq = 1")
        with pytest.raises(CommandError, match="Nothing was archived or deleted"):
            call_command("archive_audit_log", "--older-than", "30", "--out", str(tmp_path))


@pytest.mark.django_db(transaction=True)
def test_writers_keep_appending_while_the_archive_runs(tmp_path):
    _write(300, at=LONG_AGO)
    writers, per_writer = 3, 40
    errors: list[BaseException] = []
    start = threading.Barrier(writers + 1)

    def writer(index: int):
        try:
            start.wait()
            for i in range(per_writer):
                with transaction.atomic():
                    record_event(actor=Actor.system(f"writer-{index}"), action="membership.added", target_id=f"{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    start.wait()
    result = _archive(tmp_path)
    for thread in threads:
        thread.join()

    assert errors == []
    assert result.deleted == 300
    archived = [row["seq"] for row in read_archive(result.archive)]
    remaining = sorted(AuditEvent.objects.values_list("seq", flat=True))
    total = 300 + writers * per_writer + 1  # and the archive's own event
    assert archived + remaining == list(range(1, total + 1))
    report = verify_chain()
    assert report.ok, report.problem
    assert verify_archive(result.archive).ok


@pytest.mark.django_db(transaction=True)
def test_two_archive_runs_at_once_prune_each_event_once(tmp_path):
    _write(200, at=LONG_AGO)
    outcomes: list = []
    start = threading.Barrier(2)

    def run(directory: Path):
        try:
            start.wait()
            outcomes.append(_archive(directory))
        except ArchiveError as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(tmp_path / name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    committed = [o for o in outcomes if not isinstance(o, ArchiveError) and o.checkpoint is not None]
    (other,) = [o for o in outcomes if o not in committed]
    assert len(committed) == 1
    # The loser is refused at its commit (it saw no checkpoint when it started), or it started after the
    # winner committed and found nothing old enough left.
    assert isinstance(other, ArchiveError) or other.checkpoint is None
    assert AuditCheckpoint.objects.count() == 1
    assert verify_chain().ok
    assert verify_archive(committed[0].archive).ok

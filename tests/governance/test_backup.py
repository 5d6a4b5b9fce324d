"""Backup and restore on both profiles: taken while the portal writes, restored into a fresh database that
holds the data, keeps its append-only triggers, and passes ``verify_audit_log`` in a separate process."""

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from governance.audit.archive import audit_archive
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor, record_event
from tests.clock import SUITE_NOW
from tests.factories import AccountFactory, OrganizationFactory

ROOT = Path(__file__).resolve().parents[2]
LONG_AGO = SUITE_NOW - timedelta(days=325)  # old enough to be archived

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite profile only (DATABASE_URL is not a SQLite database)"
)
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql" or shutil.which("pg_dump") is None or shutil.which("pg_restore") is None,
    reason="PostgreSQL profile only: needs DATABASE_URL=postgres://... and pg_dump/pg_restore on PATH",
)


def _event(i: int, writer: str = "setup") -> None:
    record_event(actor=Actor.system(writer), action=AuditAction.MEMBERSHIP_ADDED, target_id=str(i))


def _portal_with_history(tmp_path: Path) -> None:
    """Mirror rows, old events already archived and pruned, and recent events: what a live portal holds."""
    organization = OrganizationFactory()
    AccountFactory.create_batch(25, organization=organization)
    with time_machine.travel(LONG_AGO, tick=False):
        for i in range(40):
            _event(i)
    audit_archive(before=timezone.now() - timedelta(days=30), out_dir=tmp_path / "archive", actor=Actor.system())
    for i in range(40):
        _event(i)


class _Writers:
    """Threads appending audit events (each in its own transaction) until stopped."""

    def __init__(self, count: int = 2):
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.written = 0
        self.threads = [threading.Thread(target=self._write, args=(n,)) for n in range(count)]

    def _write(self, n: int) -> None:
        try:
            i = 0
            while not self.stop.is_set():
                with transaction.atomic():
                    _event(i, f"writer-{n}")
                self.written += 1
                i += 1
        except BaseException as exc:  # pragma: no cover - reported by the test
            self.errors.append(exc)
        finally:
            connection.close()

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        while self.written < 20 and not self.errors:  # writing for sure before the backup starts
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join()


def _verify_in_another_process(database_url: str, anchors: Path) -> subprocess.CompletedProcess:
    """``verify_audit_log`` in a new process, with an anchor directory of its own (it appends an anchor)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "PGPASSWORD"))}
    env.update(
        DJANGO_SETTINGS_MODULE="governance.settings_test", DATABASE_URL=database_url, AUDIT_ANCHOR_DIR=str(anchors)
    )
    return subprocess.run(
        [sys.executable, "manage.py", "verify_audit_log"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@sqlite_only
@pytest.mark.django_db(transaction=True)
class TestSQLite:
    def test_a_backup_taken_while_writing_restores_with_its_data_and_a_valid_chain(self, tmp_path, capsys):
        _portal_with_history(tmp_path)
        backup, restored = tmp_path / "portal-backup.sqlite3", tmp_path / "restored" / "portal.sqlite3"
        with _Writers() as writers:
            before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
            call_command("backup_database", "--out", str(backup))
            after = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
        assert writers.errors == []
        assert after > before, "the writers kept writing during the backup"
        assert "audit chain verified" in capsys.readouterr().out

        call_command("restore_database", str(backup), "--to", str(restored))
        assert "audit chain intact" in capsys.readouterr().out
        with closing(sqlite3.connect(restored)) as db:
            seqs = [row[0] for row in db.execute("SELECT seq FROM governance_auditevent ORDER BY seq")]
            accounts = db.execute("SELECT count(*) FROM accounts_account").fetchone()[0]
            checkpoints = db.execute("SELECT last_seq FROM governance_auditcheckpoint").fetchall()
            journal = db.execute("PRAGMA journal_mode").fetchone()[0]
            # The append-only triggers came along.
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute("DELETE FROM governance_auditevent")
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute("REPLACE INTO governance_auditevent SELECT * FROM governance_auditevent WHERE seq = 41")
        assert accounts == 25
        assert checkpoints == [(40,)]
        # A consistent snapshot: the chain after the checkpoint, without holes, taken during the writes.
        assert seqs == list(range(41, seqs[-1] + 1))
        assert before <= seqs[-1] <= after
        assert journal == "wal"

        result = _verify_in_another_process(f"sqlite:///{restored}", tmp_path / "anchors")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Audit chain intact" in result.stdout

    def test_the_backup_is_one_file_without_a_wal(self, tmp_path):
        _event(1)
        backup = tmp_path / "b.sqlite3"
        call_command("backup_database", "--out", str(backup))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["b.sqlite3"]
        with closing(sqlite3.connect(backup)) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"

    def test_it_never_overwrites_a_backup(self, tmp_path):
        backup = tmp_path / "b.sqlite3"
        backup.write_text("an older backup")
        with pytest.raises(CommandError, match="already exists"):
            call_command("backup_database", "--out", str(backup))
        assert backup.read_text() == "an older backup"

    def test_it_restores_over_a_database_only_when_forced(self, tmp_path):
        _event(1)
        backup, target = tmp_path / "b.sqlite3", tmp_path / "t.sqlite3"
        call_command("backup_database", "--out", str(backup))
        call_command("restore_database", str(backup), "--to", str(target))
        with pytest.raises(CommandError, match="--force"):
            call_command("restore_database", str(backup), "--to", str(target))
        call_command("restore_database", str(backup), "--to", str(target), "--force")

    def test_a_restore_whose_audit_chain_is_broken_says_so(self, tmp_path):
        for i in range(3):
            _event(i)
        backup, target = tmp_path / "b.sqlite3", tmp_path / "t.sqlite3"
        call_command("backup_database", "--out", str(backup))
        with closing(sqlite3.connect(backup)) as db:
            db.execute("DROP TRIGGER audit_no_update")
            db.execute("UPDATE governance_auditevent SET actor_name = 'someone else' WHERE seq = 2")
            db.commit()
        with pytest.raises(CommandError, match="broken at #2") as excinfo:
            call_command("restore_database", str(backup), "--to", str(target))
        assert excinfo.value.returncode == 1

    def test_a_corrupt_backup_is_refused_before_anything_is_overwritten(self, tmp_path):
        _event(1)
        backup, target = tmp_path / "b.sqlite3", tmp_path / "t.sqlite3"
        call_command("backup_database", "--out", str(backup))
        call_command("restore_database", str(backup), "--to", str(target))
        garbage = tmp_path / "garbage.sqlite3"
        garbage.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
        with pytest.raises(CommandError):
            call_command("restore_database", str(garbage), "--to", str(target), "--force")
        with closing(sqlite3.connect(target)) as db:
            assert db.execute("SELECT count(*) FROM governance_auditevent").fetchone()[0] == 1


def _pg_url(name: str) -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


@pytest.fixture
def scratch_database():
    """A database name for the restore (prefix h5_), dropped afterwards."""
    name = f"h5_restore_{uuid.uuid4().hex[:10]}"
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@postgres_only
@pytest.mark.django_db(transaction=True)
class TestPostgreSQL:
    def test_a_dump_taken_while_writing_restores_into_a_fresh_database(self, tmp_path, scratch_database, capsys):
        _portal_with_history(tmp_path)
        dump = tmp_path / "portal.dump"
        with _Writers() as writers:
            before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
            call_command("backup_database", "--out", str(dump))
            after = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
        assert writers.errors == []
        assert after > before
        assert "dump entries" in capsys.readouterr().out

        call_command("restore_database", str(dump), "--to", scratch_database, "--create")
        assert "audit chain intact" in capsys.readouterr().out

        import psycopg

        s = connection.settings_dict
        with psycopg.connect(
            host=s["HOST"] or "127.0.0.1",
            port=s["PORT"] or 5432,
            user=s["USER"],
            password=s["PASSWORD"],
            dbname=scratch_database,
        ) as db:
            seqs = [row[0] for row in db.execute("SELECT seq FROM governance_auditevent ORDER BY seq")]
            accounts = db.execute("SELECT count(*) FROM accounts_account").fetchone()[0]
            checkpoints = db.execute("SELECT last_seq FROM governance_auditcheckpoint").fetchall()
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                db.execute("DELETE FROM governance_auditevent")
            db.rollback()
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                db.execute("TRUNCATE governance_auditevent")
        assert accounts == 25
        assert checkpoints == [(40,)]
        assert seqs == list(range(41, seqs[-1] + 1))
        assert before <= seqs[-1] <= after

        result = _verify_in_another_process(_pg_url(scratch_database), tmp_path / "anchors")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Audit chain intact" in result.stdout

    def test_it_restores_over_a_database_only_when_forced(self, tmp_path, scratch_database):
        _event(1)
        dump = tmp_path / "portal.dump"
        call_command("backup_database", "--out", str(dump))
        call_command("restore_database", str(dump), "--to", scratch_database, "--create")
        with pytest.raises(CommandError, match="--force"):
            call_command("restore_database", str(dump), "--to", scratch_database)
        call_command("restore_database", str(dump), "--to", scratch_database, "--force")
        assert _verify_in_another_process(_pg_url(scratch_database), tmp_path / "anchors").returncode == 0

    def test_a_missing_pg_dump_is_a_clear_error(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(CommandError, match="pg_dump is not on PATH"):
            call_command("backup_database", "--out", str(tmp_path / "x.dump"))
        assert not (tmp_path / "x.dump").exists()

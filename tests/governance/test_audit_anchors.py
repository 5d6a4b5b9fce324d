"""Anchors of the audit chain's head, kept outside the database.

What must hold: every successful verification appends one signed anchor; deleting the newest events
(one, twenty, all of them, with the triggers dropped, or by SQLite's REPLACE) is reported naming the
exact missing range; a forged, damaged or foreign anchor fails loudly; an auditor's copy kept elsewhere
is checked with ``--anchor``; the scheduled tasks anchor; retention does not break old anchors. And the
honest limit: events written after the newest anchor and deleted before the next one go unnoticed.
"""

import hashlib
import hmac
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from croniter import croniter
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from governance import tasks
from governance.audit.anchors import (
    ANCHOR_FILE,
    CHECKPOINT_CHAIN,
    anchor_appended,
    anchor_line,
    make_anchor,
    sign_anchor,
)
from governance.audit.archive import audit_archive
from governance.audit.models import AuditAction, AuditCheckpoint, AuditEvent
from governance.audit.record import Actor, record_event
from governance.audit.verify import verify_chain
from governance.runs.models import RunStatus, TaskRun
from governance.schedules import declared_jobs
from tests.governance.audit_helpers import TABLE, raw, triggers_dropped

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
AT_NOW = "the anchor of 2026-12-05 10:00:00 UTC"


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _write(n: int) -> list[AuditEvent]:
    return [
        record_event(
            actor=Actor.system(),
            action=AuditAction.MEMBERSHIP_REMOVED,
            target_type="accounts.account",
            target_id=str(i),
            reason="anchor test",
        )
        for i in range(n)
    ]


def _verify(*args) -> str:
    out = io.StringIO()
    call_command("verify_audit_log", *args, stdout=out)
    return out.getvalue()


def _broken(*args) -> str:
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_audit_log", *args, stdout=io.StringIO())
    assert excinfo.value.returncode == 1
    return str(excinfo.value)


def _anchor_file(settings) -> Path:
    return Path(settings.AUDIT_ANCHOR_DIR) / ANCHOR_FILE


def _anchors(settings) -> list[dict]:
    path = _anchor_file(settings)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _delete(where: str) -> None:
    with triggers_dropped():
        raw(f"DELETE FROM {TABLE} WHERE {where}")


@pytest.mark.django_db
class TestEachRunAppendsAnAnchor:
    def test_a_normal_chain_verifies_and_each_successful_run_appends_one_signed_line(self, settings, clock):
        events = _write(3)
        first_run = _verify()
        assert "3 events verified; no anchor to check yet" in first_run
        (anchor,) = _anchors(settings)
        assert anchor == {
            "format": 1,
            "chain": events[0].hash,
            "seq": 3,
            "hash": events[2].hash,
            "events": 3,
            "at": "2026-12-05T10:00:00.000000Z",
            "by": "verify_audit_log",
            "signature": sign_anchor(anchor),
        }
        assert f"Anchor #3 appended to {_anchor_file(settings)}" in first_run

        clock.shift(timedelta(hours=1))
        _write(2)
        second_run = _verify()
        assert f"reaches the newest of 1 anchors ({AT_NOW} (line 1 of {_anchor_file(settings)}) names #3)" in second_run
        assert [a["seq"] for a in _anchors(settings)] == [3, 5]
        _verify()
        assert len(_anchors(settings)) == 3

    def test_the_anchor_is_signed_with_a_key_derived_for_anchors_alone(self, settings, clock):
        _write(1)
        _verify()
        (anchor,) = _anchors(settings)
        body = json.dumps({k: v for k, v in anchor.items() if k != "signature"}, sort_keys=True, separators=(",", ":"))
        key = settings.AUDIT_HMAC_KEY.encode()
        plain = {hmac.new(key, prefix + body.encode(), hashlib.sha256).hexdigest() for prefix in (b"", b"checkpoint\n")}
        assert anchor["signature"] == sign_anchor(anchor)
        assert anchor["signature"] not in plain

    def test_a_failed_run_appends_nothing(self, settings, clock):
        _write(5)
        _verify()
        _delete("seq = 5")
        _broken()
        assert len(_anchors(settings)) == 1

    def test_the_directory_is_created_where_the_setting_points(self, settings, clock, tmp_path):
        settings.AUDIT_ANCHOR_DIR = tmp_path / "separate-volume" / "anchors"
        _write(2)
        _verify()
        assert (tmp_path / "separate-volume" / "anchors" / ANCHOR_FILE).is_file()

    def test_an_anchor_that_cannot_be_written_fails_the_run_after_the_chain_verified(self, settings, clock, tmp_path):
        (tmp_path / "not-a-directory").write_text("")
        settings.AUDIT_ANCHOR_DIR = tmp_path / "not-a-directory" / "anchors"
        _write(2)
        with pytest.raises(CommandError, match="The audit chain verified, but its new anchor was not written"):
            _verify()


@pytest.mark.django_db
class TestDeletedNewestEvents:
    def test_deleting_the_newest_event_after_an_anchor_is_reported_by_number(self, settings, clock):
        _write(30)
        _verify()
        _delete("seq = 30")
        assert verify_chain().ok, "the chain alone cannot tell: that is what the anchor is for"
        message = _broken()
        assert message == (
            f"Audit chain broken at #30: event #30 missing: {AT_NOW} (line 1 of {_anchor_file(settings)}) "
            "names #30; the chain ends at #29."
        )

    def test_deleting_the_last_20_events_names_the_whole_range(self, settings, clock):
        _write(50)
        _verify()
        _delete("seq > 30")
        message = _broken()
        assert message.startswith(f"Audit chain broken at #31: events #31 to #50 missing: {AT_NOW} (line 1 of ")
        assert message.endswith("names #50; the chain ends at #30.")

    def test_deleting_every_event_is_reported(self, settings, clock):
        _write(12)
        _verify()
        _delete("1 = 1")
        assert verify_chain().ok
        message = _broken()
        assert message.startswith("Audit chain broken at #1: events #1 to #12 missing: ")
        assert message.endswith("names #12; the audit table holds no events.")

    def test_only_the_newest_anchor_is_needed_to_see_the_range(self, settings, clock):
        _write(10)
        _verify()
        clock.shift(timedelta(hours=1))
        _write(10)
        _verify()
        _delete("seq > 15")
        assert "events #16 to #20 missing: the anchor of 2026-12-05 11:00:00 UTC (line 2 of " in _broken()

    def test_events_deleted_and_replaced_by_new_ones_differ_from_the_anchor(self, settings, clock):
        _write(30)
        _verify()
        _delete("seq > 20")
        _write(15)  # the portal goes on writing from #21: a valid chain, a different history
        assert verify_chain().ok
        assert _broken() == (
            f"Audit chain broken at #30: event #30 differs from {AT_NOW} (line 1 of {_anchor_file(settings)})."
        )

    @pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's INSERT OR REPLACE")
    def test_the_sqlite_replace_trick_with_the_triggers_dropped_is_caught_by_the_anchor(self, settings, clock):
        _write(20)
        _verify()
        columns = ", ".join(f'"{f.column}"' for f in AuditEvent._meta.concrete_fields if f.column != "id")
        with triggers_dropped():
            raw(
                f"INSERT OR REPLACE INTO {TABLE} (id, {columns}) "
                f"SELECT (SELECT id FROM {TABLE} WHERE seq = 20), {columns} FROM {TABLE} WHERE seq = 19"
            )
        assert AuditEvent.objects.count() == 19
        assert verify_chain().ok
        assert "event #20 missing" in _broken()

    def test_events_written_after_the_newest_anchor_and_deleted_before_the_next_are_not_detected(self, clock):
        """The documented limit: the window between two anchors (an hour with the scheduled job)."""
        _write(10)
        _verify()
        _write(5)
        _delete("seq > 10")
        assert "10 events verified" in _verify()


@pytest.mark.django_db
class TestForgedAndForeignAnchors:
    def test_an_edited_anchor_fails_loudly(self, settings, clock):
        _write(10)
        _verify()
        path = _anchor_file(settings)
        path.write_text(path.read_text().replace('"seq":10', '"seq":9'))
        assert _broken() == (
            f"Audit anchors do not verify: {AT_NOW} (line 1 of {path}) is forged or damaged (its signature "
            "does not match: edited, or signed with another AUDIT_HMAC_KEY)."
        )

    def test_an_anchor_signed_with_another_key_is_forged(self, settings, clock):
        _write(10)
        _verify()
        record = make_anchor(verify_chain(), by="attacker")
        record["signature"] = sign_anchor(record, key="a guessed key")
        with _anchor_file(settings).open("a") as handle:
            handle.write(anchor_line(record))
        message = _broken()
        assert f"(line 2 of {_anchor_file(settings)}) is forged or damaged (its signature does not match" in message

    def test_a_damaged_line_fails_loudly(self, settings, clock):
        _write(3)
        _verify()
        with _anchor_file(settings).open("a") as handle:
            handle.write('{"format": 1, "seq": 3, "ha')  # a torn write
        assert f"the anchor on line 2 of {_anchor_file(settings)} is forged or damaged (not JSON)" in _broken()
        _write(1)
        with pytest.raises(CommandError):
            _verify()  # still refused: a damaged anchor is never skipped

    def test_an_anchor_from_another_chain_is_named_as_such(self, settings, clock):
        _write(5)
        _verify()
        _delete("1 = 1")
        clock.shift(timedelta(minutes=5))  # (the same events at the same instant would be the same chain)
        _write(8)  # a new chain from #1: the table was replaced
        assert verify_chain().ok
        assert _broken() == (
            f"Audit anchors do not verify: {AT_NOW} (line 1 of {_anchor_file(settings)}) belongs to another "
            "audit chain (it names a different first event): the audit table was replaced, or the anchor comes "
            "from another portal."
        )

    def test_a_correctly_signed_anchor_naming_another_hash_is_reported_at_its_event(self, settings, clock):
        _write(4)
        record = make_anchor(verify_chain(), by="elsewhere")
        record["hash"] = "a" * 64
        record["signature"] = sign_anchor(record)
        settings.AUDIT_ANCHOR_DIR.mkdir(parents=True)
        _anchor_file(settings).write_text(anchor_line(record))
        assert _broken().startswith("Audit chain broken at #4: event #4 differs from ")


@pytest.mark.django_db
class TestAnAnchorKeptElsewhere:
    def test_an_auditors_copy_catches_a_tail_deleted_together_with_the_anchor_directory(
        self, settings, clock, tmp_path
    ):
        _write(10)
        _verify()
        copy = tmp_path / "auditor" / "portal-anchors.jsonl"
        copy.parent.mkdir()
        shutil.copy(_anchor_file(settings), copy)

        _delete("seq > 8")
        shutil.rmtree(settings.AUDIT_ANCHOR_DIR)  # whoever could do both
        assert "8 events verified" in _verify()  # the portal's own anchors are gone
        message = _broken("--anchor", str(copy))
        assert f"events #9 to #10 missing: {AT_NOW} (line 1 of {copy}) names #10; the chain ends at #8" in message

    def test_an_intact_chain_verifies_against_the_copy_and_anchors_again(self, settings, clock, tmp_path):
        _write(4)
        _verify()
        copy = tmp_path / "copy.jsonl"
        shutil.copy(_anchor_file(settings), copy)
        _write(1)
        assert "reaches the newest of 2 anchors" in _verify("--anchor", str(copy))
        assert copy.read_text().count("\n") == 1, "the copy is only read"
        assert len(_anchors(settings)) == 2

    def test_a_missing_anchor_file_is_a_usage_error(self, tmp_path):
        with pytest.raises(CommandError, match="no such anchor file") as excinfo:
            call_command("verify_audit_log", "--anchor", str(tmp_path / "nowhere.jsonl"))
        assert excinfo.value.returncode == 2


@pytest.mark.django_db
class TestScheduled:
    def test_the_daily_verification_appends_an_anchor(self, settings, clock):
        _write(3)
        assert tasks.verify_audit_log() is True
        (anchor,) = _anchors(settings)
        assert (anchor["seq"], anchor["by"]) == (3, "verify_audit_log")
        run = TaskRun.objects.get(name="verify_audit_log")
        assert run.counts == {"checked": 3, "anchors": 0, "anchor_seq": 3}

    def test_the_hourly_job_anchors_and_alerts_once_when_the_tail_goes(self, settings, clock):
        settings.ADMINS = [("Ops", "ops@portal.test")]
        _write(6)
        assert tasks.anchor_audit_log() is True
        assert _anchors(settings)[0]["by"] == "anchor_audit_log"
        _delete("seq > 4")
        clock.shift(timedelta(hours=1))
        assert tasks.anchor_audit_log() is False
        run = TaskRun.objects.filter(name="anchor_audit_log").order_by("-id").first()
        assert run.status == RunStatus.FAILED
        assert "events #5 to #6 missing" in run.error
        assert [m.subject for m in mail.outbox] == ["[Django] Audit log check failed"]
        assert tasks.anchor_audit_log() is False  # still broken an hour later: no second mail
        assert len(mail.outbox) == 1
        assert tasks.verify_audit_log() is False  # the daily check mails every time
        assert len(mail.outbox) == 2
        assert len(_anchors(settings)) == 1

    def test_the_daily_anchor_is_mailed_to_the_auditors_and_verifies_as_an_attachment(self, settings, clock, tmp_path):
        settings.AUDIT_ANCHOR_EMAIL = ["auditor@example.com"]
        _write(7)
        assert tasks.verify_audit_log() is True
        (message,) = mail.outbox
        assert message.to == ["auditor@example.com"]
        assert message.subject == "Audit log anchor: #7 at 2026-12-05 10:00:00 UTC"
        ((name, content, _mimetype),) = message.attachments
        assert name == "audit-anchor-7.jsonl"
        assert json.loads(content) == _anchors(settings)[0]
        assert tasks.anchor_audit_log() is True
        assert len(mail.outbox) == 1, "the hourly anchors are not mailed"

        saved = tmp_path / name
        saved.write_text(content)
        _delete("seq = 7")
        shutil.rmtree(settings.AUDIT_ANCHOR_DIR)
        assert "event #7 missing" in _broken("--anchor", str(saved))

    def test_the_hourly_job_is_declared(self):
        (job,) = [job for job in declared_jobs() if job.name == "portal:anchor-audit-log"]
        assert job.func == "governance.tasks.anchor_audit_log"
        runs = croniter(job.cron, NOW)
        first, second, third = runs.get_next(datetime), runs.get_next(datetime), runs.get_next(datetime)
        assert second - first == third - second == timedelta(hours=1)

    def test_receivers_of_the_hook_get_each_anchor_as_written(self, settings, clock):
        received = []

        def receiver(sender, record, path, **kwargs):
            received.append((record, path))

        anchor_appended.connect(receiver)
        try:
            _write(2)
            _verify()
        finally:
            anchor_appended.disconnect(receiver)
        assert received == [(_anchors(settings)[0], _anchor_file(settings))]


@pytest.mark.django_db
class TestRetention:
    def test_anchors_inside_an_archived_range_still_verify_and_a_later_deletion_is_caught(
        self, settings, clock, tmp_path
    ):
        clock.move_to(NOW - timedelta(days=400))
        _write(6)
        _verify()  # anchor #6: inside the range archived below
        _write(4)
        _verify()  # anchor #10: the checkpoint's last event
        clock.move_to(NOW)
        _write(5)
        archived = audit_archive(before=NOW - timedelta(days=30), out_dir=tmp_path / "archive", actor=Actor.system())
        assert (archived.checkpoint.first_seq, archived.checkpoint.last_seq) == (1, 10)

        assert "reaches the newest of 2 anchors" in _verify()
        newest = _anchors(settings)[-1]
        assert newest["chain"] == CHECKPOINT_CHAIN + archived.checkpoint.signature
        assert newest["seq"] == 16  # 15 events and the archive's own audit.archived event

        _delete("seq > 14")
        assert "events #15 to #16 missing" in _broken()

    def test_an_anchor_differing_from_a_checkpoint_is_reported(self, settings, clock, tmp_path):
        clock.move_to(NOW - timedelta(days=400))
        _write(5)
        record = make_anchor(verify_chain(), by="elsewhere")
        record["hash"] = "b" * 64
        record["signature"] = sign_anchor(record)
        settings.AUDIT_ANCHOR_DIR.mkdir(parents=True)
        _anchor_file(settings).write_text(anchor_line(record))
        clock.move_to(NOW)
        audit_archive(before=NOW - timedelta(days=30), out_dir=tmp_path, actor=Actor.system())
        assert AuditCheckpoint.objects.get().last_seq == 5
        assert _broken().startswith("Audit chain broken at #5: the checkpoint ending at #5 differs from the anchor")

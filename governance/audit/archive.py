"""Audit retention: old events go to a CSV file with a signed checkpoint, then leave the table.

The order of work is what makes it safe:

1. The events from the last checkpoint up to the cut-off are written to a new file, flushed to
   disk, then read back and re-hashed: the file must reproduce the chain exactly (a broken chain
   is never archived, it would destroy the evidence). The signed checkpoint is written next to it.
2. One transaction, holding the chain lock: the checkpoint row, the DELETE (the database
   triggers only let through events a checkpoint covers, see ``triggers``), and the
   ``audit.archived`` event. The row count deleted must equal the row count archived.

A failure or crash anywhere before step 2 commits deletes nothing: the table still holds every
event and the next run archives the same range again into a new file. Files of a run that did not
commit stay on disk; no checkpoint names them, so they are only spare copies.

The archive is the auditor's CSV (``export.CSV_HEADER``, formula-safe cells, ISO-8601 UTC
times) plus an ``actor_user_id`` column, so that every event can be re-hashed from the file alone.
One difference in the cells: a value starting with ``'`` gets a ``'`` prefix too, so that reading
back is exact (strip one leading quote) and a value that really starts with ``'=`` cannot be
confused with an escaped ``=``.
"""

import csv
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from governance.audit.chain import CHECKPOINT_FIELDS, GENESIS_HASH, checkpoint_payload, compute_hash, sign_checkpoint
from governance.audit.export import ARCHIVE_HEADER, audit_rows
from governance.audit.models import AuditAction, AuditCheckpoint, AuditEvent
from governance.audit.record import Actor, lock_chain_head, record_event
from governance.audit.triggers import SQLITE_PERMIT_TABLE, TABLE
from governance.csvexport import csv_record

CHECKPOINT_SUFFIX = ".checkpoint.json"
_ESCAPED_FIRST_CHARS = frozenset("=+-@\t\r\0'")  # formula starters (csvexport) and the escape itself
_NULLABLE = ("actor_user_id", "client_ip", "before", "after")
_BATCH = 500


class ArchiveError(Exception):
    """The archive could not be made or committed. Nothing was deleted."""


@dataclass(frozen=True)
class ArchiveResult:
    checkpoint: AuditCheckpoint | None
    archive: Path | None
    deleted: int
    message: str


@dataclass(frozen=True)
class ArchiveReport:
    """The outcome of re-reading an archive file (see :func:`verify_archive`)."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""
    last_seq: int | None = None
    last_hash: str = ""
    sha256: str = ""


def checkpoint_path(archive: Path) -> Path:
    """``audit-….csv`` → ``audit-….checkpoint.json``."""
    archive = Path(archive)
    return archive.with_name(archive.stem + CHECKPOINT_SUFFIX)


def latest_checkpoint(*, using: str = "default") -> dict | None:
    return (
        AuditCheckpoint.objects.using(using).order_by("-last_seq").values(*CHECKPOINT_FIELDS, "signature", "pk").first()
    )


# --- Writing ---------------------------------------------------------------------------------


def audit_archive(*, before: datetime, out_dir: Path, actor: Actor, now: datetime | None = None) -> ArchiveResult:
    """Archive every event recorded before ``before`` (and not archived yet) into ``out_dir``, then prune them.

    Returns the checkpoint and the file; raises :class:`ArchiveError` (nothing deleted) when the
    chain does not verify, the file cannot be written, or another run got there first.
    """
    now = now or timezone.now()
    if before > now:
        raise ArchiveError("The cut-off is in the future: only events already recorded can be archived.")
    previous = latest_checkpoint()
    first_seq = previous["last_seq"] + 1 if previous else 1
    first_prev_hash = previous["last_hash"] if previous else GENESIS_HASH
    # Every event from the last checkpoint up to the newest one older than the cut-off: a contiguous
    # range, so an event whose clock stepped back is archived with its neighbours, never left as a gap.
    last_seq = AuditEvent.objects.filter(seq__gte=first_seq, created_at__lt=before).aggregate(last=Max("seq"))["last"]
    if last_seq is None:
        return ArchiveResult(None, None, 0, f"Nothing to archive: no event before {_iso(before)} is left in the table.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / f"audit-{first_seq:012d}-{last_seq:012d}-{now.astimezone(UTC):%Y%m%dT%H%M%S%fZ}.csv"
    events = AuditEvent.objects.filter(seq__gte=first_seq, seq__lte=last_seq)
    sha256 = _write_file(archive, _encode(_archive_lines(events)))
    report = _walk(archive, first_seq=first_seq, first_prev_hash=first_prev_hash)
    if not report.ok:
        raise ArchiveError(
            f"Nothing was archived or deleted: the chain does not verify at #{report.first_bad_seq} "
            f"({report.problem}). Run verify_audit_log."
        )
    if report.last_seq != last_seq or report.checked != last_seq - first_seq + 1 or report.sha256 != sha256:
        raise ArchiveError(f"{archive} does not hold events #{first_seq} to #{last_seq} as read; nothing was deleted.")
    values = {
        "created_at": now,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "first_prev_hash": first_prev_hash,
        "last_hash": report.last_hash,
        "row_count": report.checked,
        "cutoff": before,
        "archive_name": archive.name,
        "archive_sha256": sha256,
        "actor_name": (actor.name or "")[:200],
        "prev_signature": previous["signature"] if previous else GENESIS_HASH,
    }
    values["signature"] = sign_checkpoint(values)
    document = {**checkpoint_payload(values), "signature": values["signature"]}
    _write_file(checkpoint_path(archive), [json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"])
    checkpoint = _commit(values, previous=previous, archive=archive, actor=actor)
    message = (
        f"Archived events #{first_seq} to #{last_seq} ({report.checked}) to {archive} and pruned them from the table."
    )
    return ArchiveResult(checkpoint, archive, report.checked, message)


def _commit(values: dict, *, previous: dict | None, archive: Path, actor: Actor) -> AuditCheckpoint:
    """Checkpoint, prune and record, all or nothing."""
    with transaction.atomic():
        lock_chain_head()  # no appender or other archiver between here and COMMIT
        latest = latest_checkpoint()
        if (latest or {}).get("signature") != (previous or {}).get("signature"):
            raise ArchiveError("Another archive run recorded a checkpoint meanwhile; nothing was deleted. Run again.")
        if not archive.is_file() or not checkpoint_path(archive).is_file():
            raise ArchiveError(f"{archive} or its checkpoint vanished before the prune; nothing was deleted.")
        checkpoint = AuditCheckpoint(**values)
        checkpoint.save()
        deleted = _prune(values["first_seq"], values["last_seq"])
        if deleted != values["row_count"]:
            raise ArchiveError(
                f"The prune would delete {deleted} events but the archive holds {values['row_count']}; "
                "nothing was deleted."
            )
        record_event(
            actor=actor,
            action=AuditAction.AUDIT_ARCHIVED,
            target=checkpoint,
            after={
                "first_seq": values["first_seq"],
                "last_seq": values["last_seq"],
                "row_count": values["row_count"],
                "archive": values["archive_name"],
                "archive_sha256": values["archive_sha256"],
                "cutoff": _iso(values["cutoff"]),
            },
            reason=f"Retention: events recorded before {_iso(values['cutoff'])} archived, then pruned.",
        )
    return checkpoint


def _prune(first_seq: int, last_seq: int) -> int:
    """DELETE the archived range, with the permission the triggers ask for. Call inside ``_commit`` only."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL governance.audit_prune = 'on'")
        elif connection.vendor == "sqlite":
            cursor.execute(f"INSERT INTO {SQLITE_PERMIT_TABLE} (up_to_seq) VALUES (%s)", [last_seq])  # noqa: S608
        cursor.execute(f"DELETE FROM {TABLE} WHERE seq >= %s AND seq <= %s", [first_seq, last_seq])  # noqa: S608
        deleted = cursor.rowcount
        # Withdrawn at once, not left to the end of the transaction.
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL governance.audit_prune = 'off'")
        elif connection.vendor == "sqlite":
            cursor.execute(f"DELETE FROM {SQLITE_PERMIT_TABLE}")  # noqa: S608
    return deleted


def _archive_lines(events) -> Iterator[str]:
    yield csv_record(ARCHIVE_HEADER)
    for row in audit_rows(events, chunk_size=5000, header=ARCHIVE_HEADER):
        yield csv_record([_cell(value) for value in row])


def _encode(lines: Iterable[str]) -> Iterator[bytes]:
    pending: list[str] = []
    for line in lines:
        pending.append(line)
        if len(pending) >= _BATCH:
            yield "".join(pending).encode()
            pending.clear()
    if pending:
        yield "".join(pending).encode()


def _cell(value) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text[:1] in _ESCAPED_FIRST_CHARS else text


def _write_file(path: Path, chunks: Iterable[bytes]) -> str:
    """Write under a temporary name, fsync, then rename into place: a reader never sees half a file.
    Returns the SHA-256 of what was written."""
    if path.exists():
        raise ArchiveError(f"{path} already exists; it is never overwritten.")
    digest = hashlib.sha256()
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                digest.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
    return digest.hexdigest()


def fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- Reading and verifying -------------------------------------------------------------------


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_archive(path: Path) -> Iterator[dict]:
    """The events of an archive file as dicts of the hashed fields (plus ``prev_hash`` and ``hash``)."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(header) != ARCHIVE_HEADER:
            raise ValueError(f"{path} is not an audit archive (unexpected header)")
        for record in reader:
            if len(record) != len(ARCHIVE_HEADER):
                raise ValueError(f"{path}, line {reader.line_num}: {len(record)} cells, not {len(ARCHIVE_HEADER)}")
            yield _decode(record)


def _decode(record: list[str]) -> dict:
    cells = zip(ARCHIVE_HEADER, record, strict=True)
    values: dict = {name: cell[1:] if cell[:1] == "'" else cell for name, cell in cells}
    for name in _NULLABLE:
        if values[name] == "":
            values[name] = None
    values["seq"] = int(values["seq"])
    if values["actor_user_id"] is not None:
        values["actor_user_id"] = int(values["actor_user_id"])
    for name in ("before", "after"):
        if values[name] is not None:
            values[name] = json.loads(values[name])
    return values


def _walk(path: Path, *, first_seq: int, first_prev_hash: str) -> ArchiveReport:
    """Re-hash every event of the file, in order, starting from the checkpoint's link to the past."""
    expected_seq, prev_hash, checked = first_seq, first_prev_hash, 0
    try:
        for row in read_archive(path):
            seq = row["seq"]
            if seq != expected_seq:
                return ArchiveReport(False, checked, expected_seq, f"event #{expected_seq} is missing (found #{seq})")
            if row["prev_hash"] != prev_hash:
                return ArchiveReport(False, checked, seq, f"event #{seq} does not follow the event before it")
            if compute_hash(prev_hash, row) != row["hash"]:
                return ArchiveReport(False, checked, seq, f"event #{seq} was altered after it was written")
            prev_hash, expected_seq, checked = row["hash"], seq + 1, checked + 1
    except (OSError, ValueError, UnicodeDecodeError, csv.Error) as exc:
        return ArchiveReport(False, checked, expected_seq, f"the file cannot be read: {exc}")
    last_seq = expected_seq - 1 if checked else None
    return ArchiveReport(True, checked, last_seq=last_seq, last_hash=prev_hash, sha256=_file_sha256(path))


def load_checkpoint_file(path: Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    missing = [name for name in (*CHECKPOINT_FIELDS, "signature") if name not in document]
    if missing:
        raise ValueError(f"{path} is not an audit checkpoint (missing {', '.join(missing)})")
    return document


def verify_archive(path: Path, *, checkpoint_file: Path | None = None, using: str = "default") -> ArchiveReport:
    """Check an archive file against its checkpoint: every event re-hashed, the count, the last hash and the
    file's SHA-256.

    The checkpoint is the signed ``.checkpoint.json`` next to the file (or ``checkpoint_file``), which
    must agree with the database's checkpoint for the same range when the database still has one; without
    the JSON file the database's checkpoint for that file name is used.
    """
    path = Path(path)
    sidecar = Path(checkpoint_file) if checkpoint_file else checkpoint_path(path)
    stored = AuditCheckpoint.objects.using(using).values(*CHECKPOINT_FIELDS, "signature")
    if sidecar.is_file():
        try:
            checkpoint = load_checkpoint_file(sidecar)
        except (OSError, ValueError) as exc:
            return ArchiveReport(False, 0, None, str(exc))
        if sign_checkpoint(checkpoint) != checkpoint["signature"]:
            return ArchiveReport(
                False, 0, checkpoint["first_seq"], f"{sidecar.name} was altered (or signed with another key)"
            )
        # A file whose commit failed (no row names it) is still a faithful, signed copy of its events.
        recorded = stored.filter(archive_name=path.name).first()
        if recorded and recorded["signature"] != checkpoint["signature"]:
            return ArchiveReport(
                False, 0, checkpoint["first_seq"], f"{sidecar.name} disagrees with the database's checkpoint"
            )
    else:
        checkpoint = stored.filter(archive_name=path.name).first()
        if checkpoint is None:
            return ArchiveReport(False, 0, None, f"no checkpoint for {path.name}: neither {sidecar.name} nor a row")
        if sign_checkpoint(checkpoint) != checkpoint["signature"]:
            return ArchiveReport(False, 0, checkpoint["first_seq"], "the database's checkpoint was altered")
    report = _walk(path, first_seq=checkpoint["first_seq"], first_prev_hash=checkpoint["first_prev_hash"])
    if not report.ok:
        return report
    if report.checked != checkpoint["row_count"] or report.last_seq != checkpoint["last_seq"]:
        return ArchiveReport(
            False,
            report.checked,
            (report.last_seq or checkpoint["first_seq"] - 1) + 1,
            f"the file ends at #{report.last_seq} but the checkpoint covers #{checkpoint['first_seq']} to "
            f"#{checkpoint['last_seq']} ({checkpoint['row_count']} events)",
        )
    if report.last_hash != checkpoint["last_hash"]:
        return ArchiveReport(False, report.checked, report.last_seq, "the last event is not the checkpoint's")
    if report.sha256 != checkpoint["archive_sha256"]:
        return ArchiveReport(
            False, report.checked, None, "the file's SHA-256 is not the checkpoint's (changed after archiving)"
        )
    return report

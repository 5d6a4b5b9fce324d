"""Anchors: the audit chain's head, signed and kept outside the database.

The hash chain shows that every event it holds is genuine and in place, but not that it holds them
all: without its newest events (or with none at all) it is a shorter chain that still verifies. So
every successful verification appends an anchor to a file in ``AUDIT_ANCHOR_DIR``: the newest
sequence number and its hash, the number of events, the time, and which chain it is, signed with
a key derived from ``AUDIT_HMAC_KEY`` for this one purpose (an anchor can never pass for an event
hash or a checkpoint signature). Each verification then checks the chain against every anchor it
can find: an anchored event that is gone, or whose hash changed, is reported by number.

What this does and does not detect: anything up to the newest anchor. Events written after it and
deleted before the next one (the hourly job, ``portal:anchor-audit-log``) leave no trace, and the
anchors protect only as well as their storage: put ``AUDIT_ANCHOR_DIR`` where the database's owner
cannot write, and let auditors keep copies (``verify_audit_log --anchor FILE``).

Which chain: the hash of event #1 while the table holds it (every later hash depends on it), and the
signature of the first retention checkpoint once event #1 has been archived (checkpoints are never
deleted). Anchors written before the first archive name event #1's hash, which the database no
longer has; they are still tied to the chain by their hash at their own sequence number.

Delivery elsewhere: :func:`make_anchor` returns the signed record (a dict); every appended anchor is
announced on the :data:`anchor_appended` signal (``record=``, ``path=``), so email, a webhook or a
second store can be plugged in; the daily verification mails it to ``AUDIT_ANCHOR_EMAIL``.
"""

import hashlib
import hmac
import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage
from django.dispatch import Signal
from django.utils import timezone

from governance.audit.archive import fsync_directory
from governance.audit.chain import iso_utc
from governance.audit.models import AuditCheckpoint, AuditEvent
from governance.audit.verify import ChainReport, verify_chain

ANCHOR_FILE = "audit-anchors.jsonl"
FORMAT = 1
CHECKPOINT_CHAIN = "checkpoint:"  # prefix of a chain named by its first checkpoint
SIGNED_FIELDS = ("format", "chain", "seq", "hash", "events", "at", "by")
_PURPOSE = b"governance audit anchor v1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_LOOKUP_BATCH = 500

log = logging.getLogger(__name__)

# The hook point: sent after an anchor is safely on disk, with ``record`` (the signed dict) and ``path``.
anchor_appended = Signal()


class AnchorError(Exception):
    """An anchor could not be written (the directory is missing, full or read-only)."""


@dataclass(frozen=True)
class Anchor:
    """One line of an anchor file, signature checked. ``where``: ``line N of FILE``, for messages."""

    record: dict
    where: str

    @property
    def seq(self) -> int:
        return self.record["seq"]

    def __str__(self) -> str:
        return f"the anchor of {_when(self.record['at'])} ({self.where})"


@dataclass(frozen=True)
class AnchorReport:
    ok: bool
    anchors: int = 0  # how many were checked
    newest: Anchor | None = None
    first_bad_seq: int | None = None
    problem: str = ""


@dataclass(frozen=True)
class AuditCheck:
    """The outcome of :func:`audit_verify_and_anchor`: the chain, its anchors, and the anchor appended."""

    chain: ChainReport
    anchors: AnchorReport
    written: dict | None = None
    path: Path | None = None

    @property
    def ok(self) -> bool:
        return self.chain.ok and self.anchors.ok

    @property
    def message(self) -> str:
        """What went wrong, in one sentence naming the first bad sequence number when there is one."""
        report = self.chain if not self.chain.ok else self.anchors
        if report.first_bad_seq is None:
            return f"Audit anchors do not verify: {report.problem}."
        return f"Audit chain broken at #{report.first_bad_seq}: {report.problem}."


# --- Writing ---------------------------------------------------------------------------------


def sign_anchor(record: dict, *, key: str | None = None) -> str:
    secret = (key if key is not None else settings.AUDIT_HMAC_KEY).encode()
    derived = hmac.new(secret, _PURPOSE, hashlib.sha256).digest()
    body = json.dumps({name: record.get(name) for name in SIGNED_FIELDS}, sort_keys=True, separators=(",", ":"))
    return hmac.new(derived, body.encode(), hashlib.sha256).hexdigest()


def chain_identity(*, using: str = "default") -> str:
    """Which chain the database holds (see the module's docstring); empty for a chain with no event yet."""
    first = AuditCheckpoint.objects.using(using).filter(first_seq=1).values_list("signature", flat=True).first()
    if first:
        return CHECKPOINT_CHAIN + first
    return AuditEvent.objects.using(using).filter(seq=1).values_list("hash", flat=True).first() or ""


def make_anchor(report: ChainReport, *, by: str, now: datetime | None = None, using: str = "default") -> dict:
    """The signed anchor of a chain that verified: its head as the walk saw it (newer events wait for the
    next anchor), the events it checked, and when."""
    record = {
        "format": FORMAT,
        "chain": chain_identity(using=using),
        "seq": report.last_seq,
        "hash": report.last_hash,
        "events": report.checked,
        "at": iso_utc(now or timezone.now()),
        "by": by,
    }
    record["signature"] = sign_anchor(record)
    return record


def anchor_line(record: dict) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"


def append_anchor(record: dict, directory: Path | None = None) -> Path:
    """Append one line to ``directory/audit-anchors.jsonl`` and fsync it. Opened with O_APPEND and
    written in one ``write``, so concurrent appenders (the cluster and a manual run) never interleave."""
    directory = Path(directory or settings.AUDIT_ANCHOR_DIR)
    path = directory / ANCHOR_FILE
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            data = anchor_line(record).encode()
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a torn last line stays a line of its own (reported as damaged)
            if os.write(fd, data) != len(data):
                raise OSError(f"short write to {path}")
            os.fsync(fd)
        finally:
            os.close(fd)
        if not size:
            fsync_directory(directory)
    except OSError as exc:
        raise AnchorError(f"cannot append to {path}: {exc}") from exc
    return path


def anchor_email(record: dict, *, recipients: Sequence[str]) -> None:
    """Mail an anchor to auditors, as an attachment ``verify_audit_log --anchor`` reads as it is."""
    line = anchor_line(record)
    when = _when(record["at"])
    body = (
        f"The portal's audit log held {record['events']} events up to #{record['seq']} at {when}, and they "
        "verified. Keep this message: it lets you find out later whether any of those events went missing.\n\n"
        "To check the audit log against it, save the attachment and run on the portal host (or anywhere with "
        f"the same AUDIT_HMAC_KEY and database):\n\n    python manage.py verify_audit_log --anchor "
        f"audit-anchor-{record['seq']}.jsonl\n\nThe anchor:\n\n{line}"
    )
    message = EmailMessage(f"Audit log anchor: #{record['seq']} at {when}", body, to=list(recipients))
    message.attach(f"audit-anchor-{record['seq']}.jsonl", line, "text/plain")
    message.send()


# --- Reading and checking --------------------------------------------------------------------


def anchor_files(directory: Path | None = None) -> list[Path]:
    """Every ``*.jsonl`` file in the anchor directory (a renamed, rotated file is still read)."""
    directory = Path(directory or settings.AUDIT_ANCHOR_DIR)
    return sorted(directory.glob("*.jsonl")) if directory.is_dir() else []


def read_anchors(paths: Iterable[Path]) -> tuple[list[Anchor], list[str]]:
    """The anchors of the files, each signature checked; and a message for each line that is not a
    genuine anchor. An unreadable file counts as damaged: it must not pass for an empty one."""
    anchors, damaged = [], []
    for path in paths:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            damaged.append(f"the anchor file {path} cannot be read ({exc})")
            continue
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"line {number} of {path}"
            record, why = _parse(line)
            if record is None:
                damaged.append(f"the anchor on {where} is forged or damaged ({why})")
            elif not hmac.compare_digest(record["signature"], sign_anchor(record)):
                damaged.append(
                    f"the anchor of {_when(record['at'])} ({where}) is forged or damaged "
                    "(its signature does not match: edited, or signed with another AUDIT_HMAC_KEY)"
                )
            else:
                anchors.append(Anchor(record, where))
    return anchors, damaged


def _parse(line: str) -> tuple[dict | None, str]:
    try:
        record = json.loads(line)
    except ValueError:
        return None, "not JSON"
    if not isinstance(record, dict):
        return None, "not an anchor record"
    fields = {
        "format": lambda v: v == FORMAT,
        "chain": lambda v: isinstance(v, str),
        "seq": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "hash": lambda v: isinstance(v, str) and bool(_HEX64.match(v)),
        "events": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "at": lambda v: isinstance(v, str) and _parse_time(v) is not None,
        "by": lambda v: isinstance(v, str),
        "signature": lambda v: isinstance(v, str),
    }
    bad = [name for name, valid in fields.items() if name not in record or not valid(record[name])]
    if bad:
        return None, f"missing or invalid: {', '.join(bad)}"
    return record, ""


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _when(value: str) -> str:
    parsed = _parse_time(value)
    return f"{parsed:%Y-%m-%d %H:%M:%S} UTC" if parsed else value


def _foreign(anchor_chain: str, identity: str) -> bool:
    if not anchor_chain or not identity:
        return False  # an anchor of an empty chain, or an empty table: the sequence numbers tell
    if identity.startswith(CHECKPOINT_CHAIN) and not anchor_chain.startswith(CHECKPOINT_CHAIN):
        return False  # it names event #1, now archived; its hash at its own seq still ties it to this chain
    return anchor_chain != identity


def check_anchors(
    chain: ChainReport, anchors: list[Anchor], damaged: Sequence[str] = (), *, using: str = "default"
) -> AnchorReport:
    """Does the verified chain reach every anchor, with the same hash at each anchored sequence number?

    Checked in this order: damaged or forged lines, anchors of another chain, an anchored event whose
    hash differs (the lowest first), then events missing up to the newest anchor. An anchor inside a
    range retention archived is compared with its checkpoint when it names the checkpoint's last event;
    otherwise the archive file holds that event (``verify_audit_log --archive``).
    """
    if damaged:
        return AnchorReport(False, len(anchors), problem=damaged[0])
    if not anchors:
        return AnchorReport(True)
    identity = chain_identity(using=using)
    for anchor in anchors:
        if _foreign(anchor.record["chain"], identity):
            problem = (
                f"{anchor} belongs to another audit chain (it names a different first event): the audit "
                "table was replaced, or the anchor comes from another portal"
            )
            return AnchorReport(False, len(anchors), problem=problem)
    ordered = sorted(anchors, key=lambda a: (a.seq, a.record["at"]))
    newest, head = ordered[-1], chain.last_seq
    stored = _hashes(sorted({a.seq for a in ordered if chain.start_seq <= a.seq <= head}), using)
    checkpoints = {
        row["last_seq"]: row["last_hash"]
        for row in AuditCheckpoint.objects.using(using).values("last_seq", "last_hash")
    }  # read after the events: a prune that raced the lookup has committed its checkpoint by now
    archived_up_to = max(checkpoints, default=0)
    for anchor in ordered:
        seq, expected = anchor.seq, anchor.record["hash"]
        if seq > head:
            break
        if seq in stored:
            actual = stored[seq]
        elif seq in checkpoints:
            actual = checkpoints[seq]
        elif seq <= archived_up_to or seq == 0:
            continue  # inside an archived range (or the anchor of an empty chain)
        else:
            return AnchorReport(False, len(anchors), newest, seq, f"event #{seq} is missing: {anchor} names it")
        if actual != expected:
            what = f"event #{seq}" if seq in stored else f"the checkpoint ending at #{seq}"
            return AnchorReport(False, len(anchors), newest, seq, f"{what} differs from {anchor}")
    if newest.seq > head:
        missing = f"event #{head + 1}" if newest.seq == head + 1 else f"events #{head + 1} to #{newest.seq}"
        ends = f"the chain ends at #{head}" if head else "the audit table holds no events"
        problem = f"{missing} missing: {newest} names #{newest.seq}; {ends}"
        return AnchorReport(False, len(anchors), newest, head + 1, problem)
    return AnchorReport(True, len(anchors), newest)


def _hashes(seqs: list[int], using: str) -> dict[int, str]:
    events = AuditEvent.objects.using(using)
    found: dict[int, str] = {}
    for start in range(0, len(seqs), _LOOKUP_BATCH):
        found.update(events.filter(seq__in=seqs[start : start + _LOOKUP_BATCH]).values_list("seq", "hash"))
    return found


# --- The whole check -------------------------------------------------------------------------


def audit_verify_and_anchor(
    *,
    by: str,
    extra: Sequence[Path] = (),
    directory: Path | None = None,
    now: datetime | None = None,
    using: str = "default",
) -> AuditCheck:
    """Verify the chain and check it against the anchors in ``directory`` (default ``AUDIT_ANCHOR_DIR``)
    and in ``extra`` files (an auditor's copies); when both pass, append a new anchor there.

    The anchors are read before the chain is walked: the events they name were committed before the
    walk began, so the walk sees them (a concurrent run's newer anchor is read next time). Raises
    :class:`AnchorError` when the chain verified but its anchor could not be written. No audit event
    is recorded for an anchor: it would move the head it names, and add one event an hour.
    """
    directory = Path(directory or settings.AUDIT_ANCHOR_DIR)
    anchors, damaged = read_anchors([*anchor_files(directory), *extra])
    chain = verify_chain(using=using)
    if not chain.ok:
        return AuditCheck(chain, AnchorReport(False, len(anchors)))
    report = check_anchors(chain, anchors, damaged, using=using)
    if not report.ok:
        return AuditCheck(chain, report)
    record = make_anchor(chain, by=by, now=now, using=using)
    path = append_anchor(record, directory)
    for receiver, error in anchor_appended.send_robust(sender=AuditCheck, record=record, path=path):
        if isinstance(error, Exception):
            log.error("Audit anchor #%s: receiver %r failed: %s", record["seq"], receiver, error)
    return AuditCheck(chain, report, record, path)

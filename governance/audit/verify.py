"""Walk the chain and report the first event (or checkpoint) that does not verify."""

from dataclasses import dataclass

from governance.audit.chain import CHECKPOINT_FIELDS, GENESIS_HASH, HASHED_FIELDS, compute_hash, sign_checkpoint
from governance.audit.models import AuditCheckpoint, AuditEvent


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""
    start_seq: int = 1  # the first event the table should hold: 1, or the one after the latest checkpoint
    checkpoints: int = 0
    # The head that was verified (the last event, or the latest checkpoint's when the table is empty):
    # what an anchor (governance.audit.anchors) names. 0 and the genesis hash for an empty chain.
    last_seq: int = 0
    last_hash: str = GENESIS_HASH


def verify_chain(*, chunk_size: int = 5000, using: str = "default") -> ChainReport:
    """Check the checkpoints, then every event in sequence order from the latest checkpoint on.

    Catches an edited row (its hash no longer matches), a deleted row (a gap in ``seq``,
    or the next row's ``prev_hash`` points at nothing), an inserted row (its hash cannot be
    forged without the key, or ``prev_hash`` of the next row disagrees) and a reordered pair
    (``prev_hash`` links break). Checkpoints left by retention (``governance.audit.archive``) are
    signed and chained to each other, so an edited or removed checkpoint is caught too; the events
    they cover are verified from their archive files (:func:`governance.audit.archive.verify_archive`).

    What the chain alone cannot show is a missing tail: without the newest events, or with none at
    all, it is a shorter chain that verifies. That takes an anchor kept outside the database
    (:mod:`governance.audit.anchors`), which ``verify_audit_log`` checks after this.
    """
    start = _verify_checkpoints(using)
    if isinstance(start, ChainReport):
        return start
    expected_seq, prev_hash, checkpoints = start
    events = AuditEvent.objects.using(using)
    stale = events.filter(seq__lt=expected_seq).order_by("seq").values_list("seq", flat=True).first()
    if stale is not None:
        return ChainReport(
            False, 0, stale, f"event #{stale} is covered by a checkpoint but still in the table", expected_seq
        )
    fields = ("seq", *[f for f in HASHED_FIELDS if f != "seq"], "prev_hash", "hash")
    checked, start_seq = 0, expected_seq
    for row in events.order_by("seq").values(*fields).iterator(chunk_size=chunk_size):
        seq = row["seq"]
        if seq != expected_seq:
            problem = f"event #{expected_seq} is missing (next found: #{seq})"
            return ChainReport(False, checked, expected_seq, problem, start_seq, checkpoints)
        if row["prev_hash"] != prev_hash:
            problem = f"event #{seq} does not follow the event before it"
            return ChainReport(False, checked, seq, problem, start_seq, checkpoints)
        if compute_hash(row["prev_hash"], row) != row["hash"]:
            problem = f"event #{seq} was altered after it was written"
            return ChainReport(False, checked, seq, problem, start_seq, checkpoints)
        prev_hash, expected_seq, checked = row["hash"], seq + 1, checked + 1
    return ChainReport(
        True, checked, start_seq=start_seq, checkpoints=checkpoints, last_seq=expected_seq - 1, last_hash=prev_hash
    )


def _verify_checkpoints(using: str) -> ChainReport | tuple[int, str, int]:
    """Each checkpoint signed, and starting where the one before it ended. Returns where the events go on."""
    expected_first, prev_hash, prev_signature, count = 1, GENESIS_HASH, GENESIS_HASH, 0
    rows = AuditCheckpoint.objects.using(using).order_by("last_seq").values(*CHECKPOINT_FIELDS, "signature")
    for checkpoint in rows:
        first, last = checkpoint["first_seq"], checkpoint["last_seq"]
        if sign_checkpoint(checkpoint) != checkpoint["signature"]:
            problem = f"the checkpoint of events #{first} to #{last} was altered"
            return ChainReport(False, 0, first, problem, first, count)
        if (checkpoint["first_seq"], checkpoint["first_prev_hash"], checkpoint["prev_signature"]) != (
            expected_first,
            prev_hash,
            prev_signature,
        ):
            problem = f"the checkpoint of events #{first} to #{last} does not follow the one before it (one is missing)"
            return ChainReport(False, 0, expected_first, problem, expected_first, count)
        expected_first, prev_hash, prev_signature = last + 1, checkpoint["last_hash"], checkpoint["signature"]
        count += 1
    return expected_first, prev_hash, count

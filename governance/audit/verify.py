"""Walk the chain and report the first event that does not verify."""

from dataclasses import dataclass

from governance.audit.chain import GENESIS_HASH, HASHED_FIELDS, compute_hash
from governance.audit.models import AuditEvent


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify_chain(*, chunk_size: int = 5000) -> ChainReport:
    """Check every event in sequence order.

    Catches an edited row (its hash no longer matches), a deleted row (a gap in ``seq``,
    or the next row's ``prev_hash`` points at nothing), an inserted row (its hash cannot be
    forged without the key, or ``prev_hash`` of the next row disagrees) and a reordered pair
    (``prev_hash`` links break).
    """
    fields = ("seq", *[f for f in HASHED_FIELDS if f != "seq"], "prev_hash", "hash")
    expected_seq, prev_hash, checked = None, GENESIS_HASH, 0
    rows = AuditEvent.objects.order_by("seq").values(*fields).iterator(chunk_size=chunk_size)
    for row in rows:
        seq = row["seq"]
        if expected_seq is None:
            expected_seq = 1
        if seq != expected_seq:
            return ChainReport(False, checked, expected_seq, f"event #{expected_seq} is missing (next found: #{seq})")
        if row["prev_hash"] != prev_hash:
            return ChainReport(False, checked, seq, f"event #{seq} does not follow the event before it")
        if compute_hash(row["prev_hash"], row) != row["hash"]:
            return ChainReport(False, checked, seq, f"event #{seq} was altered after it was written")
        prev_hash, expected_seq, checked = row["hash"], seq + 1, checked + 1
    return ChainReport(True, checked)

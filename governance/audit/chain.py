"""The hash chain: canonical form of an event and its HMAC."""

import hashlib
import hmac
import json
from datetime import UTC, datetime

from django.conf import settings

GENESIS_HASH = "0" * 64

# The fields covered by the hash, in a fixed order. Adding a field here breaks every
# existing chain: add new fields at the end and only together with a migration that
# re-anchors the chain (a checkpoint), never silently.
HASHED_FIELDS = (
    "seq",
    "created_at",
    "actor_kind",
    "actor_user_id",
    "actor_name",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "organization",
    "before",
    "after",
    "reason",
    "correlation_id",
    "client_ip",
)


def iso_utc(value: datetime) -> str:
    """ISO-8601 in UTC with microseconds and a ``Z``: the one spelling used for hashing and CSV."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(values: dict) -> bytes:
    """A byte string that is identical for equal events, whatever the database returned them as."""
    payload = {}
    for name in HASHED_FIELDS:
        value = values.get(name)
        if isinstance(value, datetime):
            value = iso_utc(value)
        payload[name] = value
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def compute_hash(prev_hash: str, values: dict, *, key: str | None = None) -> str:
    secret = (key if key is not None else settings.AUDIT_HMAC_KEY).encode()
    return hmac.new(secret, prev_hash.encode() + b"\n" + canonical(values), hashlib.sha256).hexdigest()


# What a checkpoint's signature covers, in a fixed order (see AuditCheckpoint).
CHECKPOINT_FIELDS = (
    "created_at",
    "first_seq",
    "last_seq",
    "first_prev_hash",
    "last_hash",
    "row_count",
    "cutoff",
    "archive_name",
    "archive_sha256",
    "actor_name",
    "prev_signature",
)


def checkpoint_payload(values: dict) -> dict:
    """A checkpoint's signed fields as JSON-ready values (datetimes in the ISO spelling of the chain)."""
    return {
        name: iso_utc(values[name]) if isinstance(values.get(name), datetime) else values.get(name)
        for name in CHECKPOINT_FIELDS
    }


def sign_checkpoint(values: dict, *, key: str | None = None) -> str:
    """HMAC-SHA256 of a checkpoint. The ``checkpoint`` prefix keeps it from ever equalling an event hash."""
    secret = (key if key is not None else settings.AUDIT_HMAC_KEY).encode()
    body = json.dumps(checkpoint_payload(values), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(secret, b"checkpoint\n" + body.encode(), hashlib.sha256).hexdigest()

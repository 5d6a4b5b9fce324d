"""Recording audit events: the only code that inserts into the audit table."""

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.http import HttpRequest
from django.utils import timezone

from governance.audit.chain import GENESIS_HASH, HASHED_FIELDS, iso_utc
from governance.audit.models import ActorKind, AuditCheckpoint, AuditEvent
from governance.db.upsert import insert_returning

# Any constant works; it only has to be the same in every process that appends.
_PG_ADVISORY_LOCK_KEY = 0x41554449  # "AUDI"


@dataclass(frozen=True)
class Actor:
    """Who or what made a change. ``user`` is a portal (Django) user, when there is one."""

    kind: str
    name: str = ""
    user: Any = None
    client_ip: str | None = None

    @classmethod
    def system(cls, name: str = "system") -> "Actor":
        return cls(kind=ActorKind.SYSTEM, name=name)

    @classmethod
    def scheduler(cls, name: str = "scheduler") -> "Actor":
        return cls(kind=ActorKind.SCHEDULER, name=name)

    @classmethod
    def for_user(cls, user: Any, *, kind: str = ActorKind.ADMIN, client_ip: str | None = None) -> "Actor":
        return cls(kind=kind, name=user.get_username(), user=user, client_ip=client_ip)

    @classmethod
    def from_request(cls, request: HttpRequest, *, kind: str | None = None) -> "Actor":
        """The portal user behind a request; help-desk members are recorded as such."""
        if kind is None:
            is_help_desk = request.user.groups.filter(name="Help desk").exists()
            kind = ActorKind.HELP_DESK if is_help_desk else ActorKind.ADMIN
        return cls.for_user(request.user, kind=kind, client_ip=getattr(request, "client_ip", None))


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def lock_chain_head() -> tuple[int, str]:
    """Serialize appends (and pruning) and return the current head (seq, hash). Call inside a transaction.

    SQLite: the project opens every transaction with BEGIN IMMEDIATE, which takes the
    database's single write lock at the start, so two writers can never read the same
    head. PostgreSQL: a transaction-scoped advisory lock, released at commit or rollback,
    makes concurrent appenders queue here; the head is read after the lock is held, so the
    second writer sees the first one's row. The unique ``seq`` is the last line of defence.

    When retention has pruned every event, the chain goes on from the latest checkpoint, never
    from the genesis hash again (that would reuse sequence numbers the archive holds).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_ADVISORY_LOCK_KEY])
    head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    if head:
        return head
    checkpoint = AuditCheckpoint.objects.order_by("-last_seq").values_list("last_seq", "last_hash").first()
    return checkpoint if checkpoint else (0, GENESIS_HASH)


# Built once: json.dumps(..., cls=X) constructs a new encoder on every call, which cost more
# than the encoding itself for the small dicts events carry.
_TO_JSONABLE = DjangoJSONEncoder()
# The same settings as ``governance.audit.chain.canonical`` (which verification uses), so the bytes
# hashed here are identical to the bytes it hashes when it reads the row back.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_ROWS_PER_INSERT = 500


def _jsonable(value: object, *, as_given: bool = False) -> Any:
    """What the JSON column will give back when read, so the hash is computed over the same thing.

    ``as_given``: a value made only of what JSON reads back unchanged (:func:`_plain_json`) is
    used as it is, without the encode and decode (for :func:`append_events`, which hands no
    event back, so the caller's object is never shared with one).
    """
    if value is None:
        return None
    if as_given and _plain_json(value):
        return value
    return json.loads(_TO_JSONABLE.encode(value))


def _plain_json(value: object) -> bool:
    """Whether ``json.loads(json.dumps(value)) == value`` holds by construction: dicts with ``str``
    keys, lists, ``str``, ``int``, ``bool`` and None, exact types only (a str subclass, a tuple, a
    float, a datetime or an int dict key take the encode-and-decode path)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if type(value) is dict:
        return all(type(key) is str and _plain_json(item) for key, item in value.items())
    if type(value) is list:
        return all(_plain_json(item) for item in value)
    return False


def _ip(value: str | None) -> str | None:
    return AuditEvent._meta.get_field("client_ip").get_prep_value(value) if value else None


def _text(value: object) -> str:
    """A text column's value as the database will return it (``TextField.to_python`` stores str())."""
    return value if isinstance(value, str) else str(value)


def _values(
    seq: int,
    now: datetime,
    *,
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    json_as_given: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    """One event's field values by attribute name, as they read back from the database."""
    target_type, target_id, target_repr = _describe_target(target, fields)
    return {
        "seq": seq,
        "created_at": now,
        "actor_kind": str(actor.kind),
        "actor_user_id": getattr(actor.user, "pk", None),
        "actor_name": (actor.name or "")[:200],
        "action": str(action),
        "target_type": target_type,
        "target_id": target_id,
        "target_repr": target_repr,
        "organization": str(fields.get("organization") or "")[:200],
        "before": _jsonable(fields.get("before"), as_given=json_as_given),
        "after": _jsonable(fields.get("after"), as_given=json_as_given),
        "reason": _text(fields.get("reason") or ""),
        "correlation_id": _text(fields.get("correlation_id") or ""),
        "client_ip": _ip(fields.get("client_ip") or actor.client_ip),
    }


def _hasher(created_at: datetime) -> Callable[[str, dict[str, Any]], str]:
    """``compute_hash`` for a batch sharing one ``created_at``, with the per-batch work done once.

    Byte for byte the message ``governance.audit.chain.compute_hash`` builds: the previous hash,
    a newline, and ``canonical()`` of the hashed fields (datetimes as ISO UTC, keys sorted, nested
    dicts too). Only the key and the timestamp's spelling are hoisted out of the loop.
    """
    key = settings.AUDIT_HMAC_KEY.encode()
    created_iso = iso_utc(created_at)
    encode = _CANONICAL.encode

    def compute(prev_hash: str, values: dict[str, Any]) -> str:
        payload = {name: values[name] for name in HASHED_FIELDS}
        payload["created_at"] = created_iso
        message = prev_hash.encode() + b"\n" + encode(payload).encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    return compute


def _describe_target(target: models.Model | None, fields: dict[str, Any]) -> tuple[str, str, str]:
    if target is None:
        return (
            str(fields.get("target_type") or "")[:64],
            str(fields.get("target_id") or "")[:200],
            str(fields.get("target_repr") or "")[:300],
        )
    return (target._meta.label_lower[:64], str(target.pk)[:200], str(target)[:300])


def record_event(*, actor: Actor, action: str, target: models.Model | None = None, **fields: Any) -> AuditEvent:
    """Append one event inside the caller's transaction (opening one if there is none).

    ``target`` is a model instance, or pass ``target_type``/``target_id``/``target_repr``.
    Other keywords: ``organization``, ``before``, ``after``, ``reason``, ``correlation_id``,
    ``client_ip``. Values in ``before``/``after`` must be JSON-serialisable.
    """
    return record_events([dict(actor=actor, action=action, target=target, **fields)])[0]


def record_events(events: list[dict[str, Any]]) -> list[AuditEvent]:
    """Append a batch of events with one lock and one INSERT per few hundred rows.

    The rows go in through a plain multi-row INSERT rather than ``bulk_create``: the ORM's
    per-field, per-row preparation took more time than SQLite took to write them. The values are
    still adapted by the connection's own operations (JSON, IP address, datetime), so what is
    stored is what ``bulk_create`` stored, on SQLite and PostgreSQL alike.
    """
    if not events:
        return []
    rows, ids = _append(events, json_as_given=False)
    return [_instance(values, ids[values["seq"]]) for values in rows]


def append_events(events: list[dict[str, Any]]) -> int:
    """:func:`record_events` for a caller that needs only how many events were written.

    The same rows, sequence numbers and hash chain, byte for byte; what it skips is building a
    model instance per event, and, for ``before``/``after`` values already made of plain JSON
    types, encoding and decoding them once more to learn what the column will give back (they are
    that already). For the bulk writers (a seed import: one event per account).
    """
    if not events:
        return 0
    rows, _ = _append(events, json_as_given=True)
    return len(rows)


def _append(events: list[dict[str, Any]], *, json_as_given: bool) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """Lock the chain, chain ``events`` after its head, INSERT them; their values and primary keys."""
    with transaction.atomic():
        seq, prev_hash = lock_chain_head()
        now = timezone.now()
        compute = _hasher(now)
        rows = []
        for spec in events:
            seq += 1
            values = _values(seq, now, json_as_given=json_as_given, **spec)
            values["prev_hash"] = prev_hash
            values["hash"] = prev_hash = compute(prev_hash, values)
            rows.append(values)
        ids = _insert(rows, now)
    return rows, ids


_COLUMNS = ("seq", *HASHED_FIELDS[1:], "prev_hash", "hash")


def _insert(rows: list[dict[str, Any]], now: datetime) -> dict[int, int]:
    """INSERT ``rows`` (governance.db.upsert.insert_returning); return their primary keys by sequence number."""
    ops = connection.ops
    created_at = AuditEvent._meta.get_field("created_at").get_db_prep_save(now, connection)
    json_value, ip_value = ops.adapt_json_value, ops.adapt_ipaddressfield_value
    params = [
        (
            v["seq"],
            created_at,
            v["actor_kind"],
            v["actor_user_id"],
            v["actor_name"],
            v["action"],
            v["target_type"],
            v["target_id"],
            v["target_repr"],
            v["organization"],
            None if v["before"] is None else json_value(v["before"], None),
            None if v["after"] is None else json_value(v["after"], None),
            v["reason"],
            v["correlation_id"],
            ip_value(v["client_ip"]),
            v["prev_hash"],
            v["hash"],
        )
        for v in rows
    ]
    # Matched by seq, not by position: SQLite does not promise RETURNING's row order.
    returned = insert_returning(AuditEvent, _COLUMNS, params, returning=("seq", "id"), max_rows=_ROWS_PER_INSERT)
    if returned is not None:
        return dict(returned)
    first, last = rows[0]["seq"], rows[-1]["seq"]
    return dict(AuditEvent.objects.filter(seq__gte=first, seq__lte=last).values_list("seq", "id"))


_FIELD_NAMES = [f.attname for f in AuditEvent._meta.concrete_fields]


def _instance(values: dict[str, Any], pk: int) -> AuditEvent:
    """The saved event as a model instance, as a query would return it."""
    values = {**values, AuditEvent._meta.pk.attname: pk}
    return AuditEvent.from_db(connection.alias, _FIELD_NAMES, [values[name] for name in _FIELD_NAMES])

"""Recording audit events: the only code that inserts into the audit table."""

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from governance.audit.chain import GENESIS_HASH, compute_hash
from governance.audit.models import ActorKind, AuditCheckpoint, AuditEvent

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
    def for_user(cls, user, *, kind: str = ActorKind.ADMIN, client_ip: str | None = None) -> "Actor":
        return cls(kind=kind, name=user.get_username(), user=user, client_ip=client_ip)

    @classmethod
    def from_request(cls, request, *, kind: str | None = None) -> "Actor":
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


def _jsonable(value):
    """What the JSON column will give back when read, so the hash is computed over the same thing."""
    if value is None:
        return None
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _ip(value: str | None) -> str | None:
    return AuditEvent._meta.get_field("client_ip").get_prep_value(value) if value else None


def _build(seq: int, prev_hash: str, now, *, actor: Actor, action: str, target=None, **fields) -> AuditEvent:
    target_type, target_id, target_repr = _describe_target(target, fields)
    event = AuditEvent(
        seq=seq,
        created_at=now,
        actor_kind=str(actor.kind),
        actor_user_id=getattr(actor.user, "pk", None),
        actor_name=(actor.name or "")[:200],
        action=str(action),
        target_type=target_type,
        target_id=target_id,
        target_repr=target_repr,
        organization=str(fields.get("organization") or "")[:200],
        before=_jsonable(fields.get("before")),
        after=_jsonable(fields.get("after")),
        reason=fields.get("reason") or "",
        correlation_id=fields.get("correlation_id") or "",
        client_ip=_ip(fields.get("client_ip") or actor.client_ip),
        prev_hash=prev_hash,
    )
    event.hash = compute_hash(prev_hash, event.__dict__)
    return event


def _describe_target(target, fields) -> tuple[str, str, str]:
    if target is None:
        return (
            str(fields.get("target_type") or "")[:64],
            str(fields.get("target_id") or "")[:200],
            str(fields.get("target_repr") or "")[:300],
        )
    return (target._meta.label_lower[:64], str(target.pk)[:200], str(target)[:300])


def record_event(*, actor: Actor, action: str, target=None, **fields) -> AuditEvent:
    """Append one event inside the caller's transaction (opening one if there is none).

    ``target`` is a model instance, or pass ``target_type``/``target_id``/``target_repr``.
    Other keywords: ``organization``, ``before``, ``after``, ``reason``, ``correlation_id``,
    ``client_ip``. Values in ``before``/``after`` must be JSON-serialisable.
    """
    return record_events([dict(actor=actor, action=action, target=target, **fields)])[0]


def record_events(events: list[dict]) -> list[AuditEvent]:
    """Append a batch of events with one lock and one INSERT per few hundred rows."""
    if not events:
        return []
    with transaction.atomic():
        seq, prev_hash = lock_chain_head()
        now = timezone.now()
        rows = []
        for spec in events:
            seq += 1
            row = _build(seq, prev_hash, now, **spec)
            rows.append(row)
            prev_hash = row.hash
        AuditEvent.objects.bulk_create(rows, batch_size=500)
    return rows

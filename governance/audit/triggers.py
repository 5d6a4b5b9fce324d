"""Database triggers that keep the audit tables append-only.

The ORM guards stop application code; these also stop raw SQL through the application's
own database role. A database superuser can still drop them, which is why the chain is keyed
with an HMAC secret kept outside the database (``verify_audit_log`` finds such edits), and its head
anchored outside it (``governance.audit.anchors``: deleting the newest events is found too).

The one DELETE they let through is the retention job's (``governance.audit.archive``), and only
for events a committed-or-same-transaction checkpoint already covers, so no statement can remove
an event that is not in an archive:

- PostgreSQL: the transaction must ``SET LOCAL governance.audit_prune = 'on'``.
- SQLite has no session variables, and a trigger may only read tables of its own schema (not a
  connection's TEMP table), so the permission is a row in ``governance_audit_prune_permit`` that
  the pruning transaction inserts and deletes again before it commits. SQLite has one writer at a
  time, so no other connection can ever see or use that row; a crash rolls it back with the rest.

Checkpoints are never deleted or changed.

Inserts are refused when they would reuse an existing row's ``id`` or sequence number (``seq``;
``first_seq``/``last_seq`` for checkpoints). SQLite's ``INSERT OR REPLACE`` (and ``REPLACE INTO``)
otherwise deletes the row in the way without firing any DELETE trigger (unless the connection
turned ``recursive_triggers`` on), so copying event #118 onto #119's id quietly removed an event
and left a chain that verified. The check is two lookups in the unique indexes the insert probes
anyway. PostgreSQL has no REPLACE: a duplicate key fails its unique constraints, and ``INSERT ...
ON CONFLICT DO UPDATE`` or ``MERGE`` go through the row UPDATE/DELETE triggers; TRUNCATE fires no
row trigger, so a statement trigger refuses it. tests/conftest.py lifts all of them around a test
flush (which is a DELETE on SQLite and a TRUNCATE on PostgreSQL).
"""

TABLE = "governance_auditevent"
CHECKPOINT_TABLE = "governance_auditcheckpoint"
SQLITE_PERMIT_TABLE = "governance_audit_prune_permit"

_ABORT = "SELECT RAISE(ABORT, 'audit events are append-only');"
_SQLITE_GUARDS = ("audit_no_reuse", "audit_checkpoint_no_reuse")  # migration 0009
_SQLITE_TRIGGERS = (
    "audit_no_update",
    "audit_no_delete",
    "audit_checkpoint_no_update",
    "audit_checkpoint_no_delete",
    *_SQLITE_GUARDS,
)

_SQLITE_INSTALL = [
    f"CREATE TABLE IF NOT EXISTS {SQLITE_PERMIT_TABLE} (up_to_seq INTEGER NOT NULL)",
    # Dropped first: CREATE TRIGGER IF NOT EXISTS would keep an older definition.
    *[f"DROP TRIGGER IF EXISTS {name}" for name in _SQLITE_TRIGGERS],
    f"CREATE TRIGGER audit_no_update BEFORE UPDATE ON {TABLE} BEGIN {_ABORT} END;",
    f"CREATE TRIGGER audit_no_delete BEFORE DELETE ON {TABLE} "  # noqa: S608  (constants, no input)
    f"WHEN OLD.seq > COALESCE((SELECT MAX(up_to_seq) FROM {SQLITE_PERMIT_TABLE}), 0) "
    f"OR OLD.seq > COALESCE((SELECT MAX(last_seq) FROM {CHECKPOINT_TABLE}), 0) "
    f"BEGIN {_ABORT} END;",
    f"CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON {CHECKPOINT_TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;",
    f"CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON {CHECKPOINT_TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;",
    # One EXISTS per unique index, so each is a single index probe (an OR in one WHERE may scan).
    # NEW.id is -1 when the id is left to the database, which matches no row.
    f"CREATE TRIGGER audit_no_reuse BEFORE INSERT ON {TABLE} "  # noqa: S608  (constants, no input)
    f"WHEN EXISTS (SELECT 1 FROM {TABLE} WHERE id = NEW.id) "
    f"OR EXISTS (SELECT 1 FROM {TABLE} WHERE seq = NEW.seq) "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only: this insert would replace an event'); END;",
    f"CREATE TRIGGER audit_checkpoint_no_reuse BEFORE INSERT ON {CHECKPOINT_TABLE} "  # noqa: S608
    f"WHEN EXISTS (SELECT 1 FROM {CHECKPOINT_TABLE} WHERE id = NEW.id) "
    f"OR EXISTS (SELECT 1 FROM {CHECKPOINT_TABLE} WHERE first_seq = NEW.first_seq) "
    f"OR EXISTS (SELECT 1 FROM {CHECKPOINT_TABLE} WHERE last_seq = NEW.last_seq) "
    "BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only: this insert would replace one'); END;",
]
_SQLITE_REMOVE = [f"DROP TRIGGER IF EXISTS {name}" for name in _SQLITE_TRIGGERS]
_SQLITE_REMOVE_GUARDS = [f"DROP TRIGGER IF EXISTS {name}" for name in _SQLITE_GUARDS]

_PG_INSTALL = [
    f"""CREATE OR REPLACE FUNCTION governance_audit_append_only() RETURNS trigger AS $$
       BEGIN
         IF TG_OP = 'DELETE' AND current_setting('governance.audit_prune', true) = 'on'
            AND OLD.seq <= (SELECT COALESCE(MAX(last_seq), 0) FROM {CHECKPOINT_TABLE}) THEN
           RETURN OLD;
         END IF;
         RAISE EXCEPTION 'audit events are append-only';
       END; $$ LANGUAGE plpgsql""",  # noqa: S608  (constants, no input)
    f"DROP TRIGGER IF EXISTS audit_append_only ON {TABLE}",
    f"CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION governance_audit_append_only()",
    """CREATE OR REPLACE FUNCTION governance_audit_checkpoint_append_only() RETURNS trigger AS $$
       BEGIN
         RAISE EXCEPTION 'audit checkpoints are append-only';
       END; $$ LANGUAGE plpgsql""",
    f"DROP TRIGGER IF EXISTS audit_checkpoint_append_only ON {CHECKPOINT_TABLE}",
    f"CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON {CHECKPOINT_TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION governance_audit_checkpoint_append_only()",
    # TRUNCATE fires no row trigger; a statement trigger refuses it (both tables, one function).
    """CREATE OR REPLACE FUNCTION governance_audit_no_truncate() RETURNS trigger AS $$
       BEGIN
         RAISE EXCEPTION 'audit tables are append-only: TRUNCATE refused';
       END; $$ LANGUAGE plpgsql""",
    f"DROP TRIGGER IF EXISTS audit_no_truncate ON {TABLE}",
    f"CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON {TABLE} "
    "FOR EACH STATEMENT EXECUTE FUNCTION governance_audit_no_truncate()",
    f"DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON {CHECKPOINT_TABLE}",
    f"CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON {CHECKPOINT_TABLE} "
    "FOR EACH STATEMENT EXECUTE FUNCTION governance_audit_no_truncate()",
]
_PG_REMOVE_GUARDS = [
    f"DROP TRIGGER IF EXISTS audit_no_truncate ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON {CHECKPOINT_TABLE}",
    "DROP FUNCTION IF EXISTS governance_audit_no_truncate()",
]
_PG_REMOVE = [
    f"DROP TRIGGER IF EXISTS audit_append_only ON {TABLE}",
    "DROP FUNCTION IF EXISTS governance_audit_append_only()",
    f"DROP TRIGGER IF EXISTS audit_checkpoint_append_only ON {CHECKPOINT_TABLE}",
    "DROP FUNCTION IF EXISTS governance_audit_checkpoint_append_only()",
    *_PG_REMOVE_GUARDS,
]

_INSTALL = {"sqlite": _SQLITE_INSTALL, "postgresql": _PG_INSTALL}
_REMOVE = {"sqlite": _SQLITE_REMOVE, "postgresql": _PG_REMOVE}
_REMOVE_GUARDS = {"sqlite": _SQLITE_REMOVE_GUARDS, "postgresql": _PG_REMOVE_GUARDS}


def _table_exists(connection, name: str) -> bool:
    return name in connection.introspection.table_names()


def install(connection) -> None:
    """Create or replace every trigger (idempotent). Migration 0002 runs before the checkpoint
    table exists (0007): its triggers are created with the rest once it does."""
    has_checkpoints = _table_exists(connection, CHECKPOINT_TABLE)
    with connection.cursor() as cursor:
        for sql in _INSTALL.get(connection.vendor, []):
            if " ON " + CHECKPOINT_TABLE in sql and not has_checkpoints:
                continue
            cursor.execute(sql)


def remove(connection) -> None:
    _drop(connection, _REMOVE)


def remove_insert_guards(connection) -> None:
    """Drop only what migration 0009 added (the insert and TRUNCATE guards): its reverse."""
    _drop(connection, _REMOVE_GUARDS)


def _drop(connection, statements: dict[str, list[str]]) -> None:
    has_checkpoints = _table_exists(connection, CHECKPOINT_TABLE)
    with connection.cursor() as cursor:
        for sql in statements.get(connection.vendor, []):
            if " ON " + CHECKPOINT_TABLE in sql and not has_checkpoints:
                continue  # DROP TRIGGER ... ON a missing table fails on PostgreSQL
            cursor.execute(sql)

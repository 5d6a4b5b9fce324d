"""Database triggers that keep the audit tables append-only.

The ORM guards stop application code; these also stop raw SQL through the application's
own database role. A database superuser can still drop them, which is why the chain is keyed
with an HMAC secret kept outside the database (``verify_audit_log`` finds such edits).

The one DELETE they let through is the retention job's (``governance.audit.archive``), and only
for events a committed-or-same-transaction checkpoint already covers, so no statement can remove
an event that is not in an archive:

- PostgreSQL: the transaction must ``SET LOCAL governance.audit_prune = 'on'``.
- SQLite has no session variables, and a trigger may only read tables of its own schema (not a
  connection's TEMP table), so the permission is a row in ``governance_audit_prune_permit`` that
  the pruning transaction inserts and deletes again before it commits. SQLite has one writer at a
  time, so no other connection can ever see or use that row; a crash rolls it back with the rest.

Checkpoints are never deleted or changed. TRUNCATE (test flushes on PostgreSQL) fires no row
trigger; tests/conftest.py lifts the SQLite triggers around a flush.
"""

TABLE = "governance_auditevent"
CHECKPOINT_TABLE = "governance_auditcheckpoint"
SQLITE_PERMIT_TABLE = "governance_audit_prune_permit"

_ABORT = "SELECT RAISE(ABORT, 'audit events are append-only');"
_SQLITE_TRIGGERS = ("audit_no_update", "audit_no_delete", "audit_checkpoint_no_update", "audit_checkpoint_no_delete")

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
]
_SQLITE_REMOVE = [f"DROP TRIGGER IF EXISTS {name}" for name in _SQLITE_TRIGGERS]

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
]
_PG_REMOVE = [
    f"DROP TRIGGER IF EXISTS audit_append_only ON {TABLE}",
    "DROP FUNCTION IF EXISTS governance_audit_append_only()",
    f"DROP TRIGGER IF EXISTS audit_checkpoint_append_only ON {CHECKPOINT_TABLE}",
    "DROP FUNCTION IF EXISTS governance_audit_checkpoint_append_only()",
]

_INSTALL = {"sqlite": _SQLITE_INSTALL, "postgresql": _PG_INSTALL}
_REMOVE = {"sqlite": _SQLITE_REMOVE, "postgresql": _PG_REMOVE}


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
    has_checkpoints = _table_exists(connection, CHECKPOINT_TABLE)
    with connection.cursor() as cursor:
        for sql in _REMOVE.get(connection.vendor, []):
            if " ON " + CHECKPOINT_TABLE in sql and not has_checkpoints:
                continue  # DROP TRIGGER ... ON a missing table fails on PostgreSQL
            cursor.execute(sql)

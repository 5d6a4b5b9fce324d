"""Database triggers that refuse UPDATE and DELETE on the audit table.

The ORM guards stop application code; these also stop raw SQL through the application's
own database role. A database superuser can still drop them, which is why the chain is keyed
with an HMAC secret kept outside the database (``verify_audit_log`` finds such edits).
PostgreSQL allows DELETE when the transaction sets ``governance.audit_prune = on``: only the
retention job does that, after archiving (TRUNCATE, used by test flushes, fires no row trigger).
"""

TABLE = "governance_auditevent"

_SQLITE_INSTALL = [
    f"CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON {TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;",
    f"CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON {TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;",
]
_SQLITE_REMOVE = ["DROP TRIGGER IF EXISTS audit_no_update", "DROP TRIGGER IF EXISTS audit_no_delete"]

_PG_INSTALL = [
    """CREATE OR REPLACE FUNCTION governance_audit_append_only() RETURNS trigger AS $$
       BEGIN
         IF TG_OP = 'DELETE' AND current_setting('governance.audit_prune', true) = 'on' THEN
           RETURN OLD;
         END IF;
         RAISE EXCEPTION 'audit events are append-only';
       END; $$ LANGUAGE plpgsql""",
    f"DROP TRIGGER IF EXISTS audit_append_only ON {TABLE}",
    f"CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION governance_audit_append_only()",
]
_PG_REMOVE = [
    f"DROP TRIGGER IF EXISTS audit_append_only ON {TABLE}",
    "DROP FUNCTION IF EXISTS governance_audit_append_only()",
]

_INSTALL = {"sqlite": _SQLITE_INSTALL, "postgresql": _PG_INSTALL}
_REMOVE = {"sqlite": _SQLITE_REMOVE, "postgresql": _PG_REMOVE}


def install(connection) -> None:
    with connection.cursor() as cursor:
        for sql in _INSTALL.get(connection.vendor, []):
            cursor.execute(sql)


def remove(connection) -> None:
    with connection.cursor() as cursor:
        for sql in _REMOVE.get(connection.vendor, []):
            cursor.execute(sql)

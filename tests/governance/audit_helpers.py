"""Tampering with the audit table the way an attacker with database access would."""

from contextlib import contextmanager

from django.db import connection

from governance.audit import triggers

TABLE = triggers.TABLE


@contextmanager
def triggers_dropped():
    """Drop the append-only triggers for the block (a DB superuser can), then put them back."""
    triggers.remove(connection)
    try:
        yield
    finally:
        triggers.install(connection)


def raw(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)

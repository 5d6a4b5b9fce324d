"""Every place the portal goes around Django's ORM, each with its reason and a test on SQLite and PostgreSQL.

- :mod:`governance.db.upsert`: batched multi-row ``INSERT … ON CONFLICT`` for the sync's and the
  seed import's big tables, and the audit trail's ``INSERT … RETURNING``;
- :mod:`governance.db.fetch`: ``field IN (…)`` lookups read as driver values;
- :mod:`governance.db.compiled`: a queryset's SQL run by its compiler without the per-row converters;
- :mod:`governance.db.datetimes`: datetimes in and out of their database form, as Django converts them;
- :mod:`governance.db.sqlite`: connection settings for large SQLite writes.

They lean on Django internals (the SQL compiler, backend operations) that an upgrade may change:
tests/governance/test_db_bypasses.py holds each to what the ORM itself does, on both databases.
"""

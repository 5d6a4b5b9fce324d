"""ORM-level guards that keep the audit table append-only.

Database triggers (migration 0002) back these up for anything that bypasses the ORM.
"""

from django.db import models


class AppendOnlyViolation(Exception):
    """Raised on any attempt to update or delete an audit event."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyViolation("Audit events cannot be changed.")

    def delete(self):
        raise AppendOnlyViolation("Audit events cannot be deleted.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyViolation("Audit events cannot be changed.")

    def update_or_create(self, *args, **kwargs):
        raise AppendOnlyViolation("Audit events cannot be changed.")

    def _raw_delete(self, using):
        raise AppendOnlyViolation("Audit events cannot be deleted.")

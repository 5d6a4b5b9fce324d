"""The tamper-evident audit trail: an append-only, HMAC-chained event table.

Record with :func:`governance.audit.record.record_event` (one event) or
:func:`governance.audit.record.record_events` (a batch), always inside the caller's transaction.
"""

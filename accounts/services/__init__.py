"""Writes to the mirror and to Atlassian. Each service: keyword-only arguments, one transaction,
one audit event per changed object. Admin actions, API views, tasks and commands call these."""

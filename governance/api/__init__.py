"""The REST API's bottom layer: per-user API tokens, their authentication and admin, and the base
permission, pagination, filter and throttle classes the apps' API views share.

Imports nothing from ``accounts`` or ``policies``: their views live in ``accounts.api`` and
``policies.api`` and are wired in by dotted path (``governance.api_urls``).
"""

"""The REST API of policies (``/api/policies/``, ``/api/exemptions/`` ...): views call the same
services as the admin."""

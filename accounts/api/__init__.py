"""The REST API of the mirror (``/api/accounts/``, ``/api/groups/`` ...): views call the same filter
sets and services as the admin."""

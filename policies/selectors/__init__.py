"""Reads for policies: what the engine is fed (``snapshots``), what a policy would do (``preview``)
and the dashboard's figures (``dashboard``). The admin, the API and the services read through
these; writes go through ``policies.services``."""

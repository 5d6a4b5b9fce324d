"""Reads of the mirror for pages and the API: plain functions returning querysets, dicts or small
dataclasses. The admin and the API read through these; writes go through ``accounts.services``."""

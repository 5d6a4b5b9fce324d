"""The task cluster runs the portal's own functions only (DESIGN.md 5.13).

``allowlist`` names them (settings.PORTAL_TASK_FUNCTIONS), ``guard`` refuses anything else inside
the worker before it runs, and ``admin`` replaces django-q2's editable admin pages with read-only ones.
"""

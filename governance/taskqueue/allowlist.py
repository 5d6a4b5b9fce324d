"""Which functions the task cluster may run: ``settings.PORTAL_TASK_FUNCTIONS``, by dotted path.

One explicit list in settings rather than whatever the schedules or queued tasks happen to name:
a schedule row or a queued task is data (a database row, a Redis entry) that anyone able to write
there controls, so it can never vouch for itself. Settings name the upper layers' functions by
dotted path, so this bottom layer imports nothing from them.
"""

from django.conf import settings
from django.utils.module_loading import import_string

_NAME_LIMIT = 200


def portal_task_functions() -> frozenset[str]:
    return frozenset(settings.PORTAL_TASK_FUNCTIONS)


def dotted_name(func) -> str:
    """The name a task gives its function: the string itself, or ``module.qualname`` of a callable."""
    if isinstance(func, str):
        return func
    module, qualname = getattr(func, "__module__", None), getattr(func, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else type(func).__name__


def is_portal_function(func) -> bool:
    """True for a listed dotted path, or for the very callable such a path imports."""
    name = dotted_name(func)
    if name not in portal_task_functions():
        return False
    if isinstance(func, str):
        return True
    try:
        return import_string(name) is func
    except Exception:  # not importable here: not ours
        return False


def refusal_summary(name: str, *, kind: str = "function") -> str:
    """What a refused task records as its result: a fixed sentence, never anything the task produced.
    Deterministic, so the admin can tell the portal's own summary from a stored foreign result."""
    shown = name if len(name) <= _NAME_LIMIT else name[: _NAME_LIMIT - 1] + "…"
    return (
        f"Refused before it ran: the {kind} {shown} is not a portal task function. Nothing was executed; "
        "the refusal is in the audit log (task.refused) and was reported to the portal admins."
    )

"""Refuse, inside the worker, any task whose function or result hook is not a portal task function.

Where: django-q2's ``pre_execute`` signal, sent by the worker right before it calls the task's
function, for every task whatever put it in the queue (``async_task``, the scheduler reading a
schedule row, a row inserted by SQL, a task queued by an older release). Checking earlier is not
enough: ``pre_enqueue`` never sees a task written straight into the broker, and raising there would
abort the scheduler's whole batch, so one bad schedule would stop every other job.

How: the signal cannot cancel the call by itself. A receiver's exception is raised outside the
worker's try block (django_q/worker.py), so it kills the worker process: the task is then lost
(Redis) or re-delivered forever (ORM), and never recorded. And the function was already imported
into a local variable, so replacing ``task["func"]`` changes nothing. What the worker still reads
after the signal is ``task["args"]`` and ``task["kwargs"]``: it calls ``f(*task["args"],
**task["kwargs"])`` inside its try block, and Python unpacks the arguments before it enters the
function. So the receiver swaps the arguments for :class:`_RefusedArguments`, whose unpacking raises
:class:`TaskRefused`: the function is never entered, and the worker records the exception as a failed
task through its ordinary path (acknowledged, saved as a Failure, shown under Failed tasks).
``post_execute_in_worker`` then replaces the traceback with the portal's fixed summary.
tests/governance/test_task_guard.py runs the real pusher, worker and monitor, so a django-q2
release that reads the arguments differently fails that test rather than running foreign code.
"""

import logging

from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from governance.notify import portal_admins_notify
from governance.taskqueue.allowlist import dotted_name, is_portal_function, refusal_summary

log = logging.getLogger(__name__)

# Marks a refused task between the two signals (the task dict travels from one to the other).
_REFUSED = "portal_refused"


class TaskRefused(Exception):
    """Raised in place of a refused task's function, before that function is entered."""


class _RefusedArguments:
    """Stands in for a refused task's args and kwargs: unpacking it raises."""

    def __init__(self, summary: str):
        self.summary = summary

    def __iter__(self):  # f(*args)
        raise TaskRefused(self.summary)

    def keys(self):  # f(**kwargs)
        raise TaskRefused(self.summary)


def foreign_part(task: dict) -> tuple[str, str] | None:
    """("function" | "result hook", dotted name) of what is not a portal function, else None."""
    if not is_portal_function(task.get("func")):
        return "function", dotted_name(task.get("func"))
    hook = task.get("hook")
    if hook and not is_portal_function(hook):
        return "result hook", dotted_name(hook)
    return None


def refuse_foreign_task(sender, task: dict, **kwargs) -> None:
    """pre_execute receiver. Disarms the task first, then records and reports: a failure to record
    or to send mail must never let the task run."""
    foreign = foreign_part(task)
    if foreign is None:
        return
    kind, name = foreign
    summary = refusal_summary(name, kind=kind)
    task[_REFUSED] = summary
    task["args"] = task["kwargs"] = _RefusedArguments(summary)
    task["hook"] = None  # the monitor would call it with the saved result
    task["chain"] = None  # nor queue whatever follows it
    task["cached"] = False  # saved as a Failure row, where the admins look, not in the cache
    task["ack_failure"] = True  # removed from the queue, never re-presented
    for step in (_record, _report):
        try:
            step(task, kind=kind, name=name, summary=summary)
        except Exception:
            log.exception("Refused task %s: %s failed", task.get("id"), step.__name__)


def summarise_refusal(sender, task: dict, **kwargs) -> None:
    """post_execute_in_worker receiver: a refused task's stored result, arguments and hook are the
    portal's summary and nothing else (never the traceback or what the task carried)."""
    summary = task.pop(_REFUSED, None)
    if summary is None:
        return
    task["result"], task["success"] = summary, False
    task["args"], task["kwargs"], task["hook"] = (), {}, None


def _record(task: dict, *, kind: str, name: str, summary: str) -> None:
    record_event(
        actor=Actor.system("task cluster"),
        action=AuditAction.TASK_REFUSED,
        target_type="django_q.task",
        target_id=str(task.get("id") or ""),
        target_repr=str(task.get("name") or ""),
        after={
            "refused": kind,
            "name": name[:300],
            "func": dotted_name(task.get("func"))[:300],
            "group": str(task.get("group") or "")[:300],
            "cluster": str(task.get("cluster") or ""),
        },
        reason=summary,
    )


def _report(task: dict, *, kind: str, name: str, summary: str) -> None:
    portal_admins_notify(
        subject=f"Task refused: {name[:120]}",
        lines=[
            summary,
            "",
            f"Task: {task.get('name')}",
            f"Schedule or group: {task.get('group') or '-'}",
            f"Cluster: {task.get('cluster') or '-'}",
            "",
            "The portal only runs its own task functions (settings.PORTAL_TASK_FUNCTIONS). Someone or "
            "something put this task in the queue, or a schedule naming it in the database: check the "
            "schedules under Task queue in the admin, and who can write to the database and the broker.",
        ],
    )

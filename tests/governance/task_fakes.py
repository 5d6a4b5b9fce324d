"""Functions that are not portal task functions, each leaving a visible trace when it runs: what a
schedule or queued task naming foreign code would have the cluster call."""

from pathlib import Path

HOOK_CALLS: list[str] = []


def leave_mark(path: str) -> str:
    Path(path).write_text("this ran")
    return "marked"


def note_hook(task) -> None:
    HOOK_CALLS.append(task.id)

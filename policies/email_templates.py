"""The placeholders of a policy's email templates: which may appear, and filling them in safely.

A template is plain text with ``{name}``-style placeholders, and nothing more of Python's format
language: a format spec (``{name:>999999999}`` builds a gigabyte string per email), a conversion
(``{name!r}``), attribute or index access (``{name.__class__}``, ``{name[0]}``) or a positional
``{}`` are refused when the template is saved (:func:`check_template`), and :func:`fill` never
evaluates them even in a template saved before the check existed.
"""

from collections.abc import Callable, Mapping
from string import Formatter

PLACEHOLDERS = ("name", "days_inactive", "product", "action", "action_date", "restore_link")
TEMPLATE_FIELDS = ("warning_subject", "warning_body", "action_subject", "action_body")


class TemplateProblem(ValueError):
    pass


def allowed() -> str:
    return ", ".join("{" + name + "}" for name in PLACEHOLDERS)


def as_written(field_name: str, conversion: str | None, format_spec: str) -> str:
    """A parsed placeholder as it appears in the template (nested fields in a spec stay as they are)."""
    written = field_name + (f"!{conversion}" if conversion else "") + (f":{format_spec}" if format_spec else "")
    return "{" + written + "}"


def _parse(text: str):
    try:
        return list(Formatter().parse(text))
    except ValueError as exc:
        raise TemplateProblem(f"Unbalanced braces: {exc}. Write {{{{ and }}}} for a literal brace.") from None


def check_template(text: str) -> None:
    """Only the documented placeholders, each plain: anything else is a clear error for the editor."""
    unknown, decorated = [], []
    for _, field_name, format_spec, conversion in _parse(text):
        if field_name is None:
            continue
        written = as_written(field_name, conversion, format_spec)
        if field_name not in PLACEHOLDERS:
            unknown.append(written)
        elif format_spec or conversion:
            decorated.append(written)
    problems = []
    if unknown:
        problems.append(f"Unknown placeholder(s) {', '.join(dict.fromkeys(unknown))}")
    if decorated:
        problems.append(
            f"Placeholder(s) {', '.join(dict.fromkeys(decorated))} with a format or conversion "
            "(“:…” or “!…”), which templates do not support"
        )
    if problems:
        raise TemplateProblem(f"{'; '.join(problems)}. Use only {allowed()}, exactly as written here.")


def fill(template: str, values: Mapping[str, object], *, literal: Callable[[str], str] = str) -> str:
    """``template`` with each plain placeholder replaced by its value, in one pass.

    Anything else in braces (a format spec, a conversion, an unknown name, attribute or index
    access) is copied as written rather than evaluated, so a template saved before
    :func:`check_template` existed still renders in bounded time and reads nothing but ``values``.
    ``literal`` transforms the template's own text (``escape`` for HTML); values go in as given.
    """
    parts = []
    for text, field_name, format_spec, conversion in _parse(template):
        parts.append(literal(text))
        if field_name is None:
            continue
        if field_name in values and not format_spec and not conversion:
            parts.append(str(values[field_name]))
        else:
            parts.append(literal(as_written(field_name, conversion, format_spec)))
    return "".join(parts)

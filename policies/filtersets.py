"""The account filter policies add to the mirror's: ``?exempted=true|false``.

Registered with :func:`accounts.filtersets.register_account_filter` when this app loads, so the admin's
sidebar, the API's account list and bulk actions on "all matching" share it like every other.

"Exempted" means covered, at the filter set's ``now``, by an unexpired "never act on" exemption
of any policy: naming the account, a group it belongs to, or an email pattern its address
matches. Org admins and app accounts, exempt by default unless a policy includes them, have
filters of their own. The email patterns are matched in SQL exactly as the engine matches them
in Python (``fnmatch``, case-insensitive): :func:`glob_regex`.
"""

import string
from datetime import datetime

import django_filters
from django.db.models import Q
from drf_spectacular.utils import extend_schema_field

from accounts.filtersets import YES_NO, register_account_filter
from accounts.models import Membership
from policies.models import Exemption, ExemptionKind

# Written as they are inside and outside a bracket expression in both Python's ``re`` (SQLite's
# REGEXP, which Django implements with it) and PostgreSQL's regular expressions: a backslash
# before ASCII punctuation means the character itself in both. Nothing else is escaped (a
# backslash before a letter or a digit is a class or a back reference in one or the other).
_PUNCTUATION = frozenset(string.punctuation)


def _char(c: str) -> str:
    return "\\" + c if c in _PUNCTUATION else c


def _bracket(body: str) -> str | None:
    """The inside of ``[...]`` (after ``!``) as a regex class body, ranges as fnmatch keeps them.

    None when nothing is left: fnmatch drops reversed ranges such as ``z-a``.
    """
    parts, i = [], 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            low, high = body[i], body[i + 2]
            if low <= high:
                parts.append(f"{_char(low)}-{_char(high)}")
            i += 3
        else:
            parts.append(_char(body[i]))
            i += 1
    return "".join(parts) or None


def glob_regex(pattern: str) -> str | None:
    """A shell-style pattern as an anchored regular expression for both databases; None when
    nothing can match it. Same rules as ``fnmatch``: ``*``, ``?``, ``[seq]``, ``[!seq]`` (``]``
    first in a set is itself), an unclosed ``[`` is a plain character."""
    return _translate(pattern)[0]


def _translate(pattern: str) -> tuple[str | None, list[str]]:
    """The regex of :func:`glob_regex`, and the runs of plain characters every match contains."""
    out, runs, run, i, n = ["^"], [], "", 0, len(pattern)

    def plain(c: str) -> None:
        nonlocal run
        out.append(_char(c))
        run += c

    while i < n:
        c = pattern[i]
        i += 1
        if c not in "*?[":
            plain(c)
            continue
        if c == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                plain(c)
                continue
        runs.append(run)
        run = ""
        if c == "*":
            if out[-1] != ".*":
                out.append(".*")
        elif c == "?":
            out.append(".")
        else:
            body, i = pattern[i:j], j + 1
            negate = body.startswith("!")
            inside = _bracket(body[1:] if negate else body)
            if inside is None:
                if not negate:
                    return None, []  # an empty set matches no character
                out.append(".")
            else:
                out.append(f"[{'^' if negate else ''}{inside}]")
    runs.append(run)
    out.append("$")
    return "".join(out), [r for r in runs if r]


def email_pattern_q(pattern: str) -> Q | None:
    """The condition on ``email`` for one exemption pattern; None when it can match nothing."""
    regex, runs = _translate(pattern.lower())
    if regex is None:
        return None
    # The plain runs first, as LIKEs: cheap in the database, they spare SQLite's REGEXP (a Python
    # call per row) nearly every row. ASCII only, where LIKE folds case the same everywhere.
    condition = Q()
    for run in runs:
        if run.isascii():
            condition &= Q(email__icontains=run)
    return condition & Q(email__iregex=regex)


def exempted_accounts_q(now: datetime) -> Q:
    """Accounts covered at ``now`` by an unexpired "never act on" exemption (of any policy)."""
    active = Exemption.objects.unexpired(now).filter(kind=ExemptionKind.EXEMPT)
    named = active.filter(account__isnull=False).values("account_id")
    groups = active.filter(group__isnull=False).values("group_id")
    condition = Q(pk__in=named) | Q(pk__in=Membership.objects.filter(group__in=groups).values("account_id"))
    # Patterns are few (a handful per organization), and each becomes its own condition.
    patterns = active.exclude(email_pattern="").values_list("organization_id", "email_pattern").distinct()
    for organization_id, pattern in patterns:
        matches = email_pattern_q(pattern)
        if matches is not None:
            condition |= Q(organization_id=organization_id) & matches
    return condition


# Not a model field: the schema says what the query string takes (as for the other yes/no filters).
@extend_schema_field({"type": "string", "enum": [value for value, _label in YES_NO]})
class ExemptedFilter(django_filters.TypedChoiceFilter):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Exempted from policies")
        super().__init__(choices=YES_NO, coerce=lambda value: value == "true", **kwargs)

    def filter(self, queryset, value):
        if value in ("", None):
            return queryset
        covered = exempted_accounts_q(self.parent.now)
        return queryset.filter(covered) if value else queryset.exclude(covered)


def register_account_filters() -> None:
    register_account_filter("exempted", ExemptedFilter())

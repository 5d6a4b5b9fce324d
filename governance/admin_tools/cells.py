"""Compact list cells: a long value cut to its column's width, the whole of it on hover.

Wide lists (accounts, enforcements, audit events) keep every row on one or two lines at 1280 px
(governance/static/portal/admin.css, "Compact lists"); the full value is in the cell's title and
on the row's own page.
"""

import html

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeData, mark_safe

WIDTHS = ("s", "m", "l")


def escaped(value) -> str:
    """``value`` as ``format_html`` would put it in markup: escaped text, a safe string as it is.

    Written out because list cells are drawn a thousand times per page and ``format_html``'s
    lazy-string checks were a visible share of that (bench/bench_admin_list.py)."""
    if isinstance(value, SafeData):
        return str(value)
    return html.escape(str(value))


def clipped(value, *, width: str = "m", title: str | None = None):
    """``value`` in a span cut with an ellipsis at the column width ``s``, ``m`` or ``l``."""
    if width not in WIDTHS:
        raise ValueError(f"width must be one of {WIDTHS}, not {width!r}")
    text = escaped("" if value is None else value)
    hover = text if title is None else escaped(title)
    return mark_safe(f'<span class="clip clip-{width}" title="{hover}">{text}</span>')  # noqa: S308 (escaped above)


def compact_time(value):
    """A date and time as ``2026-05-30 03:23`` in the portal's time zone (sortable, one line), the
    full timestamp on hover; ``-`` when there is none."""
    if value is None:
        return "-"
    local = timezone.localtime(value)
    return format_html('<span title="{}">{}</span>', local.isoformat(timespec="seconds"), f"{local:%Y-%m-%d %H:%M}")

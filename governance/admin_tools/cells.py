"""Compact list cells: a long value cut to its column's width, the whole of it on hover.

Wide lists (accounts, enforcements, audit events) keep every row on one or two lines at 1280 px
(governance/static/portal/admin.css, "Compact lists"); the full value is in the cell's title and
on the row's own page.
"""

from django.utils import timezone
from django.utils.html import format_html

WIDTHS = ("s", "m", "l")


def clipped(value, *, width: str = "m", title: str | None = None):
    """``value`` in a span cut with an ellipsis at the column width ``s``, ``m`` or ``l``."""
    if width not in WIDTHS:
        raise ValueError(f"width must be one of {WIDTHS}, not {width!r}")
    text = "" if value is None else str(value)
    return format_html('<span class="clip clip-{}" title="{}">{}</span>', width, text if title is None else title, text)


def compact_time(value):
    """A date and time as ``2026-05-30 03:23`` in the portal's time zone (sortable, one line), the
    full timestamp on hover; ``-`` when there is none."""
    if value is None:
        return "-"
    local = timezone.localtime(value)
    return format_html('<span title="{}">{}</span>', local.isoformat(timespec="seconds"), f"{local:%Y-%m-%d %H:%M}")

"""A changelist's rows written directly: the same HTML as Django's ``items_for_result``, in a
fraction of its time.

Django builds each of a page's cells through a generic path (field lookup, value formatting,
``format_html`` twice, then one template variable per cell): at 100 rows by 11 columns that was
about half of the account list's request (issue 20, "row rendering under half of the request").
Here each column's kind is worked out once per page, and each row becomes one string:

- the action checkbox and the ``ModelAdmin``'s display methods: their own (already escaped or
  ``SafeString``) value, escaped if it is plain text, as Django does;
- model fields: Django's ``display_for_field`` (date and time columns marked "nowrap" as there);
- the first column links to the row's page with the list's filters preserved, as Django's does.

Anything this does not cover (popups, ``list_editable`` forms, columns following a relation, a
display method returning something other than text) takes Django's own path for the whole page,
so the HTML never differs; ``tests/admin/test_fast_rows.py`` compares the two cell by cell.
"""

import datetime

from django.contrib.admin.templatetags.admin_list import (
    ResultList,
    items_for_result,
    result_headers,
    result_hidden_fields,
)
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import display_for_field, display_for_value, quote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.urls import reverse
from django.utils.safestring import mark_safe

from governance.admin_tools.cells import escaped


class _Fallback(Exception):
    """A cell this writer does not produce exactly like Django: draw the page Django's way."""


def _column(cl, field_name: str, *, links: bool):
    """(the cell's classes, how to draw its value) for one column, worked out once per page."""
    model_admin, opts = cl.model_admin, cl.lookup_opts
    if not isinstance(field_name, str):
        raise _Fallback(field_name)
    classes = "action-checkbox" if field_name == "action_checkbox" else f"field-{field_name}"
    try:
        field = opts.get_field(field_name)
    except FieldDoesNotExist:
        field = None
    if field is not None:
        if field.is_relation or field.auto_created:
            raise _Fallback(field_name)  # a related object's text: Django's way
        if isinstance(field, (models.DateField, models.TimeField)):
            classes += " nowrap"  # as Django marks date and time columns
        empty = model_admin.get_empty_value_display()

        def draw_field(obj, field=field, empty=empty):
            return display_for_field(getattr(obj, field.attname), field, empty, avoid_link=links)

        return classes, draw_field
    method = getattr(model_admin, field_name, None)
    if method is None or not callable(method) or getattr(method, "boolean", False):
        raise _Fallback(field_name)
    empty = getattr(method, "empty_value_display", model_admin.get_empty_value_display())

    def draw(obj, method=method, empty=empty):
        value = method(obj)
        if isinstance(value, str) and value.strip():
            return value  # a SafeString stays safe; plain text is escaped by the caller
        if isinstance(value, (datetime.date, datetime.time)):
            raise _Fallback(field_name)  # Django adds a "nowrap" class for these
        return display_for_value("" if isinstance(value, str) else value, empty)

    return classes, draw


def _links_from(cl) -> int | None:
    """The index of the column that links to the row's page (Django: the first one, or the
    first of ``list_display_links``); ``None`` when no column links."""
    if cl.list_display_links is None:
        return None
    for index, name in enumerate(cl.list_display):
        if name == "action_checkbox":
            continue
        if not cl.list_display_links or name in cl.list_display_links:
            return index
    return None


def fast_results(cl) -> list[ResultList]:
    """The page's rows as Django's ``results(cl)`` would draw them: one string per row."""
    if cl.formset or cl.is_popup or cl.to_field:
        return [ResultList(None, items_for_result(cl, obj, None)) for obj in cl.result_list]
    link_at = _links_from(cl)
    try:
        columns = [_column(cl, name, links=i == link_at) for i, name in enumerate(cl.list_display)]
        return _drawn(cl, columns, link_at)
    except _Fallback:
        return [ResultList(None, items_for_result(cl, obj, None)) for obj in cl.result_list]


_PK = "pk0placeholder0pk"  # stands for a row's key in the page's one reversed change URL


def _row_url(cl):
    """A function giving a row's change URL with the list's filters, as ``url_for_result`` and
    ``add_preserved_filters`` do for each row, but reversed and parsed once per page."""
    filters = {"preserved_filters": cl.preserved_filters, "opts": cl.opts}
    if type(cl).url_for_result is not ChangeList.url_for_result:  # a list with its own URLs
        return lambda obj: escaped(add_preserved_filters(filters, cl.url_for_result(obj)))
    opts = cl.opts
    name = f"admin:{opts.app_label}_{opts.model_name}_change"
    url = reverse(name, args=(_PK,), current_app=cl.model_admin.admin_site.name)
    shape = escaped(add_preserved_filters(filters, url))
    # The key sits in the path, before any query (which could hold the same text): replace once.
    return lambda obj: shape.replace(_PK, escaped(quote(getattr(obj, cl.pk_attname))), 1)


def _drawn(cl, columns, link_at: int | None) -> list[ResultList]:
    url_of = _row_url(cl)
    rows = []
    for obj in cl.result_list:
        cells = []
        for index, (classes, draw) in enumerate(columns):
            html = escaped(draw(obj))
            if index == link_at:
                url = url_of(obj)
                cells.append(f'<th class="{classes}"><a href="{url}">{html}</a></th>')
            else:
                cells.append(f'<td class="{classes}">{html}</td>')
        # Every value went through conditional_escape; the classes are the columns' own names.
        rows.append(ResultList(None, [mark_safe("".join(cells))]))  # noqa: S308
    return rows


def fast_result_list(cl) -> dict:
    """Django's ``result_list`` inclusion tag context, with the rows from :func:`fast_results`."""
    headers = list(result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": list(result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": fast_results(cl),
    }

"""Cursor (keyset) pagination whose ordering always ends in a unique field.

DRF's ``CursorPagination`` keeps only the first ordering field in the cursor and steps over ties
by an offset capped at 1,000 rows (DJANGO-NOTES 5): 10,000 accounts with the same ``last_active``
make it repeat or skip rows. Here the cursor holds the value of *every* ordering field of the last
row seen, the ordering ends with the view's unique field (``id`` unless said otherwise), and the
next page is "rows after that tuple" in one indexed query, so pages never overlap or skip, each
page costs the same however deep, and there is no COUNT(*).

``?ordering=last_active`` orders by ``last_active, id``; ``?ordering=-last_active,name`` by
``-last_active, name, -id``. NULLs sort before any value (ascending), on SQLite and PostgreSQL alike.
"""

import base64
import binascii
import json
from collections import OrderedDict

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, Q
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

_NOTHING = Q(pk__in=[])


class KeysetPagination(BasePagination):
    """Views set ``ordering`` (default, e.g. ``("-id",)``), ``ordering_fields`` (what the client may
    order by) and optionally ``cursor_unique_field`` (default ``"id"``)."""

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    ordering_param = "ordering"
    page_size = 100
    max_page_size = 1000

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self._page_size(request)
        self.ordering = self._ordering(request, view, queryset.model)
        position, reverse = self._decode(request)
        terms = [(name, not desc if reverse else desc) for name, desc in self.ordering]
        if position is not None:
            nullable = {name: field.null for name, field in self.model_fields.items()}
            queryset = queryset.filter(_after(terms, position, nullable))
        rows = list(queryset.order_by(*(_order_expression(name, desc) for name, desc in terms))[: self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if reverse:
            rows.reverse()
            self.has_next, self.has_previous = position is not None, more
        else:
            self.has_next, self.has_previous = more, position is not None
        self.page = rows
        return rows

    def get_paginated_response(self, data):
        return Response(
            OrderedDict([("next", self.get_next_link()), ("previous", self.get_previous_link()), ("results", data)])
        )

    def get_next_link(self):
        if not self.has_next or not self.page:
            return None
        return replace_query_param(self.base_url, self.cursor_query_param, self._encode(self.page[-1], reverse=False))

    def get_previous_link(self):
        if not self.has_previous:
            return None
        if not self.page:
            return remove_query_param(self.base_url, self.cursor_query_param)
        return replace_query_param(self.base_url, self.cursor_query_param, self._encode(self.page[0], reverse=True))

    # -- request parameters ----------------------------------------------------------------------------
    def _page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]})
        return size

    def _ordering(self, request, view, model) -> list[tuple[str, bool]]:
        """``[(field, descending), ...]``, ending with the unique field."""
        unique = getattr(view, "cursor_unique_field", "id")
        allowed = set(getattr(view, "ordering_fields", ())) | {unique}
        raw = request.query_params.get(self.ordering_param)
        given = [t.strip() for t in raw.split(",") if t.strip()] if raw else list(getattr(view, "ordering", ()))
        terms: list[tuple[str, bool]] = []
        for term in given or [f"-{unique}"]:
            name = term.lstrip("-")
            if name not in allowed or term.count("-") > 1:
                choices = ", ".join(sorted(allowed))
                raise ValidationError({self.ordering_param: [f"Cannot order by {term!r}; choose from: {choices}."]})
            if name in (n for n, _ in terms):
                continue
            terms.append((name, term.startswith("-")))
            if name == unique:
                break  # nothing after a unique field can change the order
        if terms[-1][0] != unique:
            terms.append((unique, terms[0][1]))
        self.model_fields = {name: _field(model, name) for name, _ in terms}
        return terms

    # -- the cursor ------------------------------------------------------------------------------------
    def _encode(self, row, *, reverse: bool) -> str:
        values = []
        for name, _desc in self.ordering:
            value = getattr(row, self.model_fields[name].attname)
            values.append(value.isoformat() if hasattr(value, "isoformat") else value)
        payload = {"o": _ordering_key(self.ordering), "v": values, "r": int(reverse)}
        return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")

    def _decode(self, request) -> tuple[list | None, bool]:
        raw = request.query_params.get(self.cursor_query_param)
        if not raw:
            return None, False
        invalid = ValidationError(
            {self.cursor_query_param: ["Invalid cursor: use the next or previous link as given."]}
        )
        try:
            payload = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode())
            values, reverse, key = payload["v"], bool(payload["r"]), payload["o"]
        except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, TypeError):
            raise invalid from None
        if key != _ordering_key(self.ordering):
            raise ValidationError({self.cursor_query_param: ["This cursor belongs to another ordering."]})
        if not isinstance(values, list) or len(values) != len(self.ordering):
            raise invalid
        try:
            position = [
                None if value is None else self.model_fields[name].to_python(value)
                for (name, _desc), value in zip(self.ordering, values, strict=True)
            ]
        except (DjangoValidationError, TypeError, ValueError):
            raise invalid from None
        return position, reverse

    # -- schema --------------------------------------------------------------------------------------------
    def get_schema_operation_parameters(self, view):
        unique = getattr(view, "cursor_unique_field", "id")
        fields = sorted({*getattr(view, "ordering_fields", ()), unique})
        default = ",".join(getattr(view, "ordering", ())) or f"-{unique}"
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The `next` or `previous` link's cursor.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page (default {self.page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": (
                    f"Order by these fields, comma-separated, `-` for descending (default `{default}`). "
                    f"Ties are broken by `{unique}`, so pages never overlap."
                ),
                "schema": {"type": "string", "enum": [p + f for f in fields for p in ("", "-")]},
            },
        ]

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }


def _field(model, name: str):
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        raise ValidationError({"ordering": [f"Cannot order by {name!r}."]}) from None


def _ordering_key(ordering) -> str:
    return ",".join(("-" if desc else "") + name for name, desc in ordering)


def _order_expression(name: str, desc: bool):
    # NULL is the smallest value in both directions and on both databases.
    return F(name).desc(nulls_last=True) if desc else F(name).asc(nulls_first=True)


def _after(terms: list[tuple[str, bool]], position: list, nullable: dict[str, bool]) -> Q:
    """Rows strictly after ``position`` in the order ``terms``: the lexicographic comparison
    ``(a, b, id) > (va, vb, vid)`` spelled out as ``a > va OR (a = va AND (b > vb OR ...))``."""
    condition = _NOTHING
    for (name, desc), value in reversed(list(zip(terms, position, strict=True))):
        equal = Q(**{f"{name}__isnull": True}) if value is None else Q(**{name: value})
        condition = _beyond(name, desc, value, nullable[name]) | (equal & condition)
    return condition


def _beyond(name: str, desc: bool, value, nullable: bool) -> Q:
    if value is None:  # NULL is the smallest value
        return _NOTHING if desc else Q(**{f"{name}__isnull": False})
    if desc:
        smaller = Q(**{f"{name}__lt": value})
        return smaller | Q(**{f"{name}__isnull": True}) if nullable else smaller
    return Q(**{f"{name}__gt": value})

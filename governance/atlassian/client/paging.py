"""One generator per pagination family the Atlassian APIs use.

Each takes a ``fetch`` callable that performs one request and returns the decoded JSON body, and
yields one page of raw items at a time, so a caller never holds more than one page. Shape problems
raise :class:`ShapeError`; the client turns them into ``MalformedResponse`` with method and path.

- :func:`cursor_pages`: Admin v2. ``links.next`` is an opaque cursor token, sent back in the
  ``/search`` POST body or as ``?cursor=`` on GETs (the caller's ``fetch`` decides which).
- :func:`next_link_pages`: Admin v1. ``links.next`` may be a full URL or a bare cursor token
  (both have been reported); the caller's ``fetch`` resolves it. Yields whole bodies, because
  ``last-active-dates`` pages carry an object under ``data``, not a list.
- :func:`start_at_bean_pages`: Jira page beans ``{"startAt", "maxResults", "isLast", "values"}``.
- :func:`start_at_array_pages`: Jira endpoints that return a bare JSON array (``/users/search``).
"""

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .bodies import ShapeError

Page = list[dict[str, Any]]


def cursor_pages(fetch: Callable[[str | None], Any]) -> Iterator[Page]:
    """Yield ``data`` lists, following ``links.next`` cursor tokens until none is given."""
    cursor: str | None = None
    while True:
        body = require_mapping(fetch(cursor), "response")
        yield data_list(body)
        next_cursor = next_link(body)
        if next_cursor is None:
            return
        if next_cursor == cursor:
            # A server that hands back the cursor it was given would page forever.
            raise ShapeError("links.next repeats the cursor just used")
        cursor = next_cursor


def next_link_pages(fetch: Callable[[str | None], Any]) -> Iterator[dict[str, Any]]:
    """Yield whole v1 bodies, following ``links.next`` (URL or token) until none is given."""
    link: str | None = None
    while True:
        body = require_mapping(fetch(link), "response")
        yield body
        next_value = next_link(body)
        if next_value is None:
            return
        if next_value == link:
            raise ShapeError("links.next repeats the link just used")
        link = next_value


def start_at_bean_pages(fetch: Callable[[int], Any]) -> Iterator[Page]:
    """Yield ``values`` of Jira page beans, stopping on ``isLast: true`` or an empty page.

    ``startAt`` advances by the number of items received, not by the ``maxResults`` asked for:
    Jira may cap ``maxResults`` below the request, and trusting the request would skip users.
    """
    start_at = 0
    while True:
        body = require_mapping(fetch(start_at), "response")
        values = item_list(body.get("values"), "values")
        if values:
            yield values
        if not values or body.get("isLast") is True:
            return
        start_at += len(values)


def start_at_array_pages(fetch: Callable[[int], Any]) -> Iterator[Page]:
    """Yield bare-array pages, advancing ``startAt`` by the items received; stop on an empty array.

    A short page is not taken as the end: Jira does not promise that, so only an empty array ends.
    """
    start_at = 0
    while True:
        values = item_list(fetch(start_at), "response")
        if not values:
            return
        yield values
        start_at += len(values)


def next_link(body: Mapping[str, Any]) -> str | None:
    """``links.next`` as a non-empty string, or None when absent, null or empty (the last page)."""
    links = body.get("links")
    if links is None:
        return None
    if not isinstance(links, Mapping):
        raise ShapeError("links is not an object")
    value = links.get("next")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ShapeError("links.next is not a string")
    return value


def data_list(body: Mapping[str, Any]) -> Page:
    """The ``data`` array of an Admin page, each item an object."""
    if "data" not in body:
        raise ShapeError("data is missing")
    return item_list(body["data"], "data")


def item_list(value: Any, where: str) -> Page:
    """``value`` checked to be a list of JSON objects."""
    if not isinstance(value, list):
        raise ShapeError(f"{where} is not a list")
    if not all(isinstance(item, dict) for item in value):
        raise ShapeError(f"{where} holds an item that is not an object")
    return value


def require_mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ShapeError(f"{where} is not a JSON object")
    return value

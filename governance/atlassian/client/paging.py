"""One generator per pagination family the Atlassian APIs use.

Each takes a ``fetch`` callable that performs one request and returns the decoded JSON body, and
yields one page of raw items at a time, so a caller never holds more than one page. Shape problems
raise :class:`ShapeError`; the client turns them into ``MalformedResponse`` with method and path.

- :func:`cursor_pages`: Admin v2. ``links.next`` is an opaque cursor token, sent back in the
  ``/search`` POST body or as ``?cursor=`` on GETs (the caller's ``fetch`` decides which).
  A listing that goes round in circles is stopped (see the function).
- :func:`next_link_pages`: Admin v1. ``links.next`` may be a full URL or a bare cursor token
  (both have been reported); the caller's ``fetch`` resolves it. Yields whole bodies, because
  ``last-active-dates`` pages carry an object under ``data``, not a list.
- :func:`start_at_bean_pages`: Jira page beans ``{"startAt", "maxResults", "isLast", "values"}``.
- :func:`start_at_array_pages`: Jira endpoints that return a bare JSON array (``/users/search``).
"""

from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any

from .bodies import ShapeError

Page = list[dict[str, Any]]

# Pages in a row that bring nothing new before a listing is taken to be going round in circles.
STALE_PAGE_LIMIT = 3


def cursor_pages(
    fetch: Callable[[str | None], Any], *, key: Callable[[dict], Hashable] | None = None
) -> Iterator[Page]:
    """Yield ``data`` lists, following ``links.next`` cursor tokens until none is given.

    Two guards keep a misbehaving server from making a walk endless. A cursor already followed
    once is refused at once: the same token can only lead to the same pages again. Opaque cursors
    need not be the same string twice, though, so with ``key`` (an item's identity) a walk that
    yields ``STALE_PAGE_LIMIT`` non-empty pages in a row holding only items it already had is
    stopped too. A single repeated page is still yielded: the caller de-duplicates, and one
    stutter is no reason to throw away a long walk.
    """
    cursor: str | None = None
    followed: set[str] = set()
    seen: set[Hashable] = set()
    stale = 0
    while True:
        body = require_mapping(fetch(cursor), "response")
        items = data_list(body)
        if key is not None and items:
            known = len(seen)
            seen.update(key(item) for item in items)
            stale = stale + 1 if len(seen) == known else 0
            if stale >= STALE_PAGE_LIMIT:
                raise ShapeError(f"the listing keeps handing back items already received ({stale} pages in a row)")
        yield items
        next_cursor = next_link(body)
        if next_cursor is None:
            return
        if next_cursor == cursor or next_cursor in followed:
            # A server that hands back a cursor already used would page forever.
            raise ShapeError("links.next repeats a cursor already used")
        followed.add(next_cursor)
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

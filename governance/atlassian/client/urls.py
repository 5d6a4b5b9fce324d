"""Building Atlassian URLs safely: checked bases, fully escaped path segments."""

from collections.abc import Iterable
from urllib.parse import urlsplit

from requests.utils import quote


def checked_base(url: str, name: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL")
    if parts.username or parts.password:
        raise ValueError(f"{name} must not contain credentials")
    return url.rstrip("/")


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def segment(value: str) -> str:
    """One path segment, fully escaped: group ids are ARIs full of ':' and '/'."""
    return quote(value, safe="")


def join_segments(segments: Iterable[str]) -> str:
    return "/".join(segment(s) for s in segments)

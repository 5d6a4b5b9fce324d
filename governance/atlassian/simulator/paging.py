"""Opaque, tamper-evident page cursors.

A cursor is the URL-safe base64 of a small JSON payload (what is being listed, the filters, the
position) followed by an 8-byte HMAC. Anything that does not decode or verify is a forged cursor,
which the Admin API answers with 400 ``ADMIN-400-1``.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
from bisect import bisect_right
from typing import Any


class BadCursor(ValueError):
    pass


class CursorCodec:
    def __init__(self, secret: str):
        self._key = hashlib.sha256(secret.encode()).digest()

    def encode(self, payload: dict[str, Any]) -> str:
        raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        mac = hmac.new(self._key, raw, hashlib.sha256).digest()[:8]
        return base64.urlsafe_b64encode(raw + mac).decode().rstrip("=")

    def decode(self, token: str, kind: str | None) -> dict[str, Any]:
        try:
            blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise BadCursor("cursor is not valid") from exc
        raw, mac = blob[:-8], blob[-8:]
        if len(blob) <= 8 or not hmac.compare_digest(mac, hmac.new(self._key, raw, hashlib.sha256).digest()[:8]):
            raise BadCursor("cursor is not valid")
        payload = json.loads(raw)
        if not isinstance(payload, dict) or payload.get("k") != kind:
            raise BadCursor("cursor does not belong to this listing")
        return payload

    def reissue(self, token: str) -> str:
        """A different, valid token for the same position (the ``cursor_repeat`` fault): opaque
        cursors need not be the same string twice, so a client cannot spot a loop by the token."""
        payload = self.decode(token, self._kind_of(token))
        return self.encode({**payload, "n": os.urandom(4).hex()})

    @staticmethod
    def _kind_of(token: str) -> str | None:
        try:
            blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            return json.loads(blob[:-8]).get("k")
        except (binascii.Error, ValueError, AttributeError):
            return None


def page_after(candidates, after: int, limit: int, accept) -> tuple[list[int], int | None]:
    """Keyset paging over ascending indices: up to ``limit`` accepted indices greater than ``after``,
    and the index to continue after (None on the last page). Stable under concurrent deletes."""
    if isinstance(candidates, range):
        candidates = range(max(candidates.start, after + 1), candidates.stop)
    else:
        candidates = candidates[bisect_right(candidates, after) :]
    out: list[int] = []
    for idx in candidates:
        if not accept(idx):
            continue
        if len(out) == limit:
            return out, out[-1]
        out.append(idx)
    return out, None


def page_offset(items: list, offset: int, limit: int) -> tuple[list, int | None]:
    chunk = items[offset : offset + limit]
    return chunk, (offset + limit if offset + limit < len(items) else None)

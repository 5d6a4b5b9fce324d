"""How a receiver checks that a webhook came from this portal.

``X-Portal-Signature: sha256=<hex>`` is HMAC-SHA256, keyed with the subscription's secret, over
``<X-Portal-Timestamp>.<raw body>``. The timestamp (Unix seconds) is signed too, so a receiver
that refuses old timestamps (say, older than five minutes) refuses replays.
"""

import hashlib
import hmac

SIGNATURE_HEADER = "X-Portal-Signature"
TIMESTAMP_HEADER = "X-Portal-Timestamp"
EVENT_HEADER = "X-Portal-Event"
DELIVERY_HEADER = "X-Portal-Delivery"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def signature_valid(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature(secret, timestamp, body), header)

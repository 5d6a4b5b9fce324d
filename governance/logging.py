"""Keep secrets out of log output (DESIGN.md section 5.7)."""

import logging
import re

from django.conf import settings

_SECRET_SETTINGS = (
    "SECRET_KEY",
    "AUDIT_HMAC_KEY",
    "ATLASSIAN_ADMIN_API_KEY",
    "ATLASSIAN_API_TOKEN",
    "EMAIL_HOST_PASSWORD",
)
_AUTH_HEADER = re.compile(r"(Authorization['\"]?\s*[:=]\s*['\"]?)(Bearer|Basic)\s+[^\s'\",}]+", re.IGNORECASE)


def known_secrets() -> list[str]:
    values = [getattr(settings, name, "") or "" for name in _SECRET_SETTINGS]
    values += list(getattr(settings, "PORTAL_FERNET_KEYS", []))
    return [v for v in values if len(v) >= 6]


def redact(text: str) -> str:
    text = _AUTH_HEADER.sub(r"\1\2 [redacted]", text)
    for secret in known_secrets():
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return text


class RedactSecretsFilter(logging.Filter):
    """Formats the record once and replaces any configured secret with ``[redacted]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(exc_text)
        return True

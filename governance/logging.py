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
_AUTH_HEADER = re.compile(r"(Authorization['\"]?\s*[:=]\s*['\"]?)(Bearer|Basic|Token)\s+[^\s'\",}]+", re.IGNORECASE)
# The portal's own API tokens (governance.api): gpt_<8-hex prefix>_<secret>; the prefix may stay.
_API_TOKEN = re.compile(r"(gpt_[0-9a-f]{8}_)\S+")


def known_secrets() -> list[str]:
    values = [getattr(settings, name, "") or "" for name in _SECRET_SETTINGS]
    values += list(getattr(settings, "PORTAL_FERNET_KEYS", []))
    return [v for v in values if len(v) >= 6]


def redact(text: str) -> str:
    text = _AUTH_HEADER.sub(r"\1\2 [redacted]", text)
    text = _API_TOKEN.sub(r"\1[redacted]", text)
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


class ExpectedRefusalFilter(logging.Filter):
    """One line per refused request, without a traceback.

    Django's ``django.request`` logs every 4xx answer, a 403 from ``PermissionDenied`` (or a 400 from
    a suspicious request) with the exception's traceback: noise for a refusal that is the portal
    working as meant, which buried real errors in `make run`'s output. 5xx keep theirs. Under
    runserver, ``django.server`` then logs the same 4xx/5xx answer a second time as its request
    line; that repeat is dropped (``django.request`` has the line, with the reason). Attached to
    both loggers; gunicorn's access log is a separate stream and untouched.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is None:
            return True
        if record.name == "django.server":
            return status < 400
        if status < 500:
            record.exc_info = record.exc_text = None
        return True


# --- Personal restore links (/access/restore/<token>/) -----------------------------------------
# The token in the path is a credential: whoever holds it can ask for the account's access back.
# Django logs the path of every 4xx/5xx response ("Gone: /access/restore/..."), CSRF failures and,
# under runserver, every request line; error reports show the URL, META and frame variables.
import copy  # noqa: E402  (kept with the code that uses it)

from django.http import HttpRequest  # noqa: E402
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter  # noqa: E402

_ACCESS_TOKEN_PATH = re.compile(r"(/access/(?:restore|extend|review)/)[^/\s?#\"'<>]+")
_MASKED_META = ("PATH_INFO", "REQUEST_URI", "RAW_URI", "SCRIPT_URL", "HTTP_REFERER")


def mask_access_tokens(text: str) -> str:
    """``/access/restore/<token>/`` becomes ``/access/restore/[token]/`` (``/access/extend/`` and
    ``/access/review/`` alike)."""
    return _ACCESS_TOKEN_PATH.sub(r"\1[token]", text) if "/access/" in text else text


def _access_token_of(request) -> str:
    """The raw token of a restore-link request ('' for any other request)."""
    token = getattr(request, "_access_token", "")
    if token:
        return token
    match = getattr(request, "resolver_match", None)
    if match is not None and match.url_name in ("restore", "extend", "review") and "token" in match.kwargs:
        return str(match.kwargs["token"])
    found = _ACCESS_TOKEN_PATH.search(getattr(request, "path", "") or "")
    return found.group(0).rsplit("/", 1)[-1] if found else ""


def _masked_request(request):
    """A shallow copy of ``request`` whose path and path-bearing META entries are masked."""
    masked = copy.copy(request)
    masked._access_token = _access_token_of(request)
    masked.path = mask_access_tokens(request.path)
    masked.path_info = mask_access_tokens(request.path_info)
    masked.META = {
        key: mask_access_tokens(value) if key in _MASKED_META and isinstance(value, str) else value
        for key, value in request.META.items()
    }
    return masked


class MaskAccessTokensFilter(logging.Filter):
    """Masks restore-link tokens in the message, the traceback and the attached request.

    Attach it to the loggers that write request paths (``django.request``,
    ``django.security.csrf``, ``django.server``) so every handler, the admin error email
    included, sees the masked record, and to the console handler for anything else.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not this filter's business
            return True
        masked = mask_access_tokens(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask_access_tokens(logging.Formatter().formatException(record.exc_info))
        request = getattr(record, "request", None)
        if request is not None and _ACCESS_TOKEN_PATH.search(getattr(request, "path", "") or ""):
            record.request = _masked_request(request)
        return True


class AccessTokenReporterFilter(SafeExceptionReporterFilter):
    """Error reports (DEFAULT_EXCEPTION_REPORTER_FILTER) without restore-link tokens.

    Masks the path-bearing META entries and, in frame variables, any request object (its repr
    shows the path) and any string containing a token path. The restore views themselves are
    wrapped in ``sensitive_variables()``, which hides every local of theirs and of their callees.
    """

    def get_safe_request_meta(self, request):
        meta = super().get_safe_request_meta(request)
        return {k: mask_access_tokens(v) if isinstance(v, str) else v for k, v in meta.items()}

    def get_traceback_frame_variables(self, request, tb_frame):
        variables = super().get_traceback_frame_variables(request, tb_frame)
        token = _access_token_of(request) if request is not None else ""
        if len(token) < 16:  # no token, or too short to be one (and to replace safely)
            return variables
        # Frames above the view (the URL resolver's kwargs, the handler's locals) hold the raw token.
        masked = []
        for name, value in variables:
            try:
                text = value if isinstance(value, str) else repr(value)
            except Exception:  # an object whose repr fails is shown as Django would show it
                masked.append((name, value))
                continue
            masked.append((name, text.replace(token, "[token]") if token in text else value))
        return masked

    def cleanse_special_types(self, request, value):
        if isinstance(value, HttpRequest):
            return f"<{type(value).__name__}: {value.method} {mask_access_tokens(value.get_full_path())!r}>"
        if isinstance(value, str):
            return mask_access_tokens(value)
        return super().cleanse_special_types(request, value)


class AccessTokenExceptionReporter(ExceptionReporter):
    """Error reports (DEFAULT_EXCEPTION_REPORTER) whose exception text and URL carry no restore token."""

    def get_traceback_data(self):
        data = super().get_traceback_data()
        token = _access_token_of(self.request) if self.request is not None else ""
        for name in ("exception_value", "request_insecure_uri"):
            value = data.get(name)
            if isinstance(value, str):
                value = mask_access_tokens(value)
                data[name] = value.replace(token, "[token]") if len(token) >= 16 else value
        return data

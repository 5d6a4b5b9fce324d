"""Errors of the API and how they become responses.

- ``ValidationError`` (DRF's, or Django's from a service's ``full_clean()``): 400 with field errors.
- :class:`Conflict`: 409, for a service's refusal (``ServiceRefused``, a request already decided ...).
- ``AtlassianError`` escaping a single-object write: 502 with Atlassian's answer (never a credential).
  Bulk actions report Atlassian failures per account instead.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from governance.atlassian.errors import AtlassianError
from governance.logging import redact


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class BadGateway(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "Atlassian did not accept the change."
    default_code = "atlassian_error"


def django_errors(exc: DjangoValidationError) -> dict | list:
    """A Django ValidationError as DRF error detail: field errors where there are any."""
    if hasattr(exc, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): messages
            for field, messages in exc.message_dict.items()
        }
    return {"non_field_errors": exc.messages}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(django_errors(exc))
    elif isinstance(exc, AtlassianError):
        exc = BadGateway(redact(str(exc)))
    return drf_exception_handler(exc, context)

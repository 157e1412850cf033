"""API plumbing shared by every app: the exception handler that gives one JSON error shape."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import ApplicationError


def _api_field_errors(errors: dict[str, Any]) -> dict[str, Any]:
    """Django's ``__all__`` key becomes DRF's ``non_field_errors``, as for serializer errors."""
    return {
        api_settings.NON_FIELD_ERRORS_KEY if name == NON_FIELD_ERRORS else name: value for name, value in errors.items()
    }


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Turn application and Django validation errors into DRF's field-level 400 shape."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            _api_field_errors(exc.message_dict) if hasattr(exc, "error_dict") else {"detail": exc.messages}
        )
    if isinstance(exc, ApplicationError):
        body: dict[str, Any] = _api_field_errors(exc.field_errors) or {"detail": exc.message}
        if exc.field_errors:
            body.setdefault("detail", exc.message)
        return Response(body, status=exc.status)
    return drf_exception_handler(exc, context)

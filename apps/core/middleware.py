"""A database that stays busy past its lock timeout answers 503 with Retry-After, never a 500."""

from __future__ import annotations

from collections.abc import Callable

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

#: Seconds a client is asked to wait before trying again.
RETRY_AFTER_SECONDS = 5
_BUSY_MESSAGES = ("database is locked", "database table is locked", "could not obtain lock", "deadlock detected")


def is_busy_error(error: BaseException) -> bool:
    """A lock that could not be had in time: SQLite's busy timeout, PostgreSQL's lock timeout or deadlock."""
    if not isinstance(error, OperationalError):
        return False
    text = str(error).lower()
    return any(message in text for message in _BUSY_MESSAGES)


class DatabaseBusyMiddleware:
    """Turns a lock timeout into "busy, try again" (nothing was written: the request's transaction rolled back)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_busy_error(exception):
            return None
        detail = "The registry is busy with another change. Nothing was saved; try again in a few seconds."
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"detail": detail}, status=503)
        else:
            page = render_to_string("503.html", {"detail": detail}, request=request)
            response = HttpResponse(page, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

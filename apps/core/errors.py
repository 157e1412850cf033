"""The one application error type; views and the API turn it into field-level messages."""

from __future__ import annotations


class ApplicationError(Exception):
    """A refused operation, with an optional ``{field: [messages]}`` mapping for the user."""

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}
        self.status = status


class ConflictError(ApplicationError):
    """The record changed since the user loaded it (optimistic locking)."""

    def __init__(self, message: str = "This record was changed by someone else since you opened it."):
        super().__init__(message, status=412)

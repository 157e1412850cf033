"""Site scoping of record-level API endpoints: no endpoint can forget the user's sites.

``ScopedViewSetMixin`` follows PostHog's ``posthog/api/routing.py``: the mixin owns ``get_queryset``
and refuses subclasses that override it. A viewset that truly needs another queryset says so by
implementing ``dangerously_get_queryset``; one that only needs joins or ordering implements
``safely_get_queryset``, which can narrow the scoped queryset but never widen it. The scope itself is
``selectors.scoped_queryset``, which reads each record type's site path from its declaration.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet
from rest_framework import permissions

from apps.accounts.selectors import access_for_user

from .selectors import scoped_queryset


class ReachesRecords(permissions.BasePermission):
    """Record-level endpoints are for center staff and coordinators, not investigators.

    Lists and creation answer 403; a detail URL answers 404 because the scoped queryset is empty.
    """

    message = "Your role does not give access to record-level data."

    def has_permission(self, request, view) -> bool:
        if getattr(view, "action", None) in ("list", "create"):
            return access_for_user(request.user).reaches_records
        return True


class ScopedViewSetMixin:
    """Owns ``get_queryset``: records come from ``scoped_queryset(scope_model, user=request.user)``."""

    scope_model: ClassVar[type[Model] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise ImproperlyConfigured(
                f"{cls.__name__} must not override get_queryset: the scoped mixin owns it. Narrow the "
                "scoped queryset in safely_get_queryset, or, if you must, implement dangerously_get_queryset."
            )

    def get_queryset(self) -> QuerySet:
        try:
            return self.dangerously_get_queryset()
        except NotImplementedError:
            pass
        if self.scope_model is None:
            raise ImproperlyConfigured(f"{type(self).__name__} needs a scope_model.")
        return self.safely_get_queryset(scoped_queryset(self.scope_model, user=self.request.user))

    def dangerously_get_queryset(self) -> QuerySet:
        """Bypass site scoping entirely; implement only with a reviewed reason."""
        raise NotImplementedError

    def safely_get_queryset(self, queryset: QuerySet) -> QuerySet:
        """Add joins, ordering or filters to the already scoped queryset."""
        return queryset

"""The scoped viewset mixin owns get_queryset, PostHog-style."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework import viewsets

from apps.clinical.apis import PatientViewSet
from apps.clinical.models import Patient
from apps.clinical.scoping import ScopedViewSetMixin


def test_a_scoped_viewset_that_overrides_get_queryset_is_refused_at_class_creation():
    with pytest.raises(ImproperlyConfigured, match="dangerously_get_queryset"):

        class Leaky(ScopedViewSetMixin, viewsets.GenericViewSet):
            scope_model = Patient

            def get_queryset(self):
                return Patient.objects.all()


def test_a_subclass_of_a_record_viewset_cannot_override_get_queryset_either():
    with pytest.raises(ImproperlyConfigured):

        class Leaky(PatientViewSet):
            def get_queryset(self):
                return Patient.objects.all()


def test_the_escape_hatch_replaces_the_scoped_queryset(rf, db):
    class Everything(ScopedViewSetMixin, viewsets.GenericViewSet):
        scope_model = Patient

        def dangerously_get_queryset(self):
            return Patient.objects.all()

    view = Everything()
    view.request = rf.get("/")
    assert view.get_queryset().query.where.children == []


def test_without_the_escape_hatch_an_anonymous_user_gets_no_records(rf, db):
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/")
    request.user = AnonymousUser()
    view = PatientViewSet()
    view.request = request
    assert not view.get_queryset().exists()

"""Runs are read-only in the admin; the nightly job is a django-celery-beat entry written by setup_schedules."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client
from django_celery_beat.models import PeriodicTask

from apps.validation.models import ValidationRun
from tests.conftest import verify_second_factor

from .cohorts import contract_frame, stored_run_of_frame

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_verified(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    verify_second_factor(client, admin_user)
    return client


def test_the_admin_shows_runs_and_changes_none(admin_client_verified):
    run = stored_run_of_frame(contract_frame(["AAA", "BBB"]))
    base = "/admin/validation/validationrun/"
    assert admin_client_verified.get(base).status_code == 200
    page = admin_client_verified.get(f"{base}{run.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert admin_client_verified.get(f"{base}add/").status_code == 403
    assert admin_client_verified.post(f"{base}{run.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ValidationRun.objects.filter(pk=run.pk).exists()


def test_setup_schedules_writes_the_nightly_validation_and_its_recovery_editable_in_the_admin(admin_client_verified):
    call_command("setup_schedules", stdout=io.StringIO())
    nightly = PeriodicTask.objects.get(task="validation.nightly")
    assert (nightly.crontab.minute, nightly.crontab.hour, nightly.enabled) == ("30", "2", True)
    assert PeriodicTask.objects.filter(task="validation.recover_stalled_runs").exists()
    page = admin_client_verified.get(f"/admin/django_celery_beat/periodictask/{nightly.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' in page.content

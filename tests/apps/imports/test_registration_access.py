"""An import registers patients, so only the site's own staff upload one; its report never links a
hospital number to a registry ID for readers who cannot see the site's identifiers."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.clinical.models import Patient
from apps.core.errors import ApplicationError
from apps.imports import services
from apps.imports.models import ImportJob
from tests.factories import PatientFactory

from .data import csv_bytes, row


def _upload(rows) -> SimpleUploadedFile:
    return SimpleUploadedFile("episodes.csv", csv_bytes(rows), content_type="text/csv")


@pytest.mark.parametrize("role", ["coordinator", "admin_user"])
def test_registry_wide_roles_cannot_import(request, role, site_a):
    """Before: a coordinator's import registered patients, and its report said "already registered at AAA
    (AAA-…)" for a known number — an oracle for any number at any site."""
    user = request.getfixturevalue(role)
    PatientFactory(site=site_a, local_identifier="MRN-1")
    with pytest.raises(ApplicationError) as refused:
        services.import_job_create(user=user, site=site_a, upload=_upload([row(local_identifier="MRN-1")]))
    assert refused.value.status == 403
    assert "coordinators cannot import" in refused.value.message
    assert not ImportJob.objects.exists()
    assert Patient.objects.count() == 1


def test_the_upload_page_refuses_coordinators_with_the_reason(client, site_a, coordinator, no_second_factor):
    client.force_login(coordinator)
    assert client.get(reverse("imports:upload")).status_code == 403
    response = client.post(reverse("imports:upload"), {"site": site_a.pk, "file": _upload([row()])})
    assert response.status_code == 403
    assert "coordinators cannot register patients" in response.content.decode()
    index = client.get(reverse("imports:index")).content.decode()
    assert reverse("imports:upload") not in index
    assert not ImportJob.objects.exists()


def test_the_upload_form_offers_only_the_sites_whose_staff_the_user_is(client, site_a, site_b, data_entry_a):
    client.force_login(data_entry_a)
    form = client.get(reverse("imports:upload")).context["form"]
    assert list(form.fields["site"].queryset) == [site_a]


def test_a_job_queued_by_someone_no_longer_on_the_sites_staff_imports_nothing(site_a, data_entry_a):
    job = services.import_job_create(user=data_entry_a, site=site_a, upload=_upload([row()]), run_inline=False)
    data_entry_a.memberships.all().delete()
    services.import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert "no longer on the staff of this site" in job.message
    assert not Patient.objects.exists()

"""One imported row costs a pinned number of queries, whatever the size of the file.

A row of ``data.VALID_ROW`` is a new patient with ICI-1, one prior irAE, a rechallenge, a response
and a follow-up: six records, each validated and audited. The cost of a row is what one more row
adds to a file; what a job costs once (claiming it, the site checks, chaining the audit entries) is
not a row's.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.clinical.models import Patient
from apps.core.models import AuditEntry
from apps.imports import services
from apps.imports.models import ImportJob

from .data import csv_bytes, row

pytestmark = pytest.mark.django_db

ROW_BUDGET = 20
RECORDS_PER_ROW = 6


def _import(user, site, rows: int, first: int = 0) -> int:
    """Import ``rows`` new patients; the number of queries the whole job cost."""
    patients = [row(local_identifier=f"MRN-{first + n}") for n in range(rows)]
    upload = SimpleUploadedFile("rows.csv", csv_bytes(patients), content_type="text/csv")
    with CaptureQueriesContext(connection) as queries:
        job = services.import_job_create(user=user, site=site, upload=upload, run_inline=True)
    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    return len(queries.captured_queries)


def test_one_more_imported_row_costs_at_most_twenty_queries_with_its_six_records_audited(site_a, data_entry_a):
    _import(data_entry_a, site_a, 1, first=100)  # the site's audit trail has begun, as on any site in use
    entries = AuditEntry.objects.count()

    one_row = _import(data_entry_a, site_a, 1, first=200)
    three_rows = _import(data_entry_a, site_a, 3, first=300)

    per_row = (three_rows - one_row) / 2
    assert per_row <= ROW_BUDGET, f"{per_row} queries a row"
    assert per_row == int(per_row), "every row costs the same"
    assert Patient.objects.count() == 1 + 1 + 3
    assert AuditEntry.objects.count() == entries + (1 + 3) * RECORDS_PER_ROW


def test_the_second_rechallenge_of_a_patient_costs_no_more_than_a_new_patient(site_a, data_entry_a):
    _import(data_entry_a, site_a, 1, first=100)
    one = [row(local_identifier="MRN-A")]
    two = [*one, row(local_identifier="MRN-A", episode_start_date="2023-10-01", response1_date="2023-12-01")]
    costs = []
    for rows in (one, two):
        Patient.objects.filter(local_identifier="MRN-A").delete()
        upload = SimpleUploadedFile("rows.csv", csv_bytes(rows), content_type="text/csv")
        with CaptureQueriesContext(connection) as queries:
            job = services.import_job_create(user=data_entry_a, site=site_a, upload=upload, run_inline=True)
        assert job.status == ImportJob.Status.SUCCEEDED, job.errors
        costs.append(len(queries.captured_queries))

    assert costs[1] - costs[0] <= ROW_BUDGET

"""An import costs a pinned number of queries, whatever the number of rows in its file.

A row of ``data.VALID_ROW`` is a new patient with ICI-1, one prior irAE, a rechallenge, a response
and a follow-up: six records, each validated and audited. The records are validated without a query
each and written a table at a time (``apps.clinical.services.records_create_bulk``), so one more row
adds no query: a file of one row and one of three cost the same (on SQLite a statement holds at most
999 values, so a file of hundreds of rows adds an INSERT per table now and then; PostgreSQL copies
each table in one statement). What the whole job costs is pinned under ``JOB_BUDGET``.
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

#: The queries of a whole job: claiming it and saving its progress and outcome (about 12), the uploader's
#: access and the registered patients (2), the write's own (12: the site read afresh, one check of the new
#: registry IDs and one of the local identifiers, an INSERT per table, the audit chain's head read, the
#: entries inserted, the head moved), and the receivers of ``records_written`` — the patient list's
#: summaries and the data-quality checks with the queries they open (about 15).
JOB_BUDGET = 55
RECORDS_PER_ROW = 6


def _import(user, site, rows: int, first: int = 0) -> int:
    """Import ``rows`` new patients; the number of queries the whole job cost."""
    patients = [row(local_identifier=f"MRN-{first + n}") for n in range(rows)]
    upload = SimpleUploadedFile("rows.csv", csv_bytes(patients), content_type="text/csv")
    with CaptureQueriesContext(connection) as queries:
        job = services.import_job_create(user=user, site=site, upload=upload, run_inline=True)
    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    return len(queries.captured_queries)


def test_one_more_imported_row_costs_no_query_with_its_six_records_audited(site_a, data_entry_a):
    _import(data_entry_a, site_a, 1, first=100)  # the site's audit trail has begun, as on any site in use
    entries = AuditEntry.objects.count()

    one_row = _import(data_entry_a, site_a, 1, first=200)
    three_rows = _import(data_entry_a, site_a, 3, first=300)

    assert three_rows == one_row, f"{(three_rows - one_row) / 2} queries a row"
    assert one_row <= JOB_BUDGET
    assert Patient.objects.count() == 1 + 1 + 3
    assert AuditEntry.objects.count() == entries + (1 + 3) * RECORDS_PER_ROW


def test_the_second_rechallenge_of_a_patient_costs_no_query_more_than_a_new_patient(site_a, data_entry_a):
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

    assert costs[1] == costs[0]

"""The import writes new patients in bulk, and says and audits exactly what the one-by-one write said.

The one-by-one write (``records_create_batch``, a record at a time) is still how a file whose bulk insert
the database refuses is written, to find the row; here it is also the reference the bulk write is held to.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.clinical import services as clinical_services
from apps.clinical.models import AdverseEvent, Patient, ResponseAssessment
from apps.clinical.services import BulkWriteFailed
from apps.core.models import AuditEntry
from apps.imports import services
from apps.imports.models import ImportJob
from registry import csv_import as spec

from .data import csv_bytes, row, three_rows

pytestmark = pytest.mark.django_db


def create_job(user, site, rows) -> ImportJob:
    upload = SimpleUploadedFile("episodes.csv", csv_bytes(rows), content_type="text/csv")
    return services.import_job_create(user=user, site=site, upload=upload, run_inline=True)


def one_by_one(monkeypatch) -> None:
    """Make the database refuse every bulk insert, so the file is written a record at a time."""

    def refused(**kwargs):
        raise BulkWriteFailed("The records break a database rule.")

    monkeypatch.setattr(services, "records_create_bulk", refused)


def audit_trail(site, job) -> list[tuple[str, str, str, dict]]:
    """The site's entries as they read without ids: record, action, reason, changes (links, the random
    registry ID and the job's number left out)."""
    unstable = {"id", "site", "patient", "episode", "registry_id"}
    return [
        (
            entry.model_label,
            entry.action,
            entry.reason.replace(f"#{job.pk}", "#N"),
            {name: value for name, value in entry.changes.items() if name not in unstable},
        )
        for entry in AuditEntry.objects.filter(site=site).order_by("sequence")
    ]


def died_then_assessed() -> list[dict[str, str]]:
    """Patient MRN-1 dies at the follow-up of their first rechallenge; their second rechallenge's row has a
    response after that death, which only the records written before it can tell."""
    first = row(followup1_vital_status="dead", followup1_death_date="2023-12-01", followup1_last_alive_date="")
    second = row(
        episode_sequence="2",
        episode_start_date="2023-10-01",
        response1_date="2024-01-10",
        followup1_date="2024-02-01",
        followup1_last_alive_date="2024-02-01",
    )
    return [first, second, row(local_identifier="MRN-2")]


def test_a_bulk_import_audits_every_record_as_the_one_by_one_write_does(
    site_a, data_entry_a, site_b, data_entry_b, monkeypatch
):
    bulk = create_job(data_entry_a, site_a, three_rows())
    one_by_one(monkeypatch)
    single = create_job(data_entry_b, site_b, three_rows())

    assert (bulk.status, single.status) == ("succeeded", "succeeded")
    trail = audit_trail(site_a, bulk)
    assert len(trail) == 2 + 2 + 1 + 3 + 3 + 3  # patients, ICI-1, prior irAE, episodes, responses, follow-ups
    assert trail == audit_trail(site_b, single)
    assert {entry.channel for entry in AuditEntry.objects.all()} == {"import"}
    assert bulk.created_counts == single.created_counts
    assert bulk.message == single.message


def test_a_record_refused_by_a_rule_across_rows_fails_the_file_with_the_same_error_as_one_by_one(
    site_a, data_entry_a, monkeypatch
):
    bulk = create_job(data_entry_a, site_a, died_then_assessed())
    one_by_one(monkeypatch)
    single = create_job(data_entry_a, site_a, died_then_assessed())

    assert bulk.status == single.status == ImportJob.Status.FAILED
    assert (
        bulk.errors
        == single.errors
        == [
            {
                "row": 3,
                "column": "response1_date",
                "value": "2024-01-10",
                "message": "Assessment date (2024-01-10) is after the recorded date of death (2023-12-01).",
            }
        ]
    )
    assert not Patient.objects.exists() and not AuditEntry.objects.exists()


def test_an_insert_the_database_refuses_is_found_row_by_row_and_fails_the_file(site_a, data_entry_a, monkeypatch):
    # A prior irAE resolved to a grade above its worst grade: only the database's check is left to refuse it.
    rows = [*three_rows(), row(local_identifier="MRN-3", irae1_grade="2", irae1_resolved_to_grade="3")]
    parsed = spec.parse_file(csv_bytes(rows))
    monkeypatch.setattr(clinical_services, "_check_in_bulk", lambda instance, so_far, *, exclude: {})
    job = ImportJob.objects.create(site=site_a, uploaded_by=data_entry_a, total_rows=len(rows))

    services._write_rows(job, parsed.rows)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert [(e["row"], e["column"], e["message"]) for e in job.errors] == [
        (5, "irae1_resolved_to_grade", "The grade it resolved to cannot be above the worst grade.")
    ]
    assert not Patient.objects.exists() and not AdverseEvent.objects.exists()
    assert not AuditEntry.objects.exists()


def test_the_job_lists_the_registry_ids_it_created_in_the_order_of_the_file(site_a, data_entry_a):
    rows = [row(local_identifier="MRN-B"), row(local_identifier="MRN-A"), row(local_identifier="MRN-C")]

    job = create_job(data_entry_a, site_a, rows)

    by_identifier = dict(Patient.objects.values_list("local_identifier", "registry_id"))
    assert job.created_registry_ids == [by_identifier["MRN-B"], by_identifier["MRN-A"], by_identifier["MRN-C"]]
    assert all(registry_id.startswith("AAA-") for registry_id in job.created_registry_ids)


def test_an_irae_during_a_rechallenge_is_written_with_its_episode(site_a, data_entry_a):
    rows = [row(rirae1_term="hepatitis", rirae1_grade="2", rirae1_onset="2023-05", rirae1_recurrence="new")]

    job = create_job(data_entry_a, site_a, rows)

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    during = AdverseEvent.objects.get(episode__isnull=False)
    assert (during.ctcae_term, during.episode.patient_id, during.patient_id) == (
        "hepatitis",
        during.patient_id,
        Patient.objects.get().pk,
    )
    assert during.meddra_code  # filled from the CTCAE term, as ``save()`` fills it
    assert ResponseAssessment.objects.get().episode_id == during.episode_id


def test_the_later_rows_of_a_refused_patient_are_not_reported_again(site_a, data_entry_a, monkeypatch):
    third = row(
        episode_sequence="3",
        episode_start_date="2024-03-01",
        response1_date="2024-04-01",
        followup1_date="2024-05-01",
        followup1_last_alive_date="2024-05-01",
    )
    rows = [*died_then_assessed(), third]  # rows 2 and 3 for MRN-1, row 4 for MRN-2, row 5 for MRN-1 again

    bulk = create_job(data_entry_a, site_a, rows)
    one_by_one(monkeypatch)
    single = create_job(data_entry_a, site_a, rows)

    assert [(e["row"], e["column"]) for e in bulk.errors] == [(3, "response1_date")]
    assert bulk.errors == single.errors

"""Bulk import service and task: all-or-nothing validation, audited writes, idempotency, progress."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.clinical.models import AdverseEvent, FollowUp, InitialCourse, Patient, RechallengeEpisode, ResponseAssessment
from apps.clinical.services import BulkWriteFailed, RecordBatch
from apps.core.errors import ApplicationError
from apps.core.models import AuditEntry
from apps.imports import services
from apps.imports.models import ImportJob
from apps.imports.tasks import run_import_job
from tests.factories import PatientFactory

from .data import csv_bytes, row, three_rows

CLINICAL_MODELS = (Patient, InitialCourse, AdverseEvent, RechallengeEpisode, ResponseAssessment, FollowUp)


def upload(rows, name="episodes.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, csv_bytes(rows), content_type="text/csv")


def create_job(user, site, rows, *, run_inline=True) -> ImportJob:
    return services.import_job_create(user=user, site=site, upload=upload(rows), run_inline=run_inline)


def clinical_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in CLINICAL_MODELS}


def test_a_valid_three_row_file_imports_every_record_with_an_import_audit_entry(site_a, data_entry_a):
    job = create_job(data_entry_a, site_a, three_rows())

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert clinical_counts() == {
        "Patient": 2,
        "InitialCourse": 2,
        "AdverseEvent": 1,
        "RechallengeEpisode": 3,
        "ResponseAssessment": 3,
        "FollowUp": 3,
    }
    assert job.created_counts == {
        "patient": 2,
        "initial_course": 2,
        "prior_irae": 1,
        "episode": 3,
        "response": 3,
        "follow_up": 3,
    }
    first = Patient.objects.get(local_identifier="MRN-1")
    assert first.site == site_a and first.registry_id.startswith("AAA-")
    assert list(first.episodes.values_list("sequence_number", "start_date")) == [
        (1, dt.date(2023, 4, 2)),
        (2, dt.date(2023, 10, 1)),
    ]
    second = RechallengeEpisode.objects.get(patient__local_identifier="MRN-2")
    assert (second.primary_agent, second.second_agent, second.regimen_type) == ("ipilimumab", "nivolumab", "ici_ici")

    entries = AuditEntry.objects.filter(action="create")
    assert entries.count() == sum(clinical_counts().values()) == 14
    assert set(entries.values_list("channel", "reason", "user", "site")) == {
        ("import", f"Bulk import #{job.pk}", data_entry_a.pk, site_a.pk)
    }


def test_month_precision_dates_are_stored_on_the_15th_with_month_precision(site_a, data_entry_a):
    create_job(data_entry_a, site_a, [row()])

    course = InitialCourse.objects.get()
    assert (course.start_date, course.start_date_precision) == (dt.date(2022, 3, 15), "month")
    assert (course.stop_date, course.stop_date_precision) == (dt.date(2022, 11, 15), "month")
    irae = AdverseEvent.objects.get()
    assert (irae.onset_date, irae.onset_date_precision) == (dt.date(2022, 10, 15), "month")
    assert (irae.resolution_date, irae.resolution_date_precision) == (dt.date(2022, 12, 1), "day")
    assert (irae.episode, irae.meddra_code, irae.hospitalised) == (None, "10009887", True)


def test_a_file_with_one_bad_row_imports_nothing_and_reports_that_row(site_a, data_entry_a):
    rows = three_rows()
    rows[2]["irae1_term"] = "colitis"
    rows[2]["irae1_grade"] = "3"
    rows[2]["irae1_resolved_to_grade"] = "4"  # cannot resolve to a grade above the worst grade

    job = create_job(data_entry_a, site_a, rows)

    assert job.status == ImportJob.Status.FAILED
    assert clinical_counts() == dict.fromkeys(clinical_counts(), 0)
    assert not AuditEntry.objects.exists()
    problems = [(e["row"], e["column"], e["message"]) for e in job.errors]
    assert (4, "irae1_resolved_to_grade", "The grade it resolved to cannot be above the worst grade.") in problems
    assert (4, "irae1_onset", "Required when any irae1_… column is filled.") in problems
    assert {e["row"] for e in job.errors} == {4}
    assert job.error_count == len(job.errors)
    assert "Nothing was imported" in job.message


def test_a_model_rule_on_the_first_row_of_a_patient_is_reported_once(site_a, data_entry_a):
    rows = three_rows()
    rows[0]["ici1_stop_reason"] = rows[1]["ici1_stop_reason"] = "progression"  # needs a progression date

    job = create_job(data_entry_a, site_a, rows)

    assert [(e["row"], e["column"], e["message"]) for e in job.errors] == [
        (2, "ici1_progression_date", "ICI-1 stopped for progression: give the progression date.")
    ]


def test_a_patient_already_registered_at_the_site_is_updated_not_registered_again(site_a, data_entry_a):
    existing = PatientFactory(site=site_a, local_identifier="MRN-2", sex="female", tumour_type="LUAD")

    job = create_job(data_entry_a, site_a, three_rows())

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    existing.refresh_from_db()
    assert (existing.sex, existing.tumour_type) == ("male", "MEL")
    assert existing.episodes.count() == 1 and InitialCourse.objects.filter(patient=existing).exists()
    assert Patient.objects.count() == 2
    assert job.created_registry_ids == [Patient.objects.get(local_identifier="MRN-1").registry_id]
    change = AuditEntry.objects.get(action="update", model_label="clinical.patient")
    assert (change.changes["sex"], change.channel, change.reason) == (
        ["female", "male"],
        "import",
        f"Bulk import #{job.pk}",
    )


def test_the_same_local_identifier_at_another_site_is_a_different_patient(site_a, site_b, data_entry_a):
    PatientFactory(site=site_b, local_identifier="MRN-1")

    job = create_job(data_entry_a, site_a, three_rows())

    assert job.status == ImportJob.Status.SUCCEEDED
    assert Patient.objects.filter(site=site_a).count() == 2


def refuse_bulk_insert(**kwargs):
    raise BulkWriteFailed("The records break a database rule.")


def test_a_record_refused_while_writing_rolls_back_every_row(site_a, data_entry_a, monkeypatch):
    real_create = RecordBatch.create

    def refuse_third_episode(batch, *, model, data):
        if model is RechallengeEpisode and RechallengeEpisode.objects.count() == 2:
            raise ApplicationError("Please correct the errors below.", field_errors={"start_date": ["Refused."]})
        return real_create(batch, model=model, data=data)

    monkeypatch.setattr(RecordBatch, "create", refuse_third_episode)
    # The database refuses the bulk insert, so the rows are written one by one to find the row.
    monkeypatch.setattr(services, "records_create_bulk", refuse_bulk_insert)

    job = create_job(data_entry_a, site_a, three_rows())

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [{"row": 4, "column": "episode_start_date", "value": "2023-04-02", "message": "Refused."}]
    assert clinical_counts() == dict.fromkeys(clinical_counts(), 0)
    assert not AuditEntry.objects.exists()
    assert job.created_counts == {}


def test_an_upload_into_another_site_is_refused(site_b, data_entry_a):
    with pytest.raises(ApplicationError) as error:
        create_job(data_entry_a, site_b, three_rows())

    assert error.value.status == 403
    assert "site" in error.value.field_errors
    assert not ImportJob.objects.exists()


def test_a_large_file_is_left_to_the_celery_task_enqueued_on_commit(
    site_a, data_entry_a, monkeypatch, django_capture_on_commit_callbacks
):
    enqueued = []
    monkeypatch.setattr(run_import_job, "delay", enqueued.append)

    with django_capture_on_commit_callbacks(execute=True):
        job = create_job(data_entry_a, site_a, three_rows(), run_inline=False)

    assert enqueued == [job.pk]
    assert (job.status, job.total_rows, Patient.objects.count()) == (ImportJob.Status.PENDING, 3, 0)


def test_files_over_the_inline_limit_run_in_the_background(site_a, data_entry_a, settings, monkeypatch):
    settings.IMPORT_INLINE_MAX_ROWS = 2
    monkeypatch.setattr(run_import_job, "delay", lambda job_id: None)

    job = services.import_job_create(user=data_entry_a, site=site_a, upload=upload(three_rows()))

    assert job.status == ImportJob.Status.PENDING


def test_running_the_task_twice_does_not_import_twice(site_a, data_entry_a, monkeypatch):
    monkeypatch.setattr(run_import_job, "delay", lambda job_id: None)
    job = create_job(data_entry_a, site_a, three_rows(), run_inline=False)

    assert run_import_job(job.pk) == "succeeded"
    assert run_import_job.apply(args=[job.pk]).get() == "succeeded"

    assert Patient.objects.count() == 2
    assert AuditEntry.objects.filter(model_label="clinical.patient").count() == 2
    job.refresh_from_db()
    assert job.created_counts["patient"] == 2


def test_a_task_for_a_job_that_is_gone_does_nothing(db):
    assert run_import_job(987654) is None


def test_progress_is_saved_every_hundred_rows_and_reaches_the_total(site_a, data_entry_a, monkeypatch):
    monkeypatch.setattr(services, "PROGRESS_EVERY", 2)
    seen: list[tuple[str, int]] = []
    real_progress = services._progress

    def spy(job, done):
        seen.append((job.status, done))
        real_progress(job, done)

    monkeypatch.setattr(services, "_progress", spy)
    rows = [*three_rows(), row(local_identifier="MRN-3"), row(local_identifier="MRN-4")]

    job = create_job(data_entry_a, site_a, rows)

    assert seen == [
        ("validating", 2),
        ("validating", 4),
        ("validating", 5),
        ("importing", 0),
        ("importing", 2),
        ("importing", 4),
    ]
    assert (job.status, job.processed_rows, job.total_rows) == ("succeeded", 5, 5)
    assert job.started_at <= job.finished_at
    assert job.finished_at.utcoffset() == dt.timedelta(0)


def test_a_job_that_outlived_its_time_limit_is_marked_failed(site_a, data_entry_a, monkeypatch):
    monkeypatch.setattr(run_import_job, "delay", lambda job_id: None)
    job = create_job(data_entry_a, site_a, three_rows(), run_inline=False)
    long_ago = job.created_at - dt.timedelta(seconds=services.stale_after_seconds() + 1)
    ImportJob.objects.filter(pk=job.pk).update(status="importing", started_at=long_ago)
    job.refresh_from_db()

    job = services.import_job_expire_if_stale(job=job)

    assert job.status == ImportJob.Status.FAILED
    assert run_import_job(job.pk) == "failed"
    assert Patient.objects.count() == 0


def test_an_unreadable_file_fails_with_a_file_level_message(site_a, data_entry_a):
    bad = SimpleUploadedFile("episodes.csv", "local_identifier\nÉ\n".encode("latin-1"))

    job = services.import_job_create(user=data_entry_a, site=site_a, upload=bad)

    assert job.status == ImportJob.Status.FAILED
    assert job.errors[0]["row"] == 0 and "UTF-8" in job.errors[0]["message"]


def test_the_uploaded_file_is_kept_under_media_imports(site_a, data_entry_a, media_root):
    job = create_job(data_entry_a, site_a, three_rows())

    assert job.file.name.startswith("imports/AAA/")
    assert (media_root / job.file.name).read_bytes() == csv_bytes(three_rows())
    assert job.original_filename == "episodes.csv"


def test_an_empty_required_cell_is_reported_in_the_words_of_a_file(site_a, data_entry_a):
    job = create_job(data_entry_a, site_a, [row(sex="", year_of_birth="")])

    assert [(e["row"], e["column"], e["message"]) for e in job.errors] == [
        (2, "sex", "Required: this cell cannot be empty."),
        (2, "year_of_birth", "Required: this cell cannot be empty."),
    ]


def test_a_site_closed_while_the_file_was_checked_takes_none_of_it(site_a, data_entry_a, monkeypatch):
    from apps.accounts.models import Site

    checked = services._validate_rows

    def check_then_close(job, rows):
        errors = checked(job, rows)
        Site.objects.filter(pk=site_a.pk).update(active=False)  # closed by a coordinator meanwhile
        return errors

    monkeypatch.setattr(services, "_validate_rows", check_then_close)

    job = create_job(data_entry_a, site_a, three_rows())

    assert job.status == ImportJob.Status.FAILED
    assert job.message == "Site AAA is closed to new data. Nothing was imported."
    assert clinical_counts() == dict.fromkeys(clinical_counts(), 0)
    assert not AuditEntry.objects.exists()

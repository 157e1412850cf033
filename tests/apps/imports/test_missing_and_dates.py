"""The import applies the same rules as the forms: missing stays missing, and no date after today."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.clinical.models import AdverseEvent, InitialCourse, Patient, RechallengeEpisode
from apps.imports.models import ImportJob

from .data import row
from .test_services import create_job


def test_blank_answers_are_imported_as_not_recorded_never_as_no_or_zero(site_a, data_entry_a):
    job = create_job(
        data_entry_a,
        site_a,
        [row(episode_prednisone="", irae1_hospitalised="", irae1_steroid_refractory="unknown", ici1_iraes="yes")],
    )
    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    irae = AdverseEvent.objects.get()
    assert (irae.steroid_refractory, irae.hospitalised, irae.led_to_discontinuation) == (None, None, None)
    assert RechallengeEpisode.objects.get().current_prednisone_mg_per_day is None
    assert InitialCourse.objects.get().iraes_during_course == "yes"


def test_an_explicit_no_irae_answer_without_irae_columns_is_imported(site_a, data_entry_a):
    no_irae = {name: "" for name in row() if name.startswith("irae1_")}
    job = create_job(data_entry_a, site_a, [row(**no_irae, ici1_iraes="no", episode_iraes="unknown")])
    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert InitialCourse.objects.get().iraes_during_course == "no"
    assert RechallengeEpisode.objects.get().iraes_during_rechallenge == "unknown"


def test_a_date_after_today_is_a_cell_error_and_nothing_is_imported(site_a, data_entry_a):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    job = create_job(data_entry_a, site_a, [row(consent_date=tomorrow.isoformat())])
    assert job.status == ImportJob.Status.FAILED
    assert [(e["row"], e["column"], e["message"]) for e in job.errors] == [
        (2, "consent_date", "This date is after today.")
    ]
    assert not Patient.objects.exists()


def test_a_month_only_date_in_a_later_month_is_refused(site_a, data_entry_a):
    first_of_next_month = (timezone.localdate().replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    job = create_job(data_entry_a, site_a, [row(irae1_resolution=f"{first_of_next_month:%Y-%m}")])
    assert job.status == ImportJob.Status.FAILED
    assert (2, "irae1_resolution", "This month is after the current month.") in [
        (e["row"], e["column"], e["message"]) for e in job.errors
    ]

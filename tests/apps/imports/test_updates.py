"""An import that names registered patients updates them: matched records, a dry-run preview, audited changes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.clinical.models import AdverseEvent, FollowUp, InitialCourse, Patient, RechallengeEpisode
from apps.core.models import AuditEntry
from apps.imports import services, updates
from apps.imports.models import ImportJob

from .data import csv_bytes, row, three_rows

CLINICAL_MODELS = (Patient, InitialCourse, AdverseEvent, RechallengeEpisode, FollowUp)


def run(user, site, rows, *, dry_run=False) -> ImportJob:
    upload = SimpleUploadedFile("update.csv", csv_bytes(rows), content_type="text/csv")
    return services.import_job_create(user=user, site=site, upload=upload, run_inline=True, dry_run=dry_run)


def registered(user, site) -> Patient:
    """MRN-1 (two rechallenges) and MRN-2, imported; MRN-1 returned."""
    job = run(user, site, three_rows())
    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    return Patient.objects.get(local_identifier="MRN-1")


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in CLINICAL_MODELS}


def update_rows() -> list[dict[str, str]]:
    """MRN-1's first rechallenge with ICI-1's best response and the LDH corrected, a second follow-up and an
    irAE during the rechallenge added; and a new patient MRN-3."""
    return [
        row(
            ici1_best_response="CR",
            episode_ldh="310",
            followup2_date="2024-03-01",
            followup2_vital_status="alive",
            followup2_last_alive_date="2024-03-01",
            rirae1_term="colitis",
            rirae1_grade="2",
            rirae1_onset="2023-05",
            rirae1_resolution="2023-06-20",
            rirae1_resolved_to_grade="0",
            rirae1_management="corticosteroids",
            rirae1_recurrence="recurrence",
            reason_for_change="Source documents re-checked",
        ),
        row(local_identifier="MRN-3"),
    ]


def test_a_dry_run_previews_the_changes_old_to_new_and_writes_nothing(site_a, data_entry_a):
    patient = registered(data_entry_a, site_a)
    before, entries = counts(), AuditEntry.objects.count()

    job = run(data_entry_a, site_a, update_rows(), dry_run=True)

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert (counts(), AuditEntry.objects.count()) == (before, entries)
    assert job.created_registry_ids == [] and job.created_counts == {}
    first, new = job.preview
    assert (first["row"], first["registry_id"], new["registry_id"]) == (2, patient.registry_id, "")
    actions = {(r["record"], r["group"]): (r["action"], r.get("changes")) for r in first["records"]}
    assert actions == {
        ("patient", None): ("unchanged", None),
        ("initial_course", None): ("change", {"ici1_best_response": ["PR", "CR"]}),
        ("prior_irae", 1): ("unchanged", None),
        ("episode", None): ("change", {"episode_ldh": ["250", "310"]}),
        ("rechallenge_irae", 1): ("create", None),
        ("response", 1): ("unchanged", None),
        ("follow_up", 1): ("unchanged", None),
        ("follow_up", 2): ("create", None),
    }
    # The second rechallenge, its response and follow-up are not in the file: left alone, and said so.
    assert first["not_in_file"] == 3
    assert {r["action"] for r in new["records"]} == {"create"}
    assert job.message == (
        "Checked 2 rows; nothing is written yet. Importing this file will create 1 patient, 1 initial ICI course, "
        "1 prior irAE, 1 rechallenge episode, 1 irAE during rechallenge, 1 response assessment, 2 follow-ups; "
        "change 1 initial ICI course, 1 rechallenge episode."
    )


def test_importing_the_previewed_file_updates_the_patient_with_audited_changes_and_lists_new_patients(
    site_a, data_entry_a
):
    patient = registered(data_entry_a, site_a)
    preview = run(data_entry_a, site_a, update_rows(), dry_run=True)

    job = services.import_job_confirm(user=data_entry_a, job=preview)

    assert (job.pk, job.status, job.dry_run) == (preview.pk, ImportJob.Status.SUCCEEDED, False)
    mrn3 = Patient.objects.get(local_identifier="MRN-3")
    assert job.created_registry_ids == [mrn3.registry_id]
    assert InitialCourse.objects.get(patient=patient).best_overall_response == "CR"
    episode = patient.episodes.get(sequence_number=1)
    assert episode.ldh_u_per_l == Decimal("310")
    assert list(episode.follow_ups.values_list("follow_up_date", flat=True).order_by("follow_up_date")) == [
        dt.date(2023, 12, 1),
        dt.date(2024, 3, 1),
    ]
    irae = episode.adverse_events.get()
    assert (irae.patient, irae.recurrence_status, irae.grade, irae.onset_date, irae.onset_date_precision) == (
        patient,
        "recurrence",
        2,
        dt.date(2023, 5, 15),
        "month",
    )
    assert (irae.resolution_date, irae.resolved_to_grade) == (dt.date(2023, 6, 20), 0)
    assert patient.episodes.count() == 2  # the second rechallenge is left alone

    changes = AuditEntry.objects.filter(
        action="update", model_label__in=["clinical.initialcourse", "clinical.rechallengeepisode"]
    )
    assert {(e.model_label, e.channel, e.reason, e.user_id) for e in changes} == {
        ("clinical.initialcourse", "import", "Source documents re-checked", data_entry_a.pk),
        ("clinical.rechallengeepisode", "import", "Source documents re-checked", data_entry_a.pk),
    }
    course_change = changes.get(model_label="clinical.initialcourse").changes
    assert course_change["best_overall_response"] == ["PR", "CR"]
    irae_entry = AuditEntry.objects.get(action="create", model_label="clinical.adverseevent", object_id=str(irae.pk))
    patient_entry = AuditEntry.objects.get(action="create", model_label="clinical.patient", object_id=str(mrn3.pk))
    assert (irae_entry.channel, irae_entry.reason) == ("import", "Source documents re-checked")
    assert (patient_entry.channel, patient_entry.reason) == ("import", f"Bulk import #{job.pk}")


def test_confirming_twice_imports_once(site_a, data_entry_a):
    registered(data_entry_a, site_a)
    preview = run(data_entry_a, site_a, update_rows(), dry_run=True)

    services.import_job_confirm(user=data_entry_a, job=preview)
    after = counts()
    again = services.import_job_confirm(user=data_entry_a, job=preview)

    assert again.status == ImportJob.Status.SUCCEEDED
    assert counts() == after
    assert FollowUp.objects.filter(follow_up_date=dt.date(2024, 3, 1)).count() == 1


def test_a_change_to_a_complete_record_without_a_reason_is_refused_at_the_reason_cell(site_a, data_entry_a):
    patient = registered(data_entry_a, site_a)
    InitialCourse.objects.filter(patient=patient).update(is_complete=True)
    entries = AuditEntry.objects.count()

    job = run(
        data_entry_a,
        site_a,
        [row(ici1_best_response="CR", followup2_date="2024-03-01", followup2_vital_status="alive")],
    )

    assert job.status == ImportJob.Status.FAILED
    assert [(e["row"], e["column"], e["message"]) for e in job.errors] == [
        (2, "reason_for_change", updates.REASON_NEEDED.format(record="the ICI-1 course"))
    ]
    assert InitialCourse.objects.get(patient=patient).best_overall_response == "PR"
    assert not FollowUp.objects.filter(follow_up_date=dt.date(2024, 3, 1)).exists()
    assert AuditEntry.objects.count() == entries


def test_a_complete_record_changes_with_the_reason_given_in_the_row(site_a, data_entry_a):
    patient = registered(data_entry_a, site_a)
    InitialCourse.objects.filter(patient=patient).update(is_complete=True)

    job = run(data_entry_a, site_a, [row(ici1_best_response="CR", reason_for_change="Read again by the PI")])

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    entry = AuditEntry.objects.get(action="update", model_label="clinical.initialcourse")
    assert (entry.reason, entry.changes["best_overall_response"]) == ("Read again by the PI", ["PR", "CR"])


def test_a_row_naming_the_patient_by_registry_id_only_adds_to_the_rechallenge_and_leaves_the_rest(site_a, data_entry_a):
    patient = registered(data_entry_a, site_a)
    before = counts()
    file_row = {
        "registry_id": patient.registry_id.lower(),
        "episode_start_date": "2023-10-01",
        "followup2_date": "2024-04-01",
        "followup2_vital_status": "dead",
        "followup2_death_date": "2024-03-20",
    }

    job = run(data_entry_a, site_a, [file_row])

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert counts() == {**before, "FollowUp": before["FollowUp"] + 1}
    follow_up = FollowUp.objects.get(follow_up_date=dt.date(2024, 4, 1))
    assert (follow_up.episode.sequence_number, follow_up.death_date) == (2, dt.date(2024, 3, 20))
    assert job.created_registry_ids == []
    assert job.message == "Imported 1 row: created 1 follow-up."


def test_a_new_rechallenge_of_a_registered_patient_gets_the_next_number(site_a, data_entry_a):
    patient = registered(data_entry_a, site_a)

    job = run(
        data_entry_a,
        site_a,
        [
            row(
                episode_start_date="2024-05-01",
                response1_date="",
                response1_criteria="",
                response1_category="",
                followup1_date="2024-06-01",
                followup1_last_alive_date="2024-06-01",
            )
        ],
    )

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert list(patient.episodes.values_list("sequence_number", "start_date")) == [
        (1, dt.date(2023, 4, 2)),
        (2, dt.date(2023, 10, 1)),
        (3, dt.date(2024, 5, 1)),
    ]


def test_an_unknown_registry_id_or_one_of_another_patient_is_a_cell_error(site_a, data_entry_a):
    patient = registered(data_entry_a, site_a)

    job = run(
        data_entry_a,
        site_a,
        [row(registry_id="AAA-ZZZZZZ"), row(local_identifier="MRN-2", registry_id=patient.registry_id)],
    )

    assert job.status == ImportJob.Status.FAILED
    assert [(e["row"], e["column"], e["message"]) for e in job.errors] == [
        (2, "registry_id", updates.UNKNOWN_REGISTRY_ID.format(site="AAA")),
        (3, "registry_id", updates.OTHER_PATIENT),
    ]


def test_a_signed_case_refuses_the_import_with_the_signature_message(site_a, data_entry_a, site_pi_a):
    patient = registered(data_entry_a, site_a)
    Patient.objects.filter(pk=patient.pk).update(signed_at=timezone.now(), signed_by=site_pi_a)

    job = run(data_entry_a, site_a, [row(ici1_best_response="CR", reason_for_change="x")])

    assert job.status == ImportJob.Status.FAILED
    [error] = job.errors
    assert (error["row"], error["column"]) == (2, "local_identifier")
    assert error["message"].startswith(f"Patient {patient.registry_id}'s case is signed by")
    assert InitialCourse.objects.get(patient=patient).best_overall_response == "PR"


def test_a_row_that_repeats_a_registered_patient_unchanged_changes_nothing(site_a, data_entry_a):
    registered(data_entry_a, site_a)
    entries = AuditEntry.objects.count()

    job = run(data_entry_a, site_a, three_rows())

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert AuditEntry.objects.count() == entries
    assert job.message == "Imported 3 rows: nothing created or changed."
    assert {r["action"] for entry in job.preview for r in entry["records"]} == {"unchanged"}


def test_a_refused_new_patient_rolls_back_the_updates_of_the_same_file(site_a, data_entry_a, monkeypatch):
    patient = registered(data_entry_a, site_a)

    def refuse(job, rows):
        services._fail(job, message="Refused while writing.")

    monkeypatch.setattr(services, "_write_rows", refuse)

    job = run(data_entry_a, site_a, update_rows())

    job.refresh_from_db()
    assert (job.status, job.message) == (ImportJob.Status.FAILED, "Refused while writing.")
    assert InitialCourse.objects.get(patient=patient).best_overall_response == "PR"
    assert not AdverseEvent.objects.filter(episode__isnull=False).exists()
    assert not AuditEntry.objects.filter(action="update").exists()


def test_irae_columns_of_a_rechallenge_are_imported_for_a_new_patient_with_recurrence_grade_and_dates(
    site_a, data_entry_a
):
    rows = [
        row(
            episode_iraes="yes",
            rirae1_term="colitis",
            rirae1_grade="3",
            rirae1_onset="2023-05-10",
            rirae1_resolution="2023-07",
            rirae1_resolved_to_grade="1",
            rirae1_management="corticosteroids",
            rirae1_recurrence="recurrence",
            rirae2_term="hepatitis",
            rirae2_grade="2",
            rirae2_onset="2023-06-01",
            rirae2_recurrence="new",
        )
    ]

    job = run(data_entry_a, site_a, rows)

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    episode = RechallengeEpisode.objects.get()
    got = list(
        AdverseEvent.objects.filter(episode=episode)
        .order_by("onset_date")
        .values_list(
            "patient",
            "ctcae_term",
            "recurrence_status",
            "grade",
            "onset_date",
            "resolution_date",
            "resolution_date_precision",
            "resolved_to_grade",
        )
    )
    assert got == [
        (episode.patient_id, "colitis", "recurrence", 3, dt.date(2023, 5, 10), dt.date(2023, 7, 15), "month", 1),
        (episode.patient_id, "hepatitis", "new", 2, dt.date(2023, 6, 1), None, "day", None),
    ]
    assert job.created_counts["rechallenge_irae"] == 2 and job.created_counts["prior_irae"] == 1


def test_an_irae_of_a_rechallenge_without_its_recurrence_status_is_refused(site_a, data_entry_a):
    job = run(data_entry_a, site_a, [row(rirae1_term="colitis", rirae1_grade="2", rirae1_onset="2023-05-10")])

    assert job.status == ImportJob.Status.FAILED
    assert [(e["row"], e["column"], e["message"]) for e in job.errors] == [
        (2, "rirae1_recurrence", "Required when any rirae1_… column is filled.")
    ]


def test_the_templates_example_row_left_in_the_file_is_refused(site_a, data_entry_a):
    upload = SimpleUploadedFile("template.csv", services.import_template_csv(site=site_a).encode())

    job = services.import_job_create(user=data_entry_a, site=site_a, upload=upload, run_inline=True)

    assert job.status == ImportJob.Status.FAILED
    assert [(e["row"], e["column"], e["value"]) for e in job.errors] == [(2, "local_identifier", "EXAMPLE-DELETE-ME")]
    assert "example row" in job.errors[0]["message"]
    assert not Patient.objects.exists()


def test_finding_and_comparing_registered_patients_costs_the_same_for_one_or_many(site_a, data_entry_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    many = [row(local_identifier=f"MRN-{n}") for n in range(1, 6)]
    assert run(data_entry_a, site_a, many).status == ImportJob.Status.SUCCEEDED
    costs = []
    for rows in (many[:1], many):
        with CaptureQueriesContext(connection) as queries:
            job = run(data_entry_a, site_a, rows, dry_run=True)
        assert {r["action"] for entry in job.preview for r in entry["records"]} == {"unchanged"}
        costs.append(len(queries.captured_queries))

    assert costs[0] == costs[1]


def test_records_named_on_any_row_of_a_patient_are_not_counted_as_left_out(site_a, data_entry_a):
    registered(data_entry_a, site_a)

    job = run(data_entry_a, site_a, three_rows()[:2], dry_run=True)  # both rechallenges of MRN-1

    assert [entry["not_in_file"] for entry in job.preview] == [0, 0]


def test_a_row_naming_an_unknown_registry_id_gets_that_error_only(site_a, data_entry_a):
    job = run(data_entry_a, site_a, [{"registry_id": "AAA-ZZZZZZ", "episode_start_date": "2023-04-02"}])

    assert [(e["row"], e["column"]) for e in job.errors] == [(2, "registry_id")]


def test_an_irae_outside_the_ctcae_list_is_imported_with_its_term_as_text(site_a, data_entry_a):
    job = run(data_entry_a, site_a, [row(irae1_term="other", irae1_term_other="Sarcoid-like reaction")])

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    irae = AdverseEvent.objects.get()
    assert (irae.ctcae_term, irae.ctcae_term_other) == ("other", "Sarcoid-like reaction")


def test_an_other_irae_term_without_its_text_is_refused_at_that_cell(site_a, data_entry_a):
    job = run(data_entry_a, site_a, [row(irae1_term="other")])

    assert [(e["row"], e["column"], e["message"]) for e in job.errors] == [
        (2, "irae1_term_other", "Name the term: the CTCAE term is 'Other (specify)'.")
    ]

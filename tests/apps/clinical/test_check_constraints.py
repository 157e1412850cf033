"""Every CHECK constraint of the case report form is also a validation rule with a field message.

``full_clean`` no longer asks the database about CHECK constraints before a write (a query and two
savepoint statements each); the database still enforces them on every write. These tests show that
no check was lost on the way: for each constraint, a record that breaks it (as the constraint itself
says) is refused by ``full_clean`` with a message on a field, before any write; and a change that
leaves a unique value as stored is not asked about, while a changed one still is.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models

from apps.clinical.models import (
    AdverseEvent,
    FollowUp,
    InitialCourse,
    Patient,
    RechallengeEpisode,
    ResponseAssessment,
)
from tests.factories import (
    AdverseEventFactory,
    FollowUpFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
    ResponseAssessmentFactory,
)

pytestmark = pytest.mark.django_db

MODELS = (Patient, InitialCourse, RechallengeEpisode, AdverseEvent, ResponseAssessment, FollowUp)

#: constraint name → (a saved record, the change that breaks the constraint, the field said to be wrong)
CASES = {
    "patient_year_of_birth_range": (PatientFactory, {"year_of_birth": 1899}, "year_of_birth"),
    "patient_pdl1_tps_0_100": (PatientFactory, {"pdl1_tps_percent": Decimal("100.5")}, "pdl1_tps_percent"),
    "initial_course_ecog_0_5": (InitialCourseFactory, {"ecog_at_start": 6}, "ecog_at_start"),
    "initial_course_stop_after_start": (InitialCourseFactory, {"stop_date": dt.date(2023, 1, 1)}, "stop_date"),
    "initial_course_progression_after_start": (
        InitialCourseFactory,
        {"progression_date": dt.date(2023, 1, 1)},
        "progression_date",
    ),
    "episode_ecog_0_5": (RechallengeEpisodeFactory, {"ecog_at_rechallenge": 6}, "ecog_at_rechallenge"),
    "episode_sequence_positive": (RechallengeEpisodeFactory, {"sequence_number": 0}, "sequence_number"),
    "episode_prednisone_not_negative": (
        RechallengeEpisodeFactory,
        {"current_prednisone_mg_per_day": Decimal("-1")},
        "current_prednisone_mg_per_day",
    ),
    "ae_grade_1_5": (AdverseEventFactory, {"grade": 6}, "grade"),
    "ae_resolved_grade_not_above_grade": (AdverseEventFactory, {"resolved_to_grade": 3}, "resolved_to_grade"),
    "ae_resolution_after_onset": (AdverseEventFactory, {"resolution_date": dt.date(2023, 5, 1)}, "resolution_date"),
    "response_category_matches_criteria": (ResponseAssessmentFactory, {"category": "iCR"}, "category"),
    "follow_up_dead_has_death_date": (FollowUpFactory, {"vital_status": "dead"}, "death_date"),
    "follow_up_death_date_only_if_dead": (
        FollowUpFactory,
        {"death_date": dt.date(2024, 6, 1)},
        "vital_status",
    ),
}


def _check_constraints() -> dict[str, tuple[type[models.Model], models.CheckConstraint]]:
    return {
        constraint.name: (model, constraint)
        for model in MODELS
        for constraint in model._meta.constraints
        if isinstance(constraint, models.CheckConstraint)
    }


def test_every_check_constraint_of_the_clinical_models_has_a_case_here():
    assert set(CASES) == set(_check_constraints())


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_record_breaking_a_check_constraint_is_refused_by_validation_on_its_field(name):
    make, change, field = CASES[name]
    model, constraint = _check_constraints()[name]
    record = make()
    for attribute, value in change.items():
        setattr(record, attribute, value)
    with pytest.raises(ValidationError):  # the case really breaks this constraint, as the database sees it
        constraint.validate(model, record)

    with pytest.raises(ValidationError) as refused:
        record.full_clean()

    assert field in refused.value.message_dict, refused.value.message_dict
    assert NON_FIELD_ERRORS not in refused.value.message_dict


def test_full_clean_asks_the_database_about_no_check_constraint(django_assert_num_queries):
    record = AdverseEventFactory()  # three CHECK constraints, no unique one; an irAE of ICI-1
    record.grade = 3
    with django_assert_num_queries(1):  # the irAE history answer of ICI-1 (a rule of clean())
        record.full_clean()


def test_a_unique_value_left_as_stored_is_not_asked_about_and_a_changed_one_is(django_assert_num_queries):
    first = RechallengeEpisodeFactory()
    second = RechallengeEpisodeFactory(patient=first.patient, sequence_number=2, start_date=dt.date(2024, 9, 1))
    second = RechallengeEpisode.objects.select_related("patient").get(pk=second.pk)  # as a change loads it
    second.ecog_at_rechallenge = 2
    with django_assert_num_queries(1):  # the patient's ICI-1 and previous rechallenge, in one query
        second.full_clean()

    second.sequence_number = 1
    with pytest.raises(ValidationError) as refused:
        second.full_clean()
    assert "Rechallenge episode with this Patient and Sequence number already exists." in str(refused.value)


def test_a_local_identifier_taken_at_the_site_is_still_refused_when_changed_to(site_a):
    PatientFactory(site=site_a, local_identifier="MRN-TAKEN")
    patient = Patient.objects.get(pk=PatientFactory(site=site_a).pk)
    patient.local_identifier = "mrn-taken"

    with pytest.raises(ValidationError) as refused:
        patient.full_clean()

    assert refused.value.message_dict.keys() & {NON_FIELD_ERRORS, "local_identifier"}


def test_a_link_to_a_record_not_loaded_is_still_checked_to_exist():
    record = AdverseEventFactory()
    record.patient_id = record.patient_id + 1000  # no such patient; the link is not a loaded object

    with pytest.raises(ValidationError) as refused:
        record.full_clean()

    assert "patient" in refused.value.message_dict

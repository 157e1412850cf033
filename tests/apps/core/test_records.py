"""Each clinical record type is declared once (``apps.clinical.records``) and read from the core registry."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from django.apps import apps

from apps.assessments.models import BlindingSetting
from apps.clinical.models import CaseRecord, FollowUp
from apps.core.records import (
    record_type_by_crf_name,
    record_type_by_slug,
    record_type_for,
    record_types,
    register,
    site_of,
)
from registry import crf
from tests.factories import (
    AdverseEventFactory,
    FollowUpFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
    ResponseAssessmentFactory,
)

FACTORIES = {
    "patient": PatientFactory,
    "initial_course": InitialCourseFactory,
    "episode": RechallengeEpisodeFactory,
    "adverse_event": AdverseEventFactory,
    "response": ResponseAssessmentFactory,
    "follow_up": FollowUpFactory,
}


def test_every_case_record_model_is_declared_once_with_its_own_slug_route_and_crf_name():
    case_models = {m for m in apps.get_app_config("clinical").get_models() if issubclass(m, CaseRecord)}
    declared = record_types()
    assert {record_type.model for record_type in declared} == case_models
    assert len(declared) == len(case_models)
    for attribute in ("slug", "api_route", "crf_name", "noun"):
        values = [getattr(record_type, attribute) for record_type in declared]
        assert len(set(values)) == len(values), attribute


@pytest.mark.parametrize("crf_name", list(FACTORIES))
def test_the_site_path_patient_and_lookups_of_a_declaration_agree_with_the_database(crf_name, site_a):
    record_type = record_type_by_crf_name(crf_name)
    record = FACTORIES[crf_name]()
    fresh = record_type.model.objects.get(pk=record.pk)
    stored_site = record_type.model.objects.filter(pk=record.pk).values_list(record_type.site_path, flat=True).get()
    patient = record_type.patient_of(fresh)
    assert record_type.site_id_of(fresh) == stored_site == patient.site_id
    assert site_of(fresh) == stored_site
    assert record_type.patient_id_of(fresh) == patient.pk
    assert record_type_for(type(fresh)) is record_type_by_slug(record_type.slug) is record_type
    assert isinstance(fresh, record_type.form._meta.model)
    assert record_type.output_serializer.Meta.model is record_type.model


def test_only_patients_hide_fields_from_coordinators_as_registry_crf_says():
    hidden = {record_type.crf_name: record_type.hidden_from_coordinators for record_type in record_types()}
    assert hidden["patient"] == crf.HIDDEN_FROM_COORDINATORS["patient"] == {"local_identifier", "date_of_birth"}
    assert all(not fields for name, fields in hidden.items() if name != "patient")


def test_what_belongs_to_no_site_is_audited_without_one(db):
    assert site_of(BlindingSetting(pk=1)) is None


def test_a_record_without_its_parent_yet_has_no_site_nor_patient():
    follow_up = FollowUp(follow_up_date=dt.date(2024, 9, 1))
    assert site_of(follow_up) is None
    assert record_type_for(FollowUp).patient_id_of(follow_up) is None


def test_a_model_cannot_be_declared_twice_differently():
    patient = record_type_by_crf_name("patient")
    with pytest.raises(ValueError, match="already declared"):
        register(dataclasses.replace(patient, slug="person"))
    register(patient)  # the same declaration again is harmless
    assert record_type_by_slug("patient") is patient


def test_an_unknown_slug_or_model_is_a_lookup_error():
    with pytest.raises(LookupError):
        record_type_by_slug("prescription")
    with pytest.raises(LookupError):
        record_type_for(BlindingSetting)

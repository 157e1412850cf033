"""Helpers for the clinical API tests: clients, and one description per record type.

``RECORD_TYPES`` lets one test run against every endpoint: how to make a record at a site, a valid
create payload whose parents are at that site, and a valid change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import ApiToken, Site
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
    api_token_key_for,
)

API = "/api/v1"


def client_for(user) -> APIClient:
    """A client signed in as ``user`` (no user: anonymous)."""
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def token_client_for(user) -> APIClient:
    """A client that sends ``Authorization: Token …``, so each request loads the user afresh.

    Its token counts as just used: the last-use time is written at most once a minute, and query counts
    should measure the request, not whether that minute has passed."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_key_for(user)}")
    ApiToken.objects.filter(user=user).update(last_used_at=timezone.now())
    return client


def verified_session_client_for(user) -> APIClient:
    """A session client whose second factor is verified, as coordinators and investigators must be."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = APIClient()
    client.force_login(user)
    device, _ = TOTPDevice.objects.get_or_create(user=user, name="test phone", defaults={"confirmed": True})
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


def fresh_client_for(user) -> APIClient:
    """A client that loads the user afresh on every request: a token for center staff, else a verified session."""
    from apps.accounts.two_factor import two_factor_required

    return verified_session_client_for(user) if two_factor_required(user) else token_client_for(user)


def if_match(instance: Model) -> dict[str, str]:
    return {"HTTP_IF_MATCH": f'"{instance.version}"'}


def patient_with_course(site: Site):
    """A patient whose ICI-1 has stopped, so a rechallenge episode may be recorded."""
    return InitialCourseFactory(patient__site=site).patient


def episode_at(site: Site):
    return RechallengeEpisodeFactory(patient=patient_with_course(site))


@dataclass(frozen=True)
class RecordType:
    """One endpoint of the clinical API, described for parametrized tests."""

    route: str
    model: type[Model]
    make: Callable[[Site], Model]
    payload: Callable[[Site], dict[str, Any]]
    change: dict[str, Any]
    lookup: str = "id"
    shape: frozenset[str] = field(default_factory=frozenset)

    def __str__(self) -> str:
        return self.route

    def list_url(self) -> str:
        return f"{API}/{self.route}/"

    def url(self, instance: Model) -> str:
        return f"{API}/{self.route}/{getattr(instance, self.lookup)}/"


COMMON = frozenset({"is_complete", "version", "created_at", "updated_at", "site"})

PATIENTS = RecordType(
    route="patients",
    model=Patient,
    make=lambda site: PatientFactory(site=site),
    payload=lambda site: {
        "site": site.code,
        "local_identifier": "MRN-NEW-1",
        "sex": "male",
        "year_of_birth": 1960,
        "tumour_type": "MEL",
        "consent_status": "consented",
        "consent_date": "2024-02-01",
    },
    change={"tumour_type": "SKCM"},
    lookup="registry_id",
    shape=COMMON | {"registry_id", "local_identifier", "date_of_birth", "sex", "year_of_birth", "tumour_type"},
)

INITIAL_COURSES = RecordType(
    route="initial-courses",
    model=InitialCourse,
    make=lambda site: InitialCourseFactory(patient__site=site),
    payload=lambda site: {
        "patient": PatientFactory(site=site).registry_id,
        "primary_agent": "nivolumab",
        "regimen_type": "monotherapy",
        "line_of_therapy": 1,
        "start_date": "2023-01-15",
        "ecog_at_start": 1,
    },
    change={"line_of_therapy": 2},
    shape=COMMON | {"id", "patient", "primary_agent", "start_date", "stop_date", "stop_reason"},
)

EPISODES = RecordType(
    route="episodes",
    model=RechallengeEpisode,
    make=episode_at,
    payload=lambda site: {
        "patient": patient_with_course(site).registry_id,
        "sequence_number": 1,
        "start_date": "2024-05-02",
        "rechallenge_type": "after_toxicity",
        "agent_relation": "same_agent",
        "primary_agent": "pembrolizumab",
        "regimen_type": "monotherapy",
        "ecog_at_rechallenge": 1,
    },
    change={"ecog_at_rechallenge": 2},
    shape=COMMON | {"id", "patient", "sequence_number", "start_date", "rechallenge_type", "enrolled_at"},
)

ADVERSE_EVENTS = RecordType(
    route="adverse-events",
    model=AdverseEvent,
    make=lambda site: AdverseEventFactory(patient__site=site),
    payload=lambda site: {
        "patient": PatientFactory(site=site).registry_id,
        "ctcae_term": "colitis",
        "grade": 2,
        "onset_date": "2023-06-01",
        "management": "none",
    },
    change={"grade": 3},
    shape=COMMON | {"id", "patient", "episode", "course", "ctcae_term", "grade", "meddra_code", "organ_category"},
)

RESPONSES = RecordType(
    route="responses",
    model=ResponseAssessment,
    make=lambda site: ResponseAssessmentFactory(episode=episode_at(site)),
    payload=lambda site: {
        "episode": episode_at(site).pk,
        "assessment_date": "2024-07-01",
        "criteria": "recist_1_1",
        "category": "PR",
    },
    change={"category": "PD"},
    shape=COMMON | {"id", "episode", "patient", "assessment_date", "criteria", "category"},
)

FOLLOW_UPS = RecordType(
    route="follow-ups",
    model=FollowUp,
    make=lambda site: FollowUpFactory(episode=episode_at(site)),
    payload=lambda site: {
        "episode": episode_at(site).pk,
        "follow_up_date": "2024-09-01",
        "vital_status": "alive",
        "last_known_alive_date": "2024-09-01",
    },
    change={"last_known_alive_date": str(dt.date(2024, 8, 1))},
    shape=COMMON | {"id", "episode", "patient", "follow_up_date", "vital_status", "death_date"},
)

RECORD_TYPES = [PATIENTS, INITIAL_COURSES, EPISODES, ADVERSE_EVENTS, RESPONSES, FOLLOW_UPS]

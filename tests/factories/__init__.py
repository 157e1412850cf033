"""Factories that keep related records consistent (an episode's site is its patient's site)."""

from __future__ import annotations

import datetime as dt
import secrets

import factory
from factory.django import DjangoModelFactory

from apps.accounts.models import ApiToken, Membership, Role, Site, User
from apps.accounts.selectors import api_token_key_hash
from apps.clinical.models import (
    AdverseEvent,
    FollowUp,
    InitialCourse,
    Patient,
    RechallengeEpisode,
    ResponseAssessment,
)
from registry.identifiers import new_registry_id

PASSWORD = "correct-horse-battery-staple"


class SiteFactory(DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"S{n:03d}")
    name = factory.LazyAttribute(lambda o: f"Center {o.code}")
    country = "NL"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    password = factory.django.Password(PASSWORD)


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    site = factory.SubFactory(SiteFactory)
    role = Role.DATA_ENTRY


def user_with_role(role: str, site: Site | None = None, **user_fields) -> User:
    """A user holding one membership; registry-wide roles take no site."""
    user = UserFactory(**user_fields)
    Membership.objects.create(user=user, site=site if role in (Role.DATA_ENTRY, Role.SITE_PI) else None, role=role)
    return user


def api_token_key_for(user: User, name: str = "") -> str:
    """The key of a new API token of ``user``, stored as the registry stores it (made directly, so a
    coordinator can hold one too, as if issued before the role: the refusal is then at sign-in)."""
    key = secrets.token_hex(20)
    name = name or f"Test client {key[:8]}"
    ApiToken.objects.create(user=user, name=name, key_prefix=key[:8], key_hash=api_token_key_hash(key))
    return key


class PatientFactory(DjangoModelFactory):
    class Meta:
        model = Patient

    site = factory.SubFactory(SiteFactory)
    registry_id = factory.LazyAttribute(lambda o: new_registry_id(o.site.code))
    local_identifier = factory.Sequence(lambda n: f"MRN{n:07d}")
    sex = "female"
    year_of_birth = 1958
    tumour_type = "LUAD"
    consent_status = "consented"
    consent_date = dt.date(2024, 1, 10)


class InitialCourseFactory(DjangoModelFactory):
    class Meta:
        model = InitialCourse

    patient = factory.SubFactory(PatientFactory)
    primary_agent = "pembrolizumab"
    regimen_type = "monotherapy"
    line_of_therapy = 1
    start_date = dt.date(2023, 1, 15)
    stop_date = dt.date(2023, 10, 15)
    ecog_at_start = 1
    best_overall_response = "PR"
    progression_date = None
    stop_reason = "toxicity"


class RechallengeEpisodeFactory(DjangoModelFactory):
    class Meta:
        model = RechallengeEpisode

    patient = factory.LazyAttribute(lambda o: InitialCourseFactory().patient)
    sequence_number = 1
    start_date = dt.date(2024, 5, 2)
    rechallenge_type = "after_toxicity"
    agent_relation = "same_agent"
    primary_agent = "pembrolizumab"
    regimen_type = "monotherapy"
    ecog_at_rechallenge = 1
    current_prednisone_mg_per_day = 0


class AdverseEventFactory(DjangoModelFactory):
    class Meta:
        model = AdverseEvent

    patient = factory.SubFactory(PatientFactory)
    ctcae_term = "colitis"
    grade = 2
    onset_date = dt.date(2023, 6, 1)
    resolution_date = dt.date(2023, 7, 1)
    resolved_to_grade = 0
    management = "corticosteroids"
    peak_prednisone_mg_per_day = 60


class ResponseAssessmentFactory(DjangoModelFactory):
    class Meta:
        model = ResponseAssessment

    episode = factory.SubFactory(RechallengeEpisodeFactory)
    assessment_date = factory.LazyAttribute(lambda o: o.episode.start_date + dt.timedelta(days=60))
    criteria = "recist_1_1"
    category = "SD"


class FollowUpFactory(DjangoModelFactory):
    class Meta:
        model = FollowUp

    episode = factory.SubFactory(RechallengeEpisodeFactory)
    follow_up_date = factory.LazyAttribute(lambda o: o.episode.start_date + dt.timedelta(days=120))
    vital_status = "alive"
    last_known_alive_date = factory.LazyAttribute(lambda o: o.follow_up_date)

"""``manage.py seed_demo`` and its services: counts, determinism, valid records, demo users, audit trail.

The bulk writer itself is tested in ``tests/apps/core/test_bulk.py``, the demo accounts in
``tests/apps/accounts/test_demo.py``.
"""

from __future__ import annotations

import dataclasses
import io
import random

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from apps.accounts.demo import DEMO_PASSWORD
from apps.accounts.models import Membership, Role, Site, User
from apps.clinical.demo import crf_columns, demo_cohort_seed
from apps.clinical.models import (
    AdverseEvent,
    FollowUp,
    InitialCourse,
    Patient,
    RechallengeEpisode,
    ResponseAssessment,
)
from apps.core.models import AuditEntry
from registry import vocabularies as v
from registry.synthetic import (
    DemoAdverseEvent,
    DemoEpisode,
    DemoFollowUp,
    DemoInitialCourse,
    DemoPatient,
    DemoResponse,
    generate_cohort,
)

pytestmark = pytest.mark.django_db

COUNTED_MODELS = {
    "patients": Patient,
    "initial_courses": InitialCourse,
    "adverse_events": AdverseEvent,
    "episodes": RechallengeEpisode,
    "response_assessments": ResponseAssessment,
    "follow_ups": FollowUp,
}


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    """The credentials file goes to a scratch VAR_DIR, not the project's."""
    settings.VAR_DIR = tmp_path
    return tmp_path


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_the_command_writes_the_counts_it_reports() -> None:
    output = seed("--sites", "3", "--patients", "40", "--seed", "5", "--batch-size", "15")

    assert Site.objects.filter(code__in=["DEMO01", "DEMO02", "DEMO03"]).count() == 3
    assert Patient.objects.count() == 40
    assert InitialCourse.objects.count() == 40
    assert RechallengeEpisode.objects.count() >= 40
    for label, model in COUNTED_MODELS.items():
        assert f"{label.replace('_', ' ')}: {model.objects.count():,}" in output
    assert "Seeded demo data (seed 5) in" in output
    assert DEMO_PASSWORD in output


def test_the_service_returns_the_rows_it_created() -> None:
    counts = demo_cohort_seed(sites=2, patients=30, seed=3, batch_size=7)

    assert counts["sites"] == 2
    assert counts["audit_entries"] == 30
    for label, model in COUNTED_MODELS.items():
        assert counts[label] == model.objects.count(), label
    assert counts["episodes"] >= counts["patients"]
    assert counts["response_assessments"] > 0
    assert counts["follow_ups"] >= counts["episodes"]


def test_the_same_seed_gives_the_same_registry_ids_after_flushing() -> None:
    demo_cohort_seed(sites=2, patients=25, seed=9)
    first = list(Patient.objects.order_by("id").values_list("registry_id", "local_identifier", "tumour_type"))
    call_command("flush", interactive=False, verbosity=0)
    assert not Patient.objects.exists()

    demo_cohort_seed(sites=2, patients=25, seed=9)
    again = list(Patient.objects.order_by("id").values_list("registry_id", "local_identifier", "tumour_type"))

    assert again == first


def test_a_second_run_adds_patients_without_colliding() -> None:
    demo_cohort_seed(sites=2, patients=20, seed=1)
    demo_cohort_seed(sites=2, patients=20, seed=1)

    assert Patient.objects.count() == 40
    assert Site.objects.count() == 2


def test_if_empty_skips_a_registry_that_has_patients() -> None:
    seed("--sites", "2", "--patients", "10", "--seed", "1")

    output = seed("--sites", "2", "--patients", "10", "--seed", "2", "--if-empty")

    assert "already has patients" in output
    assert Patient.objects.count() == 10


def test_if_empty_seeds_an_empty_registry() -> None:
    output = seed("--sites", "2", "--patients", "10", "--if-empty")

    assert "Seeded demo data" in output
    assert Patient.objects.count() == 10


def test_every_record_of_a_sample_passes_full_clean() -> None:
    demo_cohort_seed(sites=3, patients=60, seed=21)
    ids = sorted(Patient.objects.values_list("id", flat=True))

    checked = 0
    for patient in Patient.objects.filter(id__in=random.Random(1).sample(ids, 25)).select_related("initial_course"):
        patient.full_clean()
        patient.initial_course.full_clean()
        for episode in patient.episodes.all():
            episode.full_clean()
            for record in [*episode.responses.all(), *episode.follow_ups.all()]:
                record.full_clean()
                checked += 1
        for event in patient.adverse_events.select_related("episode"):
            event.full_clean()
            checked += 1
    assert checked > 100


def test_adverse_events_carry_the_meddra_code_and_organ_of_their_term() -> None:
    demo_cohort_seed(sites=1, patients=40, seed=2)

    events = list(AdverseEvent.objects.all())
    assert events
    for event in events:
        term = v.CTCAE_TERMS.get(event.ctcae_term)
        assert (event.meddra_code, event.organ_category) == (term.meddra_code, term.organ_category)
    assert all(e.recurrence_status for e in events if e.episode_id)
    assert not any(e.recurrence_status for e in events if e.episode_id is None)


def test_one_audit_entry_per_created_patient() -> None:
    demo_cohort_seed(sites=2, patients=30, seed=4)

    entries = AuditEntry.objects.filter(channel="seed", action="create", model_label="clinical.patient")
    patients = {
        str(pk): (registry_id, site_id)
        for pk, registry_id, site_id in Patient.objects.values_list("id", "registry_id", "site_id")
    }
    assert entries.count() == len(patients) == 30
    for entry in entries:
        registry_id, site_id = patients[entry.object_id]
        assert entry.changes == {"registry_id": [None, registry_id]}
        assert entry.reason == "Synthetic demo data (seed 4)"
        assert entry.site_id == site_id
        assert entry.object_repr == registry_id
        assert entry.user_id is None


def test_demo_users_exist_for_every_role_with_working_passwords(var_dir) -> None:
    seed("--sites", "3", "--patients", "5")

    expected = {
        "coordinator": (Role.COORDINATOR, None),
        "investigator": (Role.INVESTIGATOR, None),
        "entry_demo01": (Role.DATA_ENTRY, "DEMO01"),
        "pi_demo01": (Role.SITE_PI, "DEMO01"),
        "entry_demo02": (Role.DATA_ENTRY, "DEMO02"),
        "pi_demo02": (Role.SITE_PI, "DEMO02"),
    }
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password(DEMO_PASSWORD)
    for username, (role, site_code) in expected.items():
        user = User.objects.get(username=username)
        assert user.check_password(DEMO_PASSWORD), username
        assert not user.is_superuser
        membership = Membership.objects.get(user=user)
        assert membership.role == role
        assert (membership.site.code if membership.site else None) == site_code
    assert not User.objects.filter(username__startswith="entry_demo03").exists()

    credentials = (var_dir / "demo-credentials.txt").read_text(encoding="utf-8")
    for username in ["admin", *expected]:
        assert username in credentials
    assert DEMO_PASSWORD in credentials


def test_copy_writes_on_postgresql_and_is_refused_elsewhere() -> None:
    if connection.vendor == "postgresql":
        assert demo_cohort_seed(sites=1, patients=1, seed=1, use_copy=True)["patients"] == 1
        assert Patient.objects.count() == 1
    else:
        with pytest.raises(ValueError, match="PostgreSQL"):
            demo_cohort_seed(sites=1, patients=1, seed=1, use_copy=True)


NESTED = ("site_code", "initial_course", "adverse_events", "episodes", "responses", "follow_ups")


def _names(record_type: type) -> list[str]:
    """A demo record type's own fields: nested records and the site code aside."""
    return [field.name for field in dataclasses.fields(record_type) if field.name not in NESTED]


def _values(obj: object, record_type: type) -> dict[str, object]:
    return {name: getattr(obj, name) for name in _names(record_type)}


def test_every_field_of_the_demo_records_reaches_its_column() -> None:
    """The columns are read from the models: each value the generator made is in the database, unchanged."""
    demo_cohort_seed(sites=2, patients=12, seed=8)
    cohort = generate_cohort(sites=2, patients=12, seed=8)

    checked = 0
    for demo in cohort.patients:
        patient = Patient.objects.select_related("site", "initial_course").get(registry_id=demo.registry_id)
        assert _values(patient, DemoPatient) == _values(demo, DemoPatient)
        assert patient.site.code == demo.site_code
        assert _values(patient.initial_course, DemoInitialCourse) == _values(demo.initial_course, DemoInitialCourse)
        pairs = [(demo.adverse_events, patient.adverse_events.filter(episode__isnull=True), DemoAdverseEvent)]
        for demo_episode, episode in zip(demo.episodes, patient.episodes.order_by("sequence_number"), strict=True):
            assert _values(episode, DemoEpisode) == _values(demo_episode, DemoEpisode)
            pairs.append((demo_episode.adverse_events, episode.adverse_events.all(), DemoAdverseEvent))
            pairs.append((demo_episode.responses, episode.responses.all(), DemoResponse))
            pairs.append((demo_episode.follow_ups, episode.follow_ups.all(), DemoFollowUp))
        for demo_records, stored, record_type in pairs:
            expected = [_values(record, record_type) for record in demo_records]
            assert [_values(row, record_type) for row in stored.order_by("id")] == expected
            checked += len(expected)
    assert checked > 50


def test_a_demo_record_field_that_is_no_column_is_refused() -> None:
    @dataclasses.dataclass
    class FollowUpWithMore(DemoFollowUp):
        mood: str = "fine"

    assert crf_columns(FollowUp, DemoFollowUp) == (
        "follow_up_date",
        "vital_status",
        "progression_date",
        "rechallenge_stopped_date",
        "rechallenge_stop_reason",
        "death_date",
        "last_known_alive_date",
    )
    with pytest.raises(ImproperlyConfigured, match=r"carries \['mood'\], not fields of FollowUp"):
        crf_columns(FollowUp, FollowUpWithMore)


def test_the_irae_history_answers_and_unknowns_reach_the_database() -> None:
    demo_cohort_seed(sites=2, patients=80, seed=6)

    with_iraes = set(AdverseEvent.objects.filter(episode__isnull=True).values_list("patient_id", flat=True))
    for patient_id, answer in InitialCourse.objects.values_list("patient_id", "iraes_during_course"):
        assert (answer == "yes") == (patient_id in with_iraes)
    episodes_with_iraes = set(AdverseEvent.objects.filter(episode__isnull=False).values_list("episode_id", flat=True))
    for episode_id, answer in RechallengeEpisode.objects.values_list("id", "iraes_during_rechallenge"):
        assert (answer == "yes") == (episode_id in episodes_with_iraes)
    assert RechallengeEpisode.objects.filter(current_prednisone_mg_per_day__isnull=False).exists()
    assert not RechallengeEpisode.objects.filter(enrolled_at__isnull=False).exists(), "enrolling is apps.assessments'"

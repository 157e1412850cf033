"""Demo enrollment (apps/assessments/demo.py): locked assessments made before the outcomes, a share late and flagged."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command

from apps.assessments.demo import PROSPECTIVE_WINDOW_DAYS, demo_registry_seed
from apps.assessments.inputs import episode_decision_inputs
from apps.assessments.models import Assessment
from apps.assessments.services import active_model_version, inputs_snapshot
from apps.clinical.models import RechallengeEpisode
from apps.core.models import AuditEntry
from config.version import code_version
from registry.decision import evaluate, get_spec

pytestmark = pytest.mark.django_db

PATIENTS = 150


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.fixture
def counts() -> dict[str, int]:
    return demo_registry_seed(sites=2, patients=PATIENTS, seed=5, batch_size=40)


def _episodes():
    return RechallengeEpisode.objects.select_related("patient").prefetch_related(
        "assessments", "responses", "follow_ups", "adverse_events"
    )


def _outcome_events(episode: RechallengeEpisode) -> list[dt.date]:
    """The dates outcomes happened: responses, progression, death, the stop, irAE onsets."""
    dates = [r.assessment_date for r in episode.responses.all()]
    dates += [e.onset_date for e in episode.adverse_events.all()]
    for fu in episode.follow_ups.all():
        dates += [d for d in (fu.progression_date, fu.death_date, fu.rechallenge_stopped_date) if d]
    return dates


def _outcome_records(episode: RechallengeEpisode) -> list[dt.date]:
    """The dates those outcomes were on record: follow-ups count from their visit date."""
    dates = [r.assessment_date for r in episode.responses.all()]
    dates += [e.onset_date for e in episode.adverse_events.all()]
    dates += [
        fu.follow_up_date
        for fu in episode.follow_ups.all()
        if fu.progression_date or fu.death_date or fu.rechallenge_stopped_date or fu.vital_status == "dead"
    ]
    return dates


def test_most_episodes_are_enrolled_with_one_locked_assessment_of_the_active_model(counts) -> None:
    spec = get_spec(active_model_version())
    episodes = list(_episodes())
    enrolled = [e for e in episodes if e.enrolled_at is not None]

    assert counts["assessments"] == len(enrolled) == Assessment.objects.count()
    assert 0.9 <= len(enrolled) / len(episodes) < 1.0, "a few are left for the demo's enroll step"
    for episode in episodes:
        assessments = list(episode.assessments.all())
        if episode.enrolled_at is None:
            assert assessments == [] and episode.version == 1
            continue
        (assessment,) = assessments
        assert assessment.assessed_at == episode.enrolled_at
        assert episode.version == 2
        assert (assessment.model_version, assessment.model_hash) == (spec.version, spec.hash)
        assert assessment.code_version == code_version()
        assert assessment.assessed_by_id is None
        assert not assessment.is_reassessment and assessment.supersedes_id is None


def test_prospective_locks_come_within_days_of_the_start_and_before_any_outcome(counts) -> None:
    prospective = 0
    for episode in _episodes().filter(enrolled_at__isnull=False):
        assessment = episode.assessments.get()
        if assessment.is_retrospective:
            continue
        prospective += 1
        locked_on = assessment.assessed_at.date()
        consent = episode.patient.consent_date
        latest = max(episode.start_date + dt.timedelta(days=PROSPECTIVE_WINDOW_DAYS), consent or episode.start_date)
        assert episode.start_date <= locked_on <= latest
        assert all(locked_on < day for day in _outcome_events(episode)), episode
    assert prospective > 0.8 * counts["assessments"]


def test_late_locks_come_after_outcome_data_and_are_flagged_retrospective(counts) -> None:
    retrospective = Assessment.objects.filter(is_retrospective=True).select_related("episode")
    assert counts["retrospective_assessments"] == retrospective.count()
    assert 0.04 <= retrospective.count() / counts["assessments"] <= 0.2, "about one lock in ten is late"
    for assessment in retrospective:
        episode = _episodes().get(pk=assessment.episode_id)
        locked_on = assessment.assessed_at.date()
        assert locked_on > episode.start_date + dt.timedelta(days=PROSPECTIVE_WINDOW_DAYS)
        assert min(_outcome_records(episode)) <= locked_on


def test_the_locked_inputs_are_those_the_registry_reads_from_the_database(counts) -> None:
    """The ORM adapter a real enrollment uses gives the same inputs, category and score as the demo lock."""
    spec = get_spec(active_model_version())
    checked = 0
    for assessment in Assessment.objects.select_related("episode__patient").order_by("id")[:120]:
        inputs = episode_decision_inputs(assessment.episode, spec)
        result = evaluate(inputs, spec)

        assert inputs_snapshot(inputs, spec) == assessment.inputs
        assert (result.category, result.score) == (assessment.category, assessment.score)
        assert result.as_dict()["factors"] == assessment.factors
        checked += 1
    assert checked == 120


def test_each_enrollment_has_one_audit_entry_shaped_like_episode_enroll(counts) -> None:
    entries = AuditEntry.objects.filter(channel="seed", action="update", model_label="clinical.rechallengeepisode")
    by_episode = {entry.object_id: entry for entry in entries}
    assert len(by_episode) == entries.count() == counts["assessments"]
    assert counts["audit_entries"] == PATIENTS + counts["assessments"]
    for assessment in Assessment.objects.select_related("episode__patient"):
        episode = assessment.episode
        entry = by_episode[str(episode.pk)]
        assert entry.changes == {"enrolled_at": [None, episode.enrolled_at.isoformat()], "version": [1, 2]}
        how = "retrospectively (outcome data already recorded)" if assessment.is_retrospective else "prospectively"
        assert entry.reason.startswith(
            f"Enrolled {how}; decision model {assessment.model_version} locked (assessment #{assessment.pk})."
        )
        assert assessment.category not in entry.reason, "the history must not unblind center staff"
        assert entry.site_id == episode.patient.site_id
        assert entry.object_repr == f"{episode.patient.registry_id} rechallenge {episode.sequence_number}"


def test_the_audit_chain_still_verifies(counts) -> None:
    out = io.StringIO()
    call_command("verify_audit", stdout=out)

    report = json.loads(out.getvalue())
    assert report["broken"] == []
    assert report["entries"] == PATIENTS + counts["assessments"]


def test_the_same_seed_gives_the_same_locks_after_flushing() -> None:
    def locks() -> list[tuple]:
        return list(
            Assessment.objects.order_by("episode__patient__registry_id", "episode__sequence_number").values_list(
                "episode__patient__registry_id", "episode__sequence_number", "category", "score", "assessed_at"
            )
        )

    demo_registry_seed(sites=2, patients=40, seed=8)
    first = locks()
    call_command("flush", interactive=False, verbosity=0)
    demo_registry_seed(sites=2, patients=40, seed=8)

    assert locks() == first


def test_enrolling_does_not_change_the_cohort_a_seed_gives() -> None:
    def cohort() -> list[tuple]:
        return list(
            RechallengeEpisode.objects.order_by("patient__registry_id", "sequence_number").values_list(
                "patient__registry_id", "start_date", "ecog_at_rechallenge", "regimen_type"
            )
        )

    demo_registry_seed(sites=2, patients=30, seed=3, enroll=False)
    plain = cohort()
    assert not Assessment.objects.exists()
    call_command("flush", interactive=False, verbosity=0)
    demo_registry_seed(sites=2, patients=30, seed=3)

    assert cohort() == plain


def test_the_command_reports_the_assessments_it_locked() -> None:
    out = io.StringIO()
    call_command("seed_demo", "--sites", "2", "--patients", "30", "--seed", "4", stdout=out)

    output = out.getvalue()
    assert f"assessments: {Assessment.objects.count():,}" in output
    retrospective = Assessment.objects.filter(is_retrospective=True).count()
    assert f"retrospective assessments: {retrospective:,}" in output

"""Demo enrollment: the synthetic cohort's episodes enrolled with locked assessments, as the registry would.

Why this lives here and not in ``apps.clinical.demo``: enrolling locks a decision-model assessment,
and the clinical app must not know the model (``apps.clinical`` never imports ``apps.assessments``).
``apps.clinical.demo`` writes the cohort and calls back into :class:`DemoEnrollment` for each chunk;
:func:`demo_registry_seed` (what ``manage.py seed_demo`` runs) puts the two together.

What makes the demo assessments honest material for a validation run:

- **Same inputs as a real enrollment.** Each lock evaluates the active model on
  ``registry.decision.inputs.decision_inputs`` over the patient's plain records
  (``registry.cohort_records``): the function the web enrollment reads the database with. The inputs
  read only the preceding course and the episode's baseline, which the generator closes before the
  rechallenge starts, so reading the finished records gives what the lock would have seen.
- **Locked before the outcome.** Most episodes (prospective) are enrolled 0–14 days after the
  rechallenge start — or at consent, if later — and always before the first outcome of the episode
  (a response assessment, a progression, death, a stop, an irAE: what ``episode_outcome_data``
  calls outcome data). A share is enrolled late, after outcome data were recorded (> 14 days), and
  flagged ``is_retrospective`` as ``services.episode_enroll`` flags it. A few episodes are left
  unenrolled, so the demo shows the enrollment step.
- **The same rows as ``episode_enroll``.** ``enrolled_at`` equals the assessment's ``assessed_at``,
  the episode's version goes from 1 to 2, and each enrollment has one audit entry with the same
  changes and reason (channel ``seed``).

Draws come from a random stream of their own, so enrolling does not change the cohort a seed gives.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection

from apps.clinical.demo import Progress, WrittenEpisode, demo_cohort_seed
from apps.clinical.models import RechallengeEpisode
from apps.core.bulk import BulkTable, BulkWriter
from apps.core.models import AuditAction, AuditChannel, AuditEntry
from config.version import code_version
from registry.cohort_records import patient_records
from registry.decision import InvalidInput, ModelSpec, evaluate, get_spec
from registry.decision.inputs import decision_inputs, inputs_snapshot
from registry.synthetic import DATA_CUT, DemoEpisode, DemoPatient

from .models import Assessment
from .services import active_model_version, enrollment_reason

#: Share of episodes locked late, after outcome data were recorded (flagged retrospective).
RETROSPECTIVE_SHARE = 0.10
#: Share of episodes left unenrolled.
NOT_ENROLLED_SHARE = 0.04
#: A prospective lock is made this many days after the rechallenge start at most (consent permitting).
PROSPECTIVE_WINDOW_DAYS = 14
#: A late lock comes this many days after the first outcome record at most.
LATE_LOCK_MAX_DAYS = 120

_ASSESSMENT_COLUMNS = (
    "episode_id",
    "model_version",
    "model_hash",
    "code_version",
    "inputs",
    "factors",
    "category",
    "score",
    "assessed_at",
    "is_retrospective",
)


@dataclass(frozen=True, slots=True)
class DemoLock:
    """An episode's enrollment prepared before its rows exist: when, how, and the model's output."""

    enrolled_at: dt.datetime
    is_retrospective: bool
    inputs: dict[str, Any]
    factors: list[dict[str, Any]]
    category: str
    score: int


@dataclass(frozen=True, slots=True)
class _Outcomes:
    """When an episode's first outcome happened (``event``) and when its first record of one existed (``record``)."""

    event: int | None
    record: int | None


def _outcomes(episode: DemoEpisode) -> _Outcomes:
    """Outcome data as ``selectors.episode_outcome_data`` counts it (ordinals): the events, the records of them."""
    events: list[dt.date] = []
    records: list[dt.date] = []
    for response in episode.responses:
        events.append(response.assessment_date)
        records.append(response.assessment_date)
    for irae in episode.adverse_events:
        events.append(irae.onset_date)
        records.append(irae.onset_date)
    for follow_up in episode.follow_ups:
        dates = (follow_up.progression_date, follow_up.death_date, follow_up.rechallenge_stopped_date)
        happened = [day for day in dates if day is not None]
        if happened or follow_up.vital_status == "dead":
            events.extend(happened)
            records.append(follow_up.follow_up_date)
    return _Outcomes(
        event=min(events).toordinal() if events else None,
        record=min(records).toordinal() if records else None,
    )


class DemoEnrollment:
    """Enrolls demo episodes for ``apps.clinical.demo.demo_cohort_seed`` (its ``Enrollment`` protocol)."""

    count_keys = ("assessments", "retrospective_assessments")

    def __init__(self, *, seed: int, version: str | None = None, data_cut: dt.date = DATA_CUT) -> None:
        self.seed = seed
        self.spec: ModelSpec = get_spec(version or active_model_version())
        self.code_version = code_version()
        self.cut = data_cut.toordinal()
        # A stream of its own (a string seed hashes the same in every process): the cohort is unchanged.
        self.rng = random.Random(f"demo-enrollment-{seed}")
        self.table = BulkTable(Assessment, _ASSESSMENT_COLUMNS)
        self.label = RechallengeEpisode._meta.label_lower

    # -- in the generator's thread --

    def prepare(self, patient: DemoPatient) -> list[DemoLock | None]:
        """One lock per episode (None: not enrolled), the inputs read from the patient's plain records."""
        # Provisional episode ids: the inputs do not depend on them, and the rows do not exist yet.
        records = patient_records(patient, episode_ids=range(1, len(patient.episodes) + 1))
        locks: list[DemoLock | None] = []
        for index, episode in enumerate(patient.episodes):
            when = self.when(patient, episode)
            if when is None:
                locks.append(None)
                continue
            enrolled_on, is_retrospective = when
            inputs = decision_inputs(records, records.episodes[index].id, self.spec)
            try:
                result = evaluate(inputs, self.spec)
            except InvalidInput:
                locks.append(None)  # as the web enrollment refuses it: the episode stays unenrolled
                continue
            moment = dt.datetime.combine(_date(enrolled_on), dt.time(8, 0), tzinfo=dt.UTC)
            locks.append(
                DemoLock(
                    enrolled_at=moment + dt.timedelta(seconds=int(self.rng.random() * 9 * 3600)),
                    is_retrospective=is_retrospective,
                    inputs=inputs_snapshot(inputs, self.spec),
                    factors=result.as_dict()["factors"],
                    category=result.category,
                    score=result.score,
                )
            )
        return locks

    def when(self, patient: DemoPatient, episode: DemoEpisode) -> tuple[int, bool] | None:
        """The day (ordinal) the episode is enrolled and whether outcome data were recorded by then; None: never."""
        rng = self.rng
        if rng.random() < NOT_ENROLLED_SHARE:
            return None
        late = rng.random() < RETROSPECTIVE_SHARE
        start = episode.start_date.toordinal()
        # Enrolled once consented (a waived consent has no date).
        earliest = max(start, patient.consent_date.toordinal()) if patient.consent_date else start
        day = max(earliest, start + int(rng.random() * (PROSPECTIVE_WINDOW_DAYS + 1)))
        outcomes = _outcomes(episode)
        if not late:
            if outcomes.event is None or day < outcomes.event:
                return day, False
            if earliest < outcomes.event:
                # An outcome within the window: the lock comes before it.
                return earliest + int(rng.random() * (outcomes.event - earliest)), False
        if outcomes.record is None:
            return day, False  # nothing to be late after: an ordinary prospective lock
        late_day = max(day, start + PROSPECTIVE_WINDOW_DAYS + 1, outcomes.record + 1)
        late_day = min(self.cut, late_day + int(rng.random() * LATE_LOCK_MAX_DAYS))
        return late_day, outcomes.record <= late_day

    # -- in the writing thread, once the chunk's ids exist --

    def write(self, episodes: Sequence[WrittenEpisode], writer: BulkWriter) -> dict[str, int]:
        """The locked assessments, then one audit entry per enrollment as ``services.episode_enroll`` writes it."""
        spec = self.spec
        locks: list[DemoLock] = [written.enrollment for written in episodes]
        rows = [
            (
                written.episode_id,
                spec.version,
                spec.hash,
                self.code_version,
                lock.inputs,
                lock.factors,
                lock.category,
                lock.score,
                lock.enrolled_at,
                lock.is_retrospective,
            )
            for written, lock in zip(episodes, locks, strict=True)
        ]
        assessment_ids = writer.parents(self.table, rows)
        entries = []
        for written, lock, assessment_id in zip(episodes, locks, assessment_ids, strict=True):
            entries.append(
                AuditEntry(
                    channel=AuditChannel.SEED.value,
                    action=AuditAction.UPDATE.value,
                    model_label=self.label,
                    object_id=str(written.episode_id),
                    object_repr=f"{written.patient.registry_id} rechallenge {written.episode.sequence_number}",
                    site_id=written.site_id,
                    changes={"enrolled_at": [None, lock.enrolled_at.isoformat()], "version": [1, 2]},
                    reason=enrollment_reason(
                        model_version=spec.version, assessment_id=assessment_id, is_retrospective=lock.is_retrospective
                    )
                    + f" Synthetic demo data (seed {self.seed}).",
                )
            )
        return {
            "assessments": len(assessment_ids),
            "retrospective_assessments": sum(lock.is_retrospective for lock in locks),
            "audit_entries": writer.audit_entries(entries),
        }


def _date(ordinal: int) -> dt.date:
    return dt.date.fromordinal(ordinal)


def demo_registry_seed(
    *,
    sites: int,
    patients: int,
    seed: int,
    batch_size: int = 5000,
    progress: Progress | None = None,
    use_copy: bool | None = None,
    enroll: bool = True,
) -> dict[str, int]:
    """The synthetic cohort with its episodes enrolled (see the module docstring); the rows created, by kind."""
    enrollment = DemoEnrollment(seed=seed) if enroll else None
    counts = demo_cohort_seed(
        sites=sites,
        patients=patients,
        seed=seed,
        batch_size=batch_size,
        progress=progress,
        use_copy=use_copy,
        enrollment=enrollment,
    )
    if enrollment is not None and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Assessment._meta.db_table}")
    return counts

"""Plain, framework-free records of one patient's case, as the derivations and the decision model read them.

The Django models (``apps.clinical``), the synthetic cohort (``registry.synthetic``) and the
set-wise frames of ``registry.derive_frames`` all reduce to these, so the per-record derivation
(:func:`registry.derive.derive_patient`) and the decision model's inputs
(:func:`registry.decision.inputs.decision_inputs`) are computed by one piece of code whatever the
source. Only the fields a derivation or the model reads are here; missing stays ``None``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from registry.dates import DatePrecision, PartialDate


def _partial(record: Any, field: str) -> PartialDate | None:
    """The date ``field`` of a CRF record with its ``<field>_precision`` (blank precision = day)."""
    value = getattr(record, field)
    return None if value is None else PartialDate(value, DatePrecision(getattr(record, f"{field}_precision") or "day"))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


#: Answers to "were there irAEs during this course?" (``None`` = not answered).
IRAE_HISTORY_ANSWERS: tuple[str, ...] = ("yes", "no", "unknown")


@dataclass(frozen=True, slots=True)
class CourseRecord:
    """The initial ICI course (ICI-1)."""

    start: PartialDate | None
    stop: PartialDate | None
    progression: PartialDate | None
    stop_reason: str | None
    #: "yes" / "no" / "unknown", or None when the question was not answered.
    iraes_during_course: str | None = None

    @classmethod
    def from_crf(cls, course: Any) -> CourseRecord:
        """From any object with the CRF's field names: a Django ``InitialCourse`` or a demo course."""
        return cls(
            start=_partial(course, "start_date"),
            stop=_partial(course, "stop_date"),
            progression=_partial(course, "progression_date"),
            stop_reason=course.stop_reason or None,
            iraes_during_course=course.iraes_during_course or None,
        )


@dataclass(frozen=True, slots=True)
class EpisodeRecord:
    """One rechallenge episode's baseline and plan."""

    id: int
    sequence_number: int
    start_date: dt.date | None
    regimen_type: str | None = None
    ecog_at_rechallenge: int | None = None
    #: Prednisone-equivalent mg/day at rechallenge start; None = not recorded (never read as 0).
    current_prednisone_mg_per_day: float | None = None
    #: "yes" / "no" / "unknown" / None, as for ICI-1 (read when this episode precedes another).
    iraes_during_rechallenge: str | None = None

    @classmethod
    def from_crf(cls, episode: Any, *, id: int) -> EpisodeRecord:
        """From any object with the CRF's field names (Django ``RechallengeEpisode`` or demo episode)."""
        return cls(
            id=id,
            sequence_number=episode.sequence_number,
            start_date=episode.start_date,
            regimen_type=episode.regimen_type or None,
            ecog_at_rechallenge=episode.ecog_at_rechallenge,
            current_prednisone_mg_per_day=_float(episode.current_prednisone_mg_per_day),
            iraes_during_rechallenge=episode.iraes_during_rechallenge or None,
        )


@dataclass(frozen=True, slots=True)
class IraeRecord:
    """One immune-related adverse event; ``episode_id`` None means it happened during ICI-1."""

    episode_id: int | None
    ctcae_term: str
    organ_category: str
    grade: int
    onset: PartialDate | None
    resolved_to_grade: int | None = None
    resolution: PartialDate | None = None
    management: str | None = None
    #: True / False, or None when not known.
    steroid_refractory: bool | None = None

    @classmethod
    def from_crf(cls, event: Any, *, episode_id: int | None) -> IraeRecord:
        """From any object with the CRF's field names (Django ``AdverseEvent`` or demo irAE)."""
        return cls(
            episode_id=episode_id,
            ctcae_term=event.ctcae_term,
            organ_category=event.organ_category,
            grade=event.grade,
            onset=_partial(event, "onset_date"),
            resolved_to_grade=event.resolved_to_grade,
            resolution=_partial(event, "resolution_date"),
            management=event.management or None,
            steroid_refractory=event.steroid_refractory,
        )


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    """One tumour response assessment of an episode (RECIST 1.1 or iRECIST category)."""

    episode_id: int
    assessed_on: dt.date
    category: str

    @classmethod
    def from_crf(cls, response: Any, *, episode_id: int) -> ResponseRecord:
        return cls(episode_id=episode_id, assessed_on=response.assessment_date, category=response.category)


@dataclass(frozen=True, slots=True)
class FollowUpRecord:
    """One follow-up contact of an episode."""

    episode_id: int
    follow_up_date: dt.date
    vital_status: str
    progression_date: dt.date | None = None
    rechallenge_stopped_date: dt.date | None = None
    rechallenge_stop_reason: str | None = None
    death_date: dt.date | None = None
    last_known_alive_date: dt.date | None = None

    @classmethod
    def from_crf(cls, follow_up: Any, *, episode_id: int) -> FollowUpRecord:
        """From any object with the CRF's field names (Django ``FollowUp`` or demo follow-up)."""
        return cls(
            episode_id=episode_id,
            follow_up_date=follow_up.follow_up_date,
            vital_status=follow_up.vital_status,
            progression_date=follow_up.progression_date,
            rechallenge_stopped_date=follow_up.rechallenge_stopped_date,
            rechallenge_stop_reason=follow_up.rechallenge_stop_reason or None,
            death_date=follow_up.death_date,
            last_known_alive_date=follow_up.last_known_alive_date,
        )


@dataclass(frozen=True, slots=True)
class PatientRecords:
    """Everything recorded for one patient; ``episodes`` in sequence order."""

    course: CourseRecord | None
    episodes: tuple[EpisodeRecord, ...]
    iraes: tuple[IraeRecord, ...] = ()
    responses: tuple[ResponseRecord, ...] = ()
    follow_ups: tuple[FollowUpRecord, ...] = ()

    def episode_index(self, episode_id: int) -> int:
        """Position of ``episode_id`` in sequence order (``KeyError`` if it is not this patient's)."""
        for index, episode in enumerate(self.episodes):
            if episode.id == episode_id:
                return index
        raise KeyError(f"episode {episode_id} is not one of this patient's episodes")

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

from registry.dates import PartialDate

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


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    """One tumour response assessment of an episode (RECIST 1.1 or iRECIST category)."""

    episode_id: int
    assessed_on: dt.date
    category: str


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

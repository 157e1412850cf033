"""The synthetic cohort as the derivations read it: per-patient records, or the five set-wise frames.

:mod:`registry.synthetic` builds demo patients without database ids; the derivations need ids to
tie irAEs, responses and follow-ups to their episode. Patients, episodes and adverse events get ids
by enumeration (1, 2, … in cohort order), the same in :func:`cohort_records` and
:func:`cohort_frames`, so the per-record and the set-wise derivation can be compared episode by
episode.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import count

import numpy as np
import pandas as pd

from registry.dates import DatePrecision, PartialDate
from registry.derive_frames import FRAME_COLUMNS, Frames
from registry.records import (
    CourseRecord,
    EpisodeRecord,
    FollowUpRecord,
    IraeRecord,
    PatientRecords,
    ResponseRecord,
)
from registry.synthetic import DemoAdverseEvent, DemoEpisode, DemoPatient


def _partial(value, precision: str) -> PartialDate | None:
    return None if value is None else PartialDate(value, DatePrecision(precision or "day"))


def _answer(value: str | None) -> str | None:
    """A yes/no/unknown CRF answer; blank means not answered."""
    return value or None


def _prednisone(episode: DemoEpisode) -> float | None:
    dose = episode.current_prednisone_mg_per_day
    return None if dose is None else float(dose)


def _irae_record(event: DemoAdverseEvent, episode_id: int | None) -> IraeRecord:
    return IraeRecord(
        episode_id=episode_id,
        ctcae_term=event.ctcae_term,
        organ_category=event.organ_category,
        grade=event.grade,
        onset=_partial(event.onset_date, event.onset_date_precision),
        resolved_to_grade=event.resolved_to_grade,
        resolution=_partial(event.resolution_date, event.resolution_date_precision),
        management=event.management or None,
        steroid_refractory=event.steroid_refractory,
    )


def patient_records(patient: DemoPatient, *, episode_ids: Sequence[int]) -> PatientRecords:
    """One demo patient as :class:`PatientRecords`, its episodes numbered ``episode_ids`` in order."""
    course = patient.initial_course
    episodes = list(zip(episode_ids, patient.episodes, strict=True))
    return PatientRecords(
        course=CourseRecord(
            start=_partial(course.start_date, course.start_date_precision),
            stop=_partial(course.stop_date, course.stop_date_precision),
            progression=_partial(course.progression_date, course.progression_date_precision),
            stop_reason=course.stop_reason or None,
            iraes_during_course=_answer(course.iraes_during_course),
        ),
        episodes=tuple(
            EpisodeRecord(
                id=episode_id,
                sequence_number=episode.sequence_number,
                start_date=episode.start_date,
                regimen_type=episode.regimen_type,
                ecog_at_rechallenge=episode.ecog_at_rechallenge,
                current_prednisone_mg_per_day=_prednisone(episode),
                iraes_during_rechallenge=_answer(episode.iraes_during_rechallenge),
            )
            for episode_id, episode in episodes
        ),
        iraes=tuple(
            [_irae_record(event, None) for event in patient.adverse_events]
            + [_irae_record(event, episode_id) for episode_id, episode in episodes for event in episode.adverse_events]
        ),
        responses=tuple(
            ResponseRecord(episode_id=episode_id, assessed_on=response.assessment_date, category=response.category)
            for episode_id, episode in episodes
            for response in episode.responses
        ),
        follow_ups=tuple(
            FollowUpRecord(
                episode_id=episode_id,
                follow_up_date=fu.follow_up_date,
                vital_status=fu.vital_status,
                progression_date=fu.progression_date,
                rechallenge_stopped_date=fu.rechallenge_stopped_date,
                rechallenge_stop_reason=fu.rechallenge_stop_reason or None,
                death_date=fu.death_date,
                last_known_alive_date=fu.last_known_alive_date,
            )
            for episode_id, episode in episodes
            for fu in episode.follow_ups
        ),
    )


def cohort_records(patients: Iterable[DemoPatient]) -> list[PatientRecords]:
    """Every patient's records, episodes numbered 1, 2, … across the cohort (as :func:`cohort_frames`)."""
    episode_ids = count(1)
    return [patient_records(patient, episode_ids=[next(episode_ids) for _ in patient.episodes]) for patient in patients]


def _dates(values: list) -> np.ndarray:
    return np.array(values, dtype="datetime64[D]")


_COURSE_COLUMNS = FRAME_COLUMNS["courses"]
_EPISODE_COLUMNS = FRAME_COLUMNS["episodes"]
_EVENT_COLUMNS = FRAME_COLUMNS["adverse_events"]
_FOLLOW_UP_COLUMNS = FRAME_COLUMNS["follow_ups"]


def cohort_frames(patients: Sequence[DemoPatient]) -> Frames:
    """The cohort as the five frames of :mod:`registry.derive_frames`, with the Django model column names.

    Patients are numbered 1, 2, … in cohort order; episodes and adverse events likewise.
    """
    courses: dict[str, list] = {name: [] for name in _COURSE_COLUMNS}
    episodes: dict[str, list] = {name: [] for name in _EPISODE_COLUMNS}
    events: dict[str, list] = {name: [] for name in _EVENT_COLUMNS}
    responses: dict[str, list] = {"episode_id": [], "assessment_date": [], "category": []}
    follow_ups: dict[str, list] = {name: [] for name in _FOLLOW_UP_COLUMNS}
    episode_ids = count(1)
    event_ids = count(1)

    def add_event(event: DemoAdverseEvent, patient_id: int, episode_id: int | None) -> None:
        events["id"].append(next(event_ids))
        events["patient_id"].append(patient_id)
        events["episode_id"].append(episode_id)
        for name in _EVENT_COLUMNS[3:]:
            events[name].append(getattr(event, name))

    for patient_id, patient in enumerate(patients, start=1):
        course = patient.initial_course
        courses["patient_id"].append(patient_id)
        for name in _COURSE_COLUMNS[1:]:
            courses[name].append(getattr(course, name))
        for event in patient.adverse_events:
            add_event(event, patient_id, None)
        for episode in patient.episodes:
            episode_id = next(episode_ids)
            episodes["id"].append(episode_id)
            episodes["patient_id"].append(patient_id)
            for name in _EPISODE_COLUMNS[2:]:
                episodes[name].append(getattr(episode, name))
            episodes["current_prednisone_mg_per_day"][-1] = _prednisone(episode)  # Decimal → float
            for event in episode.adverse_events:
                add_event(event, patient_id, episode_id)
            for response in episode.responses:
                responses["episode_id"].append(episode_id)
                responses["assessment_date"].append(response.assessment_date)
                responses["category"].append(response.category)
            for fu in episode.follow_ups:
                follow_ups["episode_id"].append(episode_id)
                for name in _FOLLOW_UP_COLUMNS[1:]:
                    follow_ups[name].append(getattr(fu, name))

    def frame(columns: dict[str, list]) -> pd.DataFrame:
        return pd.DataFrame(
            {name: _dates(values) if name.endswith("_date") else values for name, values in columns.items()}
        )

    episode_frame = frame(episodes)
    event_frame = frame(events)
    event_frame["episode_id"] = event_frame["episode_id"].astype("Int64")
    event_frame["resolved_to_grade"] = event_frame["resolved_to_grade"].astype("Int64")
    return Frames(
        courses=frame(courses),
        episodes=episode_frame,
        adverse_events=event_frame,
        responses=frame(responses),
        follow_ups=frame(follow_ups),
    )

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


def _prednisone(episode: DemoEpisode) -> float | None:
    dose = episode.current_prednisone_mg_per_day
    return None if dose is None else float(dose)


def patient_records(patient: DemoPatient, *, episode_ids: Sequence[int]) -> PatientRecords:
    """One demo patient as :class:`PatientRecords`, its episodes numbered ``episode_ids`` in order."""
    course = patient.initial_course
    episodes = list(zip(episode_ids, patient.episodes, strict=True))
    return PatientRecords(
        course=CourseRecord.from_crf(course),
        episodes=tuple(EpisodeRecord.from_crf(episode, id=episode_id) for episode_id, episode in episodes),
        iraes=tuple(
            [IraeRecord.from_crf(event, episode_id=None) for event in patient.adverse_events]
            + [
                IraeRecord.from_crf(event, episode_id=episode_id)
                for episode_id, episode in episodes
                for event in episode.adverse_events
            ]
        ),
        responses=tuple(
            ResponseRecord.from_crf(response, episode_id=episode_id)
            for episode_id, episode in episodes
            for response in episode.responses
        ),
        follow_ups=tuple(
            FollowUpRecord.from_crf(fu, episode_id=episode_id)
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

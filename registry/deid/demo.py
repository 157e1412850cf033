"""The export tables of a synthetic cohort, in the shape :func:`registry.deid.fields.default_field_meta` declares.

For tests, benchmarks and ``build_export`` without a database: the application builds the same four
tables with set-wise queries. Patients, episodes and irAEs are numbered 1, 2, … in cohort order, as
:func:`registry.cohort_records.cohort_frames` numbers them, so the derived columns join by episode.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count

import pandas as pd

from registry import csv_import as ci
from registry.cohort_records import cohort_frames
from registry.deid.fields import ANALYSIS, FOLLOW_UPS, IRAES, RESPONSES
from registry.derive_frames import derive_episodes
from registry.synthetic import DemoAdverseEvent, DemoCohort, DemoPatient


def _columns(record: ci.Record, group: int | None = None) -> tuple[ci.Column, ...]:
    return tuple(column for column in ci.COLUMNS if column.record is record and column.group == group and column.field)


def _values(obj: object, columns: Sequence[ci.Column], *, naming: str) -> dict[str, object]:
    row: dict[str, object] = {}
    for column in columns:
        name = column.name if naming == "column" else column.field
        row[name] = getattr(obj, column.field)
        if column.kind is ci.Kind.PARTIAL_DATE:
            row[f"{name}_precision"] = getattr(obj, f"{column.field}_precision")
    return row


def tables_from_cohort(patients: Sequence[DemoPatient]) -> dict[str, pd.DataFrame]:
    """The analysis table (with derived endpoints) and the irAE, response and follow-up tables."""
    analysis: list[dict[str, object]] = []
    iraes: list[dict[str, object]] = []
    responses: list[dict[str, object]] = []
    follow_ups: list[dict[str, object]] = []
    episode_ids, irae_ids = count(1), count(1)
    patient_columns = _columns(ci.Record.PATIENT)
    course_columns = _columns(ci.Record.INITIAL_COURSE)
    episode_columns = _columns(ci.Record.EPISODE)
    irae_columns = _columns(ci.Record.PRIOR_IRAE, 1)
    response_columns = _columns(ci.Record.RESPONSE, 1)
    follow_up_columns = _columns(ci.Record.FOLLOW_UP, 1)

    def irae(event: DemoAdverseEvent, patient_id: int, episode_id: int | None) -> None:
        row: dict[str, object] = {"patient_id": patient_id, "episode_id": episode_id, "id": next(irae_ids)}
        row |= _values(event, irae_columns, naming="field")
        row |= {name: getattr(event, name) for name in ("meddra_code", "organ_category", "recurrence_status")}
        iraes.append(row)

    for patient_id, patient in enumerate(patients, start=1):
        base: dict[str, object] = {"patient_id": patient_id, "registry_id": patient.registry_id}
        base["site"] = patient.site_code
        base |= _values(patient, patient_columns, naming="column")
        base |= _values(patient.initial_course, course_columns, naming="column")
        for event in patient.adverse_events:
            irae(event, patient_id, None)
        for episode in patient.episodes:
            episode_id = next(episode_ids)
            analysis.append(base | {"episode_id": episode_id} | _values(episode, episode_columns, naming="column"))
            for event in episode.adverse_events:
                irae(event, patient_id, episode_id)
            for response in episode.responses:
                responses.append({"episode_id": episode_id} | _values(response, response_columns, naming="field"))
            for follow_up in episode.follow_ups:
                follow_ups.append({"episode_id": episode_id} | _values(follow_up, follow_up_columns, naming="field"))

    derived = derive_episodes(cohort_frames(patients)).drop(columns=["patient_id", "sequence_number"])
    frame = pd.DataFrame(analysis)
    if len(frame):
        frame = frame.merge(derived, on="episode_id", how="left", validate="one_to_one")
    irae_frame = pd.DataFrame(iraes)
    if len(irae_frame):
        irae_frame["episode_id"] = irae_frame["episode_id"].astype("Int64")
    return {
        ANALYSIS: frame,
        IRAES: irae_frame,
        RESPONSES: pd.DataFrame(responses),
        FOLLOW_UPS: pd.DataFrame(follow_ups),
    }


def site_countries(cohort: DemoCohort) -> dict[str, str]:
    return {site.code: site.country for site in cohort.sites}


def site_names(cohort: DemoCohort) -> dict[str, str]:
    return {site.code: site.name for site in cohort.sites}

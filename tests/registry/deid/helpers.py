"""Shared builders for the de-identification tests: a demo cohort's tables and a compact hand-made schema."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence

import pandas as pd
from hypothesis import strategies as st

from registry import vocabularies as v
from registry.deid.demo import site_countries, site_names, tables_from_cohort
from registry.deid.fields import QI, FieldKind, FieldMeta, Role, default_field_meta, vocabulary_values
from registry.synthetic import DemoCohort, generate_cohort

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
PROJECT = "project-1"
DATA_CUT = dt.datetime(2026, 1, 31, 18, 0, tzinfo=dt.UTC)
FORMATS = ("csv", "parquet", "dta", "sav", "xlsx")


@functools.cache
def cohort(patients: int = 80, sites: int = 3, seed: int = 7) -> DemoCohort:
    return generate_cohort(sites=sites, patients=patients, seed=seed)


def demo_tables(patients: int = 80) -> dict[str, pd.DataFrame]:
    """A fresh copy of the demo cohort's four tables."""
    return {name: frame.copy() for name, frame in _demo_tables(patients).items()}


@functools.cache
def _demo_tables(patients: int) -> dict[str, pd.DataFrame]:
    return tables_from_cohort(cohort(patients).patients)


def demo_meta(patients: int = 80) -> dict[str, tuple[FieldMeta, ...]]:
    return default_field_meta(sites=site_names(cohort(patients)), model_versions=("1.0", "1.1"))


def demo_countries(patients: int = 80) -> dict[str, str]:
    return site_countries(cohort(patients))


# --- a compact schema for property tests ----------------------------------------------------------------

SITES = {"S1": "NL", "S2": "NL", "S3": "BE", "S4": "DE"}
SEXES = ("female", "male")
TUMOURS = ("LUAD", "LUSC", "NSCLC", "MEL", "SKCM", "RCC")


def small_meta() -> dict[str, tuple[FieldMeta, ...]]:
    """Two tables: ``analysis`` (episodes, with the quasi-identifiers) and ``events`` (a long table)."""
    return {
        "analysis": (
            FieldMeta("patient_id", "Patient", FieldKind.INTEGER, identifier=True, role=Role.PATIENT_KEY),
            FieldMeta("episode_id", "Episode", FieldKind.INTEGER, identifier=True, role=Role.EPISODE_KEY),
            FieldMeta("episode_sequence", "Rechallenge", FieldKind.INTEGER, role=Role.EPISODE_SEQUENCE),
            FieldMeta("year_of_birth", "Year of birth", FieldKind.INTEGER, role=Role.BIRTH_YEAR),
            FieldMeta("sex", "Sex", FieldKind.CODE, choices=vocabulary_values(v.SEX), qi=QI.SEX),
            FieldMeta("site", "Site", FieldKind.CODE, choices=tuple((s, s) for s in SITES), qi=QI.SITE),
            FieldMeta(
                "tumour_type", "Tumour", FieldKind.CODE, choices=vocabulary_values(v.TUMOUR_TYPES), qi=QI.TUMOUR_TYPE
            ),
            FieldMeta("start_date", "Start", FieldKind.DATE, role=Role.ANCHOR_DATE),
            FieldMeta("progression_date", "Progression", FieldKind.DATE),
            FieldMeta("note", "Note", FieldKind.TEXT),
        ),
        "events": (
            FieldMeta("patient_id", "Patient", FieldKind.INTEGER, identifier=True, role=Role.PATIENT_KEY),
            FieldMeta("episode_id", "Episode", FieldKind.INTEGER, identifier=True, role=Role.EPISODE_KEY),
            FieldMeta("onset_date", "Onset", FieldKind.DATE),
            FieldMeta("grade", "Grade", FieldKind.INTEGER_CODE, choices=vocabulary_values(v.CTCAE_GRADES)),
        ),
    }


@st.composite
def small_tables(draw: st.DrawFn, *, min_patients: int = 1, max_patients: int = 30) -> dict[str, pd.DataFrame]:
    """Patients with 1–3 episodes (dates from 2015), quasi-identifiers drawn from small sets, and events."""
    count = draw(st.integers(min_patients, max_patients))
    patient_ids = draw(st.lists(st.integers(1, 10**9), min_size=count, max_size=count, unique=True))
    analysis, events = [], []
    episode_id = 0
    for patient_id in patient_ids:
        born = draw(st.integers(1920, 1990))
        sex, site, tumour = (
            draw(st.sampled_from(SEXES)),
            draw(st.sampled_from(list(SITES))),
            draw(st.sampled_from(TUMOURS)),
        )
        start = dt.date(2015, 1, 1) + dt.timedelta(days=draw(st.integers(0, 3000)))
        for sequence in range(1, draw(st.integers(1, 3)) + 1):
            episode_id += 1
            progression = draw(st.none() | st.integers(1, 900))
            analysis.append(
                {
                    "patient_id": patient_id,
                    "episode_id": episode_id,
                    "episode_sequence": sequence,
                    "year_of_birth": born,
                    "sex": sex,
                    "site": site,
                    "tumour_type": tumour,
                    "start_date": start,
                    "progression_date": None if progression is None else start + dt.timedelta(days=progression),
                    "note": f"free text {patient_id}",
                }
            )
            for _ in range(draw(st.integers(0, 2))):
                onset = start + dt.timedelta(days=draw(st.integers(-400, 900)))
                events.append(
                    {
                        "patient_id": patient_id,
                        "episode_id": draw(st.sampled_from([episode_id, None])),
                        "onset_date": onset,
                        "grade": draw(st.integers(1, 5)),
                    }
                )
            start += dt.timedelta(days=draw(st.integers(30, 700)))
    events_frame = pd.DataFrame(events, columns=["patient_id", "episode_id", "onset_date", "grade"])
    events_frame["episode_id"] = events_frame["episode_id"].astype("Int64")
    return {"analysis": pd.DataFrame(analysis), "events": events_frame}


def distinct_patients_per_group(frame: pd.DataFrame, columns: Sequence[str], patient: str) -> dict[tuple, int]:
    """Independent of the code under test: distinct patients for each combination of ``columns``."""
    groups: dict[tuple, set] = {}
    for row in frame.itertuples(index=False):
        values = row._asdict()
        key = tuple("<missing>" if pd.isna(values[c]) else values[c] for c in columns)
        groups.setdefault(key, set()).add(values[patient])
    return {key: len(members) for key, members in groups.items()}

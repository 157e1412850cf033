"""Properties of deidentify over generated tables (Hypothesis).

Date gaps within a patient are preserved (relative days and shifted dates), shifted dates stay
within the window, pseudonyms are stable within a project and differ across projects, and every
released table is k-anonymous on its quasi-identifiers.
"""

from __future__ import annotations

import dataclasses
import itertools

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.deid.errors import KAnonymityError
from registry.deid.profiles import LIMITED_DATASET, SAFE_HARBOR
from registry.deid.pseudonyms import date_offset, pseudonym
from registry.deid.transform import PSEUDONYM_COLUMN, deidentify
from tests.generated import examples
from tests.registry.deid.helpers import KEY, PROJECT, SITES, distinct_patients_per_group, small_meta, small_tables

SETTINGS = settings(deadline=None, max_examples=examples(40), suppress_health_check=[HealthCheck.too_slow])
# k = 2 keeps most generated groups intact, so the date properties see many patients.
LOOSE = dataclasses.replace(SAFE_HARBOR, k=2)


def run(tables, profile, project=PROJECT):
    return deidentify(
        tables, profile=profile, key=KEY, project_id=project, field_meta=small_meta(), site_countries=SITES
    )


def original_dates(tables, patient_id):
    analysis = tables["analysis"][tables["analysis"]["patient_id"] == patient_id]
    events = tables["events"][tables["events"]["patient_id"] == patient_id]
    return (
        list(analysis["start_date"]),
        [d for d in analysis["progression_date"] if d is not None and not pd.isna(d)],
        list(events["onset_date"]),
    )


def released_rows(result, patient_id):
    name = pseudonym(KEY, PROJECT, patient_id)
    analysis = result.tables["analysis"]
    events = result.tables["events"]
    return analysis[analysis[PSEUDONYM_COLUMN] == name], events[events[PSEUDONYM_COLUMN] == name]


def gaps(values):
    values = sorted(values)
    return [b - a for a, b in itertools.pairwise(values)]


@SETTINGS
@given(tables=small_tables(min_patients=2))
def test_relative_days_keep_every_gap_within_a_patient(tables):
    result = run(tables, LOOSE)
    for patient_id in tables["analysis"]["patient_id"].unique():
        starts, progressions, onsets = original_dates(tables, patient_id)
        first = min(starts)
        analysis, events = released_rows(result, patient_id)
        assert sorted(analysis["start_day"]) == sorted((d - first).days for d in starts)
        assert sorted(analysis["progression_day"].dropna()) == sorted((d - first).days for d in progressions)
        assert sorted(events["onset_day"]) == sorted((d - first).days for d in onsets)
        assert min(analysis["start_day"]) == 0
        everything = starts + progressions + onsets
        days = [*analysis["start_day"], *analysis["progression_day"].dropna(), *events["onset_day"]]
        assert [g.days for g in gaps(everything)] == gaps(days)


@SETTINGS
@given(tables=small_tables(min_patients=2))
def test_shifted_dates_keep_every_gap_and_stay_within_the_window(tables):
    profile = dataclasses.replace(LIMITED_DATASET, k=2)
    result = run(tables, profile)
    window = profile.shift_window_days
    for patient_id in tables["analysis"]["patient_id"].unique():
        starts, progressions, onsets = original_dates(tables, patient_id)
        analysis, events = released_rows(result, patient_id)
        shifted = [*analysis["start_date"], *analysis["progression_date"].dropna(), *events["onset_date"]]
        original = starts + progressions + onsets
        moved = {(new - old).days for new, old in zip(sorted(shifted), sorted(original), strict=True)}
        assert len(moved) == 1  # one offset for every date of the patient: gaps preserved
        (offset,) = moved
        assert offset != 0 and -window <= offset <= window
        assert offset == date_offset(KEY, PROJECT, patient_id, window_days=window)
        assert gaps(shifted) == gaps(original)


@SETTINGS
@given(tables=small_tables(min_patients=2, max_patients=12), data=st.data())
def test_pseudonyms_are_stable_within_a_project_and_differ_across_projects(tables, data):
    whole = run(tables, LOOSE)
    ids = list(tables["analysis"]["patient_id"].unique())
    kept = data.draw(st.lists(st.sampled_from(ids), min_size=2, unique=True))
    subset = {
        "analysis": tables["analysis"][tables["analysis"]["patient_id"].isin(kept)],
        "events": tables["events"][tables["events"]["patient_id"].isin(kept)],
    }
    part = run(subset, LOOSE)
    other = run(tables, LOOSE, project="project-2")
    for patient_id in kept:
        name = pseudonym(KEY, PROJECT, patient_id)
        assert name in set(whole.tables["analysis"][PSEUDONYM_COLUMN])
        assert name in set(part.tables["analysis"][PSEUDONYM_COLUMN])
        assert name not in set(other.tables["analysis"][PSEUDONYM_COLUMN])
    assert not set(whole.tables["analysis"][PSEUDONYM_COLUMN]) & set(other.tables["analysis"][PSEUDONYM_COLUMN])


@SETTINGS
@given(k=st.integers(2, 6), data=st.data())
def test_every_released_table_is_k_anonymous_on_its_quasi_identifiers(k, data):
    tables = data.draw(small_tables(min_patients=k, max_patients=40))
    profile = dataclasses.replace(SAFE_HARBOR, k=k)
    result = run(tables, profile)
    for name, frame in result.tables.items():
        columns = [meta.name for meta in result.fields[name] if meta.qi is not None]
        if not columns:
            continue
        groups = distinct_patients_per_group(frame, columns, PSEUDONYM_COLUMN)
        assert min(groups.values()) >= k, (name, groups)
        assert result.counts.smallest_group[name] == min(groups.values())


@SETTINGS
@given(k=st.integers(3, 8), data=st.data())
def test_fewer_than_k_patients_are_never_released(k, data):
    tables = data.draw(small_tables(min_patients=1, max_patients=k - 1))
    with pytest.raises(KAnonymityError):
        run(tables, dataclasses.replace(SAFE_HARBOR, k=k))

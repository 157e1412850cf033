"""Keyed-hash pseudonyms: stable within a project, unrelated across projects, never the registry ID."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.deid import pseudonyms as p
from registry.deid.errors import PseudonymCollisionError
from registry.identifiers import new_registry_id
from tests.registry.deid.helpers import KEY, OTHER_KEY

patient_keys = st.one_of(st.integers(1, 10**12), st.text(min_size=1, max_size=30))
projects = st.text(min_size=1, max_size=20)
SHAPE = re.compile(rf"^P-[0-9A-HJKMNP-TV-Z]{{{p.LENGTH}}}$")


@settings(deadline=None)
@given(patient_key=patient_keys, project=projects)
def test_a_pseudonym_is_stable_within_a_project_and_has_a_fixed_shape(patient_key, project):
    first = p.pseudonym(KEY, project, patient_key)
    assert first == p.pseudonym(KEY, project, patient_key)
    assert first == p.pseudonym(KEY, project, str(patient_key))
    assert SHAPE.match(first)


@settings(deadline=None)
@given(patient_key=patient_keys, projects=st.lists(projects, min_size=2, max_size=2, unique=True))
def test_pseudonyms_differ_across_projects_and_keys(patient_key, projects):
    one, two = projects
    assert p.pseudonym(KEY, one, patient_key) != p.pseudonym(KEY, two, patient_key)
    assert p.pseudonym(KEY, one, patient_key) != p.pseudonym(OTHER_KEY, one, patient_key)


@settings(deadline=None)
@given(patient_key=patient_keys, project=projects, window=st.integers(1, 400))
def test_a_date_offset_is_never_zero_and_stays_in_the_window(patient_key, project, window):
    offset = p.date_offset(KEY, project, patient_key, window_days=window)
    assert offset != 0 and -window <= offset <= window
    assert offset == p.date_offset(KEY, project, patient_key, window_days=window)


def test_offsets_cover_both_directions():
    offsets = {p.date_offset(KEY, "x", n, window_days=3) for n in range(200)}
    assert offsets == {-3, -2, -1, 1, 2, 3}


def test_a_pseudonym_does_not_reveal_the_registry_id():
    for _ in range(200):
        registry_id = new_registry_id("AMS1")
        name = p.pseudonym(KEY, "project", registry_id)
        body = registry_id.split("-")[1]
        assert body not in name and "AMS1" not in name
        assert name.count("-") == 1  # a registry ID has two dashes


def test_many_patients_get_distinct_pseudonyms():
    names = p.pseudonyms(KEY, "project", range(20_000))
    assert len(set(names.values())) == 20_000


def test_a_collision_stops_the_export(monkeypatch):
    monkeypatch.setattr(p, "LENGTH", 1)  # 32 possible pseudonyms: 100 patients must collide
    with pytest.raises(PseudonymCollisionError):
        p.pseudonyms(KEY, "project", range(100))


@pytest.mark.parametrize("key", [b"", b"short", b"x" * 31])
def test_short_keys_are_refused(key):
    with pytest.raises(ValueError, match="32 bytes"):
        p.pseudonym(key, "project", 1)


def test_a_project_is_required():
    with pytest.raises(ValueError, match="project"):
        p.pseudonym(KEY, "", 1)


@pytest.mark.parametrize("key", [KEY, bytes(range(100))])  # a key longer than SHA-256's block is hashed first
def test_pseudonyms_in_bulk_are_the_ones_computed_one_by_one(key):
    keys = [*range(1, 300), "AMS1-0042-7", "é-ü"]
    names = p.pseudonyms(key, "project-9", keys)
    assert names == {str(k): p.pseudonym(key, "project-9", k) for k in keys}

"""The two profiles are declared once, as data, and refuse inconsistent rules."""

from __future__ import annotations

import dataclasses

import pytest

from registry.deid.fields import QI, Flag
from registry.deid.profiles import (
    DEFAULT_PROFILE,
    LIMITED_DATASET,
    PROFILES,
    SAFE_HARBOR,
    DateRule,
    age_band_labels,
    get_profile,
)


def test_safe_harbor_is_the_default_and_drops_identifiers_and_free_text():
    assert DEFAULT_PROFILE == "safe_harbor"
    assert get_profile() is SAFE_HARBOR
    assert SAFE_HARBOR.drop == {Flag.IDENTIFIER, Flag.FREE_TEXT}
    assert SAFE_HARBOR.dates is DateRule.RELATIVE_DAYS
    assert SAFE_HARBOR.k == 5
    assert set(SAFE_HARBOR.quasi_identifiers) == set(QI)


def test_limited_dataset_shifts_dates_within_a_stated_window():
    assert LIMITED_DATASET.dates is DateRule.SHIFT
    assert LIMITED_DATASET.shift_window_days == 180
    assert "180 days" in " ".join(LIMITED_DATASET.describe())
    assert set(PROFILES) == {"safe_harbor", "limited_dataset"}


def test_k_is_configurable_and_changes_the_fingerprint():
    stricter = get_profile("safe_harbor", k=10)
    assert stricter.k == 10 and stricter.name == "safe_harbor"
    assert stricter.fingerprint() != SAFE_HARBOR.fingerprint()
    assert SAFE_HARBOR.fingerprint() == get_profile("safe_harbor").fingerprint()


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(KeyError, match="safe_harbor"):
        get_profile("open_data")


@pytest.mark.parametrize(
    "changes",
    [
        {"k": 1},
        {"dates": DateRule.SHIFT, "shift_window_days": 0},
        {"age_bands": ((0, 30, 40, 80),)},  # top band does not start at the top code
        {"age_bands": ((0, 30, 40, 50, 60, 70, 80, 90), (0, 45, 80))},  # coarser level splits a finer band
        {"generalisation": (QI.TUMOUR_TYPE,), "quasi_identifiers": (QI.SEX,)},
    ],
)
def test_inconsistent_rules_are_refused(changes):
    with pytest.raises(ValueError):
        dataclasses.replace(SAFE_HARBOR, **changes)


def test_ages_of_90_or_more_are_one_band():
    assert age_band_labels(SAFE_HARBOR.age_bands[0]) == (
        "<30", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+"
    )  # fmt: skip
    assert age_band_labels(SAFE_HARBOR.age_bands[1]) == ("<40", "40-59", "60-79", "80+")


def test_describe_states_every_rule():
    text = " ".join(SAFE_HARBOR.describe())
    for phrase in ("pseudonym", "day 0", "90+", "k = 5", "tissue", "country", "'*'"):
        assert phrase in text

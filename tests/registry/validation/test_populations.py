"""Who is analysed (registry/validation/populations.py): every exclusion reason planted once and counted.

Data cut 31 Oct 2026. Each planted episode is built to hit exactly one reason, so the counts below
are read off the table, not off the code.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from registry.dates import DAYS_PER_MONTH
from registry.derive import RECURRENCE_KINDS
from registry.validation import (
    EXCLUSION_REASONS,
    INPUT_COLUMNS,
    build_populations,
    censor_at_cut,
    potential_follow_up,
)

CUT = dt.date(2026, 10, 31)
START = dt.date(2025, 6, 1)


def row(episode_id: int, **changes) -> dict:
    """One locked assessment: a first rechallenge started on START, locked the same day, favourable, with PFS2."""
    start = changes.pop("start", START)
    lock_day = changes.pop("lock_day", 0)
    values = {
        "episode_id": episode_id,
        "patient_id": episode_id,
        "site": "AAA",
        "country": "FR",
        "tumour_type": "NSCLC",
        "sequence_number": 1,
        "rechallenge_start": start,
        "locked_at": None
        if start is None
        else dt.datetime.combine(start, dt.time(10), tzinfo=dt.UTC) + dt.timedelta(days=lock_day),
        "is_retrospective": False,
        "is_reassessment": False,
        "model_version": "1.1",
        "category": "favourable",
        "score": 8,
        "stop_reason": "toxicity",
        "strategy": "monotherapy",
        "prior_irae_any": True,
        "pfs2_months": 4.0,
        "pfs2_event": True,
        "os_months": 9.0,
        "os_event": False,
        "objective_response": True,
        "disease_control": True,
        "response_evaluable": True,
    }
    for kind in RECURRENCE_KINDS:
        values[f"recurrence_{kind}_months"] = 3.0
        values[f"recurrence_{kind}_event_code"] = 1
    values.update(changes)
    return values


def planted() -> pd.DataFrame:
    rows = [
        row(1),  # analysed in both
        row(2, sequence_number=2),  # not_first_rechallenge
        row(3, start=None, locked_at=dt.datetime(2025, 6, 1, tzinfo=dt.UTC)),  # no_rechallenge_start
        row(4, start=dt.date(2026, 11, 5)),  # started_after_cut
        row(5, is_reassessment=True),  # primary: reassessment_only; all_locked: analysed
        row(6, lock_day=(dt.date(2026, 11, 2) - START).days),  # locked_after_cut
        row(7, is_retrospective=True),  # primary: retrospective
        row(8, lock_day=15),  # primary: locked_late (15 days after the start)
        row(9, category="contraindicated"),
        row(10, category="insufficient_data"),
        row(11, category="something_else"),  # unknown_category
        row(12, pfs2_months=np.nan, pfs2_event=None),  # no_follow_up
        row(13, lock_day=14),  # 14 days after the start: still on time
        row(14, category="unfavourable"),  # original on time ...
        row(14, category="favourable", is_reassessment=True, lock_day=40),  # ... corrected later
        row(15, lock_day=-3),  # locked before the start (enrolled ahead)
    ]
    frame = pd.DataFrame(rows, columns=list(INPUT_COLUMNS))
    frame["pfs2_event"] = frame["pfs2_event"].astype("boolean")
    return frame


@pytest.fixture
def populations():
    return build_populations(planted(), data_cut=CUT)


def test_every_reason_is_listed_and_every_planted_episode_counted_once(populations):
    for population in populations.values():
        assert list(population.excluded) == list(EXCLUSION_REASONS)
        assert sum(population.excluded.values()) + len(population.analysed) == 15


def test_primary_counts_each_planted_exclusion(populations):
    primary = populations["primary"]
    assert primary.excluded == {
        "not_first_rechallenge": 1,
        "no_rechallenge_start": 1,
        "started_after_cut": 1,
        "reassessment_only": 1,
        "locked_after_cut": 1,
        "retrospective": 1,
        "locked_late": 1,
        "contraindicated": 1,
        "insufficient_data": 1,
        "unknown_category": 1,
        "no_follow_up": 1,
    }
    assert sorted(primary.analysed["episode_id"]) == [1, 13, 14, 15]


def test_all_locked_keeps_late_retrospective_and_reassessed_episodes(populations):
    all_locked = populations["all_locked"]
    assert all_locked.excluded["retrospective"] == 0
    assert all_locked.excluded["locked_late"] == 0
    assert all_locked.excluded["reassessment_only"] == 0
    assert all_locked.excluded["locked_after_cut"] == 1
    assert sorted(all_locked.analysed["episode_id"]) == [1, 5, 7, 8, 13, 14, 15]


def test_the_original_lock_is_used_not_the_later_correction(populations):
    for population in populations.values():
        episode = population.episodes.set_index("episode_id").loc[14]
        assert episode["category"] == "unfavourable"
        assert not episode["is_reassessment"]


def test_contraindicated_and_insufficient_episodes_stay_eligible_for_non_comparative_analyses(populations):
    eligible = set(populations["primary"].eligible["episode_id"])
    assert {9, 10, 11, 12} <= eligible
    assert not {2, 3, 4, 5, 6, 7, 8} & eligible


def test_a_lock_after_the_cut_is_ignored_when_an_earlier_one_exists():
    frame = pd.concat(
        [pd.DataFrame([row(1)]), pd.DataFrame([row(1, lock_day=600, is_reassessment=True, category="unfavourable")])]
    )
    primary = build_populations(frame, data_cut=dt.date(2025, 12, 31))["primary"]
    assert primary.analysed["category"].tolist() == ["favourable"]


def test_censor_at_cut_censors_times_beyond_the_cut_and_keeps_an_event_on_it():
    start = dt.date(2026, 1, 1)
    cut_months = (CUT - start).days / DAYS_PER_MONTH
    frame = pd.DataFrame(
        [
            row(1, start=start, pfs2_months=12.0, os_months=14.0, os_event=True),
            row(2, start=start, pfs2_months=cut_months, os_months=2.0),
        ]
    )
    frame["recurrence_any_grade_months"] = [11.0, 1.0]
    frame["recurrence_any_grade_event_code"] = pd.array([2, 1], dtype="Int64")
    censored = censor_at_cut(frame, CUT)
    assert censored["pfs2_months"].tolist() == pytest.approx([cut_months, cut_months])
    assert censored["pfs2_event"].tolist() == [False, True]
    assert censored["os_months"].tolist() == pytest.approx([cut_months, 2.0])
    assert censored["os_event"].tolist() == [False, False]
    assert censored["recurrence_any_grade_months"].tolist() == pytest.approx([cut_months, 1.0])
    assert censored["recurrence_any_grade_event_code"].tolist() == [0, 1]
    assert frame["pfs2_months"].tolist()[0] == 12.0  # the input is not changed


def test_potential_follow_up_is_the_start_at_least_twelve_calendar_months_before_the_cut():
    frame = pd.DataFrame(
        {"rechallenge_start": [dt.date(2025, 10, 31), dt.date(2025, 11, 1), dt.date(2026, 4, 30), None]}
    )
    assert potential_follow_up(frame, CUT, 12).tolist() == [True, False, False, False]
    assert potential_follow_up(frame, CUT, 6).tolist() == [True, True, True, False]


def test_a_frame_without_a_required_column_is_refused():
    with pytest.raises(ValueError, match="category"):
        build_populations(planted().drop(columns="category"), data_cut=CUT)


def test_the_planted_frame_runs_through_the_report_with_its_exclusions_counted():
    from registry.validation import validation_metrics

    metrics = validation_metrics(planted(), data_cut=CUT, model_version="1.1", model_hash="-")
    primary = metrics["populations"]["primary"]
    assert primary["n"] == 4
    assert primary["excluded"] == build_populations(planted(), data_cut=CUT)["primary"].excluded
    assert primary["categories"]["intermediate"]["n"] == 0
    assert primary["categories"]["intermediate"]["median_pfs2_months"] is None
    assert primary["cox"]["intermediate"] is None
    assert primary["cox"]["unfavourable"]["hr"] == 1.0  # every analysed episode progressed at 4 months
    assert primary["reported_categories"]["contraindicated"]["n"] == 1
    json.dumps(metrics, allow_nan=False)


def test_a_frame_with_nobody_analysed_still_gives_a_report():
    from registry.validation import validation_metrics

    frame = planted()
    frame["sequence_number"] = 2
    metrics = validation_metrics(frame, data_cut=CUT, model_version="1.1", model_hash="-")
    assert metrics["populations"]["primary"]["n"] == 0
    assert metrics["populations"]["primary"]["excluded"]["not_first_rechallenge"] == 15
    json.dumps(metrics, allow_nan=False)

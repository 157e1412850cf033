"""The frame of a data cut: read set-wise, exactly what ``registry.derive_frames`` derives from every column."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.assessments.demo import demo_registry_seed
from apps.assessments.models import Assessment
from apps.clinical.models import AdverseEvent, FollowUp, InitialCourse, RechallengeEpisode, ResponseAssessment
from apps.validation.selectors import validation_frame
from registry.decision import get_spec
from registry.derive_frames import FRAME_COLUMNS, derive_episodes
from registry.validation import INPUT_COLUMNS, data_hash

from .cohorts import cut_now

pytestmark = pytest.mark.django_db

MODELS = {
    "courses": InitialCourse,
    "episodes": RechallengeEpisode,
    "adverse_events": AdverseEvent,
    "responses": ResponseAssessment,
    "follow_ups": FollowUp,
}


@pytest.fixture
def demo(db):
    demo_registry_seed(sites=3, patients=120, seed=5)


def _every_column() -> dict[str, pd.DataFrame]:
    """The five frames with every column ``derive_frames`` names, read record by record through the ORM."""
    frames = {}
    for name, model in MODELS.items():
        rows = list(model.objects.order_by("pk").values(*FRAME_COLUMNS[name]))
        frames[name] = pd.DataFrame(rows, columns=list(FRAME_COLUMNS[name]))
    frames["adverse_events"]["episode_id"] = frames["adverse_events"]["episode_id"].astype("Int64")
    frames["adverse_events"]["resolved_to_grade"] = frames["adverse_events"]["resolved_to_grade"].astype("Int64")
    for name in ("courses", "follow_ups"):
        for column in ("stop_reason", "rechallenge_stop_reason"):
            if column in frames[name]:
                frames[name][column] = frames[name][column].fillna("")
    return frames


def _as_objects(series: pd.Series) -> list:
    values = series.astype(object)
    return [None if value is None or value is pd.NA or value != value else value for value in values]


def test_the_frame_holds_the_contract_columns_and_the_outcomes_derived_from_every_column(demo):
    cut = cut_now()
    frame = validation_frame(model_version="1.1", data_cut=cut)

    assert list(frame.columns) == [c for c in INPUT_COLUMNS if c in frame.columns]
    assert set(INPUT_COLUMNS) - set(frame.columns) == set()
    assert len(frame) == Assessment.objects.filter(model_version="1.1").count() > 100
    for column in ("site", "country", "tumour_type", "category", "stop_reason", "strategy", "model_version"):
        assert isinstance(frame[column].dtype, pd.CategoricalDtype), column

    expected = derive_episodes(_every_column()).set_index("episode_id").loc[frame["episode_id"]]
    for column in INPUT_COLUMNS:
        if column in expected.columns:
            mine, theirs = _as_objects(frame[column]), _as_objects(expected[column].reset_index(drop=True))
            if frame[column].dtype.kind == "f":
                assert np.allclose(
                    frame[column].to_numpy(dtype=float), expected[column].to_numpy(dtype=float), equal_nan=True
                ), column
            else:
                assert mine == theirs, column

    locked = Assessment.objects.filter(model_version="1.1").select_related("episode__patient__site").order_by("pk")
    by_episode = {a.episode_id: a for a in locked}
    for row in frame.head(40).itertuples(index=False):
        assessment = by_episode[row.episode_id]
        assert row.site == assessment.episode.patient.site.code
        assert row.country == assessment.episode.patient.site.country
        assert row.tumour_type == assessment.episode.patient.tumour_type
        assert row.rechallenge_start.date() == assessment.episode.start_date
        assert row.locked_at == pd.Timestamp(assessment.assessed_at)
        assert row.category == assessment.category and row.score == assessment.score
        assert row.is_retrospective == assessment.is_retrospective
        assert (None if pd.isna(row.stop_reason) else row.stop_reason) == assessment.inputs["stop_reason"]
        prior = assessment.inputs["prior_iraes"]
        assert (None if pd.isna(row.prior_irae_any) else row.prior_irae_any) == (None if prior is None else bool(prior))


def test_the_frame_is_read_in_one_query_per_table(demo, monkeypatch):
    from apps.validation import selectors

    tables = []
    read = selectors.read_table
    monkeypatch.setattr(selectors, "read_table", lambda table: tables.append(table.queryset.model) or read(table))
    with CaptureQueriesContext(connection) as queries:
        validation_frame(model_version="1.1", data_cut=cut_now())
    # assessments, patients, courses, episodes, irAEs, responses, follow-ups: one query each
    assert [model.__name__ for model in tables] == [
        "Assessment",
        "Patient",
        "InitialCourse",
        "RechallengeEpisode",
        "AdverseEvent",
        "ResponseAssessment",
        "FollowUp",
    ]
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    # SQLite through the cursor (seen here); PostgreSQL streams each with COPY on the raw connection.
    assert len(selects) == (7 if connection.vendor == "sqlite" else 0), selects


def test_a_json_null_in_the_locked_inputs_is_missing_on_every_database(demo):
    episode = RechallengeEpisode.objects.order_by("pk").first()
    spec = get_spec("1.1")
    Assessment.objects.create(
        episode=episode,
        model_version="1.1",
        model_hash=spec.hash,
        inputs={"stop_reason": None, "strategy": None, "prior_iraes": None},
        factors=[],
        category="insufficient_data",
        score=0,
        is_reassessment=True,
    )
    frame = validation_frame(model_version="1.1", data_cut=cut_now())
    row = frame[(frame["episode_id"] == episode.pk) & frame["is_reassessment"]].iloc[0]
    assert pd.isna(row["stop_reason"]) and pd.isna(row["strategy"]) and pd.isna(row["prior_irae_any"])


def test_records_and_locks_after_the_cut_are_not_in_the_frame(demo):
    cut = cut_now()
    before = validation_frame(model_version="1.1", data_cut=cut)
    episode = RechallengeEpisode.objects.filter(sequence_number=1).order_by("pk").first()
    day = episode.start_date + dt.timedelta(days=3)
    FollowUp.objects.create(episode=episode, follow_up_date=day, vital_status="dead", death_date=day)
    spec = get_spec("1.1")
    Assessment.objects.create(
        episode=episode,
        model_version="1.1",
        model_hash=spec.hash,
        inputs={},
        factors=[],
        category="favourable",
        score=9,
    )

    at_the_cut = validation_frame(model_version="1.1", data_cut=cut)
    assert len(at_the_cut) == len(before)
    assert data_hash(at_the_cut) == data_hash(before)
    now = validation_frame(model_version="1.1", data_cut=cut_now())
    assert len(now) == len(before) + 1
    assert data_hash(now) != data_hash(before)


def test_a_version_without_locked_assessments_gives_an_empty_frame_with_the_contract_columns(demo):
    frame = validation_frame(model_version="1.0", data_cut=cut_now())
    assert frame.empty and set(INPUT_COLUMNS) <= set(frame.columns)

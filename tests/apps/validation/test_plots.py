"""The report's figures (apps/validation/plots.py): valid, deterministic SVG with nothing from elsewhere; the
Kaplan–Meier steps read back from the SVG equal lifelines' on a small planted frame; the numbers at risk
equal a hand count; the cumulative incidence equals lifelines'; a figure is kept per run and never drawn
from rows other than the run's."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from lifelines import AalenJohansenFitter, KaplanMeierFitter

from apps.validation import plots, selectors
from registry.validation import data_hash, validation_metrics
from registry.validation.discrimination import aalen_johansen

SVG = "{http://www.w3.org/2000/svg}"
CUT = dt.date(2026, 6, 30)
START = dt.date(2024, 1, 1)  # 30 months before the cut: no time below is censored by it
VERSION = "1.1"
SCORES = {"favourable": 6.0, "intermediate": 2.0, "unfavourable": -2.0}

# (category, PFS2 months, progressed or died, site, prior irAE, recurrence months, recurrence code)
PLANTED = [
    ("favourable", 1.0, True, "S1", True, 1.0, 1),
    ("favourable", 2.5, False, "S1", True, 2.5, 0),
    ("favourable", 3.0, True, "S2", False, 3.0, 2),
    ("favourable", 4.0, True, "S2", True, 4.0, 1),
    ("favourable", 7.0, False, "S1", False, 7.0, 0),
    ("favourable", 8.0, True, "S2", True, 8.0, 1),
    ("favourable", 13.0, False, "S1", None, 13.0, 0),
    ("intermediate", 0.5, True, "S1", True, 0.5, 2),
    ("intermediate", 2.0, True, "S2", False, 2.0, 1),
    ("intermediate", 2.0, True, "S1", True, 2.0, 1),
    ("intermediate", 3.5, False, "S2", False, 3.5, 0),
    ("intermediate", 6.0, True, "S1", True, 5.5, 1),
    ("unfavourable", 0.8, True, "S2", False, 0.8, 2),
    ("unfavourable", 1.5, True, "S1", True, 1.5, 1),
    ("unfavourable", 2.2, False, "S2", True, 2.2, 0),
    ("unfavourable", 4.5, True, "S1", False, 4.5, 2),
]
# Numbers at risk (time ≥ t) counted by hand from the table above, at 0, 3, 6, 9, 12 and 15 months.
AT_RISK_BY_HAND = {
    "favourable": [7, 5, 3, 1, 1, 0],
    "intermediate": [5, 2, 1, 0, 0, 0],
    "unfavourable": [4, 1, 0, 0, 0, 0],
}


def planted_frame(rows=PLANTED) -> pd.DataFrame:
    """Every episode a first rechallenge, locked 3 days after its start, prospective: all analysed."""
    n = len(rows)
    locked = pd.Timestamp(START + dt.timedelta(days=3), tz="UTC")
    frame = pd.DataFrame(
        {
            "episode_id": np.arange(1, n + 1),
            "patient_id": np.arange(101, 101 + n),
            "site": [row[3] for row in rows],
            "country": "FR",
            "tumour_type": "LUAD",
            "sequence_number": 1,
            "rechallenge_start": pd.Timestamp(START),
            "locked_at": locked,
            "is_retrospective": False,
            "is_reassessment": False,
            "model_version": VERSION,
            "category": [row[0] for row in rows],
            "score": [SCORES[row[0]] for row in rows],
            "stop_reason": ["toxicity" if i % 2 else "progression" for i in range(n)],
            "strategy": "monotherapy",
            "prior_irae_any": pd.array([row[4] for row in rows], dtype="boolean"),
            "pfs2_months": [row[1] for row in rows],
            "pfs2_event": pd.array([row[2] for row in rows], dtype="boolean"),
            "os_months": [row[1] + 2.0 for row in rows],
            "os_event": pd.array([i % 3 == 0 for i in range(n)], dtype="boolean"),
            "objective_response": False,
            "disease_control": [i % 2 == 0 for i in range(n)],
            "response_evaluable": True,
            "recurrence_any_grade_months": [row[5] for row in rows],
            "recurrence_any_grade_event_code": pd.array([row[6] for row in rows], dtype="Int64"),
        }
    )
    return frame


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg.encode("utf-8"))  # noqa: S314 - the registry's own output, drawn in this test
    assert root.tag == f"{SVG}svg"
    return root


def group(root: ET.Element, gid: str) -> ET.Element:
    found = root.find(f".//{SVG}g[@id='{gid}']")
    assert found is not None, f"no element #{gid}"
    return found


def path_points(element: ET.Element) -> np.ndarray:
    """The vertices of the first path in ``element`` (matplotlib writes ``M x y L x y …``)."""
    path = element.find(f".//{SVG}path")
    assert path is not None
    numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", path.get("d"))]
    return np.array(numbers).reshape(-1, 2)


def to_data(points: np.ndarray, axes: np.ndarray, xlim: tuple[float, float], ylim: tuple[float, float]) -> np.ndarray:
    """SVG coordinates (y down) back to data coordinates through the plotting area's rectangle."""
    left, right = axes[:, 0].min(), axes[:, 0].max()
    top, bottom = axes[:, 1].min(), axes[:, 1].max()
    x = xlim[0] + (points[:, 0] - left) / (right - left) * (xlim[1] - xlim[0])
    y = ylim[0] + (bottom - points[:, 1]) / (bottom - top) * (ylim[1] - ylim[0])
    return np.column_stack([x, y])


@pytest.fixture(scope="module")
def km_svg() -> str:
    groups = plots.km_groups(planted_frame(), data_cut=CUT, model_version=VERSION)
    return plots.km_svg(groups, plot_id="km-pfs2", title="PFS2", ylabel="PFS2")


# --- valid, deterministic, self-contained ---------------------------------------------------------------------


def test_every_figure_is_valid_svg_drawn_the_same_twice_with_nothing_from_elsewhere(km_svg):
    frame = planted_frame()
    by_kind, by_prior = plots.recurrence_groups(frame, data_cut=CUT, model_version=VERSION)
    metrics = validation_metrics(frame, data_cut=CUT, model_version=VERSION, model_hash="h")
    forest = metrics["populations"]["primary"]["heterogeneity"]["by_site"]
    groups = plots.km_groups(frame, data_cut=CUT, model_version=VERSION)
    drawn = {
        "km": (km_svg, plots.km_svg(groups, plot_id="km-pfs2", title="PFS2", ylabel="PFS2")),
        "recurrence": (plots.recurrence_svg(by_kind, by_prior), plots.recurrence_svg(by_kind, by_prior)),
        "forest": (plots.forest_svg(forest), plots.forest_svg(forest)),
    }
    for name, (svg, again) in drawn.items():
        assert svg == again, f"{name}: not deterministic"
        root = parse(svg)
        assert root.find(f"{SVG}title") is not None, name
        assert "<dc:date>" not in svg, name
        references = re.findall(r'(?:href|src)="([^"]*)"', svg)
        assert all(ref.startswith("#") for ref in references), f"{name}: {references}"
        assert "<script" not in svg and "@import" not in svg and "url(http" not in svg


def test_the_svg_keeps_text_as_text(km_svg):
    assert "Number at risk" in km_svg and "Months since the start of rechallenge" in km_svg


# --- the Kaplan–Meier curves --------------------------------------------------------------------------------


def lifelines_steps(time: list[float], event: list[bool]) -> KaplanMeierFitter:
    return KaplanMeierFitter().fit(np.array(time), np.array(event))


@pytest.mark.parametrize("category", ["favourable", "intermediate", "unfavourable"])
def test_the_km_steps_read_back_from_the_svg_equal_lifelines_on_the_planted_frame(km_svg, category):
    root = parse(km_svg)
    axes = path_points(group(root, "km-pfs2-axes"))
    xlim = (0.0, plots.risk_table_times(13.0)[-1])  # the longest PFS2 is 13 months → axis to 15
    drawn = to_data(path_points(group(root, f"km-pfs2-{category}")), axes, xlim, plots.Y_LIMITS)
    rows = [row for row in PLANTED if row[0] == category]  # by hand, not through the populations
    kmf = lifelines_steps([row[1] for row in rows], [row[2] for row in rows])

    def survival(t: float) -> float:
        return float(kmf.survival_function_at_times(t).iloc[0])

    assert drawn[0] == pytest.approx([0.0, 1.0], abs=1e-6)
    assert drawn[-1, 0] == pytest.approx(max(row[1] for row in rows), abs=1e-5)
    jumps = [i for i in range(len(drawn) - 1) if abs(drawn[i, 0] - drawn[i + 1, 0]) < 1e-6]
    event_times = sorted({row[1] for row in rows if row[2]})
    assert [drawn[i, 0] for i in jumps] == pytest.approx(event_times, abs=1e-5)
    for i, t in zip(jumps, event_times, strict=True):  # t exact, the drawn one is within rounding of it
        assert drawn[i, 1] == pytest.approx(survival(t - 1e-9), abs=1e-5)  # just before the step
        assert drawn[i + 1, 1] == pytest.approx(survival(t), abs=1e-5)  # at and after it
    for (x0, y0), (x1, y1) in itertools.pairwise(drawn):
        if x1 > x0 + 1e-6:  # a flat stretch: S constant over it
            assert y0 == pytest.approx(y1, abs=1e-9)
            assert y0 == pytest.approx(survival((x0 + x1) / 2), abs=1e-5)


def test_km_curve_equals_lifelines_with_ties_and_censoring():
    rng = np.random.default_rng(11)
    time = np.round(rng.exponential(6.0, 300), 1)  # rounded: many ties
    event = rng.random(300) < 0.7

    curve = plots.km_curve(time, event)

    kmf = KaplanMeierFitter().fit(time, event)
    expected = kmf.survival_function_at_times(curve.x).to_numpy()
    at_step = np.r_[False, curve.x[1:] == curve.x[:-1]]
    before = np.r_[at_step[1:], False]  # the vertex before a vertical step shows S(t−)
    left = np.where(curve.x > 0, kmf.survival_function_at_times(curve.x - 1e-9).to_numpy(), 1.0)
    np.testing.assert_allclose(curve.y[~before], expected[~before], atol=1e-12)
    np.testing.assert_allclose(curve.y[before], left[before], atol=1e-12)
    censored = np.unique(time[~event])
    np.testing.assert_array_equal(curve.censored_x, censored)
    np.testing.assert_allclose(curve.censored_y, kmf.survival_function_at_times(censored).to_numpy(), atol=1e-12)


def test_the_numbers_at_risk_under_the_axis_equal_a_hand_count(km_svg):
    root = parse(km_svg)
    months = [0, 3, 6, 9, 12, 15]
    assert plots.risk_table_times(13.0) == [float(m) for m in months]
    for category, counts in AT_RISK_BY_HAND.items():
        shown = []
        for month in months:
            text = group(root, f"km-pfs2-at-risk-{category}-{month}").find(f".//{SVG}text")
            assert text is not None
            shown.append(int("".join(text.itertext()).strip()))
        assert shown == counts, category
        times = [row[1] for row in PLANTED if row[0] == category]
        assert plots.numbers_at_risk(times, months) == counts


def test_risk_table_times_widen_their_step_for_long_follow_up():
    assert plots.risk_table_times(0.0) == [0.0, 3.0]
    assert plots.risk_table_times(24.0)[-2:] == [21.0, 24.0]
    assert plots.risk_table_times(30.0) == [0.0, 6.0, 12.0, 18.0, 24.0, 30.0]
    assert plots.risk_table_times(60.0)[1] == 12.0


def test_an_empty_category_is_left_out_of_the_curves_but_kept_in_the_table():
    frame = planted_frame([row for row in PLANTED if row[0] != "intermediate"])
    groups = plots.km_groups(frame, data_cut=CUT, model_version=VERSION)

    root = parse(plots.km_svg(groups, plot_id="km-pfs2", title="PFS2", ylabel="PFS2"))

    assert root.find(f".//{SVG}g[@id='km-pfs2-intermediate']") is None
    zero = group(root, "km-pfs2-at-risk-intermediate-0").find(f".//{SVG}text")
    assert "".join(zero.itertext()).strip() == "0"


def test_os_curves_use_the_os_columns():
    groups = plots.km_groups(planted_frame(), data_cut=CUT, model_version=VERSION, endpoint="os")

    time, event = groups["favourable"]
    assert list(time) == [row[1] + 2.0 for row in PLANTED if row[0] == "favourable"]
    assert list(event) == [i % 3 == 0 for i, row in enumerate(PLANTED) if row[0] == "favourable"]


# --- recurrence, forest ---------------------------------------------------------------------------------------


def test_the_cumulative_incidence_equals_lifelines_and_the_reports_figures():
    rng = np.random.default_rng(5)
    time = rng.exponential(8.0, 200).round(6)  # no ties: lifelines would jitter them
    code = rng.choice([0, 1, 2], size=200, p=[0.4, 0.35, 0.25])

    curve = plots.cif_curve(time, code)

    ajf = AalenJohansenFitter(calculate_variance=False).fit(time, code, event_of_interest=1)
    expected = ajf.cumulative_density_.iloc[:, 0]
    jumps = np.flatnonzero(curve.x[1:] == curve.x[:-1]) + 1  # the vertex after each vertical step
    np.testing.assert_array_equal(curve.x[jumps], np.sort(time[code == 1]))
    for k in jumps:
        assert curve.y[k] == pytest.approx(float(expected[expected.index <= curve.x[k]].iloc[-1]), abs=1e-10)
    for at in (6.0, 12.0):
        k = np.searchsorted(curve.x, at, side="right") - 1
        assert curve.y[k] == pytest.approx(aalen_johansen(time, code, at=[at])["cif"][0], abs=1e-12)


def test_the_recurrence_figure_has_a_curve_per_kind_and_per_prior_irae_status():
    by_kind, by_prior = plots.recurrence_groups(planted_frame(), data_cut=CUT, model_version=VERSION)

    root = parse(plots.recurrence_svg(by_kind, by_prior))

    assert set(by_kind) == {"any_grade"} and set(by_prior) == {"yes", "no", "not_recorded"}
    for gid in ("recurrence-kind-any_grade", "recurrence-prior-yes", "recurrence-prior-no"):
        group(root, gid)


def test_the_forest_plot_shows_the_sites_given_and_the_random_effects_summary():
    metrics = validation_metrics(planted_frame(), data_cut=CUT, model_version=VERSION, model_hash="h")
    by_site = metrics["populations"]["primary"]["heterogeneity"]["by_site"]

    svg = plots.forest_svg(by_site)
    only_s2 = plots.forest_svg({**by_site, "cells": {"S2": by_site["cells"]["S2"]}})

    assert ">S1<" in svg and ">S2<" in svg and "Random-effects summary" in svg
    assert ">S1<" not in only_s2 and ">S2<" in only_s2
    assert "not estimable" in svg or 'id="forest-site-intermediate-S1"' in svg


def test_a_forest_plot_without_sites_says_so():
    assert "No site has a hazard ratio" in plots.forest_svg({"cells": {}, "summary": {}})


# --- per run --------------------------------------------------------------------------------------------------


def fake_run(frame: pd.DataFrame, pk: int = 7) -> SimpleNamespace:
    return SimpleNamespace(
        pk=pk,
        model_version=VERSION,
        model_hash="h",
        data_cut=dt.datetime.combine(CUT, dt.time(23, 0), tzinfo=dt.UTC),
        data_hash=data_hash(frame),
    )


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_a_runs_figure_is_drawn_from_its_rows_once_and_kept(media, monkeypatch):
    frame = planted_frame()
    run = fake_run(frame)
    metrics = validation_metrics(frame, data_cut=run.data_cut, model_version=VERSION, model_hash="h")
    loads = []

    def validation_frame(*, model_version, data_cut, progress=None):
        loads.append((model_version, data_cut))
        return frame

    monkeypatch.setattr(selectors, "validation_frame", validation_frame)

    first = plots.run_plot_svg(run, "km-pfs2", population="primary", metrics=metrics)
    again = plots.run_plot_svg(run, "km-pfs2", population="primary", metrics=metrics)

    assert loads == [(VERSION, run.data_cut)]
    assert first == again and 'id="km-pfs2-favourable"' in first
    assert len(list((media / "validation-plots").glob("run-7-km-pfs2-primary-*.svg"))) == 1


def test_a_runs_figure_is_not_drawn_from_rows_that_changed_and_not_kept(media, monkeypatch):
    frame = planted_frame()
    run = fake_run(frame)
    metrics = validation_metrics(frame, data_cut=run.data_cut, model_version=VERSION, model_hash="h")
    changed = frame.copy()
    changed.loc[0, "pfs2_months"] = 1.5
    monkeypatch.setattr(selectors, "validation_frame", lambda **kwargs: changed)

    svg = plots.run_plot_svg(run, "km-pfs2", population="primary", metrics=metrics)

    assert "The records have changed since this run" in svg
    assert not list((media / "validation-plots").glob("*.svg")) if (media / "validation-plots").exists() else True


def test_run_figures_draw_draws_every_figure_from_the_frame_given_as_a_request_would(media, monkeypatch):
    frame = planted_frame()
    run = fake_run(frame, pk=8)
    metrics = validation_metrics(frame, data_cut=run.data_cut, model_version=VERSION, model_hash="h")
    monkeypatch.setattr(selectors, "validation_frame", lambda **kwargs: pytest.fail("the frame was given"))

    figures = plots.run_figures_draw(run, metrics=metrics, frame=frame)

    assert set(figures) == {(population, name) for population in plots.POPULATIONS for name in plots.PLOTS}
    assert not (media / "validation-plots").exists()  # stored by the service with the run, not as files
    for (population, name), svg in figures.items():
        assert svg == plots.run_plot_svg(run, name, population=population, metrics=metrics, frame=frame)

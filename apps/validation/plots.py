"""The validation report's figures: server-rendered SVG, deterministic, drawn by the worker and stored with each run.

Provides the Kaplan–Meier curves of PFS2 and of OS by category with the numbers at risk under the axis,
the cumulative incidence of irAE recurrence (Aalen–Johansen, death competing) and the forest plot of the
site hazard ratios with their random-effects summary.

The curves need the episodes, which the run's metrics do not carry. The worker draws every figure
from the frame it computed the metrics from (:func:`run_figures_draw`, called by
``services._compute``) and stores them with the run (``models.ValidationRunFigure``); the report
reads those. Two cases are drawn on request instead, once, and kept as a file under ``MEDIA_ROOT``
(:func:`run_plot_svg`): runs finished before figures were stored, and the forest plot of a reader
who sees only their own sites' rows (center staff). Such a curve figure is drawn from the validation
frame of the run's data cut and model version (:func:`apps.validation.selectors.validation_frame`),
through the same population rules as the metrics (:func:`registry.validation.build_populations`),
and only from rows whose data hash is the run's; when the records have changed since the run, the
figure says so instead of drawing other data.

Rendering is matplotlib's object API (no pyplot: no GUI backend, no global figure state) under fixed
rc settings: ``svg.hashsalt`` fixed, no date in the metadata, no path simplification, text kept as text.
The same inputs give byte-identical SVG.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from django.conf import settings

from registry.validation import build_populations, data_hash
from registry.validation.populations import ANALYSED_CATEGORIES
from registry.validation.survival import kaplan_meier

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "PLOTS",
    "PLOT_FORMAT",
    "POPULATIONS",
    "Curve",
    "cif_curve",
    "forest_svg",
    "km_curve",
    "km_groups",
    "km_svg",
    "numbers_at_risk",
    "recurrence_svg",
    "risk_table_times",
    "run_figures_draw",
    "run_plot_svg",
]

#: Bumped whenever a figure's drawing changes, so that kept files are drawn again.
PLOT_FORMAT = "validation-plots/2"
POPULATIONS = ("primary", "all_locked")
#: name → (title, alt text template); the names are the URL's and the ``<img>`` ids'.
PLOTS: dict[str, str] = {
    "km-pfs2": "Kaplan–Meier estimate of PFS2 (progression-free survival after rechallenge) by category",
    "km-os": "Kaplan–Meier estimate of overall survival after rechallenge by category",
    "recurrence": "Cumulative incidence of irAE recurrence after rechallenge, death as a competing event",
    "forest-site": "Hazard ratios of PFS2 versus favourable by site, with the random-effects summary",
}
#: The y range of the survival and incidence axes (the tests read curve coordinates back through it).
Y_LIMITS = (0.0, 1.02)
CATEGORY_STYLE = {
    "favourable": ("#1c7a3a", "-"),
    "intermediate": ("#9a6700", "--"),
    "unfavourable": ("#a61b1b", ":"),
}
RECURRENCE_LABELS = {
    "any_grade": "any grade",
    "grade3_or_higher": "grade ≥ 3",
    "same_term": "same term",
    "same_organ": "same organ",
}
PRIOR_IRAE_LABELS = {"yes": "prior irAE", "no": "no prior irAE", "not_recorded": "prior irAE not recorded"}
FOREST_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
RC = {
    "svg.hashsalt": "ici-rechallenge-registry",
    "svg.fonttype": "none",
    "path.simplify": False,
    "font.family": "DejaVu Sans",
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
METADATA = {"Date": None, "Creator": "ICI Rechallenge Registry"}

_render_lock = threading.Lock()  # rc_context changes global state: one figure at a time per process


# --- curves -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Curve:
    """A step curve as the vertices drawn (right-continuous steps), its censoring marks and its size."""

    label: str
    x: np.ndarray
    y: np.ndarray
    censored_x: np.ndarray
    censored_y: np.ndarray
    n: int
    events: int


def _steps(times: np.ndarray, values: np.ndarray, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of a right-continuous step function from ``start`` at 0 through ``values`` at ``times``."""
    x = [0.0]
    y = [start]
    previous = start
    for t, value in zip(times, values, strict=True):
        x += [float(t), float(t)]
        y += [previous, float(value)]
        previous = float(value)
    if end > x[-1]:
        x.append(float(end))
        y.append(previous)
    return np.asarray(x), np.asarray(y)


def km_curve(time: Sequence[float] | np.ndarray, event: Sequence[bool] | np.ndarray, *, label: str = "") -> Curve:
    """The Kaplan–Meier curve of right-censored data: steps at each event time, marks at the censorings."""
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event, dtype=bool)
    if t.size == 0:
        empty = np.zeros(0)
        return Curve(label, empty, empty, empty, empty, 0, 0)
    km = kaplan_meier(t, e)
    x, y = _steps(km.times, km.survival, 1.0, float(t.max()))
    censored = np.unique(t[~e])
    k = np.searchsorted(km.times, censored, side="right")
    censored_y = np.where(k > 0, km.survival[np.maximum(k - 1, 0)], 1.0) if km.times.size else np.ones(censored.size)
    return Curve(label, x, y, censored, censored_y, int(t.size), int(e.sum()))


def cif_curve(time: Sequence[float] | np.ndarray, code: Sequence[int] | np.ndarray, *, label: str = "") -> Curve:
    """The Aalen–Johansen cumulative incidence of event 1 with event 2 competing (0 = censored).

    ``F(u) = F(u−) + S(u−) d1(u) / Y(u)``, ``S`` the all-cause Kaplan–Meier; tied events of both kinds as
    they are (as :func:`registry.validation.discrimination.aalen_johansen`, whose values the report shows).
    """
    t = np.asarray(time, dtype=np.float64)
    c = np.asarray(code, dtype=np.int64)
    if t.size == 0:
        empty = np.zeros(0)
        return Curve(label, empty, empty, empty, empty, 0, 0)
    unique, inverse = np.unique(t, return_inverse=True)
    inverse = inverse.ravel()
    count = np.bincount(inverse, minlength=unique.size).astype(np.float64)
    d1 = np.bincount(inverse, weights=(c == 1).astype(np.float64), minlength=unique.size)
    d = np.bincount(inverse, weights=(c != 0).astype(np.float64), minlength=unique.size)
    at_risk = t.size - (np.cumsum(count) - count)
    survival = np.cumprod(1.0 - d / at_risk)
    cif = np.cumsum(np.r_[1.0, survival[:-1]] * d1 / at_risk)
    jumps = d1 > 0
    x, y = _steps(unique[jumps], cif[jumps], 0.0, float(t.max()))
    empty = np.zeros(0)
    return Curve(label, x, y, empty, empty, int(t.size), int((c == 1).sum()))


def numbers_at_risk(time: Sequence[float] | np.ndarray, at: Sequence[float]) -> list[int]:
    """How many are still followed (time ≥ t) at each of the times ``at``."""
    t = np.sort(np.asarray(time, dtype=np.float64))
    return [int(t.size - np.searchsorted(t, moment, side="left")) for moment in at]


def risk_table_times(longest: float) -> list[float]:
    """0, 3, 6, … months up to the longest follow-up (every 6 beyond two years, every 12 beyond four)."""
    step = 3 if longest <= 24 else 6 if longest <= 48 else 12
    last = max(step, math.ceil(max(longest, 0.0) / step) * step)
    return [float(m) for m in range(0, int(last) + 1, step)]


# --- the frame --------------------------------------------------------------------------------------


def _population_rows(frame: pd.DataFrame, *, data_cut: dt.date | dt.datetime, model_version: str, population: str):
    rows = frame[frame["model_version"].astype(str).to_numpy() == model_version]
    return build_populations(rows, data_cut=data_cut)[population]


def _km_groups_of(analysed: pd.DataFrame, endpoint: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    time = analysed[f"{endpoint}_months"].to_numpy(dtype="float64", na_value=np.nan)
    event = analysed[f"{endpoint}_event"].astype("boolean").to_numpy(dtype="float64", na_value=np.nan)
    known = ~np.isnan(time) & ~np.isnan(event)
    category = analysed["category"].astype(str).to_numpy()
    return {
        name: (time[known & (category == name)], event[known & (category == name)] == 1.0)
        for name in ANALYSED_CATEGORIES
    }


def km_groups(
    frame: pd.DataFrame,
    *,
    data_cut: dt.date | dt.datetime,
    model_version: str,
    population: str = "primary",
    endpoint: str = "pfs2",
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per analysed category, the (months, event) of ``endpoint`` (``pfs2`` or ``os``), censored at the cut.

    The episodes are the population's analysed ones, as in the metrics; for OS those with a known OS time.
    """
    analysed = _population_rows(frame, data_cut=data_cut, model_version=model_version, population=population).analysed
    return _km_groups_of(analysed, endpoint)


def recurrence_groups(
    frame: pd.DataFrame, *, data_cut: dt.date | dt.datetime, model_version: str, population: str = "primary"
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """(time, event code) per recurrence kind, and of any-grade recurrence per prior-irAE status.

    Every eligible episode of the population whatever its category (as the metrics' recurrence figures).
    """
    eligible = _population_rows(frame, data_cut=data_cut, model_version=model_version, population=population).eligible
    return _recurrence_groups_of(eligible)


def _recurrence_groups_of(
    eligible: pd.DataFrame,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, tuple[np.ndarray, np.ndarray]]]:
    by_kind: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for kind in RECURRENCE_LABELS:
        if f"recurrence_{kind}_months" not in eligible.columns:
            continue
        time = eligible[f"recurrence_{kind}_months"].to_numpy(dtype="float64", na_value=np.nan)
        code = eligible[f"recurrence_{kind}_event_code"].to_numpy(dtype="float64", na_value=np.nan)
        known = ~np.isnan(time) & ~np.isnan(code)
        by_kind[kind] = (time[known], code[known].astype(np.int64))
    by_prior: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if "any_grade" in by_kind:
        time = eligible["recurrence_any_grade_months"].to_numpy(dtype="float64", na_value=np.nan)
        code = eligible["recurrence_any_grade_event_code"].to_numpy(dtype="float64", na_value=np.nan)
        prior = eligible["prior_irae_any"].astype("boolean")
        status = np.where(prior.isna(), "not_recorded", np.where(prior.fillna(False), "yes", "no"))
        known = ~np.isnan(time) & ~np.isnan(code)
        for level in ("yes", "no", "not_recorded"):
            rows = known & (status == level)
            if rows.any():
                by_prior[level] = (time[rows], code[rows].astype(np.int64))
    return by_kind, by_prior


# --- drawing ----------------------------------------------------------------------------------------


def _svg(figure: Figure, title: str) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={**METADATA, "Title": title})
    return buffer.getvalue()


def _new_figure(**kwargs: Any) -> Figure:
    """A matplotlib figure; matplotlib is loaded on the first drawing, not when the web process starts."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _rendered(draw, *args: Any, **kwargs: Any) -> str:
    import matplotlib

    matplotlib.use("Agg")  # should anything import pyplot, never a GUI backend in the web process
    with _render_lock, matplotlib.rc_context(RC):
        return draw(*args, **kwargs)


def _message_figure(title: str, message: str) -> str:
    def draw() -> str:
        figure = _new_figure(figsize=(7.5, 1.6), layout="constrained")
        ax = figure.add_subplot()
        ax.set_axis_off()
        ax.set_title(title, loc="left", fontsize=10)
        ax.text(0.0, 0.5, message, transform=ax.transAxes, va="center", wrap=True)
        return _svg(figure, title)

    return _rendered(draw)


def km_svg(
    groups: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    plot_id: str,
    title: str,
    ylabel: str,
) -> str:
    """Kaplan–Meier curves per group with censoring marks, and the numbers at risk under the axis.

    Element ids in the SVG: ``{plot_id}-axes`` (the plotting area), ``{plot_id}-{group}`` (a curve),
    ``{plot_id}-at-risk-{group}-{month}`` (a number at risk).
    """

    def draw() -> str:
        present = {label: data for label, data in groups.items() if len(data[0])}
        longest = max((float(np.max(t)) for t, _ in present.values()), default=12.0)
        ticks = risk_table_times(longest)
        figure = _new_figure(figsize=(7.5, 4.2 + 0.22 * max(len(groups), 1)), layout="constrained")
        grid = figure.add_gridspec(2, 1, height_ratios=[4.0, 0.35 + 0.25 * max(len(groups), 1)])
        ax = figure.add_subplot(grid[0])
        table = figure.add_subplot(grid[1], sharex=ax)
        ax.patch.set_gid(f"{plot_id}-axes")
        for label, (time, event) in groups.items():
            colour, style = CATEGORY_STYLE.get(label, ("#1d2a35", "-"))
            curve = km_curve(time, event, label=label)
            if not curve.n:
                continue
            (line,) = ax.plot(
                curve.x, curve.y, color=colour, linestyle=style, linewidth=1.6,
                label=f"{label.capitalize()} (n = {curve.n}, {curve.events} events)",
            )  # fmt: skip
            line.set_gid(f"{plot_id}-{label}")
            if curve.censored_x.size:
                (marks,) = ax.plot(curve.censored_x, curve.censored_y, "|", color=colour, markersize=5)
                marks.set_gid(f"{plot_id}-{label}-censored")
        ax.set_xlim(0.0, ticks[-1])
        ax.set_ylim(*Y_LIMITS)
        ax.set_xticks(ticks)
        ax.set_ylabel(ylabel)
        ax.set_title(title, loc="left", fontsize=10)
        ax.axhline(0.5, color="#d6dde3", linewidth=0.8, zorder=0)
        ax.tick_params(labelbottom=False)
        if present:
            ax.legend(loc="upper right", frameon=False)
        else:
            ax.text(0.5, 0.5, "No episode in this population", transform=ax.transAxes, ha="center")
        labels = list(groups)
        for row, label in enumerate(labels):
            time, _ = groups[label]
            colour, _ = CATEGORY_STYLE.get(label, ("#1d2a35", "-"))
            y = len(labels) - 1 - row
            for moment, count in zip(ticks, numbers_at_risk(time, ticks), strict=True):
                text = table.text(moment, y, str(count), ha="center", va="center", color=colour)
                text.set_gid(f"{plot_id}-at-risk-{label}-{moment:g}")
        table.set_ylim(-0.6, len(labels) - 0.4)
        table.set_yticks(range(len(labels)), [label.capitalize() for label in reversed(labels)])
        table.set_xlabel("Months since the start of rechallenge")
        table.set_title("Number at risk", loc="left", fontsize=9)
        table.tick_params(axis="y", length=0, pad=16)
        for side in ("left", "top", "right"):
            table.spines[side].set_visible(False)
        return _svg(figure, title)

    return _rendered(draw)


def recurrence_svg(
    by_kind: Mapping[str, tuple[np.ndarray, np.ndarray]],
    by_prior: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    plot_id: str = "recurrence",
    title: str = PLOTS["recurrence"],
) -> str:
    """Two panels: the cumulative incidence by recurrence kind, and of any-grade recurrence by prior irAE."""

    def draw() -> str:
        figure = _new_figure(figsize=(7.5, 3.6), layout="constrained")
        left, right = figure.subplots(1, 2, sharey=True)
        longest = max((float(np.max(t)) for t, _ in (*by_kind.values(), *by_prior.values()) if len(t)), default=12.0)
        ticks = risk_table_times(longest)
        styles = ("-", "--", ":", "-.")
        for ax, groups, labels, heading in (
            (left, by_kind, RECURRENCE_LABELS, "By kind of recurrence"),
            (right, by_prior, PRIOR_IRAE_LABELS, "Any grade, by prior irAE"),
        ):
            drawn = 0
            for index, (key, (time, code)) in enumerate(groups.items()):
                curve = cif_curve(time, code, label=key)
                if not curve.n:
                    continue
                drawn += 1
                (line,) = ax.plot(
                    curve.x, curve.y, linestyle=styles[index % len(styles)], linewidth=1.5,
                    color=("#0b5fa5", "#a61b1b", "#1c7a3a", "#9a6700")[index % 4],
                    label=f"{labels.get(key, key)} (n = {curve.n}, {curve.events})",
                )  # fmt: skip
                line.set_gid(f"{plot_id}-{'kind' if groups is by_kind else 'prior'}-{key}")
            ax.set_xlim(0.0, ticks[-1])
            ax.set_xticks(ticks)
            ax.set_ylim(*Y_LIMITS)
            ax.set_title(heading, loc="left", fontsize=9)
            ax.set_xlabel("Months since the start of rechallenge")
            if drawn:
                ax.legend(loc="upper left", frameon=False, fontsize=8)
            else:
                ax.text(0.5, 0.5, "No recurrence data", transform=ax.transAxes, ha="center")
        left.set_ylabel("Cumulative incidence")
        figure.suptitle(title, x=0.01, ha="left", fontsize=10)
        return _svg(figure, title)

    return _rendered(draw)


def _forest_rows(heterogeneity: Mapping[str, Any], comparison: str) -> list[tuple[str, Any, list[str]]]:
    cells = heterogeneity.get("cells", {})
    return [(label, cell.get(comparison), list(cell.get("flags", []))) for label, cell in cells.items()]


def forest_svg(
    heterogeneity: Mapping[str, Any],
    *,
    plot_id: str = "forest-site",
    title: str = PLOTS["forest-site"],
    unit: str = "Site",
) -> str:
    """Per site (or tissue), the hazard ratios of intermediate and unfavourable vs favourable with 95% CIs
    on a log axis, small cells drawn hollow, and the random-effects summary as a diamond."""
    comparisons = list(ANALYSED_CATEGORIES[1:])
    summaries = heterogeneity.get("summary", {})
    labels = list(heterogeneity.get("cells", {}))

    def draw() -> str:
        from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

        rows = len(labels) + 1
        figure = _new_figure(figsize=(7.5, 1.4 + 0.32 * rows), layout="constrained")
        axes = figure.subplots(1, len(comparisons), sharey=True, squeeze=False)[0]
        y_of = {label: rows - 1 - i for i, label in enumerate(labels)}
        for ax, comparison in zip(axes, comparisons, strict=True):
            colour = CATEGORY_STYLE[comparison][0]
            bounds: list[float] = []
            for label, estimate, flags in _forest_rows(heterogeneity, comparison):
                y = y_of[label]
                small = any(flag.startswith("fewer_than") for flag in flags)
                if not estimate or estimate.get("hr") is None:
                    ax.text(1.0, y, "not estimable", ha="center", va="center", color="#5b6b78", fontsize=8)
                    continue
                hr = float(estimate["hr"])
                low, high = (estimate.get("ci") or [None, None])[:2]
                low = hr if low is None else float(low)
                high = hr if high is None else float(high)
                bounds += [low, high]
                ax.plot([low, high], [y, y], color=colour, linewidth=1.2)
                (point,) = ax.plot(
                    [hr], [y], "s", color=colour, markersize=5,
                    markerfacecolor="white" if small else colour,
                )  # fmt: skip
                point.set_gid(f"{plot_id}-{comparison}-{label}")
            summary = summaries.get(f"{comparison}_vs_{ANALYSED_CATEGORIES[0]}", {})
            random = summary.get("random") if summary else None
            if random and random.get("hr") is not None:
                hr = float(random["hr"])
                low, high = (float(v) for v in random["ci"])
                bounds += [low, high]
                diamond = ax.fill([low, hr, high, hr], [0, 0.3, 0, -0.3], color=colour, alpha=0.85)[0]
                diamond.set_gid(f"{plot_id}-{comparison}-summary")
                i2 = summary.get("i2")
                ax.text(
                    0.99, 0.01, f"I² = {100 * i2:.0f}%" if i2 is not None else "I² not estimable",
                    transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
                )  # fmt: skip
            else:
                ax.text(1.0, 0, "no summary", ha="center", va="center", color="#5b6b78", fontsize=8)
            ax.set_xscale("log")
            finite = [b for b in bounds if b > 0 and math.isfinite(b)]
            low_limit = min([0.5, *finite]) / 1.3
            high_limit = max([2.0, *finite]) * 1.3
            ax.set_xlim(low_limit, high_limit)
            ticks = [v for v in FOREST_TICKS if low_limit <= v <= high_limit]
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_major_formatter(FixedFormatter([f"{v:g}" for v in ticks]))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.axvline(1.0, color="#5b6b78", linewidth=0.8)
            ax.set_title(f"{comparison.capitalize()} vs favourable", loc="left", fontsize=9)
            ax.set_xlabel("Hazard ratio of PFS2 (log scale)")
        axes[0].set_yticks(
            [*y_of.values(), 0],
            [*(f"{label}" for label in labels), "Random-effects summary"],
        )
        axes[0].set_ylim(-0.8, rows - 0.4)
        axes[0].set_ylabel(unit)
        figure.suptitle(
            f"{title}. Hollow squares: fewer than {heterogeneity.get('small_cell_events', 10)} events in the cell.",
            x=0.01, ha="left", fontsize=9, wrap=True,
        )  # fmt: skip
        return _svg(figure, title)

    if not labels:
        return _message_figure(title, "No site has a hazard ratio in this population.")
    return _rendered(draw)


# --- per run ----------------------------------------------------------------------------------------


def _cache_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "validation-plots"


def _cache_key(run: Any, name: str, population: str, extra: str) -> str:
    parts = (
        PLOT_FORMAT, str(run.pk), str(run.model_version), str(run.model_hash), str(run.data_cut),
        str(run.data_hash), name, population, extra,
    )  # fmt: skip
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _kept(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _keep(path: Path, svg: str) -> None:
    """Write atomically: two requests drawing the same figure at once leave one whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(svg)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _data_cut(run: Any) -> dt.date | dt.datetime:
    cut = run.data_cut
    return dt.date.fromisoformat(cut) if isinstance(cut, str) else cut


def _frame_of(run: Any) -> pd.DataFrame | None:
    """The rows of the run's model version as they are now, or None when they are no longer the run's."""
    from .selectors import validation_frame  # the frame selector is the app's; imported when first needed

    frame = validation_frame(data_cut=_data_cut(run), model_version=run.model_version)
    rows = frame[frame["model_version"].astype(str).to_numpy() == run.model_version]
    return rows if data_hash(rows) == run.data_hash else None


def _km_figure(name: str, groups: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> str:
    ylabel = "PFS2 probability" if name == "km-pfs2" else "Overall survival probability"
    return km_svg(groups, plot_id=name, title=PLOTS[name], ylabel=ylabel)


def _draw(run: Any, name: str, population: str, metrics: Mapping[str, Any], frame: pd.DataFrame | None) -> str:
    title = PLOTS[name]
    if name == "forest-site":
        return forest_svg(metrics["populations"][population]["heterogeneity"]["by_site"], title=title)
    if frame is None:
        return _message_figure(
            title,
            "The records have changed since this run, and the figure was not drawn before they did: it cannot be "
            "drawn from this run's rows any more. The tables above are the run's.",
        )
    cut = _data_cut(run)
    if name in ("km-pfs2", "km-os"):
        endpoint = name.removeprefix("km-")
        groups = km_groups(
            frame, data_cut=cut, model_version=run.model_version, population=population, endpoint=endpoint
        )
        return _km_figure(name, groups)
    by_kind, by_prior = recurrence_groups(frame, data_cut=cut, model_version=run.model_version, population=population)
    return recurrence_svg(by_kind, by_prior, title=title)


def run_plot_svg(
    run: Any,
    name: str,
    *,
    population: str,
    metrics: Mapping[str, Any],
    frame: pd.DataFrame | None = None,
) -> str:
    """The SVG of figure ``name`` of a finished run, drawn once and kept (``metrics`` as the reader may see
    them: the forest plot of center staff holds their own site only). ``frame`` skips loading the rows."""
    if name not in PLOTS or population not in POPULATIONS:
        raise KeyError(f"no figure {name} of population {population}")
    visible = ",".join(sorted(metrics["populations"][population]["heterogeneity"]["by_site"]["cells"]))
    path = _cache_dir() / f"run-{run.pk}-{name}-{population}-{_cache_key(run, name, population, visible)}.svg"
    kept = _kept(path)
    if kept is not None:
        return kept
    if name != "forest-site" and frame is None:
        frame = _frame_of(run)
    elif frame is not None:
        frame = frame[frame["model_version"].astype(str).to_numpy() == run.model_version]
    svg = _draw(run, name, population, metrics, frame)
    if name == "forest-site" or frame is not None:  # a "cannot be drawn" figure is not kept
        _keep(path, svg)
    return svg


def run_figures_draw(run: Any, *, metrics: Mapping[str, Any], frame: pd.DataFrame) -> dict[tuple[str, str], str]:
    """Every figure of a run for the whole-registry view, ``{(population, name): svg}``, drawn from the frame
    the metrics were computed from (the worker calls it before it stores the run; the populations are
    built once each, as the metrics built them)."""
    rows = frame[frame["model_version"].astype(str).to_numpy() == run.model_version]
    populations = build_populations(rows, data_cut=_data_cut(run))
    figures: dict[tuple[str, str], str] = {}
    for population in POPULATIONS:
        selected = populations[population]
        for name in ("km-pfs2", "km-os"):
            figures[population, name] = _km_figure(name, _km_groups_of(selected.analysed, name.removeprefix("km-")))
        by_kind, by_prior = _recurrence_groups_of(selected.eligible)
        figures[population, "recurrence"] = recurrence_svg(by_kind, by_prior, title=PLOTS["recurrence"])
        figures[population, "forest-site"] = _draw(run, "forest-site", population, metrics, None)
    return figures

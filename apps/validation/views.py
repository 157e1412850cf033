"""Pages of the validation runs: the history with drift, one run's report, its figures, and "run now".

Investigators, coordinators and administrators read every run whole; center staff read the registry-wide
figures and their own site's rows of the per-site breakdown (``selectors.metrics_for_user``); anyone else
gets 403, a run out of reach 404. Only coordinators start a run: the page stores a pending run and a worker
computes it (``services.validation_run_create``), so the web process never waits; the run's page refreshes
itself while the run is under way. The figures are SVG drawn by the worker and stored with the run
(``selectors.validation_run_figure_for_user``), immutable per run, served with long-lived private caching
headers; only runs from before figures were stored and center staff's own-site forest plot are drawn on
request (``plots.run_plot_svg``, once, then kept).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from csp.constants import NONE, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.selectors import access_for_user
from apps.assessments.services import active_model_version
from apps.core.errors import ApplicationError
from registry.decision import available_versions
from registry.validation.populations import ANALYSED_CATEGORIES, REPORTED_CATEGORIES

from . import plots, selectors, services
from .models import ValidationRun

#: Runs whose metrics the history page reads for the drift table (newest first).
HISTORY_LIMIT = 50
POPULATION_TITLES = {
    "primary": "Primary population",
    "all_locked": "All locked assessments (sensitivity analysis)",
}
POPULATION_HINTS = {
    "primary": "First rechallenges whose assessment was locked no later than 14 days after the rechallenge start "
    "and is not retrospective.",
    "all_locked": "Every first rechallenge with a locked assessment of this model version, however late or "
    "retrospective.",
}
EXCLUSION_LABELS = {
    "not_first_rechallenge": "Not the first rechallenge",
    "no_rechallenge_start": "No rechallenge start date",
    "started_after_cut": "Started after the data cut",
    "reassessment_only": "Only re-assessments under this version",
    "locked_after_cut": "Locked after the data cut",
    "retrospective": "Locked retrospectively",
    "locked_late": "Locked more than 14 days after the start",
    "contraindicated": "Contraindicated (rechallenged anyway): described, not compared",
    "insufficient_data": "Insufficient data: described, not compared",
    "unknown_category": "Unknown category",
    "no_follow_up": "No PFS2 follow-up",
}
RECURRENCE_LABELS = {
    "any_grade": "Any grade",
    "grade3_or_higher": "Grade ≥ 3",
    "same_term": "Same term",
    "same_organ": "Same organ",
}
PROGNOSTIC_STATEMENT = (
    "The decision model is prognostic: these figures describe how outcomes after rechallenge differ between "
    "its categories. They do not measure the benefit of rechallenge, which would need a comparison with "
    "patients who were not rechallenged."
)
SYNTHETIC_WARNING = "Synthetic demo data — not evidence"
RUN_STARTED = "Validation run #{pk} is waiting for a worker; this page refreshes itself until it has finished."
NOT_REACHABLE = "Validation reports are for investigators, coordinators and center staff."


# --- formatting -----------------------------------------------------------------------------------------------

DASH = "–"


def _number(value: float | None, digits: int = 2) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def _months(value: float | None, *, not_reached: bool = False) -> str:
    if value is None:
        return "not reached" if not_reached else DASH
    return f"{value:.1f}"


def _bound(value: float | None, digits: int) -> str:
    return "NR" if value is None else f"{value:.{digits}f}"


def _ci(ci: Sequence[float | None] | None, digits: int = 1) -> str:
    if not ci:
        return ""
    return f"({_bound(ci[0], digits)}–{_bound(ci[1], digits)})"


def _percent(value: float | None) -> str:
    return DASH if value is None else f"{100 * value:.1f}%"


def _percent_ci(ci: Sequence[float | None] | None) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"({100 * ci[0]:.1f}–{100 * ci[1]:.1f})"


def _p(value: float | None) -> str:
    if value is None:
        return DASH
    if value < 0.001:
        return "< 0.001"
    return f"{value:.3f}"


def _with_ci(value: str, ci: str) -> str:
    return f"{value} {ci}".strip() if value != DASH else DASH


def _hr(estimate: Mapping[str, Any] | None) -> str:
    if not estimate or estimate.get("hr") is None:
        return "not estimable"
    return _with_ci(_number(estimate["hr"]), _ci(estimate.get("ci"), 2))


# --- the report's sections ------------------------------------------------------------------------------------


def _category_row(name: str, c: Mapping[str, Any], *, compared: bool) -> dict[str, Any]:
    median_pending = c["n"] > 0
    return {
        "name": name,
        "label": name.replace("_", " ").capitalize(),
        "compared": compared,
        "n": c["n"],
        "events": c["events"],
        "median_pfs2": _with_ci(_months(c["median_pfs2_months"], not_reached=median_pending), _ci(c["median_pfs2_ci"])),
        "pfs2_6m": _with_ci(_percent(c["pfs2_6m"]), _percent_ci(c.get("pfs2_6m_ci"))),
        "n_6m": c.get("n_6m"),
        "pfs2_12m": _with_ci(_percent(c["pfs2_12m"]), _percent_ci(c.get("pfs2_12m_ci"))),
        "n_12m": c.get("n_12m"),
        "median_os": _with_ci(
            _months(c["median_os_months"], not_reached=c.get("n_os", 0) > 0), _ci(c.get("median_os_ci"))
        ),
        "rmst": _with_ci(_months(c.get("rmst_pfs2_12m")), _ci(c.get("rmst_pfs2_12m_ci"))),
        "follow_up": _months(c.get("median_follow_up_months")),
        "orr": _with_ci(_percent(c["orr"]), _percent_ci(c.get("orr_ci"))),
        "dcr": _with_ci(_percent(c["dcr"]), _percent_ci(c.get("dcr_ci"))),
        "n_evaluable": c.get("n_evaluable"),
        "orr_evaluable": _with_ci(_percent(c.get("orr_evaluable")), _percent_ci(c.get("orr_evaluable_ci"))),
        "dcr_evaluable": _with_ci(_percent(c.get("dcr_evaluable")), _percent_ci(c.get("dcr_evaluable_ci"))),
    }


def _incidence_cells(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "n": entry["n"],
        "events": entry["events"],
        "deaths": entry["competing_deaths"],
        "cif_6m": _with_ci(_percent(entry["cif_6m"]), _percent_ci(entry.get("cif_6m_ci"))),
        "n_6m": entry.get("n_6m"),
        "cif_12m": _with_ci(_percent(entry["cif_12m"]), _percent_ci(entry.get("cif_12m_ci"))),
        "n_12m": entry.get("n_12m"),
    }


def _recurrence(recurrence: Mapping[str, Any]) -> list[dict[str, Any]]:
    tables = []
    for kind, entry in recurrence.items():
        rows = [{"group": "All eligible episodes", **_incidence_cells(entry["overall"])}]
        for level, cells in entry.get("by_prior_irae", {}).items():
            label = {"yes": "Prior irAE", "no": "No prior irAE"}.get(level, "Prior irAE not recorded")
            rows.append({"group": label, **_incidence_cells(cells)})
        for strategy, cells in entry.get("by_strategy", {}).items():
            rows.append({"group": f"Strategy: {strategy.replace('_', ' ')}", **_incidence_cells(cells)})
        tables.append(
            {
                "kind": kind,
                "label": RECURRENCE_LABELS.get(kind, kind.replace("_", " ")),
                "rows": rows,
                "not_computable": entry.get("not_computable", 0),
            }
        )
    order = list(RECURRENCE_LABELS)
    return sorted(tables, key=lambda t: order.index(t["kind"]) if t["kind"] in order else len(order))


def _heterogeneity(section: Mapping[str, Any], small_events: int) -> dict[str, Any]:
    cells = []
    for label, cell in section.get("cells", {}).items():
        flags = cell.get("flags", [])
        cells.append(
            {
                "label": label,
                "n": cell["n"],
                "events": cell["events"],
                "n_by_category": [cell["n_by_category"].get(c, 0) for c in ANALYSED_CATEGORIES],
                "hr": [_hr(cell.get(c)) for c in ANALYSED_CATEGORIES[1:]],
                "small": any(flag.startswith("fewer_than") for flag in flags),
                "flags": [flag.replace("_", " ").replace(":", ": ") for flag in flags],
            }
        )
    summaries = []
    for key, summary in section.get("summary", {}).items():
        summaries.append(
            {
                "label": key.replace("_vs_", " vs ").capitalize(),
                "k": summary.get("k"),
                "q": _number(summary.get("q")),
                "p_q": _p(summary.get("p_q")),
                "i2": _percent(summary.get("i2")),
                "tau2": _number(summary.get("tau2"), 3),
                "random": _hr(summary.get("random")),
                "random_p": _p((summary.get("random") or {}).get("p")),
                "fixed": _hr(summary.get("fixed")),
                "not_estimable": summary.get("cells_not_estimable", []),
                "small_pooled": summary.get("small_cells_pooled", []),
            }
        )
    return {"cells": cells, "summaries": summaries, "small_events": small_events}


def _population_section(name: str, p: Mapping[str, Any]) -> dict[str, Any]:
    logrank, trend = p.get("logrank", {}), p.get("logrank_trend", {})
    cox_model = p.get("cox_model", {})
    ph = p.get("ph_test") or {}
    incremental = p.get("incremental") or {}
    lr = incremental.get("lr") or {}
    c_index = p.get("c_index") or {}
    review = p.get("review_comparison") or {}
    heterogeneity = p.get("heterogeneity") or {}
    small_events = heterogeneity.get("small_cell_events", 10)
    suffix = "" if name == "primary" else f"-{name}"
    return {
        "name": name,
        "suffix": suffix,
        "title": POPULATION_TITLES.get(name, name),
        "hint": POPULATION_HINTS.get(name, ""),
        "n": p["n"],
        "n_episodes": p.get("n_episodes"),
        "n_eligible": p.get("n_eligible"),
        "potential_follow_up": p.get("potential_follow_up", {}),
        "excluded": [
            (reason, EXCLUSION_LABELS.get(reason, reason.replace("_", " ")), count)
            for reason, count in p.get("excluded", {}).items()
        ],
        "excluded_total": sum(p.get("excluded", {}).values()),
        "categories": [_category_row(c, p["categories"][c], compared=True) for c in ANALYSED_CATEGORIES],
        "described": [
            _category_row(c, p["reported_categories"][c], compared=False)
            for c in REPORTED_CATEGORIES
            if c in p.get("reported_categories", {})
        ],
        "logrank": {"chi2": _number(logrank.get("chi2")), "df": logrank.get("df"), "p": _p(logrank.get("p"))},
        "trend": {"chi2": _number(trend.get("chi2")), "df": trend.get("df"), "p": _p(trend.get("p"))},
        "cox": [
            {
                "name": c,
                "label": f"{c.capitalize()} vs favourable",
                "hr": _hr(p["cox"].get(c)),
                "p": _p((p["cox"].get(c) or {}).get("p")),
                "ph_p": _p(((ph.get("covariates") or {}).get(c) or {}).get("p")),
            }
            for c in ANALYSED_CATEGORIES[1:]
        ],
        "cox_model": cox_model,
        "ph_global": {
            "chi2": _number((ph.get("global") or {}).get("chi2")),
            "df": (ph.get("global") or {}).get("df"),
            "p": _p((ph.get("global") or {}).get("p")),
        },
        "c_index": {
            "harrell": _with_ci(_number(c_index.get("harrell"), 3), _ci(c_index.get("harrell_ci"), 3)),
            "uno": _with_ci(_number(c_index.get("uno"), 3), _ci(c_index.get("uno_ci"), 3)),
            "tau": c_index.get("uno_tau_months"),
            "n_harrell": c_index.get("n_harrell"),
            "n_uno": c_index.get("n_uno"),
            "n_auc": c_index.get("n_auc_6m"),
        },
        "auc_6m": _number(p.get("auc_6m"), 3),
        "incremental": {
            "reference": (incremental.get("stop_reason_reference") or "").replace("_", " "),
            "lr_chi2": _number(lr.get("chi2")),
            "lr_df": lr.get("df"),
            "lr_p": _p(lr.get("p")),
            "c_stop": _number(incremental.get("c_stop_reason"), 3),
            "c_with": _number(incremental.get("c_with_category"), 3),
            "delta_c": DASH if incremental.get("delta_c") is None else f"{incremental['delta_c']:+.3f}",
        },
        "recurrence": _recurrence(p.get("recurrence") or {}),
        "review": {
            "population": review.get("population", ""),
            "source": review.get("source", ""),
            "rows": [
                {
                    "label": "After a toxicity stop" if reason == "toxicity" else "After a progression stop",
                    "n": review[reason]["n"],
                    "events": review[reason]["events"],
                    "median": _with_ci(
                        _months(review[reason]["median_pfs2_months"], not_reached=review[reason]["n"] > 0),
                        _ci(review[reason].get("median_pfs2_ci")),
                    ),
                    "published": _months(review[reason].get("published_median_pfs2_months")),
                }
                for reason in ("toxicity", "progression")
                if reason in review
            ],
        },
        "by_site": _heterogeneity(heterogeneity.get("by_site") or {}, small_events),
        "by_tissue": _heterogeneity(heterogeneity.get("by_tissue") or {}, small_events),
        "figures": [
            {
                "name": figure,
                "id": f"{figure}{suffix}",
                "alt": _figure_alt(figure, name),
                "caption": FIGURE_CAPTIONS[figure],
            }
            for figure in plots.PLOTS
        ],
    }


FIGURE_CAPTIONS = {
    "km-pfs2": "Kaplan–Meier estimate of PFS2 by category; ticks mark censored episodes. The numbers at risk are "
    "the episodes still followed at each time.",
    "km-os": "Kaplan–Meier estimate of overall survival by category, with the numbers at risk.",
    "recurrence": "Aalen–Johansen cumulative incidence of irAE recurrence, death as a competing event, over every "
    "eligible episode whatever its category (the 6- and 12-month figures in the table use only the episodes "
    "with that much potential follow-up).",
    "forest-site": "Hazard ratios of PFS2 versus favourable per site (95% CIs, log scale; hollow squares: small "
    "cells) and the DerSimonian–Laird random-effects summary.",
}


def _figure_alt(figure: str, population: str) -> str:
    return f"{plots.PLOTS[figure]} ({POPULATION_TITLES.get(population, population).lower()})."


# --- drift ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """One headline metric of the primary population, with the 95% CI its drift is judged against."""

    key: str
    label: str
    value: float | None
    ci: tuple[float, float] | None
    digits: int


HEADLINES: tuple[tuple[str, str], ...] = (
    ("harrell", "Harrell's C"),
    ("uno", "Uno's C (12 mo)"),
    ("hr_intermediate", "HR intermediate vs favourable"),
    ("hr_unfavourable", "HR unfavourable vs favourable"),
    *((f"median_{c}", f"Median PFS2, {c} (mo)") for c in ANALYSED_CATEGORIES),
)
#: Column headings of the history table (the full labels are their titles).
SHORT_LABELS = {
    "harrell": "C Harrell",
    "uno": "C Uno",
    "hr_intermediate": "HR int.",
    "hr_unfavourable": "HR unf.",
    "median_favourable": "mPFS2 fav.",
    "median_intermediate": "mPFS2 int.",
    "median_unfavourable": "mPFS2 unf.",
}
#: The metrics whose move outside the previous run's CI is warned about.
WATCHED = ("harrell", "uno", "hr_intermediate", "hr_unfavourable")


def _pair(ci: Sequence[float | None] | None) -> tuple[float, float] | None:
    if not ci or len(ci) < 2 or ci[0] is None or ci[1] is None:
        return None
    return float(ci[0]), float(ci[1])


def headlines(metrics: Mapping[str, Any] | None, population: str = "primary") -> dict[str, Headline]:
    """The headline metrics of a run (empty without metrics)."""
    if not metrics:
        return {}
    p = metrics.get("populations", {}).get(population)
    if not p:
        return {}
    labels = dict(HEADLINES)
    c_index = p.get("c_index") or {}
    out = {
        "harrell": Headline("harrell", labels["harrell"], c_index.get("harrell"), _pair(c_index.get("harrell_ci")), 3),
        "uno": Headline("uno", labels["uno"], c_index.get("uno"), _pair(c_index.get("uno_ci")), 3),
    }
    for c in ANALYSED_CATEGORIES[1:]:
        estimate = (p.get("cox") or {}).get(c) or {}
        out[f"hr_{c}"] = Headline(f"hr_{c}", labels[f"hr_{c}"], estimate.get("hr"), _pair(estimate.get("ci")), 2)
    for c in ANALYSED_CATEGORIES:
        row = (p.get("categories") or {}).get(c) or {}
        out[f"median_{c}"] = Headline(
            f"median_{c}", labels[f"median_{c}"], row.get("median_pfs2_months"), _pair(row.get("median_pfs2_ci")), 1
        )
    return out


@dataclass
class DriftCell:
    value: str
    change: str = ""
    warning: str = ""


@dataclass
class HistoryRow:
    run: ValidationRun
    previous_id: int | None = None
    cells: list[DriftCell] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _outside(value: float | None, ci: tuple[float, float] | None) -> bool:
    return value is not None and ci is not None and not (ci[0] <= value <= ci[1])


def drift(runs: Sequence[ValidationRun], metrics_of: Mapping[int, Mapping[str, Any] | None]) -> list[HistoryRow]:
    """Per run (newest first), its headline metrics, their change since the previous successful run of the
    same model version, and a warning for each watched metric that left the previous run's 95% CI."""
    rows = [HistoryRow(run=run) for run in runs]
    previous: dict[str, tuple[ValidationRun, dict[str, Headline]]] = {}
    for row in reversed(rows):  # oldest first
        run = row.run
        current = headlines(metrics_of.get(run.pk)) if run.status == ValidationRun.Status.SUCCEEDED else {}
        before = previous.get(run.model_version) if current else None
        if before is not None:
            row.previous_id = before[0].pk
        for key, _label in HEADLINES:
            metric = current.get(key)
            if metric is None:
                row.cells.append(DriftCell(DASH))
                continue
            cell = DriftCell(_number(metric.value, metric.digits))
            if metric.value is None and key.startswith("median_"):
                cell.value = "not reached"
            old = before[1].get(key) if before else None
            if old is not None and old.value is not None and metric.value is not None:
                cell.change = f"{metric.value - old.value:+.{metric.digits}f}"
                if key in WATCHED and _outside(metric.value, old.ci):
                    assert old.ci is not None
                    cell.warning = (
                        f"{metric.label} {_number(metric.value, metric.digits)} is outside run #{before[0].pk}'s "
                        f"95% CI {_ci(old.ci, metric.digits)}"
                    )
                    row.warnings.append(cell.warning)
            row.cells.append(cell)
        if current:
            previous[run.model_version] = (run, current)
    return rows


def _unwatched_ci(rows: Sequence[HistoryRow], metrics_of: Mapping[int, Mapping[str, Any] | None]) -> list[str]:
    """Watched metrics that no stored run gives a CI for (so their drift cannot be judged)."""
    missing = []
    for key in WATCHED:
        found = any(
            (h := headlines(metrics_of.get(row.run.pk)).get(key)) is not None and h.value is not None for row in rows
        )
        with_ci = any(
            (h := headlines(metrics_of.get(row.run.pk)).get(key)) is not None and h.ci is not None for row in rows
        )
        if found and not with_ci:
            missing.append(dict(HEADLINES)[key])
    return missing


# --- views ----------------------------------------------------------------------------------------------------


def _require_reader(request: HttpRequest) -> selectors.ValidationReach:
    reach = selectors.validation_reach_for_user(user=request.user)
    if not reach.reads_runs:
        raise PermissionDenied(NOT_REACHABLE)
    return reach


@transaction.non_atomic_requests
@login_required
@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    """Every run, newest first, with how the headline metrics moved from run to run (drift)."""
    _require_reader(request)
    runs = list(selectors.validation_run_list_for_user(user=request.user).defer(None)[:HISTORY_LIMIT])
    metrics_of = {run.pk: selectors.metrics_for_user(run, request.user) for run in runs}
    rows = drift(runs, metrics_of)
    access = access_for_user(request.user)
    return render(
        request,
        "validation/run_list.html",
        {
            "rows": rows,
            "headlines": [(SHORT_LABELS[key], label) for key, label in HEADLINES],
            "watched": [dict(HEADLINES)[key] for key in WATCHED],
            "warnings": [(row.run, warning) for row in rows for warning in row.warnings],
            "no_ci": _unwatched_ci(rows, metrics_of),
            "synthetic": any(run.is_synthetic for run in runs),
            "can_run": access.is_coordinator,
            "model_versions": available_versions(),
            "active_version": active_model_version(),
            "history_limit": HISTORY_LIMIT,
            "synthetic_warning": SYNTHETIC_WARNING,
        },
    )


@login_required
@require_POST
def run_create(request: HttpRequest) -> HttpResponse:
    """Run now (coordinators): store a pending run and hand it to a worker; the run's page shows its progress."""
    if not access_for_user(request.user).is_coordinator:
        raise PermissionDenied(services.ONLY_COORDINATORS)
    version = request.POST.get("model_version") or None
    try:
        run = services.validation_run_create(model_version=version, user=request.user, trigger="manual")
    except ApplicationError as error:
        if error.status == 403:
            raise PermissionDenied(error.message) from error
        for problems in (error.field_errors or {}).values():
            for problem in problems:
                messages.error(request, problem)
        if not error.field_errors:
            messages.error(request, error.message)
        return redirect("validation:run-list")
    messages.info(request, RUN_STARTED.format(pk=run.pk))
    return redirect(_run_url(run.pk))


def _run_url(pk: int) -> str:
    return reverse("validation:run-detail", args=[pk])


@transaction.non_atomic_requests
@login_required
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One run's report; while it runs, its progress (the page refreshes itself, no JavaScript)."""
    _require_reader(request)
    run = selectors.validation_run_get_for_user(user=request.user, run_id=pk)
    metrics = selectors.metrics_for_user(run, request.user)
    populations = []
    if metrics:
        populations = [
            _population_section(name, metrics["populations"][name])
            for name in plots.POPULATIONS
            if name in metrics.get("populations", {})
        ]
    response = render(
        request,
        "validation/run_detail.html",
        {
            "run": run,
            "metrics": metrics,
            "populations": populations,
            "notes": (metrics or {}).get("notes", []),
            "definitions": sorted(
                (key.replace("_", " ").capitalize(), text)
                for key, text in (metrics or {}).get("definitions", {}).items()
            ),
            "visibility": (metrics or {}).get("visibility"),
            "prognostic_statement": PROGNOSTIC_STATEMENT,
            "synthetic_warning": SYNTHETIC_WARNING,
            "library_versions": sorted((run.library_versions or {}).items()),
            "started_by": _started_by(run),
        },
    )
    if run.is_running:
        response["Refresh"] = "2"  # as the page's meta refresh: no JavaScript needed
    return response


def _started_by(run: ValidationRun) -> str:
    if run.started_by is not None:
        return f"{run.started_by.get_username()} ({run.get_trigger_display().lower()})"
    return run.get_trigger_display()


#: A figure never changes (runs are immutable): cache it for a year, in the browser only (it is per user).
FIGURE_MAX_AGE = 365 * 24 * 3600


@transaction.non_atomic_requests
@login_required
@require_GET
@csp_replace({"default-src": [NONE], "script-src": [NONE], "style-src": [UNSAFE_INLINE], "img-src": [NONE]})
def run_figure(request: HttpRequest, pk: int, population: str, name: str) -> HttpResponse:
    """One figure of a finished run as SVG (matplotlib's inline styles allowed, nothing else)."""
    _require_reader(request)
    if name not in plots.PLOTS or population not in plots.POPULATIONS:
        raise Http404("No such figure.")
    run = selectors.validation_run_get_for_user(user=request.user, run_id=pk)
    metrics = selectors.metrics_for_user(run, request.user)
    if not metrics or population not in metrics.get("populations", {}):
        raise Http404("This run has no figures.")
    stored = selectors.validation_run_figure_for_user(run=run, user=request.user, population=population, name=name)
    if stored is not None:  # drawn by the worker with the run: the usual case
        svg, digest = stored.svg, stored.sha256
    else:  # a run from before figures were stored, or center staff's own-site forest plot: drawn once, kept
        svg = plots.run_plot_svg(run, name, population=population, metrics=metrics)
        digest = hashlib.sha256(svg.encode("utf-8")).hexdigest()
    etag = '"' + digest[:32] + '"'
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="validation-run-{run.pk}-{population}-{name}.svg"'
    response["ETag"] = etag
    patch_cache_control(response, private=True, max_age=FIGURE_MAX_AGE, immutable=True)
    response["X-Content-Type-Options"] = "nosniff"
    return response


__all__ = ["drift", "headlines", "run_create", "run_detail", "run_figure", "run_list"]

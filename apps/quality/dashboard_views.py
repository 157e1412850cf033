"""Pages of the data-quality dashboard: the figures per site, and the records behind each figure.

For coordinators (every site, pseudonymised: registry IDs only) and center staff (their own sites);
investigators reach neither page. The figures come from ``dashboard`` (set-wise, a fixed number of queries),
the chart from ``charts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe

from apps.accounts.selectors import access_for_user

from . import charts
from .dashboard import (
    DEFINITIONS,
    DRILLDOWNS,
    SiteFigures,
    cache_seconds,
    dashboard_for_user,
    drilldown_rows,
    drilldown_sites,
    live_seconds,
)

PAGE_SIZE = 50


def _reaches_records(request: HttpRequest) -> None:
    if not access_for_user(request.user).reaches_records:
        raise PermissionDenied("Your role does not give access to record-level data quality.")


@dataclass(frozen=True)
class Cell:
    figure: str
    text: str
    url: str = ""
    title: str = ""


def _number(value: float | None, suffix: str = "") -> str:
    """A percentage to one decimal ("44.0%"), a median without a needless ".0" ("10", "8.5"); "—" for none."""
    if value is None:
        return "—"
    return f"{value:.1f}{suffix}" if suffix else f"{value:.1f}".removesuffix(".0")


@lru_cache(maxsize=32)
def _drilldown_url(metric: str) -> str:
    return reverse("quality:drilldown", args=[metric])


def figure_cells(row: SiteFigures, site: str) -> list[Cell]:
    """A row of the table: each figure's text and the drilldown listing the records behind it."""
    query = f"?{urlencode({'site': site})}" if site else ""

    def link(metric: str) -> str:
        return _drilldown_url(metric) + query

    return [
        Cell("patients", str(row.patients), link("patients")),
        Cell("episodes", str(row.episodes), link("episodes")),
        Cell("enrolled", str(row.enrolled), link("enrolled")),
        Cell(
            "completeness",
            _number(row.completeness, "%"),
            link("incomplete") if row.completeness is not None else "",
            f"{row.unanswered} of {row.required_applicable} required fields not answered",
        ),
        Cell("open_queries", str(row.open_queries), link("open-queries")),
        Cell(
            "open_query_age",
            _number(row.open_query_age_median),
            link("open-queries") if row.open_queries else "",
            "Median days since the open queries were opened",
        ),
        Cell("overdue", str(row.overdue), link("overdue")),
        Cell(
            "entry_delay",
            _number(row.entry_delay_median),
            link("entry-delay") if row.entry_delay_median is not None else "",
        ),
        Cell(
            "signed",
            _number(row.signed_percent, "%"),
            link("unsigned") if row.patients else "",
            f"{row.signed} of {row.patients} signed; the link lists the cases not signed",
        ),
        Cell(
            "sdv",
            _number(row.sdv_percent, "%"),
            link("unverified") if row.records else "",
            f"{row.verified_records} of {row.records} records verified; the link lists those not verified",
        ),
        Cell(
            "last_entry",
            f"{row.last_entry:%Y-%m-%d}" if row.last_entry else "—",
            link("recent") if row.last_entry else "",
        ),
    ]


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """One row per site (coordinators: every site; center staff: their own), the total, the enrollment chart."""
    _reaches_records(request)
    access = access_for_user(request.user)
    board = dashboard_for_user(user=request.user, refresh=request.GET.get("refresh") == "1")
    stacked = 1 < len(board.rows) <= charts.MAX_STACKED_SERIES
    by_site = {row.code: row.enrollment for row in board.rows}
    series = by_site if stacked else {board.total.name: board.total.enrollment}
    total_enrolled = sum(board.total.enrollment.values())
    chart = charts.enrollment_chart(
        series,
        title="Episodes enrolled per month" + (", by site" if stacked else ""),
        description=f"{total_enrolled} episodes enrolled in all, "
        + ("one stacked bar per month with a segment per site." if stacked else "one bar per month."),
    )
    months = sorted(board.total.enrollment)
    enrollment_table = [
        (month, [series_values.get(month, 0) for series_values in series.values()], board.total.enrollment[month])
        for month in months
    ]
    return render(
        request,
        "quality/dashboard.html",
        {
            "board": board,
            "table": [(row.code, row.code, figure_cells(row, row.code)) for row in board.rows],
            "total_row": ("total", board.total.name, figure_cells(board.total, "")),
            "coordinator": access.sees_all_sites,
            "definitions": DEFINITIONS,
            "chart": mark_safe(chart),  # noqa: S308 - built by charts.enrollment_chart, every text escaped there
            "legend": charts.legend(list(series)) if stacked else [],
            "series_names": list(series),
            "enrollment_table": enrollment_table,
            "cache_minutes": max(1, cache_seconds() // 60),
            "live_seconds": live_seconds(),
        },
    )


@login_required
def drilldown(request: HttpRequest, metric: str) -> HttpResponse:
    """The records behind one figure, for one site (``?site=<code>``) or every site the user reads."""
    _reaches_records(request)
    sites = drilldown_sites(user=request.user, site_code=request.GET.get("site", "").strip()[:20])
    rows = drilldown_rows(user=request.user, metric=metric, site_ids=[site.pk for site in sites])
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    site_code = sites[0].code if len(sites) == 1 and request.GET.get("site") else ""
    return render(
        request,
        "quality/dashboard_drilldown.html",
        {
            "drilldown": DRILLDOWNS[metric],
            "metric": metric,
            "page": page,
            "site_code": site_code,
            "sites": sites,
            "drilldowns": DRILLDOWNS.values(),
            "show_field": metric == "incomplete" or metric in ("open-queries", "overdue"),
        },
    )

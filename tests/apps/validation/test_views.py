"""The validation pages: the report's sections, the synthetic banner, what center staff see, run now, drift,
the figures' caching, and who reaches what (the permission matrix has a row per page as well)."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.accounts.models import Role, Site
from apps.accounts.two_factor import two_factor_required
from apps.assessments.demo import demo_registry_seed
from apps.validation import plots, selectors, services
from apps.validation.models import ValidationRun, ValidationRunFigure
from apps.validation.views import drift
from bench.validation_bench import DATA_CUT, MODEL_VERSION, generate_frame
from registry.decision import get_spec
from registry.validation import validation_metrics
from tests.conftest import verify_second_factor
from tests.factories import UserFactory, user_with_role

pytestmark = pytest.mark.django_db

SECTIONS = (
    'id="run-header"',
    'id="prognostic-statement"',
    'id="exclusions"',
    'id="category-table"',
    'id="category-table-all_locked"',
    'id="km-pfs2"',
    'id="km-os"',
    'id="comparison"',
    'id="cox"',
    'id="recurrence"',
    'id="review"',
    'id="heterogeneity"',
    'id="by-site"',
    'id="by-tissue"',
    'id="forest-site"',
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Kept figures go to a scratch MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def demo_run() -> ValidationRun:
    """A finished run over a small synthetic demo cohort at three sites (DEMO01…DEMO03)."""
    demo_registry_seed(sites=3, patients=200, seed=1)
    run = services.validation_run_command()
    assert run.status == ValidationRun.Status.SUCCEEDED, run.message
    return run


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    if two_factor_required(user):
        verify_second_factor(client, user)
    return client


def planted_run(*, seed: int = 3, synthetic: bool = False, **fields) -> ValidationRun:
    """A finished run whose metrics come from the benchmark's generated frame (no records behind it)."""
    metrics = validation_metrics(
        generate_frame(600, sites=4, seed=seed), data_cut=DATA_CUT, model_version=MODEL_VERSION, model_hash="h"
    )
    values = {
        "status": ValidationRun.Status.SUCCEEDED,
        "trigger": ValidationRun.Trigger.SCHEDULE,
        "model_version": MODEL_VERSION,
        "model_hash": get_spec(MODEL_VERSION).hash,
        "data_cut": dt.datetime.combine(DATA_CUT, dt.time(23, 0), tzinfo=dt.UTC),
        "data_hash": metrics["run"]["data_hash"],
        "metrics_json": services.metrics_text(metrics),
        "runtime_seconds": 1.5,
        "is_synthetic": synthetic,
        "progress": 100,
    }
    values.update(fields)
    return ValidationRun.objects.create(**values)


def text_of(response) -> str:
    return html.unescape(response.content.decode())


def table(page: str, table_id: str) -> str:
    match = re.search(rf'<table[^>]*id="{re.escape(table_id)}".*?</table>', page, re.S)
    assert match, f"no table #{table_id}"
    return match.group(0)


# --- the report ---------------------------------------------------------------------------------------------


def test_the_report_of_a_run_has_every_section_for_a_coordinator(demo_run, coordinator):
    response = signed_in(coordinator).get(reverse("validation:run-detail", args=[demo_run.pk]))

    assert response.status_code == 200
    page = text_of(response)
    for section in SECTIONS:
        assert section in page, section
    assert demo_run.model_hash in page and demo_run.data_hash in page
    assert "prognostic" in page and "benefit of rechallenge" in page
    categories = table(page, "category-table")
    for category in ("favourable", "intermediate", "unfavourable"):
        assert f'data-category="{category}"' in categories
    primary = demo_run.metrics["populations"]["primary"]
    favourable = primary["categories"]["favourable"]
    assert f'<td class="num">{favourable["n"]}</td>' in categories
    for reason, count in primary["excluded"].items():
        assert re.search(rf'data-reason="{reason}">.*?<td class="num">{count}</td>', table(page, "exclusions"))
    review = page[page.index('id="review"') :]
    assert "descriptive" in review[:400] and "5.1" in review and "2.9" in review
    assert "I²" in table(page, "by-site")
    for site in ("DEMO01", "DEMO02", "DEMO03"):
        assert f'data-cell="{site}"' in table(page, "by-site")
    assert "Started by" in page and "Management command" in page
    assert 'http-equiv="refresh"' not in page and "Refresh" not in response


def test_every_figure_has_alt_text_and_points_at_this_runs_svg(demo_run, investigator):
    page = text_of(signed_in(investigator).get(reverse("validation:run-detail", args=[demo_run.pk])))

    images = re.findall(r"<img [^>]*>", page)
    assert len(images) == 2 * len(plots.PLOTS)
    for image in images:
        assert re.search(r'alt="[^"]{20,}"', image), image
        assert f"/validation/runs/{demo_run.pk}/figures/" in image
    assert re.search(r'<img id="km-pfs2" src="[^"]+/primary/km-pfs2\.svg"', page)


def test_a_synthetic_run_is_marked_on_every_validation_page(demo_run, investigator):
    client = signed_in(investigator)
    assert demo_run.is_synthetic

    for url in (reverse("validation:run-list"), reverse("validation:run-detail", args=[demo_run.pk])):
        page = text_of(client.get(url))
        assert "Synthetic demo data — not evidence" in page, url
        assert 'id="synthetic-banner"' in page


def test_a_run_of_real_data_carries_no_synthetic_banner(investigator):
    run = planted_run(synthetic=False)
    client = signed_in(investigator)

    for url in (reverse("validation:run-list"), reverse("validation:run-detail", args=[run.pk])):
        assert "Synthetic demo data" not in text_of(client.get(url)), url


def test_center_staff_see_the_registry_wide_figures_and_their_own_sites_rows_only(demo_run):
    staff = user_with_role(Role.DATA_ENTRY, Site.objects.get(code="DEMO02"), username="demo02_entry")
    client = signed_in(staff)

    page = text_of(client.get(reverse("validation:run-detail", args=[demo_run.pk])))

    by_site = table(page, "by-site")
    assert 'data-cell="DEMO02"' in by_site
    assert 'data-cell="DEMO01"' not in by_site and 'data-cell="DEMO03"' not in by_site
    assert "DEMO01" not in page and "DEMO03" not in page
    assert 'id="category-table"' in page  # registry-wide
    favourable = demo_run.metrics["populations"]["primary"]["categories"]["favourable"]
    assert f'<td class="num">{favourable["n"]}</td>' in table(page, "category-table")
    forest = client.get(reverse("validation:run-figure", args=[demo_run.pk, "primary", "forest-site"]))
    svg = forest.content.decode()
    assert "DEMO02" in svg and "DEMO01" not in svg and "DEMO03" not in svg  # drawn from their metrics
    stored = ValidationRunFigure.objects.get(run=demo_run, population="primary", name="forest-site").svg
    assert "DEMO01" in stored  # the stored forest plot is the whole registry's: not theirs to see
    km = client.get(reverse("validation:run-figure", args=[demo_run.pk, "primary", "km-pfs2"])).content.decode()
    assert km == ValidationRunFigure.objects.get(run=demo_run, population="primary", name="km-pfs2").svg


def test_investigators_see_every_sites_rows_and_figure(demo_run, investigator):
    client = signed_in(investigator)
    svg = client.get(reverse("validation:run-figure", args=[demo_run.pk, "primary", "forest-site"])).content.decode()

    assert all(code in svg for code in ("DEMO01", "DEMO02", "DEMO03"))


def test_a_run_in_progress_shows_its_progress_and_refreshes_itself(coordinator):
    run = ValidationRun.objects.create(
        trigger=ValidationRun.Trigger.MANUAL,
        model_version=MODEL_VERSION,
        model_hash=get_spec(MODEL_VERSION).hash,
        data_cut=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        started_by=coordinator,
        status=ValidationRun.Status.RUNNING,
        progress=42,
        message="Reading the follow ups…",
    )

    response = signed_in(coordinator).get(reverse("validation:run-detail", args=[run.pk]))

    page = text_of(response)
    assert response["Refresh"] == "2"
    assert '<meta http-equiv="refresh" content="2">' in page
    assert 'value="42"' in page and "Reading the follow ups…" in page
    assert "coordinator (started by a coordinator)" in page
    assert 'id="category-table"' not in page
    figure = signed_in(coordinator).get(reverse("validation:run-figure", args=[run.pk, "primary", "km-pfs2"]))
    assert figure.status_code == 404


def test_a_failed_run_says_why_and_shows_no_tables(investigator):
    run = planted_run(status=ValidationRun.Status.FAILED, metrics_json="", message="The run stopped on an error.")

    page = text_of(signed_in(investigator).get(reverse("validation:run-detail", args=[run.pk])))

    assert 'id="run-failed"' in page and "The run stopped on an error." in page
    assert 'id="category-table"' not in page


def test_a_run_where_nobody_is_analysed_still_renders(coordinator):
    frame = generate_frame(20, sites=1, seed=5).assign(sequence_number=2)  # no first rechallenge
    metrics = validation_metrics(frame, data_cut=DATA_CUT, model_version=MODEL_VERSION, model_hash="h")
    run = planted_run(metrics_json=services.metrics_text(metrics), data_hash=metrics["run"]["data_hash"])
    client = signed_in(coordinator)

    response = client.get(reverse("validation:run-detail", args=[run.pk]))

    assert response.status_code == 200
    assert "not estimable" in text_of(response)
    assert client.get(reverse("validation:run-figure", args=[run.pk, "primary", "forest-site"])).status_code == 200


# --- run now ------------------------------------------------------------------------------------------------


def test_run_now_stores_a_pending_run_for_a_worker_and_shows_its_page(
    coordinator, monkeypatch, django_capture_on_commit_callbacks
):
    enqueued = []
    monkeypatch.setattr(services, "_enqueue", enqueued.append)
    client = signed_in(coordinator)
    assert 'id="run-now"' in text_of(client.get(reverse("validation:run-list")))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("validation:run-create"), {"model_version": MODEL_VERSION})

    run = ValidationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("validation:run-detail", args=[run.pk])
    assert enqueued == [run.pk]  # handed to a worker, not computed in the request
    assert run.status == ValidationRun.Status.PENDING
    assert (run.trigger, run.started_by, run.model_version) == ("manual", coordinator, MODEL_VERSION)
    page = text_of(client.get(response["Location"]))
    assert "Waiting for a background worker" in page and 'http-equiv="refresh"' in page


@pytest.mark.parametrize("role", [Role.DATA_ENTRY, Role.SITE_PI, Role.INVESTIGATOR])
def test_only_coordinators_may_run_now(role, site_a, monkeypatch):
    monkeypatch.setattr(services, "_enqueue", lambda run_id: None)
    user = user_with_role(role, None if role == Role.INVESTIGATOR else site_a, username=f"user_{role}")
    client = signed_in(user)

    assert 'id="run-now"' not in text_of(client.get(reverse("validation:run-list")))
    assert client.post(reverse("validation:run-create"), {}).status_code == 403
    assert not ValidationRun.objects.exists()


def test_run_now_refuses_an_unknown_model_version_with_a_message(coordinator, monkeypatch):
    monkeypatch.setattr(services, "_enqueue", lambda run_id: None)
    client = signed_in(coordinator)

    response = client.post(reverse("validation:run-create"), {"model_version": "9.9"}, follow=True)

    assert "Unknown model version" in text_of(response)
    assert not ValidationRun.objects.exists()


def test_run_now_answers_a_get_with_405(coordinator):
    assert signed_in(coordinator).get(reverse("validation:run-create")).status_code == 405


# --- access -------------------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client):
    run = planted_run()
    for url in (
        reverse("validation:run-list"),
        reverse("validation:run-detail", args=[run.pk]),
        reverse("validation:run-figure", args=[run.pk, "primary", "km-pfs2"]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login")), url


def test_a_user_without_a_role_gets_403(client):
    run = planted_run()
    client.force_login(UserFactory(username="nobody"))

    assert client.get(reverse("validation:run-list")).status_code == 403
    assert client.get(reverse("validation:run-detail", args=[run.pk])).status_code == 403


def test_a_run_or_figure_that_does_not_exist_is_404(investigator):
    run = planted_run()
    client = signed_in(investigator)

    assert client.get(reverse("validation:run-detail", args=[run.pk + 1])).status_code == 404
    assert client.get(reverse("validation:run-figure", args=[run.pk + 1, "primary", "km-pfs2"])).status_code == 404
    assert client.get(f"/validation/runs/{run.pk}/figures/primary/pie-chart.svg").status_code == 404
    assert client.get(f"/validation/runs/{run.pk}/figures/everyone/km-pfs2.svg").status_code == 404


def test_the_home_page_leads_investigators_and_coordinators_to_the_reports(investigator, coordinator):
    for user in (investigator, coordinator):
        page = text_of(signed_in(user).get(reverse("home")))
        assert f'href="{reverse("validation:run-list")}" id="home-validation"' in page


# --- figures ------------------------------------------------------------------------------------------------


def test_the_worker_stores_every_figure_with_the_run_and_the_page_only_reads_them(demo_run, investigator, monkeypatch):
    stored = {(f.population, f.name): f for f in ValidationRunFigure.objects.filter(run=demo_run)}
    assert set(stored) == {(population, name) for population in plots.POPULATIONS for name in plots.PLOTS}
    assert all(f.sha256 == hashlib.sha256(f.svg.encode()).hexdigest() for f in stored.values())

    def no_drawing(*args, **kwargs):
        raise AssertionError("the request drew a figure")

    monkeypatch.setattr(plots, "run_plot_svg", no_drawing)
    monkeypatch.setattr(plots, "_rendered", no_drawing)
    monkeypatch.setattr(selectors, "validation_frame", no_drawing)
    client = signed_in(investigator)
    url = reverse("validation:run-figure", args=[demo_run.pk, "primary", "km-pfs2"])
    client.get(url)  # the session's first request loads the user's memberships

    with CaptureQueriesContext(connection) as queries:
        first = client.get(url)

    assert first.status_code == 200
    assert first.content.decode() == stored["primary", "km-pfs2"].svg
    assert b'id="km-pfs2-favourable"' in first.content
    assert first["Content-Type"].startswith("image/svg+xml")
    assert "private" in first["Cache-Control"] and "immutable" in first["Cache-Control"]
    assert "max-age=31536000" in first["Cache-Control"]
    assert "script-src 'none'" in first["Content-Security-Policy"]
    assert first["ETag"] == f'"{stored["primary", "km-pfs2"].sha256[:32]}"'
    sql = [query["sql"] for query in queries.captured_queries]
    assert sum("validation_validationrunfigure" in q for q in sql) == 1
    clinical = ("clinical_", "assessments_assessment")
    assert not any(table in q for q in sql for table in clinical)  # no frame read in the request
    assert sum('FROM "validation_validationrun"' in q for q in sql) == 1
    # session (read, and its savepoint/update), user, second factor, memberships, the run, the figure
    assert len(sql) <= 9, sql
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    for population in plots.POPULATIONS:
        for name in plots.PLOTS:
            figure = client.get(reverse("validation:run-figure", args=[demo_run.pk, population, name]))
            assert figure.content.decode() == stored[population, name].svg


def test_the_report_page_reads_no_figure_and_a_fixed_number_of_queries(demo_run, investigator, monkeypatch):
    client = signed_in(investigator)
    url = reverse("validation:run-detail", args=[demo_run.pk])
    client.get(url)
    monkeypatch.setattr(plots, "_rendered", lambda *a, **k: pytest.fail("the report page drew a figure"))

    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200

    sql = [query["sql"] for query in queries.captured_queries]
    assert not any("validation_validationrunfigure" in q or "clinical_" in q for q in sql)
    assert len(sql) <= 8, sql


def test_a_run_without_stored_figures_draws_each_once_on_request_and_keeps_it(investigator, media, monkeypatch):
    demo_registry_seed(sites=3, patients=200, seed=1)

    def broken(*args, **kwargs):
        raise RuntimeError("matplotlib is broken")

    monkeypatch.setattr(plots, "run_figures_draw", broken)
    run = services.validation_run_command()  # the statistics are stored, the figures are not
    monkeypatch.undo()
    assert run.status == ValidationRun.Status.SUCCEEDED and not run.figures.exists()
    client = signed_in(investigator)
    url = reverse("validation:run-figure", args=[run.pk, "primary", "km-pfs2"])

    first = client.get(url)

    assert first.status_code == 200 and b'id="km-pfs2-favourable"' in first.content
    assert list((media / "validation-plots").glob(f"run-{run.pk}-km-pfs2-primary-*.svg"))

    def no_frame(run):
        raise AssertionError("a kept figure is not drawn again")

    monkeypatch.setattr(plots, "_frame_of", no_frame)
    second = client.get(url)
    assert second.content == first.content
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


def test_stored_figures_are_those_a_request_would_draw_from_the_same_rows(demo_run, media):
    metrics = demo_run.metrics
    for population in plots.POPULATIONS:
        for name in plots.PLOTS:
            drawn = plots.run_plot_svg(demo_run, name, population=population, metrics=metrics)
            assert ValidationRunFigure.objects.get(run=demo_run, population=population, name=name).svg == drawn


def test_a_figure_is_not_drawn_from_records_changed_since_the_run(investigator):
    run = planted_run()  # its data hash is of generated rows the database does not hold

    svg = signed_in(investigator).get(reverse("validation:run-figure", args=[run.pk, "primary", "km-pfs2"]))

    assert svg.status_code == 200
    assert b"The records have changed since this run" in svg.content


# --- drift --------------------------------------------------------------------------------------------------


def _moved(metrics: dict, *, hr: float, harrell: float, harrell_ci: list[float] | None = None) -> str:
    moved = json.loads(json.dumps(metrics))
    primary = moved["populations"]["primary"]
    primary["cox"]["unfavourable"].update(hr=hr, ci=[hr / 1.2, hr * 1.2])
    primary["c_index"]["harrell"] = harrell
    if harrell_ci is not None:
        primary["c_index"]["harrell_ci"] = harrell_ci
    return services.metrics_text(moved)


def test_the_history_lists_every_run_newest_first_and_warns_when_a_metric_leaves_the_previous_ci(investigator):
    first = planted_run()
    metrics = first.metrics
    low, high = metrics["populations"]["primary"]["cox"]["unfavourable"]["ci"]
    harrell = metrics["populations"]["primary"]["c_index"]["harrell"]
    second = planted_run(metrics_json=_moved(metrics, hr=high * 1.5, harrell=harrell, harrell_ci=[0.5, 0.9]))
    third = planted_run(metrics_json=_moved(metrics, hr=high * 1.5, harrell=0.95))  # C outside [0.5, 0.9]
    other_version = planted_run(model_version="1.0", metrics_json=_moved(metrics, hr=high * 9, harrell=0.1))

    page = text_of(signed_in(investigator).get(reverse("validation:run-list")))

    history = table(page, "run-history")
    order = [int(pk) for pk in re.findall(r'data-run="(\d+)"', history)]
    assert order == [other_version.pk, third.pk, second.pk, first.pk]
    warnings = page[page.index('id="drift-warnings"') : page.index("</section>", page.index('id="drift-warnings"'))]
    assert f"#{second.pk}</a>: HR unfavourable vs favourable" in warnings
    assert f"outside run #{first.pk}'s 95% CI ({low:.2f}–{high:.2f})" in warnings
    assert f"#{third.pk}</a>: Harrell's C 0.950 is outside run #{second.pk}'s 95% CI (0.500–0.900)" in warnings
    assert f"#{third.pk}</a>: HR unfavourable" not in warnings  # the same as the previous run's
    assert f"#{other_version.pk}</a>" not in warnings  # the first run of model 1.0: nothing to compare with


def test_drift_judges_both_c_indices_against_the_ci_the_previous_run_computed(investigator):
    base = planted_run()
    c_index = base.metrics["populations"]["primary"]["c_index"]
    harrell_low, harrell_high = c_index["harrell_ci"]
    uno_low, uno_high = c_index["uno_ci"]
    assert harrell_low < c_index["harrell"] < harrell_high and uno_low < c_index["uno"] < uno_high
    moved = json.loads(base.metrics_json)
    moved["populations"]["primary"]["c_index"].update(harrell=harrell_high - 0.001, uno=uno_high + 0.002)
    inside_and_out = planted_run(metrics_json=services.metrics_text(moved))
    moved["populations"]["primary"]["c_index"].update(harrell=harrell_low - 0.01, uno=c_index["uno"])
    below = planted_run(metrics_json=services.metrics_text(moved))
    runs = list(ValidationRun.objects.order_by("-created_at", "-id"))

    rows = {row.run.pk: row for row in drift(runs, {run.pk: run.metrics for run in runs})}

    assert rows[inside_and_out.pk].warnings == [
        f"Uno's C (12 mo) {uno_high + 0.002:.3f} is outside run #{base.pk}'s 95% CI ({uno_low:.3f}–{uno_high:.3f})"
    ]
    assert rows[below.pk].warnings == [
        f"Harrell's C {harrell_low - 0.01:.3f} is outside run #{inside_and_out.pk}'s 95% CI "
        f"({harrell_low:.3f}–{harrell_high:.3f})"
    ]
    page = text_of(signed_in(investigator).get(reverse("validation:run-list")))
    assert f"#{inside_and_out.pk}</a>: Uno's C (12 mo)" in page
    assert "No stored run gives a confidence interval" not in page  # every watched metric has its CI


def test_drift_compares_each_run_with_the_previous_successful_run_of_its_model_version():
    base = planted_run()
    failed = planted_run(status=ValidationRun.Status.FAILED, metrics_json="")
    low, high = base.metrics["populations"]["primary"]["cox"]["intermediate"]["ci"]
    inside = planted_run(metrics_json=base.metrics_json)
    runs = list(ValidationRun.objects.order_by("-created_at", "-id"))

    rows = drift(runs, {run.pk: run.metrics for run in runs})

    by_run = {row.run.pk: row for row in rows}
    assert by_run[inside.pk].previous_id == base.pk  # the failed run in between is skipped
    assert by_run[failed.pk].previous_id is None and all(cell.value == "–" for cell in by_run[failed.pk].cells)
    assert by_run[inside.pk].warnings == []
    assert all(cell.change in ("+0.000", "+0.00", "+0.0", "") for cell in by_run[inside.pk].cells)
    assert low < high

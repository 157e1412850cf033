"""A reader opens a validation run's report in headless Chromium: the Kaplan–Meier figure renders (served by
the registry under its CSP, nothing from elsewhere) and the category table lists the three categories."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_report_of_a_run_shows_the_kaplan_meier_figure_and_the_category_table(
    signed_in_page, live_server, password, settings, tmp_path
):
    from apps.accounts.models import Role, Site
    from apps.assessments.demo import demo_registry_seed
    from apps.validation.services import validation_run_command
    from tests.factories import user_with_role

    settings.MEDIA_ROOT = tmp_path / "media"
    demo_registry_seed(sites=2, patients=150, seed=2)
    run = validation_run_command()
    assert run.status == "succeeded", run.message
    user = user_with_role(Role.SITE_PI, Site.objects.get(code="DEMO01"), username="report_reader")
    page = signed_in_page(user, password)
    foreign_requests: list[str] = []
    csp_errors: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(live_server.url) else foreign_requests.append(r.url))
    page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)

    page.goto(f"{live_server.url}/")
    page.click("#home-validation")
    page.click(f"a[href='/validation/runs/{run.pk}/']")
    page.wait_for_selector("#category-table")

    assert "Synthetic demo data — not evidence" in page.inner_text("#synthetic-banner")
    rows = page.locator("#category-table tbody tr[data-category]")
    names = rows.locator("th").all_inner_texts()
    assert names[:3] == ["Favourable", "Intermediate", "Unfavourable"]
    n_favourable = run.metrics["populations"]["primary"]["categories"]["favourable"]["n"]
    assert page.inner_text("#category-table tr[data-category=favourable] td:nth-of-type(1)") == str(n_favourable)

    figure = page.locator("img#km-pfs2")
    figure.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => { const img = document.getElementById('km-pfs2'); return img.complete && img.naturalWidth > 0; }"
    )
    assert "Kaplan–Meier" in figure.get_attribute("alt")
    assert figure.evaluate("img => img.naturalWidth") > 300
    assert foreign_requests == []
    assert csp_errors == []

"""A person uses the calculator in headless Chromium and reads the result."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_calculator_shows_category_and_reasons_for_entered_factors(signed_in_page, live_server, password):
    from apps.accounts.models import Role
    from tests.factories import SiteFactory, user_with_role

    user = user_with_role(Role.DATA_ENTRY, SiteFactory(code="BRW"), username="browser_user")
    page = signed_in_page(user, password)
    page.goto(f"{live_server.url}/decision/calculator/")
    page.fill("#id_pfs1_months", "7")
    page.fill("#id_tfi_months", "2.5")
    page.select_option("#id_progressed_on_ici1", "no")
    page.select_option("#id_ecog", "2")
    page.select_option("#id_prior_irae_status", "none")
    page.fill("#id_current_prednisone_mg_per_day", "0")
    page.select_option("#id_stop_reason", "progression")
    page.select_option("#id_strategy", "ici_chemotherapy")
    page.click("button[name=evaluate]")
    page.wait_for_selector("#result")
    # By hand under model 1.1: PFS1 7 mo +1, TFI 2.5 mo −1, ECOG 2 0, no irAE and no steroid +1,
    # stop for progression −1, with chemotherapy +1 → score 1, intermediate (0 ≤ 1 < 3).
    assert page.inner_text("#result-category") == "Intermediate"
    assert "review" in page.inner_text("tr.factor[data-factor=pfs1] td.source")
    assert page.inner_text("#review-criteria strong") == "no"  # TFI and ECOG miss the review's criteria
    reasons = page.locator("tr.factor td.reason").all_inner_texts()
    assert "Treatment-free interval 2.5 months: < 3 months is unfavourable" in reasons
    assert len(reasons) == 6

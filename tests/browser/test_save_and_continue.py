"""Save and continue (#13) in headless Chromium: a patient, ICI-1 and two irAEs entered without going back to
the patient page in between ("Save and add ICI-1", "Save and add another"), dates known only to the month
typed as a month, and the patient page showing the month, never the imputed 15th.

The month field is the browser's own (``<input type="month">``), swapped in by the static script when
"month only" is chosen beside the date; a second test does the same with JavaScript off, where the date
stays a date field and the server keeps only its month.
"""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _save(page, button: str = "Save") -> None:
    """Press one of the form's submit buttons and wait for the page that answers it."""
    with page.expect_navigation():
        page.get_by_role("button", name=button, exact=True).click()


def _follow(page, link) -> None:
    with page.expect_navigation():
        link.click()


def _register_patient(page, live_server) -> None:
    page.goto(f"{live_server.url}/patients/")
    _follow(page, page.get_by_role("link", name="New patient"))
    page.fill("#id_local_identifier", "MRN-SAVE-1")
    page.select_option("#id_sex", "male")
    page.fill("#id_year_of_birth", "1958")
    page.select_option("#id_tumour_type", label="Non-small cell lung cancer (NSCLC)")
    page.fill("#id_consent_date", "2024-03-20")


def _irae(page, term: str, onset: str, *, month_only: bool = False) -> None:
    page.select_option("#id_ctcae_term", term)
    page.select_option("#id_grade", "2")
    if month_only:
        page.select_option("#id_onset_date_precision", "month")
    page.fill("#id_onset_date", onset)
    page.select_option("#id_resolved_to_grade", "1")
    page.select_option("#id_management", "corticosteroids")
    for answer in ("#id_steroid_refractory", "#id_hospitalised", "#id_led_to_discontinuation"):
        page.select_option(answer, "no")


def test_a_patient_ici1_and_two_iraes_are_entered_with_save_and_continue_and_month_only_dates(
    signed_in_page, live_server, password
):
    from playwright.sync_api import expect

    from apps.accounts.models import Role
    from apps.clinical.models import AdverseEvent, InitialCourse, Patient
    from tests.factories import SiteFactory, user_with_role

    site = SiteFactory(code="SVC", name="Save Center")
    user = user_with_role(Role.DATA_ENTRY, site, username="save_entry")
    page = signed_in_page(user, password)

    # --- the patient, then straight on to ICI-1 --------------------------------------------------------
    _register_patient(page, live_server)
    expect(page.locator("#id_reason")).to_have_count(0)  # nothing to give a reason for on a new record
    _save(page, "Save and add ICI-1")
    patient = Patient.objects.get()
    expect(page.locator("h1")).to_have_text("Add the ICI-1 course")
    expect(page.locator("main")).to_contain_text(f"Saved patient {patient.registry_id}.")
    assert patient.tumour_type == "NSCLC"

    # --- ICI-1, its start known only to the month: the precision beside the date makes it a month field ---
    start_field = page.locator("div.field:has(#id_start_date)")
    expect(start_field.locator("#id_start_date_precision")).to_have_count(1)  # chosen next to the date
    expect(page.locator("#id_start_date")).to_have_attribute("type", "date")
    page.select_option("#id_start_date_precision", "month")
    expect(page.locator("#id_start_date")).to_have_attribute("type", "month")
    page.fill("#id_start_date", "2023-01")
    page.select_option("#id_primary_agent", "pembrolizumab")
    page.select_option("#id_regimen_type", "monotherapy")
    page.fill("#id_line_of_therapy", "1")
    page.fill("#id_stop_date", "2023-10-20")
    page.select_option("#id_ecog_at_start", "1")
    page.select_option("#id_best_overall_response", "PR")
    page.fill("#id_progression_date", "2024-03-01")
    page.select_option("#id_stop_reason", "toxicity")
    page.select_option("#id_iraes_during_course", "yes")
    _save(page)
    expect(page.locator("main")).to_contain_text("Saved the ICI-1 course.")
    course = InitialCourse.objects.get(patient=patient)
    assert (course.start_date, course.start_date_precision) == (dt.date(2023, 1, 15), "month")
    expect(page.locator("#next-step")).to_contain_text("Add the rechallenge episode")

    # --- two irAEs of ICI-1: "Save and add another", then "Save" -------------------------------------
    course_card = page.locator("li.card.course")
    _follow(page, course_card.get_by_role("link", name="Add irAE"))
    expect(page.locator("#id_episode option:checked")).to_have_text("Initial ICI course (ICI-1)")
    expect(page.locator("label[for=id_episode]")).to_contain_text("Course")
    _irae(page, "colitis", "2023-06-05")
    _save(page, "Save and add another")
    expect(page.locator("h1")).to_have_text("Add an irAE")
    expect(page.locator("main")).to_contain_text("Saved irAE Colitis grade 2.")
    expect(page.locator("#id_ctcae_term")).to_have_value("")  # a blank form for the next one
    expect(page.locator("#id_episode option:checked")).to_have_text("Initial ICI course (ICI-1)")

    _irae(page, "hypothyroidism", "2023-04", month_only=True)
    _save(page)
    expect(page.locator("h1")).to_have_text(f"Patient {patient.registry_id}")
    onsets = sorted(AdverseEvent.objects.filter(patient=patient).values_list("onset_date", "onset_date_precision"))
    assert onsets == [(dt.date(2023, 4, 15), "month"), (dt.date(2023, 6, 5), "day")]

    # --- the patient page shows the months, never the imputed 15th --------------------------------------
    expect(course_card.locator(".record-head .date").first).to_have_text("2023-01 (month only)")
    expect(course_card.locator("li.event .record-head .date")).to_have_text(["2023-04 (month only)", "2023-06-05"])
    expect(course_card).to_contain_text("2023-04 (month only)")
    assert "2023-01-15" not in page.locator("main").inner_text()
    assert "2023-04-15" not in page.locator("main").inner_text()

    # --- editing shows the month-only date as a month -------------------------------------------------------
    _follow(page, course_card.locator(".record-head .actions").first.get_by_role("link", name="Edit"))
    expect(page.locator("#id_start_date")).to_have_attribute("type", "month")
    expect(page.locator("#id_start_date")).to_have_value("2023-01")
    expect(page.locator("#id_reason")).to_have_count(1)  # a change asks for its reason


def test_without_javascript_a_month_only_date_typed_as_a_full_date_keeps_only_its_month(browser, live_server, password):
    from playwright.sync_api import expect

    from apps.accounts.models import Role
    from apps.clinical.models import InitialCourse, Patient
    from tests.factories import SiteFactory, user_with_role

    site = SiteFactory(code="NJS", name="No-script Center")
    user = user_with_role(Role.DATA_ENTRY, site, username="nojs_entry")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", password)
        with page.expect_navigation():
            page.click("button[type=submit]")
        _register_patient(page, live_server)
        _save(page, "Save and add ICI-1")
        page.select_option("#id_start_date_precision", "month")
        expect(page.locator("#id_start_date")).to_have_attribute("type", "date")  # no script: stays a date
        page.fill("#id_start_date", "2023-01-09")
        page.select_option("#id_primary_agent", "nivolumab")
        page.select_option("#id_regimen_type", "monotherapy")
        page.fill("#id_line_of_therapy", "1")
        page.fill("#id_stop_date", "2023-10-20")
        page.select_option("#id_ecog_at_start", "0")
        page.select_option("#id_best_overall_response", "SD")
        page.fill("#id_progression_date", "2024-03-01")
        page.select_option("#id_stop_reason", "toxicity")
        page.select_option("#id_iraes_during_course", "no")
        _save(page)
        course = InitialCourse.objects.get(patient=Patient.objects.get())
        assert (course.start_date, course.start_date_precision) == (dt.date(2023, 1, 15), "month")
        expect(page.locator("li.card.course .record-head .date").first).to_have_text("2023-01 (month only)")
    finally:
        context.close()

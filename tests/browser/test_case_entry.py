"""A data-entry user enters a complete case through the web forms in headless Chromium.

Only the start page is reached by URL; every other page is reached by clicking the links and buttons a
person would use (patient list → patient page → "Add …" links → Save → back on the patient page). The
case: a patient, the ICI-1 course with a month-only start date, two irAEs of ICI-1, a rechallenge
episode (first refused for starting before ICI-1 stopped), its enrollment (confirmed on the page that
shows the model's inputs, before any outcome) that locks the decision-model assessment, two response
assessments and a follow-up. The patient page must then show all of it, with derived values computed
from the dates typed here, and the episode's history its audit entries.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# The dates typed into the forms.
ICI1_START_TYPED = "2023-01-01"  # entered as "month only": stored as 2023-01-15 (mid-month rule)
ICI1_START_IMPUTED = dt.date(2023, 1, 15)
ICI1_STOP = dt.date(2023, 10, 20)
ICI1_PROGRESSION = dt.date(2024, 3, 1)
RECHALLENGE_START = dt.date(2024, 4, 2)
TOO_EARLY_START = dt.date(2023, 9, 1)  # before ICI-1 stopped: refused

# PFS1 and TFI are the model's predictors, in calendar months (model 1.1):
# PFS1 = 2023-01-15 → 2024-02-15 is 13 months, then 15 of the 29 days to 2024-03-15: 13 + 15/29 = 13.52.
# TFI = 2023-10-20 → 2024-03-20 is 5 months, then 13 of the 31 days to 2024-04-20: 5 + 13/31 = 5.42.
PFS1_MONTHS = 13 + 15 / 29
TFI_MONTHS = 5 + 13 / 31


def _save(page, button: str = "Save") -> None:
    """Submit the form on the page and wait for the page that answers it."""
    with page.expect_navigation():
        page.get_by_role("button", name=button, exact=True).click()  # not "Save and add …"


def _follow(page, link) -> None:
    with page.expect_navigation():
        link.click()


def _derived(card, label: str) -> str:
    """The text of one derived value (read-only section) of a timeline card."""
    return card.locator(f'section.derived dl.values > div:has(> dt:text-is("{label}")) > dd').inner_text()


def test_a_complete_case_entered_through_the_forms_appears_on_the_patient_timeline(
    signed_in_page, live_server, password
):
    from playwright.sync_api import expect

    from apps.accounts.models import Role
    from apps.clinical.models import AdverseEvent, InitialCourse, Patient, RechallengeEpisode
    from tests.factories import SiteFactory, user_with_role

    assert f"{round(PFS1_MONTHS, 2)}" == "13.52"
    assert f"{round(TFI_MONTHS, 2)}" == "5.42"

    site = SiteFactory(code="BRC", name="Browser Center")
    user = user_with_role(Role.DATA_ENTRY, site, username="case_entry")
    page = signed_in_page(user, password)
    page.goto(f"{live_server.url}/patients/")  # the start page; from here on only clicks

    # --- the patient -------------------------------------------------------------------------------
    expect(page.locator("table tbody")).to_contain_text("No patients found.")
    _follow(page, page.get_by_role("link", name="New patient"))
    expect(page.locator("#id_site")).to_have_value(str(site.pk))  # the only site is preselected
    page.fill("#id_local_identifier", "MRN-BROWSER-1")
    page.select_option("#id_sex", "female")
    page.fill("#id_year_of_birth", "1961")
    page.select_option("#id_tumour_type", "LUAD")
    page.fill("#id_consent_date", "2024-03-20")
    _save(page)
    patient = Patient.objects.get()
    registry_id = patient.registry_id
    assert registry_id.startswith("BRC")
    expect(page.locator("h1")).to_have_text(f"Patient {registry_id}")
    expect(page.locator("main")).to_contain_text(f"Saved patient {registry_id}.")

    # Back to the list and in again, the way a user finds the patient later.
    _follow(page, page.locator("nav.crumbs").get_by_role("link", name="Patients"))
    _follow(page, page.get_by_role("link", name=registry_id, exact=True))
    expect(page.locator("h1")).to_have_text(f"Patient {registry_id}")
    expect(page.locator("main")).to_contain_text("Record the ICI-1 course with its stop date")

    # --- ICI-1, its start known only to the month ----------------------------------------------------
    _follow(page, page.get_by_role("link", name="Add ICI-1 course"))
    page.select_option("#id_primary_agent", "pembrolizumab")
    page.select_option("#id_regimen_type", "monotherapy")
    page.fill("#id_line_of_therapy", "1")
    page.fill("#id_start_date", ICI1_START_TYPED)
    page.select_option("#id_start_date_precision", "month")
    page.fill("#id_stop_date", ICI1_STOP.isoformat())
    page.select_option("#id_ecog_at_start", "1")
    page.select_option("#id_best_overall_response", "PR")
    page.fill("#id_progression_date", ICI1_PROGRESSION.isoformat())
    page.select_option("#id_stop_reason", "toxicity")
    page.select_option("#id_iraes_during_course", "yes")
    _save(page)
    expect(page.locator("main")).to_contain_text("Saved the ICI-1 course.")
    assert InitialCourse.objects.get(patient=patient).start_date == ICI1_START_IMPUTED

    # --- two irAEs of ICI-1 ------------------------------------------------------------------------
    course_card = page.locator("li.card.course")
    _follow(page, course_card.get_by_role("link", name="Add irAE"))
    expect(page.locator("#id_episode option:checked")).to_have_text("Initial ICI course (ICI-1)")
    page.select_option("#id_ctcae_term", "colitis")
    page.select_option("#id_grade", "2")
    page.fill("#id_onset_date", "2023-10-05")
    page.fill("#id_resolution_date", "2023-11-20")
    page.select_option("#id_resolved_to_grade", "0")
    page.select_option("#id_management", "corticosteroids")
    page.fill("#id_peak_prednisone_mg_per_day", "60")
    page.select_option("#id_steroid_refractory", "no")
    page.select_option("#id_hospitalised", "unknown")
    page.select_option("#id_led_to_discontinuation", "yes")
    _save(page)

    _follow(page, course_card.get_by_role("link", name="Add irAE"))
    page.select_option("#id_ctcae_term", "hypothyroidism")
    page.select_option("#id_grade", "2")
    page.fill("#id_onset_date", "2023-04-12")
    page.select_option("#id_resolved_to_grade", "1")
    page.select_option("#id_management", "hormone_replacement")
    for answer in ("#id_steroid_refractory", "#id_hospitalised", "#id_led_to_discontinuation"):
        page.select_option(answer, "no")
    _save(page)
    assert AdverseEvent.objects.filter(patient=patient, episode=None).count() == 2

    # --- the rechallenge episode: first refused, next to the field, then saved -----------------------
    _follow(page, page.get_by_role("link", name="Add episode"))
    expect(page.locator("#id_sequence_number")).to_have_value("1")
    expect(page.locator("#id_primary_agent")).to_have_value("pembrolizumab")  # carried over from ICI-1
    page.fill("#id_start_date", TOO_EARLY_START.isoformat())
    page.select_option("#id_rechallenge_type", "after_toxicity")
    page.select_option("#id_agent_relation", "same_agent")
    page.select_option("#id_regimen_type", "monotherapy")
    page.select_option("#id_ecog_at_rechallenge", "1")
    page.fill("#id_current_prednisone_mg_per_day", "0")
    _save(page)
    expect(page.locator("h1")).to_have_text("Add a rechallenge episode")
    expect(page.get_by_role("alert").first).to_contain_text("Nothing was saved")
    start_field = page.locator("div.field:has(#id_start_date)")
    expect(start_field.locator(".errorlist")).to_have_text(
        f"The rechallenge starts before ICI-1 stopped ({ICI1_STOP.isoformat()})."
    )
    expect(page.locator("#id_start_date")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_regimen_type")).to_have_value("monotherapy")  # what was typed is kept
    assert not RechallengeEpisode.objects.exists()

    page.fill("#id_start_date", RECHALLENGE_START.isoformat())
    _save(page)
    expect(page.locator("main")).to_contain_text("Saved rechallenge 1.")
    episode_card = page.locator("li.card.episode")
    expect(episode_card).to_have_count(1)

    # --- enrollment, before any outcome: the inputs are shown, then confirmed and locked -------------
    _follow(page, episode_card.get_by_role("link", name=re.compile("Enroll and lock")))
    expect(page.locator("h1")).to_have_text(f"Enroll rechallenge 1 of patient {registry_id}")
    expect(page.locator("main")).to_contain_text("Inputs the model will lock")
    expect(page.locator("main")).not_to_contain_text("retrospective")
    _save(page, "Confirm and lock the assessment")
    expect(page.locator("main")).to_contain_text("Episode enrolled. Decision model 1.1 locked: Favourable.")
    expect(episode_card.get_by_role("link", name=re.compile("Enroll"))).to_have_count(0)

    # --- two responses and a follow-up ---------------------------------------------------------------
    for date, category in (("2024-06-03", "SD"), ("2024-08-05", "PR")):
        _follow(page, episode_card.get_by_role("link", name="Add response"))
        expect(page.locator("#id_criteria")).to_have_value("recist_1_1")
        page.fill("#id_assessment_date", date)
        page.select_option("#id_category", category)
        _save(page)
        expect(page.locator("main")).to_contain_text(f"Saved response assessment of {date}.")

    _follow(page, episode_card.get_by_role("link", name="Add follow-up"))
    page.fill("#id_follow_up_date", "2024-10-01")
    page.select_option("#id_vital_status", "alive")
    page.fill("#id_last_known_alive_date", "2024-10-01")
    _save(page)
    expect(page.locator("main")).to_contain_text("Saved follow-up of 2024-10-01.")

    # --- what the patient timeline shows -------------------------------------------------------------
    expect(page.locator("h1")).to_have_text(f"Patient {registry_id}")
    expect(course_card.locator(".record-title").first).to_have_text("Initial ICI course (ICI-1)")
    expect(course_card).to_contain_text("Pembrolizumab")
    expect(course_card).to_contain_text("2023-01 (month only)")
    irae_titles = course_card.locator("li.event .record-title").all_inner_texts()
    assert irae_titles == ["irAE: Hypothyroidism, grade 2", "irAE: Colitis, grade 2"]  # by onset

    pfs1 = _derived(course_card, "PFS1 (ICI-1 start → progression)")
    assert pfs1.startswith(f"{PFS1_MONTHS:.1f} months (progression)"), pfs1
    expect(course_card.locator("section.derived .badge.imputed")).to_have_text("imputed")

    expect(episode_card.locator(".record-title").first).to_have_text("Rechallenge 1: After toxicity (resumption)")
    expect(episode_card.locator(".record-head .date").first).to_have_text(RECHALLENGE_START.isoformat())
    event_titles = episode_card.locator("li.event .record-title").all_inner_texts()
    assert event_titles == [
        "Response: Stable disease (RECIST 1.1)",
        "Response: Partial response (RECIST 1.1)",
        "Follow-up: alive",
    ]
    tfi = _derived(episode_card, "Treatment-free interval (since ICI-1 stop)")
    assert tfi == f"{TFI_MONTHS:.1f} months", tfi  # ICI-1 stop known to the day: not imputed
    assert _derived(episode_card, "Worst irAE grade during ICI-1") == "Grade 2"
    assert _derived(episode_card, "All irAEs of ICI-1 resolved to grade ≤1") == "Yes"
    # SD 62 days in, then a PR that no later scan confirms: the best overall response is SD.
    assert _derived(episode_card, "Best overall response").startswith("SD – Stable disease")
    assert _derived(episode_card, "Objective response (ORR, all treated)").startswith("No")

    # By hand under 1.1: PFS1 ≥ 12 +2, TFI 3–6 0, ECOG 1 +1, prior irAEs at worst intermediate (the
    # hypothyroidism on replacement) 0, stop for toxicity +1, monotherapy 0 → score 4, favourable (≥ 3).
    assessment = episode_card.locator("section.assessments")
    expect(assessment.locator("strong").first).to_have_text("Favourable")
    expect(assessment).to_contain_text("score 4")
    expect(assessment).to_contain_text("Locked at enrollment")
    reasons = assessment.locator("tbody td:nth-child(3)").all_inner_texts()
    assert reasons == [
        f"Progression-free survival on the preceding course {round(PFS1_MONTHS, 2)} months: "
        "≥ 12 months is strongly favourable",
        f"Treatment-free interval {round(TFI_MONTHS, 2)} months: 3–6 months is intermediate",
        "ECOG 1 at rechallenge: favourable",
        "Grade 2 Hypothyroidism controlled on hormone replacement: intermediate",
        "Preceding course stopped (irAE / toxicity): a stop for toxicity or planned completion is favourable",
        "Planned strategy ICI monotherapy: intermediate",
    ]

    # --- the episode's audit history -------------------------------------------------------------------
    _follow(page, episode_card.locator(".record-head .actions").first.get_by_role("link", name="History"))
    expect(page.locator("h1")).to_have_text("History of rechallenge 1")
    rows = page.locator("table.history tbody tr")
    expect(rows).to_have_count(2)
    actions = rows.locator("td:nth-child(4)").all_inner_texts()
    assert sorted(actions) == ["Created", "Updated"]
    for who in rows.locator("td:nth-child(2)").all_inner_texts():
        assert who == "case_entry"
    assert set(rows.locator("td:nth-child(3)").all_inner_texts()) == {"Web form"}
    created = rows.filter(has=page.locator("td:nth-child(4)", has_text="Created"))
    expect(created).to_contain_text(f"Rechallenge start date: – → {RECHALLENGE_START.isoformat()}")
    enrolled = rows.filter(has=page.locator("td:nth-child(4)", has_text="Updated"))
    from apps.assessments.models import Assessment

    assessment = Assessment.objects.get(episode__patient__registry_id=registry_id)
    reason = f"Enrolled prospectively; decision model 1.1 locked (assessment #{assessment.pk})."
    expect(enrolled).to_contain_text(reason)
    _follow(page, page.get_by_role("link", name="Back to the patient page"))
    expect(page.locator("h1")).to_have_text(f"Patient {registry_id}")

"""The read pages of the web data entry: patient list, patient page with derived values, record history."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.selectors import access_for_user
from apps.assessments.models import Assessment, BlindingSetting
from apps.clinical.models import Patient
from apps.clinical.services import record_create, record_update
from apps.clinical.summaries import patient_summaries_refresh
from tests.factories import (
    AdverseEventFactory,
    FollowUpFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
    ResponseAssessmentFactory,
)


def sign_in(client, user):
    """Sign ``user`` in; registry-wide roles also get a verified second factor for the session."""
    client.force_login(user)
    access = access_for_user(user)
    if access.is_coordinator or access.is_investigator:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.content.decode()


def patient_url(patient: Patient) -> str:
    return reverse("clinical:patient-detail", kwargs={"registry_id": patient.registry_id})


def history_url(model: str, pk: int) -> str:
    return reverse("clinical:record-history", kwargs={"model": model, "pk": pk})


def full_case(site, *, episodes: int = 1, per_episode: int = 2):
    """A patient with ICI-1, two ICI-1 irAEs and ``episodes`` rechallenges with irAEs, responses and follow-ups."""
    patient = PatientFactory(site=site)
    InitialCourseFactory(patient=patient)
    AdverseEventFactory(patient=patient, ctcae_term="colitis", grade=3, resolved_to_grade=1)
    AdverseEventFactory(
        patient=patient,
        ctcae_term="pneumonitis",
        grade=2,
        onset_date=dt.date(2023, 8, 1),
        resolution_date=dt.date(2023, 9, 1),
    )
    for number in range(1, episodes + 1):
        start = dt.date(2024, 1, 1) + dt.timedelta(days=200 * number)
        episode = RechallengeEpisodeFactory(patient=patient, sequence_number=number, start_date=start)
        for index in range(per_episode):
            AdverseEventFactory(
                patient=patient,
                episode=episode,
                recurrence_status="new",
                onset_date=start + dt.timedelta(days=10 + index),
                resolution_date=start + dt.timedelta(days=40 + index),
            )
            ResponseAssessmentFactory(episode=episode, assessment_date=start + dt.timedelta(days=60 + index))
            FollowUpFactory(episode=episode, follow_up_date=start + dt.timedelta(days=90 + index))
    return patient


# --- patient list ---------------------------------------------------------------------------------------


def test_the_list_shows_only_the_patients_of_the_users_own_sites(client, site_a, site_b, data_entry_a):
    mine = PatientFactory(site=site_a, local_identifier="MRN-MINE")
    theirs = PatientFactory(site=site_b, local_identifier="MRN-THEIRS")
    html = page(sign_in(client, data_entry_a), reverse("clinical:patient-list"))
    assert mine.registry_id in html
    assert "MRN-MINE" in html
    assert theirs.registry_id not in html
    assert "MRN-THEIRS" not in html
    assert "New patient" in html


def test_search_finds_a_patient_by_the_start_of_the_registry_id_in_any_case(client, site_a, data_entry_a):
    wanted = PatientFactory(site=site_a, registry_id="AAA-7KQ2XD-M")
    other = PatientFactory(site=site_a, registry_id="AAA-7KZZZZ-1")
    sign_in(client, data_entry_a)
    html = page(client, f"{reverse('clinical:patient-list')}?q=aaa-7kq")
    assert wanted.registry_id in html
    assert other.registry_id not in html
    # the middle of a registry ID is not its start
    assert "0 patients" in page(client, f"{reverse('clinical:patient-list')}?q=7KQ2XD")


def test_search_by_local_identifier_finds_own_site_patients_only(client, site_a, site_b, data_entry_a):
    wanted = PatientFactory(site=site_a, local_identifier="H-1234")
    foreign = PatientFactory(site=site_b, local_identifier="H-5678")
    sign_in(client, data_entry_a)
    html = page(client, f"{reverse('clinical:patient-list')}?q=h-1234")
    assert wanted.registry_id in html
    html = page(client, f"{reverse('clinical:patient-list')}?q=H-5678")
    assert foreign.registry_id not in html
    assert "0 patients" in html


def test_coordinators_see_every_site_without_local_identifiers(client, site_a, site_b, coordinator):
    a = PatientFactory(site=site_a, local_identifier="MRN-A-SECRET")
    b = PatientFactory(site=site_b, local_identifier="MRN-B-SECRET")
    html = page(sign_in(client, coordinator), reverse("clinical:patient-list"))
    assert a.registry_id in html and b.registry_id in html
    assert "SECRET" not in html
    assert "Local identifier" not in html
    # nor can they find a patient by local identifier
    html = page(client, f"{reverse('clinical:patient-list')}?q=MRN-A-SECRET")
    assert a.registry_id not in html


def test_a_multi_site_user_can_filter_the_list_by_site(client, site_a, site_b, coordinator):
    a, b = PatientFactory(site=site_a), PatientFactory(site=site_b)
    html = page(sign_in(client, coordinator), f"{reverse('clinical:patient-list')}?site={site_b.pk}")
    assert '<select id="id_site" name="site">' in html
    assert b.registry_id in html
    assert a.registry_id not in html


def test_a_single_site_user_has_no_site_filter_and_cannot_widen_the_list_with_one(client, site_a, site_b, data_entry_a):
    foreign = PatientFactory(site=site_b)
    html = page(sign_in(client, data_entry_a), f"{reverse('clinical:patient-list')}?site={site_b.pk}")
    assert 'name="site"' not in html
    assert foreign.registry_id not in html


def test_the_list_pages_by_fifty_and_counts_episodes_without_a_query_per_row(
    client, site_a, data_entry_a, django_assert_max_num_queries
):
    patients = [PatientFactory(site=site_a) for _ in range(55)]
    first = min(patients, key=lambda p: p.registry_id)
    InitialCourseFactory(patient=first)
    RechallengeEpisodeFactory(patient=first, sequence_number=1, start_date=dt.date(2024, 1, 1))
    RechallengeEpisodeFactory(patient=first, sequence_number=2, start_date=dt.date(2024, 9, 1))
    patient_summaries_refresh(patient_ids=[patient.pk for patient in patients])  # the factories bypass the services
    sign_in(client, data_entry_a)
    with django_assert_max_num_queries(16) as queries:
        response = client.get(reverse("clinical:patient-list"))
    patient_queries = [q["sql"] for q in queries.captured_queries if "clinical_" in q["sql"]]
    # the COUNT and the page, its status columns read from the stored summaries in the same query
    assert len(patient_queries) == 2
    assert "clinical_patientsummary" in patient_queries[1]
    assert "clinical_rechallengeepisode" not in patient_queries[0] + patient_queries[1]
    # the open queries of its rows (data quality's column), one query
    assert (
        sum('FROM "quality_dataquery"' in q["sql"] and "patient_id" in q["sql"] for q in queries.captured_queries) == 1
    )
    rows = response.context["rows"]
    assert len(rows) == 50
    assert rows[0].registry_id == first.registry_id and rows[0].episodes == 2 and rows[0].has_initial_course
    assert response.context["page"].count == 55
    second = page(client, reverse("clinical:patient-list") + "?after=" + response.context["page"].next_cursor)
    assert second.count("/patients/AAA-") == 5
    assert "Next ›" not in second and "‹ Previous" in second


def test_anonymous_visitors_are_sent_to_sign_in(client, site_a):
    patient = PatientFactory(site=site_a)
    for url in (reverse("clinical:patient-list"), patient_url(patient)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


# --- access -----------------------------------------------------------------------------------------------


def test_investigators_get_403_on_every_record_page(client, site_a, investigator):
    patient = PatientFactory(site=site_a)
    sign_in(client, investigator)
    for url in (
        reverse("clinical:patient-list"),
        patient_url(patient),
        reverse("clinical:patient-create"),
        history_url("patient", patient.pk),
        reverse("clinical:record-edit", kwargs={"model": "patient", "pk": patient.pk}),
    ):
        assert client.get(url).status_code == 403, url


def test_another_sites_patient_and_records_are_404(client, site_b, data_entry_a):
    patient = full_case(site_b)
    episode = patient.episodes.get()
    sign_in(client, data_entry_a)
    urls = [
        patient_url(patient),
        history_url("patient", patient.pk),
        history_url("episode", episode.pk),
        reverse("clinical:record-edit", kwargs={"model": "initial-course", "pk": patient.initial_course.pk}),
        reverse("clinical:record-delete", kwargs={"model": "patient", "pk": patient.pk}),
        reverse("clinical:episode-detail", kwargs={"pk": episode.pk}),
        reverse("clinical:response-create", kwargs={"episode_pk": episode.pk}),
        reverse("clinical:adverse-event-create", kwargs={"registry_id": patient.registry_id}),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 404, url
        assert patient.local_identifier not in response.content.decode()


def test_an_unknown_record_type_is_404(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    page(sign_in(client, data_entry_a), history_url("auditentry", patient.pk), status=404)


# --- patient page ---------------------------------------------------------------------------------------


def test_the_patient_page_shows_the_whole_case_in_date_order(client, site_a, data_entry_a):
    patient = full_case(site_a)
    html = page(sign_in(client, data_entry_a), patient_url(patient))
    ici1, episode = html.index("Initial ICI course (ICI-1)"), html.index("Rechallenge 1:")
    assert ici1 < html.index("irAE: Colitis, grade 3") < html.index("irAE: Pneumonitis, grade 2") < episode
    events = [html.index(marker, episode) for marker in ("irAE: Colitis", "Response: Stable disease", "Follow-up:")]
    assert events == sorted(events)
    assert patient.local_identifier in html
    for label in ("Add irAE", "Add response", "Add follow-up", "Add episode", "Edit", "History"):
        assert label in html


def test_the_patient_page_shows_pfs1_and_tfi_with_the_right_numbers(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    InitialCourseFactory(
        patient=patient,
        start_date=dt.date(2023, 1, 15),
        stop_date=dt.date(2023, 10, 15),
        progression_date=None,
        stop_reason="toxicity",
    )
    RechallengeEpisodeFactory(patient=patient, start_date=dt.date(2024, 5, 2))
    html = page(sign_in(client, data_entry_a), patient_url(patient))
    # PFS1: 2023-01-15 → censored at rechallenge start 2024-05-02: 15 calendar months to 2024-04-15,
    # then 17 of the 30 days to 2024-05-15 = 15.57 months
    assert "15.6 months (censored)" in html
    # TFI: 2023-10-15 → 2024-05-02: 6 calendar months and 17 of 30 days = 6.57 months
    assert "6.6 months" in html
    assert "imputed</span>" not in html


def test_a_month_only_progression_date_gives_an_imputed_pfs1_event(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    InitialCourseFactory(
        patient=patient,
        start_date=dt.date(2022, 3, 1),
        progression_date=dt.date(2022, 9, 15),
        progression_date_precision="month",
        stop_date=dt.date(2022, 9, 20),
        stop_reason="progression",
    )
    html = page(sign_in(client, data_entry_a), patient_url(patient))
    # 2022-03-01 → 2022-09-15 = 198 days = 6.5 months, progression is the event
    assert "6.5 months (progression)" in html
    assert "imputed</span>" in html
    assert "2022-09 (month only)" in html


def test_episode_outcomes_are_derived_from_responses_and_follow_ups(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    InitialCourseFactory(patient=patient, stop_date=dt.date(2023, 10, 15))
    AdverseEventFactory(patient=patient, ctcae_term="colitis", grade=3, resolved_to_grade=2)
    episode = RechallengeEpisodeFactory(patient=patient, start_date=dt.date(2024, 1, 1))
    ResponseAssessmentFactory(episode=episode, assessment_date=dt.date(2024, 3, 1), category="PR")
    ResponseAssessmentFactory(episode=episode, assessment_date=dt.date(2024, 6, 1), category="PD")
    AdverseEventFactory(
        patient=patient,
        episode=episode,
        ctcae_term="diarrhea",
        grade=3,
        onset_date=dt.date(2024, 2, 1),
        resolution_date=None,
        resolved_to_grade=None,
        recurrence_status="new",
    )
    FollowUpFactory(episode=episode, follow_up_date=dt.date(2024, 12, 31), last_known_alive_date=dt.date(2024, 12, 31))
    html = page(sign_in(client, data_entry_a), patient_url(patient))
    assert "Grade 3" in html  # worst prior irAE grade
    # The PR of 2024-03-01 (60 days in) is never confirmed (PD next): it counts as stable disease.
    assert "SD – Stable disease" in html
    # PFS2: progression from the PD assessment, 2024-01-01 → 2024-06-01 = 152 days = 5.0 months
    assert "5.0 months (event)" in html
    # OS: censored at the last date known alive, 2024-12-31 = 365 days = 12.0 months
    assert "12.0 months (censored)" in html
    assert "same organ: Yes" in html


#: The case-status panel of sign-off (issue #10 item 5): the patient's source-verification marks, one query (the
#: status itself comes from the loaded timeline; the signer's name is read for a signed case only).
CASE_STATUS_PANEL = 1
#: Queries (issue #10 item 4): the patient's open queries (its panel) and the nav bar's count, one query each.
QUERIES_PANEL_AND_NAV_COUNT = 2


def test_the_patient_page_runs_a_bounded_number_of_queries(client, site_a, data_entry_a, django_assert_max_num_queries):
    small = full_case(site_a, episodes=1, per_episode=1)
    large = full_case(site_a, episodes=4, per_episode=5)
    sign_in(client, data_entry_a)
    client.get(patient_url(small))  # warm the session
    with django_assert_max_num_queries(16 + CASE_STATUS_PANEL + QUERIES_PANEL_AND_NAV_COUNT) as small_queries:
        client.get(patient_url(small))
    with django_assert_max_num_queries(len(small_queries.captured_queries)) as large_queries:
        response = client.get(patient_url(large))
    assert response.status_code == 200
    assert len(large_queries.captured_queries) == len(small_queries.captured_queries)


def test_coordinators_see_the_patient_page_without_identifiers_and_can_trace_records(client, site_a, coordinator):
    patient = full_case(site_a)
    patient.date_of_birth = dt.date(1958, 4, 2)
    patient.save()
    html = page(sign_in(client, coordinator), patient_url(patient))
    assert patient.registry_id in html
    assert patient.local_identifier not in html
    assert "1958-04-02" not in html


def _assessment(episode, category="favourable"):
    return Assessment.objects.create(
        episode=episode,
        model_version="1.0",
        model_hash="0" * 64,
        inputs={},
        factors=[{"factor": "tfi", "level": "favourable", "reason": "TFI of 6.6 months is at least 6", "points": 0}],
        category=category,
        score=1,
    )


def test_the_locked_assessment_is_shown_with_its_factors(client, site_a, data_entry_a):
    patient = full_case(site_a)
    _assessment(patient.episodes.get())
    html = page(sign_in(client, data_entry_a), patient_url(patient))
    assert "Decision-model assessment" in html
    assert "Favourable" in html
    assert "TFI of 6.6 months is at least 6" in html


def test_blinding_hides_the_category_and_the_factor_table_from_site_staff_but_not_coordinators(
    client, site_a, data_entry_a, coordinator
):
    """The factor levels and reasons give the category away ("Prior irAEs: contraindicated")."""
    patient = full_case(site_a)
    _assessment(patient.episodes.get(), category="unfavourable")
    BlindingSetting.objects.create(pk=1, blind_category_to_site_staff=True)
    html = page(sign_in(client, data_entry_a), patient_url(patient))
    assert "Unfavourable" not in html
    assert "Category hidden" in html
    assert "TFI of 6.6 months is at least 6" not in html
    assert '<td class="level">' not in html and "favourable" not in html.lower()
    assert "Factor levels, their reasons and the review criteria are hidden" in html
    client.logout()
    html = page(sign_in(client, coordinator), patient_url(patient))
    assert "Unfavourable" in html
    assert "TFI of 6.6 months is at least 6" in html
    assert '<td class="level">favourable</td>' in html


# --- history --------------------------------------------------------------------------------------------


def test_the_history_page_lists_who_when_channel_and_old_to_new_values(client, site_a, data_entry_a):
    patient = record_create(
        model=Patient,
        data={
            "site": site_a,
            "local_identifier": "MRN-H",
            "sex": "male",
            "year_of_birth": 1960,
            "tumour_type": "MEL",
            "consent_status": "consented",
            "consent_date": dt.date(2024, 2, 1),
        },
        user=data_entry_a,
        channel="api",
    )
    record_update(
        instance=patient, data={"tumour_type": "SKCM"}, user=data_entry_a, channel="web", reason="typo in tumour type"
    )
    html = page(sign_in(client, data_entry_a), history_url("patient", patient.pk))
    assert "Tumour type" in html
    assert "<del>Melanoma (MEL)</del> → <ins>Cutaneous melanoma (SKCM)</ins>" in html
    assert "typo in tumour type" in html
    assert "Web form" in html and "REST API" in html
    assert "entry_a" in html
    assert " UTC" in html


def test_the_history_hides_identifier_values_from_coordinators(client, site_a, data_entry_a, coordinator):
    patient = PatientFactory(site=site_a, local_identifier="MRN-OLD")
    record_update(instance=patient, data={"local_identifier": "MRN-NEW"}, user=data_entry_a, channel="web")
    html = page(sign_in(client, coordinator), history_url("patient", patient.pk))
    assert "Local identifier" in html
    assert "MRN-OLD" not in html and "MRN-NEW" not in html
    assert "(hidden)" in html


def test_every_record_on_the_timeline_links_to_its_history(client, site_a, data_entry_a):
    patient = full_case(site_a)
    html = page(sign_in(client, data_entry_a), patient_url(patient))
    episode = patient.episodes.get()
    for model, pk in (
        ("patient", patient.pk),
        ("initial-course", patient.initial_course.pk),
        ("episode", episode.pk),
        ("response", episode.responses.first().pk),
        ("follow-up", episode.follow_ups.first().pk),
        ("adverse-event", patient.adverse_events.first().pk),
    ):
        url = history_url(model, pk)
        assert url in html
        page(client, url)


@pytest.mark.parametrize("model", ["patient", "initial-course", "episode", "adverse-event", "response", "follow-up"])
def test_every_record_type_has_a_history_page_once_changed(client, site_a, data_entry_a, model):
    patient = full_case(site_a)
    episode = patient.episodes.get()
    record = {
        "patient": patient,
        "initial-course": patient.initial_course,
        "episode": episode,
        "adverse-event": patient.adverse_events.first(),
        "response": episode.responses.first(),
        "follow-up": episode.follow_ups.first(),
    }[model]
    record_update(instance=record, data={"is_complete": True}, user=data_entry_a, channel="web")
    html = page(sign_in(client, data_entry_a), history_url(model, record.pk))
    assert "<del>No</del> → <ins>Yes</ins>" in html

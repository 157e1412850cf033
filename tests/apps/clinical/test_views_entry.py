"""Data entry through the web forms: every write goes through the services, audited with channel "web"."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

from django import forms
from django.urls import reverse

from apps.clinical.models import AdverseEvent, FollowUp, InitialCourse, Patient, RechallengeEpisode
from apps.clinical.services import record_update
from apps.core.models import AuditEntry
from tests.apps.clinical.test_views_pages import page, patient_url, sign_in
from tests.factories import (
    AdverseEventFactory,
    FollowUpFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
    ResponseAssessmentFactory,
)

PATIENT = {
    "local_identifier": "MRN-NEW-1",
    "sex": "female",
    "year_of_birth": "1961",
    "tumour_type": "LUAD",
    "consent_status": "consented",
    "consent_date": "2024-03-01",
    "msi_status": "unknown",
}
INITIAL_COURSE = {
    "primary_agent": "pembrolizumab",
    "regimen_type": "monotherapy",
    "line_of_therapy": "1",
    "start_date": "2023-01-15",
    "start_date_precision": "day",
    "stop_date": "2023-10-15",
    "stop_date_precision": "day",
    "ecog_at_start": "1",
    "best_overall_response": "PR",
    "progression_date_precision": "day",
    "stop_reason": "toxicity",
}
ADVERSE_EVENT = {
    "episode": "",
    "ctcae_version": "5.0",
    "ctcae_term": "colitis",
    "grade": "3",
    "onset_date": "2023-06-01",
    "onset_date_precision": "day",
    "resolution_date": "2023-07-01",
    "resolution_date_precision": "day",
    "resolved_to_grade": "1",
    "management": "corticosteroids",
    "peak_prednisone_mg_per_day": "60",
    "steroid_refractory": "no",
    "hospitalised": "yes",
    "led_to_discontinuation": "unknown",
}
EPISODE = {
    "sequence_number": "1",
    "start_date": "2024-05-02",
    "rechallenge_type": "after_toxicity",
    "agent_relation": "same_agent",
    "primary_agent": "pembrolizumab",
    "regimen_type": "monotherapy",
    "ecog_at_rechallenge": "1",
    "current_prednisone_mg_per_day": "0",
    "intervening_therapy": "none",
    "intervening_therapy_lines": "0",
}
RESPONSE = {"assessment_date": "2024-07-01", "criteria": "recist_1_1", "category": "PR"}
FOLLOW_UP = {"follow_up_date": "2024-11-01", "vital_status": "alive", "last_known_alive_date": "2024-11-01"}


def edit_url(model: str, pk: int) -> str:
    return reverse("clinical:record-edit", kwargs={"model": model, "pk": pk})


def form_values(response) -> dict[str, str]:
    """What a browser would send back for the form as rendered (the current values and version)."""
    data = {}
    for bound in response.context["form"]:
        value = bound.value()
        if isinstance(bound.field, forms.NullBooleanField):
            data[bound.name] = {True: "true", False: "false"}.get(value, "unknown")
        elif isinstance(bound.field, forms.BooleanField):
            if value:
                data[bound.name] = "on"
        else:
            data[bound.name] = "" if value is None else str(value)
    return data


def links(html: str) -> dict[str, str]:
    """Link text → href of every link on a page (the last one wins for repeated texts)."""
    return {
        unescape(text.strip()): unescape(href)
        for href, text in re.findall(r'<a[^>]*href="([^"]+)"[^>]*>([^<]+)</a>', html)
    }


# --- create ---------------------------------------------------------------------------------------------


def test_creating_a_patient_through_the_form_is_audited_with_channel_web(client, site_a, data_entry_a):
    sign_in(client, data_entry_a)
    response = client.post(reverse("clinical:patient-create"), {**PATIENT, "site": site_a.pk})
    patient = Patient.objects.get()
    assert response.status_code == 302
    assert response["Location"] == patient_url(patient)
    entry = AuditEntry.objects.get(model_label="clinical.patient", object_id=str(patient.pk))
    assert (entry.action, entry.channel, entry.user) == ("create", "web", data_entry_a)
    assert entry.changes["local_identifier"] == [None, "MRN-NEW-1"]
    assert patient.registry_id.startswith("AAA-")
    html = page(client, response["Location"])
    assert f"Saved patient {patient.registry_id}." in html


def test_the_new_patient_form_offers_only_the_users_sites_and_refuses_others(client, site_a, site_b, data_entry_a):
    sign_in(client, data_entry_a)
    html = page(client, reverse("clinical:patient-create"))
    assert f'value="{site_a.pk}"' in html
    assert site_b.name not in html
    response = client.post(reverse("clinical:patient-create"), {**PATIENT, "site": site_b.pk})
    assert response.status_code == 200
    assert "Select a valid choice" in response.context["form"].errors["site"][0]
    assert not Patient.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_local_identifier_already_used_at_the_site_is_refused_and_nothing_is_created(client, site_a, data_entry_a):
    PatientFactory(site=site_a, local_identifier="MRN-NEW-1")
    sign_in(client, data_entry_a)
    response = client.post(reverse("clinical:patient-create"), {**PATIENT, "site": site_a.pk})
    assert response.status_code == 200
    assert "already exists" in " ".join(response.context["form"].non_field_errors())
    assert "Nothing was saved" in response.content.decode()
    assert Patient.objects.count() == 1
    assert not AuditEntry.objects.exists()


def test_patients_are_registered_by_center_staff_not_coordinators(client, site_a, coordinator):
    sign_in(client, coordinator)
    assert "New patient" not in page(client, reverse("clinical:patient-list"))
    response = client.post(reverse("clinical:patient-create"), {**PATIENT, "site": site_a.pk})
    assert response.status_code == 403
    assert not Patient.objects.exists()


def test_add_irae_from_an_episode_preselects_that_episode(client, site_a, data_entry_a):
    patient = InitialCourseFactory(patient=PatientFactory(site=site_a)).patient
    episode = RechallengeEpisodeFactory(patient=patient)
    sign_in(client, data_entry_a)
    url = (
        f"{reverse('clinical:adverse-event-create', kwargs={'registry_id': patient.registry_id})}?episode={episode.pk}"
    )
    assert url in page(client, patient_url(patient))
    html = page(client, url)
    assert f'<option value="{episode.pk}" selected>Rechallenge 1 (from 2024-05-02)</option>' in html
    response = client.post(
        url, {**ADVERSE_EVENT, "episode": episode.pk, "onset_date": "2024-06-01", "resolution_date": ""}
    )
    assert response.context["form"].errors["recurrence_status"] == [
        "Say whether this irAE during rechallenge is a recurrence or new."
    ]
    response = client.post(
        url,
        {
            **ADVERSE_EVENT,
            "episode": episode.pk,
            "onset_date": "2024-06-01",
            "resolution_date": "",
            "resolved_to_grade": "",
            "recurrence_status": "recurrence",
        },
    )
    assert response.status_code == 302
    assert response["Location"].startswith(patient_url(patient))
    assert AdverseEvent.objects.get().episode == episode


def test_an_irae_resolved_above_its_grade_gets_a_field_message_and_creates_nothing(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    InitialCourseFactory(patient=patient)
    sign_in(client, data_entry_a)
    url = reverse("clinical:adverse-event-create", kwargs={"registry_id": patient.registry_id})
    response = client.post(url, {**ADVERSE_EVENT, "grade": "2", "resolved_to_grade": "3"})
    assert response.status_code == 200
    message = "The grade it resolved to cannot be above the worst grade."
    assert response.context["form"].errors["resolved_to_grade"] == [message]
    html = response.content.decode()
    assert message in html
    # the message sits with its field, after the field's label
    assert html.index('for="id_resolved_to_grade"') < html.index(message) < html.index('id="id_resolved_to_grade"')
    assert not AdverseEvent.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_rechallenge_starting_before_ici1_stopped_gets_a_field_message_and_creates_nothing(
    client, site_a, data_entry_a
):
    patient = PatientFactory(site=site_a)
    InitialCourseFactory(patient=patient, stop_date=dt.date(2023, 10, 15))
    sign_in(client, data_entry_a)
    url = reverse("clinical:episode-create", kwargs={"registry_id": patient.registry_id})
    response = client.post(url, {**EPISODE, "start_date": "2023-09-01"})
    assert response.status_code == 200
    assert response.context["form"].errors["start_date"] == [
        "The rechallenge starts before ICI-1 stopped (2023-10-15)."
    ]
    assert "The rechallenge starts before ICI-1 stopped (2023-10-15)." in response.content.decode()
    assert not RechallengeEpisode.objects.exists()
    assert not AuditEntry.objects.exists()


def test_an_episode_without_an_ici1_course_shows_the_models_message_at_the_top(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    sign_in(client, data_entry_a)
    url = reverse("clinical:episode-create", kwargs={"registry_id": patient.registry_id})
    response = client.post(url, EPISODE)
    assert response.status_code == 200
    assert "Record the initial ICI course before a rechallenge episode." in response.context["form"].non_field_errors()
    assert not RechallengeEpisode.objects.exists()


def test_a_month_only_date_is_stored_on_the_15th(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    sign_in(client, data_entry_a)
    url = reverse("clinical:initial-course-create", kwargs={"registry_id": patient.registry_id})
    response = client.post(url, {**INITIAL_COURSE, "stop_date": "2023-10-01", "stop_date_precision": "month"})
    assert response.status_code == 302
    course = InitialCourse.objects.get()
    assert (course.stop_date, course.stop_date_precision) == (dt.date(2023, 10, 15), "month")


def test_a_record_cannot_be_added_to_another_sites_patient(client, site_b, data_entry_a):
    patient = PatientFactory(site=site_b)
    sign_in(client, data_entry_a)
    url = reverse("clinical:initial-course-create", kwargs={"registry_id": patient.registry_id})
    assert client.post(url, INITIAL_COURSE).status_code == 404
    assert not InitialCourse.objects.exists()


# --- edit -----------------------------------------------------------------------------------------------


def test_editing_saves_through_the_service_and_records_old_and_new(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a, tumour_type="MEL")
    sign_in(client, data_entry_a)
    form = client.get(edit_url("patient", patient.pk))
    assert 'name="version" value="1"' in form.content.decode()
    response = client.post(edit_url("patient", patient.pk), {**form_values(form), "tumour_type": "SKCM"})
    assert response.status_code == 302
    patient.refresh_from_db()
    assert (patient.tumour_type, patient.version) == ("SKCM", 2)
    entry = AuditEntry.objects.get(action="update")
    assert entry.channel == "web"
    assert entry.changes["tumour_type"] == ["MEL", "SKCM"]
    html = page(client, reverse("clinical:record-history", kwargs={"model": "patient", "pk": patient.pk}))
    assert "<del>Melanoma (MEL)</del> → <ins>Cutaneous melanoma (SKCM)</ins>" in html


def test_saving_an_unchanged_form_writes_no_audit_entry(client, site_a, data_entry_a):
    course = InitialCourseFactory(patient=PatientFactory(site=site_a))
    sign_in(client, data_entry_a)
    form = client.get(edit_url("initial-course", course.pk))
    response = client.post(edit_url("initial-course", course.pk), form_values(form), follow=True)
    assert "No changes to the ICI-1 course." in response.content.decode()
    course.refresh_from_db()
    assert course.version == 1
    assert not AuditEntry.objects.exists()


def test_a_stale_version_shows_the_conflict_message_and_changes_nothing(client, site_a, data_entry_a, site_pi_a):
    patient = PatientFactory(site=site_a, tumour_type="MEL")
    sign_in(client, data_entry_a)
    form = client.get(edit_url("patient", patient.pk))
    record_update(instance=patient, data={"tumour_type": "UM"}, user=site_pi_a, channel="web")  # someone else saves
    response = client.post(edit_url("patient", patient.pk), {**form_values(form), "tumour_type": "SKCM"})
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        "This record was changed by pi_a since you opened it — your changes were not saved; "
        "reload to see the current values"
    ) in html
    patient.refresh_from_db()
    assert (patient.tumour_type, patient.version) == ("UM", 2)
    assert AuditEntry.objects.filter(action="update").count() == 1


def test_a_missing_version_is_refused_rather_than_overwriting(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a, tumour_type="MEL")
    sign_in(client, data_entry_a)
    data = form_values(client.get(edit_url("patient", patient.pk)))
    data.pop("version")
    response = client.post(edit_url("patient", patient.pk), {**data, "tumour_type": "SKCM"})
    assert response.status_code == 200
    patient.refresh_from_db()
    assert patient.tumour_type == "MEL"


def test_changing_a_complete_record_without_a_reason_shows_the_reason_error(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a, tumour_type="MEL", is_complete=True)
    sign_in(client, data_entry_a)
    values = form_values(client.get(edit_url("patient", patient.pk)))
    response = client.post(edit_url("patient", patient.pk), {**values, "tumour_type": "SKCM", "reason": ""})
    assert response.status_code == 200
    message = "A reason is required to change a record that is marked complete."
    assert response.context["form"].errors["reason"] == [message]
    assert message in response.content.decode()
    patient.refresh_from_db()
    assert (patient.tumour_type, patient.version) == ("MEL", 1)
    assert not AuditEntry.objects.exists()

    response = client.post(
        edit_url("patient", patient.pk), {**values, "tumour_type": "SKCM", "reason": "Pathology report corrected"}
    )
    assert response.status_code == 302
    assert AuditEntry.objects.get().reason == "Pathology report corrected"


def test_coordinators_edit_patients_without_seeing_or_losing_identifiers(client, site_a, coordinator):
    patient = PatientFactory(site=site_a, local_identifier="MRN-KEEP", date_of_birth=dt.date(1958, 4, 2))
    sign_in(client, coordinator)
    form = client.get(edit_url("patient", patient.pk))
    html = form.content.decode()
    assert "MRN-KEEP" not in html and "1958-04-02" not in html
    assert "local_identifier" not in form.context["form"].fields
    response = client.post(edit_url("patient", patient.pk), {**form_values(form), "histology": "Acinar"})
    assert response.status_code == 302
    patient.refresh_from_db()
    assert (patient.local_identifier, patient.histology) == ("MRN-KEEP", "Acinar")


def test_another_sites_record_cannot_be_edited(client, site_b, data_entry_a):
    patient = PatientFactory(site=site_b, tumour_type="MEL")
    sign_in(client, data_entry_a)
    assert client.post(edit_url("patient", patient.pk), {"tumour_type": "SKCM", "version": 1}).status_code == 404
    patient.refresh_from_db()
    assert patient.tumour_type == "MEL"


# --- delete ---------------------------------------------------------------------------------------------


def test_deleting_asks_for_confirmation_and_records_the_reason(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    ae = AdverseEventFactory(patient=patient)
    url = reverse("clinical:record-delete", kwargs={"model": "adverse-event", "pk": ae.pk})
    sign_in(client, data_entry_a)
    html = page(client, url)
    assert "Delete irAE Colitis grade 2?" in html and 'name="reason"' in html
    assert AdverseEvent.objects.exists()
    response = client.post(url, {"reason": "entered twice", "version": "1"})
    assert response.status_code == 302 and response["Location"] == patient_url(patient)
    assert not AdverseEvent.objects.exists()
    entry = AuditEntry.objects.get(action="delete")
    assert (entry.channel, entry.reason) == ("web", "entered twice")


def test_deleting_a_complete_record_needs_a_reason(client, site_a, data_entry_a):
    ae = AdverseEventFactory(patient=PatientFactory(site=site_a), is_complete=True)
    sign_in(client, data_entry_a)
    url = reverse("clinical:record-delete", kwargs={"model": "adverse-event", "pk": ae.pk})
    response = client.post(url, {"reason": "", "version": "1"})
    assert response.status_code == 200
    assert "A reason is required" in response.context["form"].errors["reason"][0]
    assert AdverseEvent.objects.exists()


# --- the typical case ------------------------------------------------------------------------------------


def test_a_typical_case_is_entered_from_the_patient_page_and_ends_up_on_its_timeline(client, site_a, data_entry_a):
    """Patient + ICI-1 + two irAEs + one episode + two responses + one follow-up, all through the forms."""
    sign_in(client, data_entry_a)

    def post(url: str, data: dict) -> str:
        response = client.post(url, data)
        assert response.status_code == 302, response.context["form"].errors if response.context else response
        assert response["Location"].startswith(patient_url(patient) if patient else "/patients/")
        return page(client, response["Location"])

    patient = None
    html = page(client, reverse("clinical:patient-list"))
    html = post(links(html)["New patient"], {**PATIENT, "site": site_a.pk})
    patient = Patient.objects.get()

    html = post(links(html)["Add ICI-1 course"], INITIAL_COURSE)
    html = post(links(html)["Add irAE"], ADVERSE_EVENT)
    html = post(
        links(html)["Add irAE"],
        {
            **ADVERSE_EVENT,
            "ctcae_term": "hypothyroidism",
            "grade": "2",
            "onset_date": "2023-08-01",
            "onset_date_precision": "month",
            "resolution_date": "",
            "resolved_to_grade": "",
            "management": "hormone_replacement",
            "peak_prednisone_mg_per_day": "",
        },
    )
    html = post(links(html)["Add episode"], EPISODE)
    episode = RechallengeEpisode.objects.get()
    html = post(links(html)["Add response"], {**RESPONSE, "category": "SD"})
    html = post(links(html)["Add response"], {**RESPONSE, "assessment_date": "2024-09-01"})
    html = post(links(html)["Add follow-up"], FOLLOW_UP)

    assert patient.adverse_events.count() == 2
    assert episode.responses.count() == 2 and FollowUp.objects.filter(episode=episode).count() == 1
    assert AuditEntry.objects.filter(channel="web", action="create").count() == 8
    for shown in (
        patient.registry_id,
        "MRN-NEW-1",
        "Initial ICI course (ICI-1)",
        "irAE: Colitis, grade 3",
        "irAE: Hypothyroidism, grade 2",
        "2023-08 (month only)",
        "Rechallenge 1: After toxicity (resumption)",
        "Response: Stable disease (RECIST 1.1)",
        "Response: Partial response (RECIST 1.1)",
        "Follow-up: alive",
        "15.6 months (censored)",  # PFS1: 15 Jan 2023 → 2 May 2024 = 15 calendar months + 17/30
        "6.6 months",  # TFI
        "SD – Stable disease",  # best response: the PR of 1 Sep is unconfirmed; SD on 1 Jul is ≥ 6 weeks in
        "Grade 3",  # worst prior irAE grade
    ):
        assert shown in html, shown
    assert 'class="badge imputed"' not in html.split("Derived from ICI-1")[1].split("</section>")[0]


# --- save and continue, the next step ----------------------------------------------------------------------


def buttons(html: str) -> list[str]:
    """The submit buttons of a page's record form, as "then value: label" ("" for plain Save)."""
    html = html.split('class="card record-form"', 1)[1]
    return [
        f"{value}: {unescape(label)}"
        for value, label in re.findall(
            r'<button type="submit"(?: name="then" value="([^"]*)")?[^>]*>([^<]+)</button>', html
        )
    ]


def test_a_new_patient_is_saved_and_goes_on_to_its_ici1_form(client, site_a, data_entry_a):
    sign_in(client, data_entry_a)
    html = page(client, reverse("clinical:patient-create"))
    assert buttons(html) == [": Save", "ici1: Save and add ICI-1"]
    assert 'name="reason"' not in html  # a new record has no reason for a change
    response = client.post(reverse("clinical:patient-create"), {**PATIENT, "site": site_a.pk, "then": "ici1"})
    patient = Patient.objects.get()
    assert response["Location"] == reverse(
        "clinical:initial-course-create", kwargs={"registry_id": patient.registry_id}
    )
    assert f"Saved patient {patient.registry_id}." in page(client, response["Location"])


def test_save_and_add_another_irae_opens_a_blank_irae_form_of_the_same_course(client, site_a, data_entry_a):
    patient = InitialCourseFactory(patient=PatientFactory(site=site_a)).patient
    episode = RechallengeEpisodeFactory(patient=patient)
    sign_in(client, data_entry_a)
    url = reverse("clinical:adverse-event-create", kwargs={"registry_id": patient.registry_id})
    assert buttons(page(client, url)) == [": Save", "another: Save and add another"]

    response = client.post(url, {**ADVERSE_EVENT, "then": "another"})
    assert response["Location"] == url  # another irAE of ICI-1
    response = client.post(
        f"{url}?episode={episode.pk}",
        {
            **ADVERSE_EVENT,
            "episode": episode.pk,
            "onset_date": "2024-06-01",
            "resolution_date": "",
            "resolved_to_grade": "",
            "recurrence_status": "new",
            "then": "another",
        },
    )
    assert response["Location"] == f"{url}?episode={episode.pk}"  # another irAE of the same rechallenge
    html = page(client, response["Location"])
    assert "Saved irAE Colitis grade 3." in html
    assert f'<option value="{episode.pk}" selected>' in html
    assert AdverseEvent.objects.filter(patient=patient).count() == 2


def test_save_and_add_another_response_or_follow_up_stays_with_the_episode(client, site_a, data_entry_a):
    episode = RechallengeEpisodeFactory(patient=InitialCourseFactory(patient=PatientFactory(site=site_a)).patient)
    sign_in(client, data_entry_a)
    for name, data in (("clinical:response-create", RESPONSE), ("clinical:follow-up-create", FOLLOW_UP)):
        url = reverse(name, kwargs={"episode_pk": episode.pk})
        response = client.post(url, {**data, "then": "another"})
        assert response["Location"] == url
    assert (episode.responses.count(), episode.follow_ups.count()) == (1, 1)


def test_an_unknown_save_and_button_goes_back_to_the_patient(client, site_a, data_entry_a):
    patient = InitialCourseFactory(patient=PatientFactory(site=site_a)).patient
    sign_in(client, data_entry_a)
    url = reverse("clinical:adverse-event-create", kwargs={"registry_id": patient.registry_id})
    response = client.post(url, {**ADVERSE_EVENT, "then": "ici1"})  # not offered on an irAE form
    assert response["Location"].startswith(f"{patient_url(patient)}#adverse-event-")
    other = PatientFactory(site=site_a)
    html = page(client, reverse("clinical:initial-course-create", kwargs={"registry_id": other.registry_id}))
    assert buttons(html) == [": Save"]  # ICI-1 once: no "add another"


def test_editing_an_irae_can_go_on_to_another_and_asks_for_the_reason(client, site_a, data_entry_a):
    irae = AdverseEventFactory(patient=InitialCourseFactory(patient=PatientFactory(site=site_a)).patient)
    sign_in(client, data_entry_a)
    response = client.get(edit_url("adverse-event", irae.pk))
    assert 'name="reason"' in response.content.decode()
    assert buttons(response.content.decode()) == [": Save", "another: Save and add another"]
    data = {**form_values(response), "grade": "2", "then": "another"}
    response = client.post(edit_url("adverse-event", irae.pk), data)
    assert response["Location"] == reverse(
        "clinical:adverse-event-create", kwargs={"registry_id": irae.patient.registry_id}
    )


def next_step(html: str) -> tuple[str, str] | None:
    """The next step the patient page offers: (link text, href), or None."""
    found = re.search(r'<section class="card next-step".*?<a class="button" href="([^"]+)">([^<]+)</a>', html, re.S)
    return (unescape(found[2]), unescape(found[1])) if found else None


def test_the_patient_page_offers_the_next_step_the_case_needs(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    sign_in(client, data_entry_a)
    registry_id = {"registry_id": patient.registry_id}
    assert next_step(page(client, patient_url(patient))) == (
        "Record ICI-1",
        reverse("clinical:initial-course-create", kwargs=registry_id),
    )
    course = InitialCourseFactory(patient=patient, stop_date=None, stop_reason="")
    assert next_step(page(client, patient_url(patient))) == (
        "Record when ICI-1 stopped",
        edit_url("initial-course", course.pk),
    )
    InitialCourse.objects.filter(pk=course.pk).update(stop_date=dt.date(2023, 10, 15), stop_reason="toxicity")
    assert next_step(page(client, patient_url(patient))) == (
        "Add the rechallenge episode",
        reverse("clinical:episode-create", kwargs=registry_id),
    )
    episode = RechallengeEpisodeFactory(patient=patient)
    episode_pk = {"episode_pk": episode.pk}
    assert next_step(page(client, patient_url(patient))) == (
        "Add a response assessment",
        reverse("clinical:response-create", kwargs=episode_pk),
    )
    ResponseAssessmentFactory(episode=episode)
    assert next_step(page(client, patient_url(patient))) == (
        "Add a follow-up",
        reverse("clinical:follow-up-create", kwargs=episode_pk),
    )
    FollowUpFactory(episode=episode)
    assert next_step(page(client, patient_url(patient))) == (
        f"Mark patient {patient.registry_id} complete",
        edit_url("patient", patient.pk),
    )


def test_a_case_with_every_record_complete_is_next_signed_and_a_signed_case_offers_nothing(
    client, site_a, data_entry_a
):
    patient = PatientFactory(site=site_a, is_complete=True)
    InitialCourseFactory(patient=patient, is_complete=True)
    episode = RechallengeEpisodeFactory(patient=patient, is_complete=True)
    ResponseAssessmentFactory(episode=episode, is_complete=True)
    FollowUpFactory(episode=episode, is_complete=True)
    sign_in(client, data_entry_a)
    assert next_step(page(client, patient_url(patient))) == ("Sign the case", f"{patient_url(patient)}#case-status")
    Patient.objects.filter(pk=patient.pk).update(signed_at=dt.datetime(2024, 12, 1, tzinfo=dt.UTC))
    assert next_step(page(client, patient_url(patient))) is None


def test_a_month_only_date_shows_its_month_on_the_timeline_never_the_15th(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    InitialCourseFactory(patient=patient, start_date=dt.date(2023, 1, 15), start_date_precision="month")
    AdverseEventFactory(
        patient=patient, onset_date=dt.date(2023, 8, 15), onset_date_precision="month", resolution_date=None
    )
    sign_in(client, data_entry_a)
    html = page(client, patient_url(patient))
    assert '<span class="date">2023-01 (month only)</span>' in html
    assert '<span class="date">2023-08 (month only)</span>' in html
    assert "2023-01-15" not in html and "2023-08-15" not in html


def test_an_irae_outside_the_ctcae_list_is_shown_by_the_term_typed(client, site_a, data_entry_a):
    patient = InitialCourseFactory(patient=PatientFactory(site=site_a)).patient
    sign_in(client, data_entry_a)
    url = reverse("clinical:adverse-event-create", kwargs={"registry_id": patient.registry_id})
    response = client.post(url, {**ADVERSE_EVENT, "ctcae_term": "other", "ctcae_term_other": "Sarcoid-like reaction"})
    irae = AdverseEvent.objects.get()
    assert (irae.ctcae_term, irae.ctcae_term_other, irae.meddra_code, irae.organ_category) == (
        "other",
        "Sarcoid-like reaction",
        "",
        "other",
    )
    html = page(client, response["Location"])
    assert "irAE: Sarcoid-like reaction (other), grade 3" in html

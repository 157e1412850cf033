"""Source-data verification: coordinators mark records or fields verified; a change after SDV clears it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.clinical import services
from apps.core.errors import ApplicationError
from apps.core.models import AuditEntry
from apps.quality import signoff
from apps.quality.models import SourceVerification
from tests.apps.clinical.api_support import client_for, token_client_for, verified_session_client_for
from tests.apps.quality.signoff_support import complete_case, signed_case
from tests.conftest import verify_second_factor

pytestmark = pytest.mark.django_db


def _marks(record_type: str, record_id: int) -> set[str]:
    return set(
        SourceVerification.objects.filter(record_type=record_type, record_id=record_id).values_list("field", flat=True)
    )


def _verify(user, record, *fields: str, record_type: str = "adverse-event") -> None:
    for name in fields:
        signoff.record_verify(user=user, record_type=record_type, record_id=record.pk, field=name)


def test_a_coordinator_marks_a_record_and_fields_verified_with_who_and_when(site_a, coordinator):
    case = complete_case(site_a)
    _verify(coordinator, case.irae, "", "grade", "onset_date")
    mark = SourceVerification.objects.get(record_type="adverse-event", record_id=case.irae.pk, field="grade")
    assert (mark.site_id, mark.patient_id, mark.verified_by_id) == (site_a.pk, case.patient.pk, coordinator.pk)
    assert _marks("adverse-event", case.irae.pk) == {"", "grade", "onset_date"}
    entry = AuditEntry.objects.filter(model_label="quality.sourceverification").first()
    assert entry.site_id == site_a.pk
    assert entry.reason.startswith("Source-data verified: the field onset_date of irAE")


def test_a_mark_is_not_given_twice(site_a, coordinator):
    case = complete_case(site_a)
    _verify(coordinator, case.irae, "grade")
    with pytest.raises(ApplicationError) as refused:
        _verify(coordinator, case.irae, "grade")
    assert refused.value.status == 409
    assert refused.value.message.startswith("Already verified by coordinator on ")


@pytest.mark.parametrize(
    ("record_type", "field", "error"),
    [
        ("nothing", "", "record_type"),
        ("adverse-event", "no_such_field", "field"),
        ("adverse-event", "version", "field"),
        ("patient", "local_identifier", "field"),  # coordinators never see it
        ("adverse-event", "patient", "field"),  # a link, not source data
    ],
)
def test_only_source_data_fields_of_known_records_are_marked(site_a, coordinator, record_type, field, error):
    case = complete_case(site_a)
    record = case.patient if record_type == "patient" else case.irae
    with pytest.raises(ApplicationError) as refused:
        signoff.record_verify(user=coordinator, record_type=record_type, record_id=record.pk, field=field)
    assert list(refused.value.field_errors) == [error]
    assert not SourceVerification.objects.exists()


@pytest.mark.parametrize("who", ["data_entry_a", "site_pi_a", "investigator"])
def test_only_coordinators_mark_records_verified(request, site_a, who):
    case = complete_case(site_a)
    with pytest.raises(ApplicationError) as refused:
        _verify(request.getfixturevalue(who), case.irae, "grade")
    assert refused.value.status == 403


def test_a_change_clears_the_changed_fields_and_the_whole_record_mark_only(site_a, coordinator, data_entry_a):
    case = complete_case(site_a)
    _verify(coordinator, case.irae, "", "grade", "onset_date")
    _verify(coordinator, case.course, "", "start_date", record_type="initial-course")

    services.record_update(instance=case.irae, data={"grade": 3}, user=data_entry_a, channel="web", reason="was 3")

    assert _marks("adverse-event", case.irae.pk) == {"onset_date"}
    assert _marks("initial-course", case.course.pk) == {"", "start_date"}


def test_marking_a_record_complete_again_clears_no_mark(site_a, coordinator, data_entry_a):
    case = complete_case(site_a, complete=False)
    _verify(coordinator, case.irae, "", "grade")
    services.record_update(instance=case.irae, data={"is_complete": True}, user=data_entry_a, channel="web")
    assert _marks("adverse-event", case.irae.pk) == {"", "grade"}


def test_a_changed_missing_data_answer_clears_every_mark_of_the_record(site_a, coordinator, data_entry_a):
    case = complete_case(site_a, complete=False)
    _verify(coordinator, case.irae, "", "grade", "onset_date")
    services.record_update(
        instance=case.irae,
        data={"peak_prednisone_mg_per_day": None, "missing_answers": {"peak_prednisone_mg_per_day": "unknown"}},
        user=data_entry_a,
        channel="web",
    )
    assert _marks("adverse-event", case.irae.pk) == set()


def test_a_deletion_clears_the_marks_of_every_record_removed(site_a, coordinator, data_entry_a):
    case = complete_case(site_a, complete=False)
    _verify(coordinator, case.follow_up, "", "vital_status", record_type="follow-up")
    _verify(coordinator, case.episode, "start_date", record_type="episode")
    _verify(coordinator, case.irae, "grade")
    services.record_delete(instance=case.irae, user=data_entry_a, channel="web")
    assert _marks("adverse-event", case.irae.pk) == set()
    assert _marks("follow-up", case.follow_up.pk) == {"", "vital_status"}


def test_a_transfer_moves_the_marks_to_the_new_site(site_a, site_b, coordinator):
    case = complete_case(site_a, complete=False)
    _verify(coordinator, case.irae, "", "grade")
    _verify(coordinator, case.patient, "tumour_type", record_type="patient")
    services.patient_transfer(patient=case.patient, to_site=site_b, user=coordinator, reason="moved")
    assert set(SourceVerification.objects.values_list("site_id", flat=True)) == {site_b.pk}
    assert _marks("patient", case.patient.pk) == {"tumour_type"}


def test_removing_a_mark_is_audited(site_a, coordinator):
    case = complete_case(site_a)
    _verify(coordinator, case.irae, "grade")
    mark = SourceVerification.objects.get()
    signoff.record_unverify(user=coordinator, mark=mark)
    assert not SourceVerification.objects.exists()
    entry = AuditEntry.objects.filter(model_label="quality.sourceverification", action="delete").get()
    assert entry.changes["field"] == ["grade", None]


def test_verification_of_a_signed_case_is_allowed_and_does_not_change_it(site_a, site_pi_a, coordinator):
    case = signed_case(site_a, site_pi_a)
    _verify(coordinator, case.irae, "")
    case.patient.refresh_from_db()
    assert case.patient.signed_at is not None


# --- Pages ----------------------------------------------------------------------------------------------------


def _page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    verify_second_factor(client, user)
    return client


def test_the_verify_page_marks_and_removes_and_the_patient_page_shows_the_marks(site_a, coordinator, data_entry_a):
    case = complete_case(site_a)
    url = reverse("quality:case-verify", args=[case.patient.registry_id])
    client = _page_client(coordinator)
    page = client.get(url).content.decode()
    assert f'value="adverse-event:{case.irae.pk}:grade"' in page
    assert "local_identifier" not in page
    response = client.post(url, {"mark": [f"adverse-event:{case.irae.pk}:", f"adverse-event:{case.irae.pk}:grade"]})
    assert response.status_code == 302
    assert _marks("adverse-event", case.irae.pk) == {"", "grade"}

    patient_page = _page_client(data_entry_a).get(case.patient.get_absolute_url()).content.decode()
    assert f'data-sdv-field="adverse-event:{case.irae.pk}:grade"' in patient_page
    assert "✓ verified by coordinator on " in patient_page

    grade_mark = SourceVerification.objects.get(field="grade")
    client.post(url, {"unmark": [str(grade_mark.pk)]})
    assert _marks("adverse-event", case.irae.pk) == {""}


def test_the_verify_page_saves_nothing_when_one_mark_is_refused(site_a, coordinator):
    case = complete_case(site_a)
    other = complete_case(site_a)
    url = reverse("quality:case-verify", args=[case.patient.registry_id])
    response = _page_client(coordinator).post(
        url, {"mark": [f"adverse-event:{case.irae.pk}:grade", f"adverse-event:{other.irae.pk}:grade"]}
    )
    assert response.status_code == 200
    assert "Nothing was saved." in response.content.decode()
    assert not SourceVerification.objects.exists()


@pytest.mark.parametrize("who", ["data_entry_a", "site_pi_a"])
def test_the_verify_page_is_for_coordinators(request, site_a, who):
    case = complete_case(site_a)
    response = _page_client(request.getfixturevalue(who)).get(
        reverse("quality:case-verify", args=[case.patient.registry_id])
    )
    assert response.status_code == 403


# --- API ------------------------------------------------------------------------------------------------------


def test_the_api_marks_lists_and_removes_marks(site_a, site_b, coordinator, data_entry_a, data_entry_b):
    case = complete_case(site_a)
    other = complete_case(site_b)
    client = verified_session_client_for(coordinator)
    created = client.post(
        "/api/v1/source-verifications/",
        {"record_type": "adverse-event", "record_id": case.irae.pk, "field": "grade"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["site"], body["patient"], body["field"], body["verified_by"]) == (
        site_a.code,
        case.patient.registry_id,
        "grade",
        "coordinator",
    )
    client.post(
        "/api/v1/source-verifications/", {"record_type": "episode", "record_id": other.episode.pk}, format="json"
    )

    everything = client.get("/api/v1/source-verifications/").json()["results"]
    assert {row["site"] for row in everything} == {site_a.code, site_b.code}
    own = token_client_for(data_entry_a).get("/api/v1/source-verifications/").json()["results"]
    assert [row["id"] for row in own] == [body["id"]]
    assert client.get(f"/api/v1/source-verifications/?patient={other.patient.registry_id}").json()["count"] == 1

    assert token_client_for(data_entry_b).get(f"/api/v1/source-verifications/{body['id']}/").status_code == 404
    assert token_client_for(data_entry_a).delete(f"/api/v1/source-verifications/{body['id']}/").status_code == 403
    assert client.delete(f"/api/v1/source-verifications/{body['id']}/").status_code == 204
    assert _marks("adverse-event", case.irae.pk) == set()


def test_the_api_refuses_a_mark_from_center_staff_and_investigators(site_a, data_entry_a, investigator):
    case = complete_case(site_a)
    body = {"record_type": "adverse-event", "record_id": case.irae.pk}
    assert client_for(data_entry_a).post("/api/v1/source-verifications/", body, format="json").status_code == 403
    assert (
        verified_session_client_for(investigator).post("/api/v1/source-verifications/", body, format="json").status_code
        == 403
    )
    assert verified_session_client_for(investigator).get("/api/v1/source-verifications/").status_code == 403

"""The exports API and pages: who asks, who decides, downloads logged, links expiring with 410."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Role
from apps.assessments.demo import demo_registry_seed
from apps.exports import services
from apps.exports.models import ExportDownload, ExportProject, ExportRequest
from tests.apps.clinical.api_support import verified_session_client_for
from tests.conftest import verify_second_factor
from tests.factories import user_with_role

URL = "/api/v1/exports/"
BODY = {"project": None, "datasets": ["analysis"], "formats": ["csv"], "profile": "safe_harbor"}


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    """Builds are run by the tests themselves (the Celery task is tested with a real worker elsewhere)."""
    enqueued: list[int] = []
    monkeypatch.setattr(services, "_enqueue", enqueued.append)
    return enqueued


@pytest.fixture
def coordinator(db):
    return user_with_role(Role.COORDINATOR, username="coordinator-e")


def body(project, **changes):
    return {**BODY, "project": project.pk, **changes}


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    verify_second_factor(client, user)
    return client


@pytest.fixture
def ready(db, project, member, coordinator, django_capture_on_commit_callbacks):
    demo_registry_seed(sites=3, patients=40, seed=8)
    request = services.export_request_create(user=member, project=project, datasets=["analysis"], formats=["csv"])
    with django_capture_on_commit_callbacks(execute=True):
        services.export_request_approve(request=request, user=coordinator)
    built = services.export_request_build(request_id=request.pk)
    assert built.status == ExportRequest.Status.READY, built.message
    return built


def test_an_investigator_asks_a_coordinator_approves_and_the_build_is_enqueued(
    db, project, member, coordinator, no_worker, django_capture_on_commit_callbacks
):
    response = verified_session_client_for(member).post(URL, body(project, purpose="PFS2 by category"), format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["status"] == "requested" and created["export_id"] == f"EXP-{created['id']:06d}"
    assert created["requested_by"] == member.username and created["download_url"] is None
    with django_capture_on_commit_callbacks(execute=True):
        approved = verified_session_client_for(coordinator).post(
            f"{URL}{created['id']}/approve/", {"reason": "IRB on file"}, format="json"
        )
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == coordinator.username
    assert approved.json()["data_cut"] is not None
    assert no_worker == [created["id"]]
    again = verified_session_client_for(coordinator).post(f"{URL}{created['id']}/approve/", {}, format="json")
    assert again.status_code == 409


def test_refusing_needs_a_reason_which_the_investigator_reads(db, project, member, coordinator):
    request = services.export_request_create(user=member, project=project, datasets=["analysis"], formats=["csv"])
    client = verified_session_client_for(coordinator)
    assert client.post(f"{URL}{request.pk}/refuse/", {"reason": " "}, format="json").status_code == 400
    refused = client.post(f"{URL}{request.pk}/refuse/", {"reason": "Approval expired"}, format="json")
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    read = verified_session_client_for(member).get(f"{URL}{request.pk}/").json()
    assert read["reason"] == "Approval expired"


def test_who_may_ask_list_read_and_decide(db, project, member, coordinator, site_a):
    staff = user_with_role(Role.DATA_ENTRY, site=site_a)
    outsider = user_with_role(Role.INVESTIGATOR, username="not-a-member")
    request = services.export_request_create(user=member, project=project, datasets=["analysis"], formats=["csv"])
    staff_client = verified_session_client_for(staff)
    assert staff_client.get(URL).status_code == 403
    assert staff_client.post(URL, body(project), format="json").status_code == 403
    assert staff_client.get(f"{URL}{request.pk}/").status_code == 404
    coordinator_client = verified_session_client_for(coordinator)
    assert coordinator_client.post(URL, body(project), format="json").status_code == 403
    assert [row["id"] for row in coordinator_client.get(URL).json()["results"]] == [request.pk]
    outsider_client = verified_session_client_for(outsider)
    assert outsider_client.get(URL).json()["results"] == []
    assert outsider_client.get(f"{URL}{request.pk}/").status_code == 404
    assert outsider_client.post(URL, body(project), format="json").status_code == 400  # not among their projects
    member_client = verified_session_client_for(member)
    assert member_client.post(f"{URL}{request.pk}/approve/", {}, format="json").status_code == 403


def test_a_limited_data_set_needs_a_project_that_allows_it(db, project, member):
    client = verified_session_client_for(member)
    refused = client.post(URL, body(project, profile="limited_dataset"), format="json")
    assert refused.status_code == 400 and "profile" in refused.json()
    ExportProject.objects.filter(pk=project.pk).update(allows_limited_dataset=True)
    assert client.post(URL, body(project, profile="limited_dataset"), format="json").status_code == 201


def test_without_required_approval_a_request_is_approved_at_once(db, project, member, settings, no_worker):
    settings.EXPORTS_REQUIRE_APPROVAL = False
    request = services.export_request_create(user=member, project=project, datasets=["analysis"], formats=["csv"])
    assert request.status == ExportRequest.Status.APPROVED and request.data_cut is not None
    assert request.decided_by is None


def test_a_download_is_logged_with_who_when_which_request_and_sha256(ready, member, coordinator):
    response = verified_session_client_for(member).get(f"{URL}{ready.pk}/download/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    content = b"".join(response.streaming_content)
    assert hashlib.sha256(content).hexdigest() == ready.sha256 == response["X-Content-SHA256"]
    log = ExportDownload.objects.get()
    assert (log.request_id, log.user_id, log.sha256, log.channel) == (ready.pk, member.pk, ready.sha256, "api")
    assert timezone.now() - log.downloaded_at < dt.timedelta(minutes=1)
    page = page_client(member).get(reverse("exports:request-download", args=[ready.pk]))
    assert page.status_code == 200 and ExportDownload.objects.filter(channel="web").count() == 1
    # Coordinators approve but do not take data out.
    assert verified_session_client_for(coordinator).get(f"{URL}{ready.pk}/download/").status_code == 403
    assert page_client(coordinator).get(reverse("exports:request-download", args=[ready.pk])).status_code == 403
    assert ExportDownload.objects.count() == 2


def test_an_expired_link_answers_410_and_housekeeping_deletes_the_file(ready, member):
    ExportRequest.objects.filter(pk=ready.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert verified_session_client_for(member).get(f"{URL}{ready.pk}/download/").status_code == 410
    page = page_client(member).get(reverse("exports:request-download", args=[ready.pk]))
    assert page.status_code == 410 and "expired" in page.content.decode()
    detail = page_client(member).get(ready.get_absolute_url()).content.decode()
    assert 'id="export-expired"' in detail and 'id="download-bundle"' not in detail
    path = services.exports_dir() / ready.file_path
    assert path.exists()
    assert services.exports_expire() == [ready.pk]
    assert not path.exists() and ExportRequest.objects.get(pk=ready.pk).status == ExportRequest.Status.EXPIRED
    assert verified_session_client_for(member).get(f"{URL}{ready.pk}/download/").status_code == 410
    assert not ExportDownload.objects.exists()


def test_pages_request_approve_and_show_progress(db, project, member, coordinator, no_worker):
    investigator = page_client(member)
    form = investigator.get(reverse("exports:request-create", args=[project.pk]))
    assert form.status_code == 200 and "limited_dataset" not in form.content.decode()
    response = investigator.post(
        reverse("exports:request-create", args=[project.pk]),
        {"datasets": ["analysis", "iraes"], "formats": ["csv", "xlsx"], "profile": "safe_harbor", "purpose": "x"},
    )
    request = ExportRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == request.get_absolute_url()
    assert request.datasets == ["analysis", "iraes"] and request.formats == ["csv", "xlsx"]
    queue = page_client(coordinator).get(reverse("exports:queue"))
    assert request.export_id in queue.content.decode()
    decided = page_client(coordinator).post(
        reverse("exports:request-decide", args=[request.pk]), {"decision": "approve", "reason": ""}
    )
    assert decided.status_code == 302
    request.refresh_from_db()
    assert request.status == ExportRequest.Status.APPROVED and request.decided_by == coordinator
    detail = investigator.get(request.get_absolute_url()).content.decode()
    assert 'http-equiv="refresh"' in detail and "Approved, waiting for a worker" in detail


def test_the_investigator_home_lists_projects_ready_downloads_and_validation_reports(ready, member, project):
    home = page_client(member).get(reverse("home")).content.decode()
    assert 'id="home-exports"' in home and project.title in home and ready.export_id in home
    assert reverse("validation:run-list") in home
    index = page_client(member).get(reverse("exports:index")).content.decode()
    assert 'id="ready-downloads"' in index and reverse("exports:request-download", args=[ready.pk]) in index
    assert 'id="validation-reports"' in index


def test_center_staff_reach_no_export_page(db, site_a, project, ready):
    staff = user_with_role(Role.SITE_PI, site=site_a)
    client = Client()
    client.force_login(staff)
    for url in (
        reverse("exports:index"),
        reverse("exports:project-detail", args=[project.pk]),
        reverse("exports:request-create", args=[project.pk]),
        reverse("exports:request-detail", args=[ready.pk]),
        reverse("exports:request-download", args=[ready.pk]),
    ):
        assert client.get(url).status_code == 403, url
    assert 'id="home-exports"' not in client.get(reverse("home")).content.decode()

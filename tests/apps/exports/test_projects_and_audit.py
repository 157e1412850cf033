"""Coordinators create export projects and choose their members; decisions, downloads and member changes are
written into the hash-chained audit trail."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from apps.accounts.models import Role
from apps.assessments.demo import demo_registry_seed
from apps.core.models import AuditAction, AuditEntry
from apps.exports import services
from apps.exports.models import ExportDownload, ExportProject, ExportRequest
from tests.apps.clinical.api_support import verified_session_client_for
from tests.apps.exports.test_api_and_pages import page_client
from tests.factories import user_with_role


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    monkeypatch.setattr(services, "_enqueue", lambda pk: None)


@pytest.fixture
def coordinator(db):
    return user_with_role(Role.COORDINATOR, username="coordinator-p")


def entries_for(instance) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(model_label=instance._meta.label_lower, object_id=str(instance.pk)).order_by(
            "chain", "sequence"
        )
    )


def verify_audit() -> dict:
    """``manage.py verify_audit``'s report (it raises when a chain is broken)."""
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    return json.loads(out.getvalue())


def test_a_coordinator_creates_a_project_and_adds_and_removes_investigators_on_the_page(db, coordinator, member):
    client = page_client(coordinator)
    form = client.get(reverse("exports:project-create"))
    assert form.status_code == 200 and 'name="allows_limited_dataset"' in form.content.decode()
    response = client.post(
        reverse("exports:project-create"),
        {"title": "Colitis after rechallenge", "approval_reference": "IRB-2026-031", "k": "7"},
    )
    project = ExportProject.objects.get(title="Colitis after rechallenge")
    assert response.status_code == 302 and response["Location"] == reverse("exports:project-members", args=[project.pk])
    assert (project.approval_reference, project.k, project.allows_limited_dataset) == ("IRB-2026-031", 7, False)
    (created,) = entries_for(project)
    assert created.action == AuditAction.CREATE and created.user == coordinator
    assert created.changes["approval_reference"] == [None, "IRB-2026-031"]

    added = client.post(reverse("exports:project-members", args=[project.pk]), {"member": str(member.pk)})
    assert added.status_code == 302 and list(project.members.all()) == [member]
    removed = client.post(reverse("exports:project-members", args=[project.pk]), {"remove": str(member.pk)})
    assert removed.status_code == 302 and not project.members.exists()
    changes = [entry.changes["members"] for entry in entries_for(project)[1:]]
    assert changes == [[[], [member.username]], [[member.username], []]]
    assert all(entry.action == AuditAction.UPDATE for entry in entries_for(project)[1:])
    assert verify_audit()["broken"] == []


def test_the_project_form_and_the_member_form_say_what_is_wrong_beside_the_field(db, coordinator, site_a):
    client = page_client(coordinator)
    page = client.post(reverse("exports:project-create"), {"title": "", "approval_reference": "", "k": "1"})
    assert page.status_code == 200 and not ExportProject.objects.exists()
    errors = page.context["form"].errors
    assert set(errors) == {"title", "approval_reference", "k"}
    project = ExportProject.objects.create(title="P", approval_reference="IRB-1")
    staff = user_with_role(Role.DATA_ENTRY, site=site_a)
    page = client.post(reverse("exports:project-members", args=[project.pk]), {"member": str(staff.pk)})
    assert page.status_code == 200 and "only investigators can be members" in page.context["form"].errors["member"][0]
    assert not project.members.exists() and not entries_for(project)


def test_only_investigators_become_members_and_only_coordinators_change_projects(db, coordinator, member, site_a):
    project = ExportProject.objects.create(title="P", approval_reference="IRB-1")
    staff = user_with_role(Role.SITE_PI, site=site_a)
    with pytest.raises(services.ApplicationError) as refused:
        services.export_project_member_add(user=coordinator, project=project, member=staff)
    assert "member" in refused.value.field_errors
    for user in (member, staff):
        with pytest.raises(services.ApplicationError) as forbidden:
            services.export_project_create(user=user, title="T", approval_reference="IRB-2")
        assert forbidden.value.status == 403
        assert page_client(user).get(reverse("exports:project-members", args=[project.pk])).status_code == 403
    services.export_project_member_add(user=coordinator, project=project, member=member)
    with pytest.raises(services.ApplicationError) as twice:
        services.export_project_member_add(user=coordinator, project=project, member=member)
    assert "already a member" in twice.value.field_errors["member"][0]


def test_an_approval_a_refusal_and_a_download_each_add_a_chained_entry_and_the_trail_verifies(
    db, project, member, coordinator
):
    demo_registry_seed(sites=3, patients=40, seed=8)
    before = AuditEntry.objects.count()
    refused = services.export_request_create(user=member, project=project, datasets=["analysis"], formats=["csv"])
    services.export_request_refuse(request=refused, user=coordinator, reason="Purpose not covered by the approval.")
    (refusal,) = entries_for(refused)
    assert refusal.changes == {"status": ["requested", "refused"]}
    assert refusal.reason == "Purpose not covered by the approval." and refusal.user == coordinator

    request = services.export_request_create(user=member, project=project, datasets=["analysis"], formats=["csv"])
    services.export_request_approve(request=request, user=coordinator, reason="Within IRB scope.")
    (approval,) = entries_for(request)
    assert approval.action == AuditAction.UPDATE and approval.model_label == "exports.exportrequest"
    assert approval.changes["status"] == ["requested", "approved"] and approval.reason == "Within IRB scope."
    assert approval.previous_hash == refusal.entry_hash  # one chain: entries of no site follow each other

    built = services.export_request_build(request_id=request.pk)
    assert built.status == ExportRequest.Status.READY, built.message
    response = verified_session_client_for(member).get(f"/api/v1/exports/{built.pk}/download/")
    assert response.status_code == 200
    download = ExportDownload.objects.get()
    (logged,) = entries_for(download)
    assert logged.action == AuditAction.CREATE and logged.user == member and logged.channel == "api"
    assert logged.changes == {"export": [None, built.export_id], "sha256": [None, built.sha256]}
    assert logged.previous_hash == approval.entry_hash
    assert AuditEntry.objects.count() == before + 3
    assert verify_audit()["broken"] == []

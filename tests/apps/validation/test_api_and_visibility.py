"""Who reads which run, and ``/api/v1/validation-runs/``: lists without metrics, details with them, "run now"."""

from __future__ import annotations

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.accounts.models import Membership, Role
from apps.validation import services
from apps.validation.models import ValidationRun
from apps.validation.selectors import (
    metrics_for_user,
    site_rows_of,
    validation_run_get_for_user,
    validation_run_list_for_user,
)
from tests.apps.clinical.api_support import token_client_for, verified_session_client_for
from tests.factories import UserFactory, user_with_role

pytestmark = pytest.mark.django_db

SITE_LISTS = ("cells_pooled", "cells_not_estimable", "small_cells_pooled")


def _site_codes_anywhere(metrics: dict) -> set[str]:
    """Every site code a population's per-site rows or their summaries name."""
    codes: set[str] = set()
    for population in metrics["populations"].values():
        by_site = population["heterogeneity"]["by_site"]
        codes |= set(by_site["cells"])
        for summary in by_site["summary"].values():
            for key in SITE_LISTS:
                codes |= set(summary[key])
    return codes


# --- visibility ------------------------------------------------------------------------------------------


def test_a_center_user_reads_the_registry_wide_figures_and_only_their_own_sites_rows(
    lung_run, data_entry_a, site_pi_a, data_entry_b
):
    whole = lung_run.metrics
    assert _site_codes_anywhere(whole) == {"AAA", "BBB"}

    for user, own in ((data_entry_a, "AAA"), (site_pi_a, "AAA"), (data_entry_b, "BBB")):
        seen = metrics_for_user(lung_run, user)
        assert _site_codes_anywhere(seen) == {own}
        assert site_rows_of(seen) == [own]
        assert seen["visibility"]["sites"] == [own]
        # Registry-wide figures are whole.
        for population in ("primary", "all_locked"):
            mine, all_ = seen["populations"][population], whole["populations"][population]
            for key in ("n", "excluded", "categories", "logrank", "cox", "c_index", "auc_6m", "recurrence"):
                assert mine[key] == all_[key]
            assert mine["heterogeneity"]["by_tissue"] == all_["heterogeneity"]["by_tissue"]
            assert mine["heterogeneity"]["by_site"]["cells"][own] == all_["heterogeneity"]["by_site"]["cells"][own]
    assert _site_codes_anywhere(ValidationRun.objects.get(pk=lung_run.pk).metrics) == {"AAA", "BBB"}  # stored whole


def test_coordinators_administrators_and_investigators_read_every_row(lung_run, coordinator, admin_user, investigator):
    for user in (coordinator, admin_user, investigator):
        assert metrics_for_user(lung_run, user) == lung_run.metrics


def test_a_site_member_who_is_also_an_investigator_counts_as_center_staff(lung_run, site_a):
    user = user_with_role(Role.INVESTIGATOR, username="both")
    Membership.objects.create(user=user, site=site_a, role=Role.DATA_ENTRY)
    assert site_rows_of(metrics_for_user(lung_run, user)) == ["AAA"]


def test_a_user_without_a_role_reads_no_run(lung_run):
    stranger = UserFactory(username="stranger")
    assert metrics_for_user(lung_run, stranger) is None
    assert not validation_run_list_for_user(user=stranger).exists()
    with pytest.raises(Http404):
        validation_run_get_for_user(user=stranger, run_id=lung_run.pk)


# --- the API ----------------------------------------------------------------------------------------------

LIST_FIELDS = {
    "id",
    "status",
    "trigger",
    "model_version",
    "model_hash",
    "data_cut",
    "data_hash",
    "code_version",
    "library_versions",
    "runtime_seconds",
    "started_by",
    "is_synthetic",
    "progress",
    "message",
    "created_at",
    "started_at",
    "finished_at",
}


def test_the_list_has_no_metrics_and_the_detail_has_them_as_the_user_may_read_them(lung_run, data_entry_a):
    client = token_client_for(data_entry_a)
    listed = client.get("/api/v1/validation-runs/")
    assert listed.status_code == 200
    (row,) = listed.json()["results"]
    assert set(row) == LIST_FIELDS
    assert (row["id"], row["status"], row["data_hash"]) == (lung_run.pk, "succeeded", lung_run.data_hash)

    detail = client.get(f"/api/v1/validation-runs/{lung_run.pk}/")
    assert detail.status_code == 200
    body = detail.json()
    assert set(body) == LIST_FIELDS | {"metrics"}
    assert site_rows_of(body["metrics"]) == ["AAA"]
    assert body["metrics"]["populations"]["primary"]["n"] == 228
    assert "BBB" not in detail.content.decode()


def test_a_coordinator_reads_every_site_in_the_detail(lung_run, coordinator):
    body = verified_session_client_for(coordinator).get(f"/api/v1/validation-runs/{lung_run.pk}/").json()
    assert site_rows_of(body["metrics"]) == ["AAA", "BBB"]
    assert "visibility" not in body["metrics"]


def test_the_list_answers_in_a_fixed_number_of_queries(lung_run, data_entry_a, no_enqueue, coordinator):
    for _ in range(3):
        services.validation_run_create(user=coordinator, trigger=ValidationRun.Trigger.MANUAL)
    client = token_client_for(data_entry_a)
    client.get("/api/v1/validation-runs/")  # warm: token and memberships
    with CaptureQueriesContext(connection) as few:
        assert len(client.get("/api/v1/validation-runs/").json()["results"]) == 4
    for _ in range(5):
        services.validation_run_create(user=coordinator, trigger=ValidationRun.Trigger.MANUAL)
    with CaptureQueriesContext(connection) as more:
        assert len(client.get("/api/v1/validation-runs/").json()["results"]) == 9
    assert len(more) == len(few) <= 8
    assert not any("metrics_json" in query["sql"] for query in more.captured_queries if "validationrun" in query["sql"])


def test_reads_answer_401_403_and_404_as_documented(lung_run, investigator):
    assert APIClient().get("/api/v1/validation-runs/").status_code == 401
    stranger = token_client_for(UserFactory(username="stranger"))
    assert stranger.get("/api/v1/validation-runs/").status_code == 403
    assert stranger.get(f"/api/v1/validation-runs/{lung_run.pk}/").status_code == 404
    reader = verified_session_client_for(investigator)
    assert reader.get(f"/api/v1/validation-runs/{lung_run.pk}/").status_code == 200
    for missing in ("0", "999999", "abc", "-1"):
        answer = reader.get(f"/api/v1/validation-runs/{missing}/")
        assert answer.status_code == 404 and answer["Content-Type"].startswith("application/json")


def test_a_coordinator_starts_a_run_which_answers_202_pending(coordinator, monkeypatch):
    enqueued = []
    monkeypatch.setattr(services, "_enqueue", enqueued.append)
    client = verified_session_client_for(coordinator)
    answer = client.post("/api/v1/validation-runs/", {"model_version": "1.0"}, format="json")
    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert (body["status"], body["model_version"], body["trigger"], body["started_by"]) == (
        "pending",
        "1.0",
        "manual",
        "coordinator",
    )
    assert body["metrics"] is None
    run = ValidationRun.objects.get(pk=body["id"])
    assert run.started_by == coordinator
    # Enqueued once the request's transaction commits (ATOMIC_REQUESTS); inside the test's it never does.
    assert enqueued in ([], [run.pk])

    default = client.post("/api/v1/validation-runs/", {}, format="json").json()
    assert default["model_version"] == "1.1"
    refused = client.post("/api/v1/validation-runs/", {"model_version": "3.0"}, format="json")
    assert refused.status_code == 400 and "model_version" in refused.json()


def test_center_staff_and_investigators_cannot_start_a_run(data_entry_a, investigator, no_enqueue):
    for client in (token_client_for(data_entry_a), verified_session_client_for(investigator)):
        answer = client.post("/api/v1/validation-runs/", {}, format="json")
        assert answer.status_code == 403
        assert answer.json() == {"detail": services.ONLY_COORDINATORS}
    assert not ValidationRun.objects.exists()


def test_the_schema_documents_the_operations():
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    assert set(schema["paths"]["/api/v1/validation-runs/"]) >= {"get", "post"}
    assert set(schema["paths"]["/api/v1/validation-runs/{id}/"]) - {"parameters"} == {"get"}
    assert "202" in schema["paths"]["/api/v1/validation-runs/"]["post"]["responses"]

"""Building exports: what the tables hold, the same bytes on the same data cut, filters, the command, takeovers."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import subprocess
import sys
import zipfile

import pandas as pd
import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count

from apps.accounts.models import Role
from apps.assessments.demo import demo_registry_seed
from apps.assessments.models import Assessment
from apps.clinical.derived import timeline_derived
from apps.clinical.models import Patient, RechallengeEpisode
from apps.clinical.selectors import patient_timelines
from apps.core.jobs import worker_identity
from apps.exports import services
from apps.exports.models import ExportProject, ExportRequest
from registry.deid import pseudonym
from tests.factories import user_with_role

CUT = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def registry(db):
    demo_registry_seed(sites=3, patients=60, seed=5)


@pytest.fixture
def coordinator(db):
    return user_with_role(Role.COORDINATOR)


def approved(project, member, coordinator, **options) -> ExportRequest:
    options.setdefault("datasets", ["analysis", "iraes", "responses", "follow_ups"])
    options.setdefault("formats", ["csv", "parquet"])
    request = services.export_request_create(user=member, project=project, **options)
    return services.export_request_approve(request=request, user=coordinator)


def files_of(bundle: bytes) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(bundle))
    return {name: archive.read(name) for name in archive.namelist()}


def bundle_of(request: ExportRequest) -> bytes:
    return (services.exports_dir() / request.file_path).read_bytes()


def test_the_analysis_table_has_one_row_per_episode_with_the_locked_assessment_and_derived_endpoints(
    registry, project, member, coordinator
):
    built = services.export_request_build(request_id=approved(project, member, coordinator).pk)
    assert built.status == ExportRequest.Status.READY, built.message
    assert built.sha256 == hashlib.sha256(bundle_of(built)).hexdigest()
    files = files_of(bundle_of(built))
    assert {"analysis.csv", "codebook.csv", "codebook.json", "README.txt", "manifest.json"} <= set(files)
    table = pd.read_csv(io.BytesIO(files["analysis.csv"]), keep_default_na=False)
    episodes = RechallengeEpisode.objects.select_related("patient")
    assert len(table) == episodes.count()
    key = services.export_key()
    rows = {(row.patient_pseudonym, int(row.episode_sequence)): row for row in table.itertuples()}
    latest = {}
    for assessment in Assessment.objects.order_by("assessed_at", "pk"):
        latest[assessment.episode_id] = assessment
    timelines = patient_timelines(patient_ids=Patient.objects.values_list("pk", flat=True), with_assessments=False)
    derived = {pk: values for timeline in timelines.values() for pk, values in timeline_derived(timeline)[1].items()}
    checked = 0
    for episode in episodes:
        row = rows[(pseudonym(key, project.pseudonym_scope, episode.patient_id), episode.sequence_number)]
        locked = latest.get(episode.pk)
        assert row.assessment_category == (locked.category if locked else "")
        assert row.assessment_model_version == (locked.model_version if locked else "")
        if locked:
            assert int(row.assessment_score) == locked.score
            levels = {factor["factor"]: factor["level"] for factor in locked.factors}
            assert row.assessment_factor_pfs1 == levels["pfs1"]
        expected = derived[episode.pk].as_row()
        for name in ("pfs2_months", "os_months"):
            value = expected.get(name)
            released = getattr(row, name)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                assert released == ""
            else:
                assert float(released) == pytest.approx(value, abs=1e-6)
        assert str(row.pfs2_event) != ""
        checked += 1
    assert checked == len(table)
    # No registry ID, no date: relative days only.
    assert not set(table.columns) & {"registry_id", "local_identifier", "date_of_birth", "year_of_birth"}
    assert "episode_start_day" in table.columns and (table["episode_start_day"].astype(int) >= 0).all()
    manifest = json.loads(files["manifest.json"])
    assert manifest["export_id"] == built.export_id and manifest["approver"] == coordinator.username
    assert manifest["tables"]["analysis"]["rows"] == len(table)
    names = [entry["name"] for entry in manifest["files"]]
    for entry in manifest["files"]:
        assert entry["sha256"] == hashlib.sha256(files[entry["name"]]).hexdigest()
    assert names == [name for name in files if name != "manifest.json"]
    assert built.manifest == manifest


def test_the_same_request_on_an_unchanged_data_cut_gives_identical_files(registry, project, member, coordinator):
    first = services.export_request_build(request_id=approved(project, member, coordinator).pk)
    bundle = bundle_of(first)
    # A worker that died after writing: the request is built again from the start, with the same bytes.
    ExportRequest.objects.filter(pk=first.pk).update(status=ExportRequest.Status.BUILDING, claimed_by=dead_worker())
    again = services.export_request_build(request_id=first.pk)
    assert again.status == ExportRequest.Status.READY and again.attempts == 2
    assert bundle_of(again) == bundle and again.sha256 == first.sha256
    # Another request of the project on the same cut: the same data files (only the manifest names another id).
    second = approved(project, member, coordinator)
    ExportRequest.objects.filter(pk=second.pk).update(data_cut=first.data_cut)
    second = services.export_request_build(request_id=second.pk)
    a, b = files_of(bundle), files_of(bundle_of(second))
    data = [name for name in a if name.endswith((".csv", ".parquet", ".json")) and name != "manifest.json"]
    assert data and all(a[name] == b[name] for name in data)


def test_pseudonyms_differ_between_projects(registry, project, member, coordinator):
    other = ExportProject.objects.create(title="Other", approval_reference="IRB-2")
    other.members.add(member)
    one = services.export_request_build(request_id=approved(project, member, coordinator, datasets=["analysis"]).pk)
    two = services.export_request_build(request_id=approved(other, member, coordinator, datasets=["analysis"]).pk)
    first = set(pd.read_csv(io.BytesIO(files_of(bundle_of(one))["analysis.csv"]))["patient_pseudonym"])
    second = set(pd.read_csv(io.BytesIO(files_of(bundle_of(two))["analysis.csv"]))["patient_pseudonym"])
    assert len(first) == Patient.objects.filter(episodes__isnull=False).distinct().count()
    assert not first & second


def test_filters_keep_only_the_chosen_tumour_types_and_sites(registry, project, member, coordinator):
    tumour, site = (
        Patient.objects.values_list("tumour_type", "site__code")
        .annotate(n=Count("episodes"))
        .order_by("-n", "tumour_type", "site__code")
        .values_list("tumour_type", "site__code")
        .first()
    )
    request = approved(
        project, member, coordinator, datasets=["analysis"], filters={"tumour_types": [tumour], "sites": [site]}
    )
    built = services.export_request_build(request_id=request.pk)
    expected = RechallengeEpisode.objects.filter(patient__tumour_type=tumour, patient__site__code=site).count()
    assert built.status == ExportRequest.Status.READY, built.message
    assert built.manifest["tables"]["analysis"]["rows"] == expected > 0
    assert built.manifest["filters"] == {"sites": [site], "tumour_types": [tumour]}


def test_too_few_patients_for_k_fails_with_a_reason_that_names_no_value(registry, project, member, coordinator):
    patient = Patient.objects.filter(episodes__isnull=False).first()
    request = approved(project, member, coordinator, datasets=["analysis"], filters={"sites": [patient.site.code]})
    ExportRequest.objects.filter(pk=request.pk).update(k=500)
    built = services.export_request_build(request_id=request.pk)
    assert built.status == ExportRequest.Status.FAILED
    assert "fewer than k = 500 patients" in built.message and not built.file_path


def test_a_build_claimed_by_a_live_worker_is_left_alone(registry, project, member, coordinator):
    request = approved(project, member, coordinator)
    live = f"{worker_identity().rpartition(':')[0]}:1"  # on SQLite: pid 1 is alive
    ExportRequest.objects.filter(pk=request.pk).update(status=ExportRequest.Status.BUILDING, claimed_by=live)
    other = None
    if connection.vendor == "postgresql":  # on PostgreSQL a live builder is a session holding the job's lease
        import psycopg

        from apps.core.jobs import _lock_keys

        db = connection.settings_dict
        other = psycopg.connect(dbname=db["NAME"], host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"])
        other.execute("SELECT pg_advisory_lock(%s, %s)", list(_lock_keys(services.JOB_KIND, request.pk)))
    try:
        assert services.export_request_build(request_id=request.pk).status == ExportRequest.Status.BUILDING
    finally:
        if other is not None:
            other.close()


def test_a_refused_or_waiting_request_is_never_built(registry, project, member, coordinator):
    waiting = services.export_request_create(user=member, project=project, datasets=["analysis"], formats=["csv"])
    assert services.export_request_build(request_id=waiting.pk).status == ExportRequest.Status.REQUESTED
    refused = services.export_request_refuse(request=waiting, user=coordinator, reason="No approval on file")
    assert services.export_request_build(request_id=refused.pk).status == ExportRequest.Status.REFUSED


def test_build_export_command_writes_the_same_bundle_twice(registry, tmp_path):
    options = ["--dataset", "analysis", "--profile", "safe_harbor", "--formats", "csv,parquet,dta,sav,xlsx"]
    cut = ["--data-cut", "2030-01-01T00:00:00Z"]
    out = io.StringIO()
    call_command("build_export", *options, *cut, "--output", str(tmp_path / "a.zip"), stdout=out, stderr=io.StringIO())
    call_command(
        "build_export", *options, *cut, "--output", str(tmp_path / "b.zip"), stdout=io.StringIO(), stderr=io.StringIO()
    )
    a, b = (tmp_path / "a.zip").read_bytes(), (tmp_path / "b.zip").read_bytes()
    assert a == b
    assert hashlib.sha256(a).hexdigest() in out.getvalue()
    files = files_of(a)
    assert {f"analysis.{ext}" for ext in ("csv", "parquet", "dta", "sav", "xlsx")} <= set(files)
    assert json.loads(files["manifest.json"])["tables"]["analysis"]["rows"] == RechallengeEpisode.objects.count()


def test_the_pseudonym_key_is_generated_once_outside_the_database(settings, tmp_path):
    key = services.export_key()
    assert len(key) == 32 and services.export_key() == key
    assert (tmp_path / "export.key").stat().st_mode & 0o777 == 0o600
    settings.REGISTRY_EXPORT_KEY = "ab" * 32
    assert services.export_key() == bytes.fromhex("ab" * 32)


def dead_worker() -> str:
    """host:pid of a process that has exited (its claim can be taken over)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{worker_identity().rpartition(':')[0]}:{child.pid}"


def test_a_limited_data_set_shifts_each_patients_dates_by_one_offset_within_the_window(
    registry, project, member, coordinator
):
    ExportProject.objects.filter(pk=project.pk).update(allows_limited_dataset=True)
    project.refresh_from_db()
    request = approved(project, member, coordinator, datasets=["analysis"], profile="limited_dataset")
    built = services.export_request_build(request_id=request.pk)
    assert built.status == ExportRequest.Status.READY, built.message
    table = pd.read_csv(io.BytesIO(files_of(bundle_of(built))["analysis.csv"]), keep_default_na=False)
    key = services.export_key()
    by_pseudonym = {
        pseudonym(key, project.pseudonym_scope, pk): pk for pk in Patient.objects.values_list("pk", flat=True)
    }
    offsets: dict[int, set[int]] = {}
    for row in table.itertuples():
        episode = RechallengeEpisode.objects.get(
            patient_id=by_pseudonym[row.patient_pseudonym], sequence_number=int(row.episode_sequence)
        )
        shift = (dt.date.fromisoformat(row.episode_start_date) - episode.start_date).days
        offsets.setdefault(episode.patient_id, set()).add(shift)
    assert all(len(shifts) == 1 for shifts in offsets.values())  # one offset per patient
    shifts = {next(iter(s)) for s in offsets.values()}
    assert all(1 <= abs(shift) <= 180 for shift in shifts) and len(shifts) > 10


def test_a_missing_data_code_is_released_in_its_own_column_never_as_the_value(registry, project, member, coordinator):
    from apps.clinical.models import AdverseEvent

    episode = RechallengeEpisode.objects.select_related("patient").order_by("pk").first()
    RechallengeEpisode.objects.filter(pk=episode.pk).update(
        ldh_above_uln=None, missing_answers={"ldh_above_uln": "not_done"}
    )
    irae = AdverseEvent.objects.filter(episode__isnull=True).order_by("pk").first()
    AdverseEvent.objects.filter(pk=irae.pk).update(hospitalised=None, missing_answers={"hospitalised": "unknown"})
    built = services.export_request_build(request_id=approved(project, member, coordinator).pk)
    assert built.status == ExportRequest.Status.READY, built.message
    files = files_of(bundle_of(built))

    analysis = pd.read_csv(io.BytesIO(files["analysis.csv"]), keep_default_na=False, dtype=str)
    name = pseudonym(services.export_key(), project.pseudonym_scope, episode.patient_id)
    row = analysis[(analysis.patient_pseudonym == name) & (analysis.episode_sequence == str(episode.sequence_number))]
    assert row.episode_ldh_above_uln.tolist() == [""]
    assert row.episode_ldh_above_uln_missing.tolist() == ["not_done"]
    assert (analysis.episode_ldh_above_uln_missing != "").sum() == 1
    # A date's code follows the date's released name (whole days from the first rechallenge start).
    assert "ici1_stop_day_missing" in analysis.columns and "ici1_stop_date_missing" not in analysis.columns
    iraes = pd.read_csv(io.BytesIO(files["iraes.csv"]), keep_default_na=False, dtype=str)
    assert iraes.hospitalised_missing.value_counts().to_dict() == {"": len(iraes) - 1, "unknown": 1}
    assert set(iraes.columns) >= {"resolution_day_missing", "peak_prednisone_mg_per_day_missing"}
    assert pd.read_parquet(io.BytesIO(files["analysis.parquet"])).episode_ldh_above_uln_missing.notna().sum() == 1

    codebook = json.loads(files["codebook.json"])["tables"]
    entry = next(c for c in codebook["analysis"]["columns"] if c["column"] == "episode_ldh_above_uln_missing")
    assert entry["values"] == [["not_done", "Not done"], ["unknown", "Unknown"], ["not_applicable", "Not applicable"]]
    value = next(c for c in codebook["analysis"]["columns"] if c["column"] == "episode_ldh_above_uln")
    assert "episode_ldh_above_uln_missing" in value["missing"][0][1]

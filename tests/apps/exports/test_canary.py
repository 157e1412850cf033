"""The canary test through the application: identifying values planted in the database never reach a bundle.

Seeded patients get names, hospital numbers, phone numbers and e-mail addresses in every identifier and
free-text field of the clinical records and the locked assessments (every text field without choices:
local identifier, histology, the re-assessment reason…), exact dates of birth, and their exact event
dates as recorded. A ``safe_harbor`` request is built by the service the Celery task runs, in every
format; the bundle's bytes (zip members and xlsx parts decompressed) and the values read back from
Parquet, .dta, .sav and .xlsx hold none of them. A negative control releases free text and finds them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import zipfile

import pandas as pd
import pytest
from django.db import models

from apps.accounts.models import Role
from apps.assessments.demo import demo_registry_seed
from apps.assessments.models import Assessment
from apps.assessments.services import assessment_lock
from apps.clinical.models import Patient
from apps.core.records import record_types
from apps.exports import services
from apps.exports.models import ExportRequest
from registry.deid import SAFE_HARBOR, Flag
from tests.factories import user_with_role
from tests.registry.deid.test_canary import date_spellings, leaks, read_back_values, searchable_bytes

ALL_TABLES = ["analysis", "iraes", "responses", "follow_ups"]
ALL_FORMATS = ["csv", "parquet", "dta", "sav", "xlsx"]


def canary(row: int) -> dict[str, str]:
    return {
        "name": f"Zephyrine Quackenbush{row}",
        "hospital_number": f"MRN-CNRY-{row:06d}",
        "phone": f"+44 20 7946 {row:04d}",
        "email": f"zq{row}@canary-hospital.example",
    }


def free_text(row: int, limit: int | None) -> str:
    c = canary(row)
    text = f"{c['name']} {c['hospital_number']} {c['phone']} {c['email']}"
    return text if limit is None or len(text) <= limit else c["hospital_number"][:limit]


def _text_fields(model: type[models.Model]) -> list[models.Field]:
    """Identifier-bearing and free-text fields: every text field without choices, but the registry ID (its own
    canary, as generated) and the MedDRA code (a code the registry fills from the CTCAE term)."""
    return [
        field
        for field in model._meta.concrete_fields
        if isinstance(field, models.CharField | models.TextField)
        and not field.choices
        and field.name not in ("registry_id", "meddra_code")
    ]


def plant(patients) -> tuple[set[str], set[dt.date], list[tuple[str, str]]]:
    """Canaries in every text field of every record of the patients; exact births; the event dates as recorded."""
    canaries: set[str] = {"Zephyrine", "Quackenbush", "canary-hospital"}
    births: set[dt.date] = set()
    for row, patient in enumerate(patients):
        birth = dt.date(1951, 7, 13) + dt.timedelta(days=row)
        births.add(birth)
        Patient.objects.filter(pk=patient.pk).update(date_of_birth=birth, year_of_birth=birth.year)
        canaries |= set(canary(row).values())
        canaries.add(patient.registry_id)
    planted_fields = []
    for record_type in record_types():
        model = record_type.model
        path = "__".join((*record_type.patient_path, "in")) if record_type.patient_path else "pk__in"
        for field in _text_fields(model):
            planted_fields.append((model.__name__, field.name))
            for row, patient in enumerate(patients):
                where = {path: [patient.pk]} if record_type.patient_path else {"pk": patient.pk}
                model.objects.filter(**where).update(**{field.name: free_text(row, field.max_length)})
    # The locked assessments' free text: a re-assessment, locked with a reason, of each enrolled episode.
    for row, patient in enumerate(patients):
        for latest in Assessment.objects.filter(episode__patient=patient).order_by("episode_id", "-assessed_at"):
            if Assessment.objects.filter(supersedes=latest).exists():
                continue
            assessment_lock(
                episode=latest.episode,
                user=None,
                version=latest.model_version,
                is_reassessment=True,
                supersedes=latest,
                reason=free_text(row, None),
            )
    planted_fields.append(("Assessment", "reason"))
    events: set[dt.date] = set()
    for record_type in record_types():
        model = record_type.model
        for field in model._meta.concrete_fields:
            if isinstance(field, models.DateField) and not isinstance(field, models.DateTimeField):
                events |= {day for day in model.objects.values_list(field.name, flat=True) if day is not None}
    return canaries, births | events, planted_fields


@pytest.fixture
def canary_export(db, project, member):
    demo_registry_seed(sites=3, patients=70, seed=11)
    patients = list(Patient.objects.order_by("pk"))
    canaries, dates, planted_fields = plant(patients)
    coordinator = user_with_role(Role.COORDINATOR)
    request = services.export_request_create(
        user=member, project=project, datasets=ALL_TABLES, formats=ALL_FORMATS, profile="safe_harbor"
    )
    services.export_request_approve(request=request, user=coordinator)
    built = services.export_request_build(request_id=request.pk)
    assert built.status == ExportRequest.Status.READY, built.message
    bundle = (services.exports_dir() / built.file_path).read_bytes()
    return built, bundle, canaries, dates, planted_fields


def test_canaries_are_planted_in_identifier_and_free_text_fields(canary_export):
    _, _, canaries, dates, planted_fields = canary_export
    assert {"Zephyrine", "MRN-CNRY-000069", "+44 20 7946 0069"} <= canaries
    assert ("Patient", "local_identifier") in planted_fields and ("Patient", "histology") in planted_fields
    assert ("Assessment", "reason") in planted_fields
    assert Patient.objects.filter(local_identifier__startswith="MRN-CNRY-").count() == 70
    assert Patient.objects.filter(histology__contains="canary-hospital").count() == 70
    assert Assessment.objects.filter(reason__contains="Zephyrine").exists()
    assert len(dates) > 200


def test_no_canary_string_is_in_any_file_of_the_bundle(canary_export):
    _, bundle, canaries, _, _ = canary_export
    assert leaks(searchable_bytes(bundle, {}), canaries) == []


def test_no_exact_date_of_birth_or_event_is_in_any_file_of_the_bundle(canary_export):
    built, bundle, _, dates, _ = canary_export
    stated = {when.date() for when in (built.data_cut, built.created_at, built.decided_at)}
    spellings = {s for day in dates - stated for s in date_spellings(day, birth=day.year < 1960)}
    assert leaks(searchable_bytes(bundle, {}), spellings) == []


def test_no_canary_and_no_date_is_read_back_from_parquet_stata_spss_or_excel(canary_export, tmp_path):
    _, bundle, canaries, _, _ = canary_export
    archive = zipfile.ZipFile(io.BytesIO(bundle))
    assert {f"{t}.{ext}" for t in ALL_TABLES for ext in ALL_FORMATS} <= set(archive.namelist())
    cells = sum(pd.read_csv(io.BytesIO(archive.read(f"{t}.csv"))).size for t in ALL_TABLES)
    lowered = [c.lower() for c in canaries]
    found, date_values, count = [], [], 0
    for name, value in read_back_values(bundle, tmp_path):
        count += 1
        if isinstance(value, dt.date | dt.datetime | pd.Timestamp):
            date_values.append((name, value))
        text = str(value).lower()
        found += [(name, c) for c in lowered if c in text]
    assert count > 4 * cells
    assert found == []
    assert date_values == []


def test_the_search_finds_the_canaries_when_free_text_is_let_through(db, project, member, monkeypatch):
    """Negative control: the same build with a profile that keeps free text leaks the planted histology."""
    demo_registry_seed(sites=3, patients=30, seed=12)
    canaries = plant(list(Patient.objects.order_by("pk")))[0]
    leaky = dataclasses.replace(SAFE_HARBOR, drop=frozenset({Flag.IDENTIFIER}))
    monkeypatch.setattr(services, "get_profile", lambda name, k=None: leaky)
    bundle, _ = services.export_bundle(
        export_id="EXP-LEAKY",
        project={"id": project.pk, "title": project.title},
        project_scope=project.pseudonym_scope,
        requester="member",
        approver=None,
        datasets=["analysis"],
        formats=["csv", "parquet", "dta", "sav", "xlsx"],
        profile_name="safe_harbor",
        k=5,
        filters={},
        data_cut=dt.datetime.now(dt.UTC),
    )
    found = {name for name, _ in leaks(searchable_bytes(bundle, {}), canaries)}
    assert {"analysis.csv", "analysis.dta", "analysis.sav"} <= found

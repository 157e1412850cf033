"""The issue-7 migrations change no stored value: locked 1.0 assessments and clinical answers stay as they were."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("clinical", "0001_initial"), ("assessments", "0001_initial")]
AFTER = [("clinical", "0002_missing_stays_missing"), ("assessments", "0002_assessment_code_version")]


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection)


def _columns(table: str) -> list[str]:
    with connection.cursor() as cursor:
        return [column.name for column in connection.introspection.get_table_description(cursor, table)]


def _rows(apps, label: str) -> list[dict]:
    return list(apps.get_model(label).objects.order_by("pk").values())


@pytest.mark.django_db(transaction=True)
def test_migrating_keeps_every_assessment_field_and_every_irae_and_dose_value():
    old = migrate(BEFORE).loader.project_state(BEFORE).apps
    try:
        assert "code_version" not in _columns("assessments_assessment")  # really back before the change
        site = old.get_model("accounts.Site").objects.create(code="OLD", name="Old site", country="NL")
        patient = old.get_model("clinical.Patient").objects.create(
            registry_id="OLD-000001-1",
            site=site,
            local_identifier="MRN-OLD",
            sex="female",
            year_of_birth=1950,
            tumour_type="LUAD",
            consent_date=dt.date(2023, 1, 1),
        )
        old.get_model("clinical.InitialCourse").objects.create(
            patient=patient,
            primary_agent="pembrolizumab",
            regimen_type="monotherapy",
            line_of_therapy=1,
            start_date=dt.date(2022, 1, 10),
            stop_date=dt.date(2022, 9, 10),
            ecog_at_start=1,
            stop_reason="toxicity",
        )
        episodes = old.get_model("clinical.RechallengeEpisode")
        first = episodes.objects.create(
            patient=patient,
            start_date=dt.date(2023, 3, 1),
            rechallenge_type="after_toxicity",
            agent_relation="same_agent",
            primary_agent="pembrolizumab",
            regimen_type="monotherapy",
            ecog_at_rechallenge=1,
            current_prednisone_mg_per_day=Decimal("5.0"),
        )
        events = old.get_model("clinical.AdverseEvent")
        for refractory, hospitalised in ((True, False), (False, True)):
            events.objects.create(
                patient=patient,
                ctcae_term="colitis",
                meddra_code="10009887",
                organ_category="gastrointestinal",
                grade=3,
                onset_date=dt.date(2022, 8, 1),
                steroid_refractory=refractory,
                hospitalised=hospitalised,
                led_to_discontinuation=True,
            )
        assessments = old.get_model("assessments.Assessment")
        original = assessments.objects.create(
            episode=first,
            model_version="1.0",
            model_hash="a" * 64,
            inputs={"pfs1_months": 13.58, "current_prednisone_mg_per_day": 5.0, "prior_iraes": []},
            factors=[{"factor": "pfs1", "level": "favourable", "reason": "…", "points": 2}],
            category="favourable",
            score=4,
            reason="",
        )
        assessments.objects.create(
            episode=first,
            model_version="1.0",
            model_hash="a" * 64,
            inputs={"pfs1_months": 13.58},
            factors=[],
            category="intermediate",
            score=1,
            is_reassessment=True,
            supersedes=original,
            reason="ECOG corrected",
        )
        assessments_before = _rows(old, "assessments.Assessment")
        events_before = _rows(old, "clinical.AdverseEvent")
        episodes_before = _rows(old, "clinical.RechallengeEpisode")

        new = migrate(AFTER).loader.project_state(AFTER).apps
        assert "code_version" in _columns("assessments_assessment")

        assert _rows(new, "assessments.Assessment") == [{**row, "code_version": ""} for row in assessments_before]
        assert _rows(new, "clinical.AdverseEvent") == events_before
        assert _rows(new, "clinical.RechallengeEpisode") == [
            {**row, "iraes_during_rechallenge": ""} for row in episodes_before
        ]
        assert list(new.get_model("clinical.InitialCourse").objects.values_list("iraes_during_course", flat=True)) == [
            ""
        ]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

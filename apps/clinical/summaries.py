"""The patient list's stored values (``PatientSummary``), kept exact set-wise inside every write.

Sorting 100,000 patients by case status or last follow-up cannot compute those per patient on each request,
so each patient's list values are stored in one row, indexed for every order the list offers, and refreshed
for the patients a write touched, in the write's transaction: every clinical create, change, delete and
transfer (``hooks.records_written``), a signature or unlock, an enrollment, and a seeded or imported batch.
The rule of the case status is ``registry.quality.case_status``, read here set-wise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import apps as installed_apps
from django.db import connection
from django.db.models import Case, Count, Exists, IntegerField, Max, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce

from registry.quality.case_status import CaseStatus

from .models import CASE_STATUS_RANKS

#: Refreshed this many patients per statement (within SQLite's limit on parameters).
CHUNK = 2000

COLUMNS = (
    "patient_id",
    "site_id",
    "registry_id",
    "has_initial_course",
    "episode_count",
    "enrolled",
    "last_follow_up_date",
    "case_status",
)


def _models(apps: Any) -> dict[str, Any]:
    return {
        name: apps.get_model("clinical", name)
        for name in (
            "Patient",
            "PatientSummary",
            "InitialCourse",
            "RechallengeEpisode",
            "AdverseEvent",
            "ResponseAssessment",
            "FollowUp",
        )
    }


def _records_below(models: dict[str, Any], **condition: Any) -> Q:
    """Whether the patient has any record below the patient row (narrowed by ``condition``)."""
    paths = {
        "InitialCourse": "patient_id",
        "RechallengeEpisode": "patient_id",
        "AdverseEvent": "patient_id",
        "ResponseAssessment": "episode__patient_id",
        "FollowUp": "episode__patient_id",
    }
    combined = Q()
    for name, path in paths.items():
        combined |= Q(Exists(models[name].objects.filter(**{path: OuterRef("pk")}, **condition)))
    return combined


def _summary_query(models: dict[str, Any], patient_ids: Sequence[int] | None):
    """One row per patient, in the order of ``COLUMNS``."""
    Episode = models["RechallengeEpisode"]
    signed, complete, draft = (
        CASE_STATUS_RANKS.index(status) for status in (CaseStatus.SIGNED, CaseStatus.COMPLETE, CaseStatus.DRAFT)
    )
    patients = models["Patient"].objects.order_by()
    if patient_ids is not None:
        patients = patients.filter(pk__in=patient_ids)
    episodes = Episode.objects.filter(patient_id=OuterRef("pk")).order_by().values("patient_id")
    return patients.values_list("pk", "site_id", "registry_id").annotate(
        summary_has_initial_course=Exists(models["InitialCourse"].objects.filter(patient_id=OuterRef("pk"))),
        summary_episode_count=Coalesce(Subquery(episodes.annotate(n=Count("pk")).values("n")[:1]), Value(0)),
        summary_enrolled=Exists(Episode.objects.filter(patient_id=OuterRef("pk"), enrolled_at__isnull=False)),
        summary_last_follow_up_date=Subquery(
            models["FollowUp"]
            .objects.filter(episode__patient_id=OuterRef("pk"))
            .order_by()
            .values("episode__patient_id")
            .annotate(last=Max("follow_up_date"))
            .values("last")[:1]
        ),
        # registry.quality.case_status: signed; complete when the patient and every other record are, and there
        # is at least one; else a draft.
        summary_case_status=Case(
            When(signed_at__isnull=False, then=Value(signed)),
            When(
                Q(is_complete=True) & _records_below(models) & ~_records_below(models, is_complete=False),
                then=Value(complete),
            ),
            default=Value(draft),
            output_field=IntegerField(),
        ),
    )


def _upsert(models: dict[str, Any], patient_ids: Sequence[int] | None) -> None:
    select, params = _summary_query(models, patient_ids).query.sql_with_params()
    table = connection.ops.quote_name(models["PatientSummary"]._meta.db_table)
    names = ", ".join(connection.ops.quote_name(column) for column in COLUMNS)
    updates = ", ".join(
        f"{connection.ops.quote_name(column)} = excluded.{connection.ops.quote_name(column)}" for column in COLUMNS[1:]
    )
    # "WHERE true" keeps SQLite from reading ON CONFLICT as a join clause of the SELECT.
    sql = (
        f"INSERT INTO {table} ({names}) SELECT * FROM ({select}) computed WHERE true "
        f"ON CONFLICT ({connection.ops.quote_name('patient_id')}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def patient_summaries_refresh(*, patient_ids: Iterable[int] | None, apps: Any = installed_apps) -> None:
    """Recompute the list values of ``patient_ids`` (None: every patient, as the migration's backfill does) in a
    few set-wise statements; a patient that no longer exists has no row (its summary went with it)."""
    models = _models(apps)
    if patient_ids is None:
        _upsert(models, None)
        return
    ids = sorted({int(pk) for pk in patient_ids if pk is not None})
    for start in range(0, len(ids), CHUNK):
        _upsert(models, ids[start : start + CHUNK])


#: The fields a change of which may change a summary (a record's existence aside): completeness, the last
#: follow-up, the site, enrollment, and a record moved to another episode or patient.
SUMMARISED_FIELDS = frozenset({"is_complete", "follow_up_date", "site", "enrolled_at", "episode", "patient"})


def patient_summaries_on_write(*, writes: Sequence[Any], user: Any, channel: str) -> None:
    """``hooks.records_written`` receiver: refresh the patients whose summary the writes may change (every create
    and delete; a change of a summarised field), in the write's transaction."""
    patient_summaries_refresh(
        patient_ids={
            write.patient_id for write in writes if write.action != "update" or write.fields & SUMMARISED_FIELDS
        }
    )

"""Reads of the validation app: the frame of one data cut, and the runs (and their metrics) a user may read.

**The frame** (:func:`validation_frame`) is what the statistics of ``registry.validation`` read: one
row per locked assessment of one model version, with the episode's outcomes derived *set-wise* by
``registry.derive_frames.derive_episodes``. It is built with one SQL query per table — locked
assessments, patients (with their site), ICI-1 courses, episodes, irAEs, response assessments and
follow-ups — never one query per episode, so a cut of 1,000,000 episodes loads in seconds: on
PostgreSQL each table is streamed with ``COPY … TO STDOUT`` (CSV) straight into pandas, on SQLite
through a cursor. Only the columns the derivation reads are loaded, codes become categorical columns.

*As the records stood at the cut*: a record created after the data cut is left out (every clinical
record carries ``created_at``), and so is an assessment locked after it; times that run beyond the
cut are censored by the statistics (``registry.validation.populations.censor_at_cut``). A record
*changed* after the cut is read as it is now: the registry keeps old values in the audit trail, not
in the tables, so a cut in the past is exact for what was added but not for what was corrected since.
Patients are counted at the site they belong to now (a transfer moves every record).

**Who reads which run**: coordinators (and administrators) and investigators read every run whole;
center staff read the registry-wide figures and the per-site rows of their own site(s) only
(:func:`metrics_for_user`). A member of a site who is also an investigator counts as center staff, as
blinding counts them. Anyone else reads no run.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.db.models import BooleanField, Case, CharField, Exists, F, OuterRef, QuerySet, TextField, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, NullIf
from django.http import Http404
from django.shortcuts import get_object_or_404

from apps.accounts.models import Site
from apps.accounts.selectors import access_for_user
from apps.assessments.models import Assessment
from apps.clinical.models import AdverseEvent, FollowUp, InitialCourse, Patient, RechallengeEpisode, ResponseAssessment
from apps.core.frames import BOOL, DATE, DATETIME, FLOAT, INT, NULLABLE_INT, TEXT, Table, read_table
from apps.core.models import AuditAction, AuditChannel, AuditEntry
from registry.derive import RECURRENCE_KINDS
from registry.derive_frames import FRAME_COLUMNS, derive_episodes
from registry.validation.populations import INPUT_COLUMNS

from .models import ValidationRun, ValidationRunFigure

#: Called with (percent of the loading done, what is being read).
Progress = Callable[[int, str], None]

# --- The tables of a data cut ----------------------------------------------------------------------------

#: Columns of ``registry.derive_frames.FRAME_COLUMNS`` that ``derive_episodes`` requires but the
#: validation endpoints never depend on (predictor-side fields: they feed no outcome). They are not
#: read from the database; the frames carry them as empty columns.
_NOT_READ = {
    "courses": ("stop_reason", "iraes_during_course"),
    "episodes": ("regimen_type", "ecog_at_rechallenge", "current_prednisone_mg_per_day", "iraes_during_rechallenge"),
    "adverse_events": ("resolution_date", "resolution_date_precision", "management", "steroid_refractory"),
    "responses": (),
    "follow_ups": ("rechallenge_stop_reason",),
}


def _json_text(key: str) -> NullIf:
    """The text of one key of the locked inputs; SQL NULL for a JSON null (SQLite's key transform gives the
    text 'null' where PostgreSQL's ``->>`` gives NULL)."""
    return NullIf(Cast(KT(f"inputs__{key}"), output_field=TextField()), Value("null"), output_field=TextField())


def _assessments(model_version: str, cut: dt.datetime) -> Table:
    prior = _json_text("prior_iraes")
    queryset = (
        Assessment.objects.filter(model_version=model_version, assessed_at__lte=cut, episode__created_at__lte=cut)
        .annotate(
            stop_reason=_json_text("stop_reason"),
            strategy=_json_text("strategy"),
            prior_text=prior,
        )
        .annotate(
            prior_irae_any=Case(
                When(prior_text__isnull=True, then=Value(None)),
                When(prior_text="[]", then=Value(False)),
                default=Value(True),
                output_field=BooleanField(null=True),
            ),
            locked_at=F("assessed_at"),
        )
    )
    return Table(
        queryset,
        {
            "episode_id": INT,
            "locked_at": DATETIME,
            "is_retrospective": BOOL,
            "is_reassessment": BOOL,
            "category": TEXT,
            "score": FLOAT,
            "stop_reason": TEXT,
            "strategy": TEXT,
            "prior_irae_any": BOOL,
        },
    )


def _patients(cut: dt.datetime) -> Table:
    queryset = Patient.objects.filter(created_at__lte=cut).annotate(
        site_code=F("site__code"), site_country=F("site__country")
    )
    return Table(queryset, {"id": INT, "site_code": TEXT, "site_country": TEXT, "tumour_type": TEXT})


def _clinical_tables(cut: dt.datetime) -> dict[str, Table]:
    """The five input tables of ``derive_episodes``, records created by the cut, read columns only."""
    kinds: dict[str, dict[str, str]] = {
        "courses": {
            "patient_id": INT,
            "start_date": DATE,
            "start_date_precision": TEXT,
            "stop_date": DATE,
            "stop_date_precision": TEXT,
            "progression_date": DATE,
            "progression_date_precision": TEXT,
        },
        "episodes": {"id": INT, "patient_id": INT, "sequence_number": INT, "start_date": DATE},
        "adverse_events": {
            "id": INT,
            "patient_id": INT,
            "episode_id": NULLABLE_INT,
            "ctcae_term": TEXT,
            "organ_category": TEXT,
            "grade": INT,
            "onset_date": DATE,
            "onset_date_precision": TEXT,
            "resolved_to_grade": NULLABLE_INT,
        },
        "responses": {"episode_id": INT, "assessment_date": DATE, "category": TEXT},
        "follow_ups": {
            "episode_id": INT,
            "follow_up_date": DATE,
            "vital_status": TEXT,
            "progression_date": DATE,
            "rechallenge_stopped_date": DATE,
            "death_date": DATE,
            "last_known_alive_date": DATE,
        },
    }
    models = {
        "courses": InitialCourse,
        "episodes": RechallengeEpisode,
        "adverse_events": AdverseEvent,
        "responses": ResponseAssessment,
        "follow_ups": FollowUp,
    }
    for name, columns in kinds.items():
        expected = set(FRAME_COLUMNS[name]) - set(_NOT_READ[name])
        assert set(columns) == expected, f"{name}: read {sorted(columns)}, derive_frames needs {sorted(expected)}"
    return {name: Table(models[name].objects.filter(created_at__lte=cut), columns) for name, columns in kinds.items()}


def _with_unread_columns(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    for column in _NOT_READ[name]:
        frame[column] = pd.Series(np.full(len(frame), None, dtype=object), index=frame.index)
    return frame


# --- The frame ---------------------------------------------------------------------------------------------

_TEXT_COLUMNS = ("site", "country", "tumour_type", "model_version", "category", "stop_reason", "strategy")
_OUTCOMES = (
    "pfs2_months",
    "pfs2_event",
    "os_months",
    "os_event",
    "objective_response",
    "disease_control",
    "response_evaluable",
    *(f"recurrence_{kind}_{part}" for kind in RECURRENCE_KINDS for part in ("months", "event_code")),
)


def _empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({column: pd.Series([], dtype=object) for column in INPUT_COLUMNS})
    for column in ("episode_id", "patient_id", "sequence_number"):
        frame[column] = frame[column].astype("int64")
    frame["locked_at"] = pd.to_datetime(frame["locked_at"], utc=True)
    frame["rechallenge_start"] = pd.to_datetime(frame["rechallenge_start"])
    for column in _TEXT_COLUMNS:
        frame[column] = frame[column].astype("category")
    return frame


@contextmanager
def _snapshot() -> Iterator[None]:
    """On PostgreSQL outside any transaction: one REPEATABLE READ, READ ONLY transaction, so the seven
    queries read one state of the database. Elsewhere nothing more: a data cut's rows were all written
    before the cut, so a write during the reading adds nothing the cut would take."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def validation_frame(*, model_version: str, data_cut: dt.datetime, progress: Progress | None = None) -> pd.DataFrame:
    """The input frame of ``registry.validation`` for ``model_version`` at ``data_cut`` (aware, UTC).

    One row per assessment of the version locked by the cut (originals and re-assessments: the
    statistics choose), with the episode's site code, country, tumour type, sequence number and
    rechallenge start, the locked stop reason / strategy / prior-irAE answer from the assessment's
    ``inputs``, and the episode's outcomes derived from every record created by the cut. Empty (with
    the contract's columns) when no assessment of the version was locked by then.
    """
    if data_cut.tzinfo is None:
        raise ValueError("data_cut must be timezone-aware (UTC)")
    report = progress or (lambda percent, what: None)
    # Progress is reported outside the reading: on PostgreSQL the seven queries share one read-only
    # snapshot, in which the run's own row cannot be written.
    report(0, "Reading the records as they stood at the data cut")
    with _snapshot():
        assessments = read_table(_assessments(model_version, data_cut))
        if assessments.empty:
            return _empty_frame()
        patients = read_table(_patients(data_cut))
        frames = {
            name: _with_unread_columns(name, read_table(table)) for name, table in _clinical_tables(data_cut).items()
        }
    report(70, "Deriving the outcomes")
    episodes = frames["episodes"]
    derived = derive_episodes(frames)
    keep = ["episode_id", "patient_id", "sequence_number", *(c for c in _OUTCOMES if c in derived.columns)]
    derived = derived[keep]
    starts = pd.DataFrame({"episode_id": episodes["id"].to_numpy(), "rechallenge_start": episodes["start_date"]})
    del frames, episodes
    frame = assessments.merge(derived, on="episode_id", how="inner", validate="many_to_one")
    frame = frame.merge(starts, on="episode_id", how="left", validate="many_to_one")
    frame = frame.merge(
        patients.rename(columns={"id": "patient_id", "site_code": "site", "site_country": "country"}),
        on="patient_id",
        how="inner",
        validate="many_to_one",
    )
    frame["model_version"] = pd.Categorical.from_codes(np.zeros(len(frame), dtype=np.int8), categories=[model_version])
    for column in _TEXT_COLUMNS:
        if not isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype("category")
    frame["is_retrospective"] = frame["is_retrospective"].fillna(False).astype(bool)
    frame["is_reassessment"] = frame["is_reassessment"].fillna(False).astype(bool)
    columns = [column for column in INPUT_COLUMNS if column in frame.columns]
    frame = frame[columns].sort_values(["episode_id", "locked_at"], kind="stable").reset_index(drop=True)
    report(100, "Frame ready")
    return frame


def validation_data_is_synthetic(*, model_version: str, data_cut: dt.datetime) -> bool:
    """Whether any patient the run uses was written by the demo generator (its creation audited on the
    ``seed`` channel): such a run is marked synthetic on every page. One query."""
    used = Assessment.objects.filter(
        model_version=model_version, assessed_at__lte=data_cut, episode__created_at__lte=data_cut
    ).values("episode__patient_id")
    seeded = AuditEntry.objects.filter(
        model_label=Patient._meta.label_lower,
        action=AuditAction.CREATE,
        channel=AuditChannel.SEED,
        object_id=Cast(OuterRef("pk"), output_field=CharField()),
    )
    return Patient.objects.filter(pk__in=used).filter(Exists(seeded)).exists()


def validation_model_versions_with_assessments(*, versions: Iterable[str]) -> list[str]:
    """Which of ``versions`` have at least one locked assessment, in the given order."""
    found = set(
        Assessment.objects.filter(model_version__in=list(versions))
        .order_by()
        .values_list("model_version", flat=True)
        .distinct()
    )
    return [version for version in versions if version in found]


# --- Runs a user may read ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationReach:
    """What of the runs a user reads: ``everything``, or the per-site rows of ``site_codes`` only."""

    reads_runs: bool
    everything: bool
    site_codes: frozenset[str] = frozenset()


def validation_reach_for_user(*, user) -> ValidationReach:
    """Coordinators, administrators and investigators (without a site) read everything; center staff the
    registry-wide figures and their own sites' rows; anyone else nothing."""
    access = access_for_user(user)
    if access.is_coordinator:
        return ValidationReach(reads_runs=True, everything=True)
    if access.is_site_staff:
        codes = frozenset(Site.objects.filter(pk__in=access.site_ids).values_list("code", flat=True))
        return ValidationReach(reads_runs=True, everything=False, site_codes=codes)
    if access.is_investigator:
        return ValidationReach(reads_runs=True, everything=True)
    return ValidationReach(reads_runs=False, everything=False)


def validation_run_list_for_user(*, user) -> QuerySet[ValidationRun]:
    """Every run, newest first, for anyone who reads runs (none otherwise); the metrics text is not loaded."""
    if not validation_reach_for_user(user=user).reads_runs:
        return ValidationRun.objects.none()
    return ValidationRun.objects.select_related("started_by").defer("metrics_json").order_by("-created_at", "-id")


def validation_run_get_for_user(*, user, run_id: int | str) -> ValidationRun:
    """One run with its metrics text; 404 when it does not exist or the user reads no run."""
    try:
        pk = int(str(run_id))
    except ValueError:
        pk = 0
    if pk <= 0:
        raise Http404("No such validation run.")
    queryset = ValidationRun.objects.select_related("started_by")
    if not validation_reach_for_user(user=user).reads_runs:
        queryset = queryset.none()
    return get_object_or_404(queryset, pk=pk)


#: Places in a population's metrics that hold per-site rows: the heterogeneity table by site.
_BY_SITE = ("heterogeneity", "by_site")
_SITE_LISTS = ("cells_pooled", "cells_not_estimable", "small_cells_pooled")


def _keep_sites(metrics: dict[str, Any], codes: frozenset[str]) -> dict[str, Any]:
    result = copy.deepcopy(metrics)
    for population in (result.get("populations") or {}).values():
        by_site = population.get(_BY_SITE[0], {}).get(_BY_SITE[1])
        if not isinstance(by_site, dict):
            continue
        cells = by_site.get("cells")
        if isinstance(cells, dict):
            by_site["cells"] = {code: cell for code, cell in cells.items() if code in codes}
        for summary in (by_site.get("summary") or {}).values():
            for key in _SITE_LISTS:
                if isinstance(summary.get(key), list):
                    summary[key] = [code for code in summary[key] if code in codes]
    result["visibility"] = {
        "site_rows": "own sites only",
        "sites": sorted(codes),
        "note": "Registry-wide figures are shown whole; the per-site rows of other sites are not.",
    }
    return result


def metrics_for_user(run: ValidationRun, user) -> dict[str, Any] | None:
    """The run's metrics as ``user`` may read them: whole, or without other sites' per-site rows; None if
    the run has no metrics (not finished, or failed) or the user reads no run."""
    reach = validation_reach_for_user(user=user)
    metrics = run.metrics
    if metrics is None or not reach.reads_runs:
        return None
    if reach.everything:
        return metrics
    return _keep_sites(metrics, reach.site_codes)


#: Figures that draw per-site rows: the stored one is the whole registry's, for readers of every site's rows.
PER_SITE_FIGURES = frozenset({"forest-site"})


def validation_run_figure_for_user(
    *, run: ValidationRun, user, population: str, name: str
) -> ValidationRunFigure | None:
    """The figure the worker stored with ``run``, if there is one this user may see as it is (one query).

    None for a run finished before figures were stored, and for a per-site figure of a reader who sees
    only their own sites' rows: the caller draws those from the metrics the user may read.
    """
    if name in PER_SITE_FIGURES and not validation_reach_for_user(user=user).everything:
        return None
    return ValidationRunFigure.objects.filter(run=run, population=population, name=name).first()


def site_rows_of(metrics: dict[str, Any], population: str = "primary") -> list[str]:
    """The site codes of a population's per-site rows (what :func:`metrics_for_user` filters)."""
    cells = metrics.get("populations", {}).get(population, {}).get("heterogeneity", {}).get("by_site", {})
    return sorted((cells.get("cells") or {}).keys())


__all__ = [
    "ValidationReach",
    "metrics_for_user",
    "site_rows_of",
    "validation_data_is_synthetic",
    "validation_frame",
    "validation_model_versions_with_assessments",
    "validation_reach_for_user",
    "validation_run_figure_for_user",
    "validation_run_get_for_user",
    "validation_run_list_for_user",
]

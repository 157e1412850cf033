"""Reads of the exports app: the tables of an export (set-wise), and the projects and requests a user may see.

**The tables** (:func:`export_tables`) are the four tables ``registry.deid`` de-identifies, in the shape
``registry.deid.fields.default_field_meta`` declares them: ``analysis`` (one row per rechallenge
episode: patient, site, ICI-1, the episode's baseline, the locked assessment with its factor levels,
and the derived endpoints with their event flags), and the long tables ``iraes``, ``responses`` and
``follow_ups``. Each is one SQL query (on PostgreSQL streamed with ``COPY … TO STDOUT`` into pandas by
``apps.core.frames.read_table``), never one query per episode; the endpoints are derived
set-wise by ``registry.derive_frames.derive_episodes`` from the same five inputs the validation reads.
Only columns the profile releases are read: an identifier or free-text column never leaves the
database (the metadata, not a list here, says which those are). Records are taken as they stood at
the data cut: created by then, assessments locked by then.

**Who sees what**: investigators see the projects they are members of and those projects' requests;
coordinators (and administrators) see every project and request (they approve); center staff and
anyone else see none. Only investigators who are members request and download.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Expression, F, Func, JSONField, Model, Q, QuerySet, TextField, Value
from django.db.models.fields.json import KT, KeyTextTransform
from django.db.models.functions import Cast, NullIf
from django.http import Http404
from django.shortcuts import get_object_or_404

from apps.accounts.models import Role as AccountRole
from apps.accounts.models import Site
from apps.accounts.selectors import access_for_user
from apps.assessments.models import Assessment
from apps.clinical.models import AdverseEvent, FollowUp, InitialCourse, Patient, RechallengeEpisode, ResponseAssessment
from apps.core.frames import (
    BOOL,
    DATE,
    DATETIME,
    FLOAT,
    INT,
    NULLABLE_INT,
    TEXT,
    Table,
    copy_out_csv,
    read_table,
    table_sql,
    typed_frame,
)
from apps.core.records import record_types
from registry import csv_import as ci
from registry.decision import available_versions
from registry.decision.spec import FACTOR_NAMES
from registry.deid import ANALYSIS, FOLLOW_UPS, IRAES, RESPONSES, FieldMeta, Profile, Role, default_field_meta
from registry.deid.fields import MISSING_SUFFIX
from registry.derive_frames import FRAME_COLUMNS, derive_episodes

from .models import ExportProject, ExportRequest

DATASETS = (ANALYSIS, IRAES, RESPONSES, FOLLOW_UPS)
Progress = Callable[[int, str], None]

# --- who sees what ----------------------------------------------------------------------------------------


def export_reach(*, user) -> str:
    """``"all"`` for coordinators and administrators, ``"member"`` for investigators, ``""`` for anyone else."""
    access = access_for_user(user)
    if access.is_coordinator:
        return "all"
    if access.is_investigator:
        return "member"
    return ""


def can_request_exports(*, user) -> bool:
    """Only investigators request and download (a coordinator approves but does not take data out)."""
    return access_for_user(user).is_investigator


def project_list_for_user(*, user) -> QuerySet[ExportProject]:
    reach = export_reach(user=user)
    if reach == "all":
        return ExportProject.objects.all()
    if reach == "member":
        return ExportProject.objects.filter(members=user)
    return ExportProject.objects.none()


def project_get_for_user(*, user, pk: int | str) -> ExportProject:
    return get_object_or_404(project_list_for_user(user=user), pk=_pk(pk))


def investigator_list() -> QuerySet:
    """Active users with the investigator role: the only ones who may be project members."""
    return (
        get_user_model()
        .objects.filter(is_active=True, memberships__role=AccountRole.INVESTIGATOR)
        .distinct()
        .order_by("username")
    )


def request_list_for_user(*, user) -> QuerySet[ExportRequest]:
    reach = export_reach(user=user)
    queryset = ExportRequest.objects.select_related("project", "requested_by", "decided_by")
    if reach == "all":
        return queryset
    if reach == "member":
        return queryset.filter(project__members=user)
    return queryset.none()


def request_get_for_user(*, user, pk: int | str) -> ExportRequest:
    return get_object_or_404(request_list_for_user(user=user), pk=_pk(pk))


def approval_queue() -> QuerySet[ExportRequest]:
    """Requests waiting for a coordinator, oldest first."""
    return (
        ExportRequest.objects.filter(status=ExportRequest.Status.REQUESTED)
        .select_related("project", "requested_by")
        .order_by("created_at", "pk")
    )


def ready_downloads_for_user(*, user) -> QuerySet[ExportRequest]:
    return request_list_for_user(user=user).filter(status=ExportRequest.Status.READY)


def pk_or_zero(value: object) -> int:
    """A posted primary key as a number; 0 (matches nothing) when it is not one."""
    try:
        return max(0, int(str(value)))
    except ValueError:
        return 0


def _pk(value: int | str) -> int:
    try:
        pk = int(str(value))
    except ValueError:
        pk = 0
    if pk <= 0:
        raise Http404("No such export.")
    return pk


# --- the field metadata -----------------------------------------------------------------------------------

#: The import names the adverse-event record ``prior_irae``; every other record type by its ``crf_name``.
_IMPORT_RECORD = {"adverse_event": ci.Record.PRIOR_IRAE.value}


def _model_texts() -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], str]]:
    """Labels and help texts of the clinical models' fields, keyed as the import keys them."""
    labels: dict[tuple[str, str], str] = {}
    descriptions: dict[tuple[str, str], str] = {}
    for record_type in record_types():
        record = _IMPORT_RECORD.get(record_type.crf_name, record_type.crf_name)
        for field in record_type.model._meta.concrete_fields:
            label = str(field.verbose_name)
            labels[(record, field.name)] = label[:1].upper() + label[1:]
            if field.help_text:
                descriptions[(record, field.name)] = str(field.help_text)
    return labels, descriptions


def export_field_meta() -> dict[str, tuple[FieldMeta, ...]]:
    """Every table's columns, from the import's declarations with the models' labels (the codebook's source)."""
    labels, descriptions = _model_texts()
    sites = dict(Site.objects.order_by("code").values_list("code", "name"))
    return default_field_meta(
        sites=sites, model_versions=available_versions(), labels=labels, descriptions=descriptions
    )


def site_countries() -> dict[str, str]:
    return dict(Site.objects.values_list("code", "country"))


# --- reading the tables -----------------------------------------------------------------------------------

#: How arrow parses each column kind of a ``COPY … (FORMAT csv)``: codes, dates and flags repeat, so they are
#: dictionary-encoded (pandas categories: each distinct text is converted once); date-times stay text.
_ARROW_KINDS: dict[str, pa.DataType] = {
    INT: pa.int64(),
    NULLABLE_INT: pa.int64(),
    FLOAT: pa.float64(),
    TEXT: pa.dictionary(pa.int32(), pa.string()),
    DATE: pa.dictionary(pa.int32(), pa.string()),
    BOOL: pa.dictionary(pa.int32(), pa.string()),
    DATETIME: pa.string(),
}


def _read(table: Table) -> pd.DataFrame:
    """One query's rows as a typed frame. On PostgreSQL: one ``COPY (query) TO STDOUT`` parsed by arrow's
    multi-threaded CSV reader (faster than pandas' for the export's wide tables); elsewhere ``read_table``."""
    if connection.vendor != "postgresql":
        return read_table(table)
    buffer = io.BytesIO()
    copy_out_csv(*table_sql(table), buffer)
    names = list(table.columns)
    if not buffer.tell():
        return read_table(table)  # no rows: the cursor path types an empty frame the same way
    source = pa.BufferReader(buffer.getbuffer())  # read in place, not copied
    parsed = pa_csv.read_csv(
        source,
        read_options=pa_csv.ReadOptions(column_names=names, block_size=16 << 20),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: _ARROW_KINDS[kind] for name, kind in table.columns.items()},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    source.close()
    del source, buffer  # the CSV text is freed with the arrow table, which may point into it
    # Column by column, each arrow column freed once converted: the peak is one table, not two.
    frame = parsed.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get, split_blocks=True, self_destruct=True)
    del parsed
    return typed_frame(frame, table.columns)


@dataclass(frozen=True)
class Filters:
    """Which episodes an export takes (all by default)."""

    tumour_types: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    enrolled_from: dt.date | None = None
    enrolled_to: dt.date | None = None
    model_version: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Filters:
        def day(value: Any) -> dt.date | None:
            return dt.date.fromisoformat(value) if value else None

        return cls(
            tumour_types=tuple(data.get("tumour_types") or ()),
            sites=tuple(data.get("sites") or ()),
            enrolled_from=day(data.get("enrolled_from")),
            enrolled_to=day(data.get("enrolled_to")),
            model_version=data.get("model_version") or "",
        )

    @property
    def takes_everything(self) -> bool:
        return self == Filters()


def _kind(field) -> str:
    internal = field.get_internal_type()
    if internal in ("DateField",):
        return DATE
    if internal == "DateTimeField":
        return DATETIME
    if internal in ("BooleanField", "NullBooleanField"):
        return BOOL
    if internal in ("DecimalField", "FloatField"):
        return FLOAT
    if internal.endswith("IntegerField") or internal.endswith("AutoField") or field.is_relation:
        return NULLABLE_INT if field.null else INT
    return TEXT


def _field(model: type[Model], name: str):
    return model._meta.get_field(name)


def _released(meta: FieldMeta, profile: Profile) -> bool:
    """Read from the database only what the profile may release, and the keys and roles it needs."""
    return meta.role is not Role.DATA or not (meta.flags & profile.drop)


def _episodes(cut: dt.datetime, filters: Filters) -> QuerySet[RechallengeEpisode]:
    queryset = RechallengeEpisode.objects.filter(created_at__lte=cut, patient__created_at__lte=cut)
    if filters.tumour_types:
        queryset = queryset.filter(patient__tumour_type__in=filters.tumour_types)
    if filters.sites:
        queryset = queryset.filter(patient__site__code__in=filters.sites)
    if filters.enrolled_from:
        queryset = queryset.filter(enrolled_at__date__gte=filters.enrolled_from)
    if filters.enrolled_to:
        queryset = queryset.filter(enrolled_at__date__lte=filters.enrolled_to)
    if filters.enrolled_from or filters.enrolled_to:
        queryset = queryset.filter(enrolled_at__lte=cut)
    if filters.model_version:
        locked = Assessment.objects.filter(model_version=filters.model_version, assessed_at__lte=cut)
        queryset = queryset.filter(pk__in=locked.values("episode_id"))
    return queryset


#: Where each analysis column comes from, seen from the episode: (import record, ORM prefix, model).
_ANALYSIS_SOURCES = (
    (ci.Record.PATIENT, "patient__", Patient),
    (ci.Record.INITIAL_COURSE, "patient__initial_course__", InitialCourse),
    (ci.Record.EPISODE, "", RechallengeEpisode),
)


def _analysis_table(episodes: QuerySet, meta: Sequence[FieldMeta], profile: Profile) -> Table:
    wanted = {m.name for m in meta if _released(m, profile)}
    annotations: dict[str, Any] = {"episode_id": F("id")}
    kinds: dict[str, str] = {"episode_id": NULLABLE_INT, "patient_id": NULLABLE_INT}
    if "registry_id" in wanted:
        annotations["registry_id"], kinds["registry_id"] = F("patient__registry_id"), TEXT
    if "site" in wanted:
        annotations["site"], kinds["site"] = F("patient__site__code"), TEXT
    for record, prefix, model in _ANALYSIS_SOURCES:
        for column in ci.COLUMNS:
            if column.record is not record or column.group is not None or column.name not in wanted:
                continue
            names = [(column.name, column.field)]
            if column.kind is ci.Kind.PARTIAL_DATE:
                names.append((f"{column.name}_precision", f"{column.field}_precision"))
            for name, field in names:
                if name not in wanted:
                    continue
                kind = _kind(_field(model, field))
                kinds[name] = NULLABLE_INT if kind == INT else kind  # a patient may have no ICI-1 yet
                annotations[name] = F(f"{prefix}{field}")
            coded = f"{column.name}{MISSING_SUFFIX}"
            if coded in wanted:  # the missing-data code, read in the same query (JSON key as text)
                annotations[coded], kinds[coded] = _missing_code(f"{prefix}missing_answers", column.field), TEXT
    return Table(episodes.annotate(**annotations), kinds)


def _long_table(
    model: type[Model],
    record: ci.Record,
    queryset: QuerySet,
    meta: Sequence[FieldMeta],
    profile: Profile,
    extra: Sequence[str] = (),
) -> Table:
    wanted = {m.name for m in meta if _released(m, profile)}
    kinds: dict[str, str] = {}
    for name in ("patient_id", "episode_id", "id"):
        if name in wanted:
            kinds[name] = NULLABLE_INT
    fields = [c.field for c in ci.COLUMNS if c.record is record and c.group == 1]
    for column in ci.COLUMNS:
        if column.record is record and column.group == 1 and column.kind is ci.Kind.PARTIAL_DATE:
            fields.append(f"{column.field}_precision")
    for name in (*fields, *extra):
        if name in wanted and name not in kinds:
            kinds[name] = _kind(_field(model, name))
    codes = {
        f"{name}{MISSING_SUFFIX}": _missing_code("missing_answers", name)
        for name in fields
        if f"{name}{MISSING_SUFFIX}" in wanted
    }
    kinds |= dict.fromkeys(codes, TEXT)
    return Table(queryset.annotate(**codes) if codes else queryset, kinds)


def _missing_code(json_field: str, key: str) -> NullIf:
    """A record's missing-data code for one field (``missing_answers->>'field'``); NULL when it has none."""
    return NullIf(KeyTextTransform(key, json_field), Value("null"), output_field=TextField())


def _derivation_tables(patients: QuerySet | None, cut: dt.datetime) -> dict[str, Table]:
    """The five inputs of ``derive_episodes`` for the selected patients (``None``: every patient), every record
    created by the cut."""
    models: dict[str, type[Model]] = {
        "courses": InitialCourse,
        "episodes": RechallengeEpisode,
        "adverse_events": AdverseEvent,
        "responses": ResponseAssessment,
        "follow_ups": FollowUp,
    }
    tables = {}
    for name, model in models.items():
        columns = {
            column: _kind(_field(model, column.removesuffix("_id") if column.endswith("_id") else column))
            for column in FRAME_COLUMNS[name]
        }
        if "id" in columns:
            columns["id"] = NULLABLE_INT
        path = (
            "patient_id__in"
            if model in (InitialCourse, RechallengeEpisode, AdverseEvent)
            else "episode__patient_id__in"
        )
        queryset = model.objects.filter(created_at__lte=cut)
        if patients is not None:
            queryset = queryset.filter(**{path: patients})
        tables[name] = Table(queryset, columns)
    return tables


#: The factor slots read per assessment: a version may list a factor more or fewer; extra slots are NULL.
_FACTOR_SLOTS = range(len(FACTOR_NAMES) + 2)


def _assessment_table(episodes: QuerySet, cut: dt.datetime, filters: Filters) -> Table:
    """The locked assessments of the episodes (of the filtered model version, if any), with their factors.

    The factors are a JSON list of ``{"factor", "level", …}``; the i-th entry's name and level are read as
    columns (JSON key transforms, on PostgreSQL and SQLite alike), so no row is parsed in Python."""
    queryset = Assessment.objects.filter(assessed_at__lte=cut)
    if not filters.takes_everything:  # else the analysis table's merge keeps the episodes it has
        queryset = queryset.filter(episode__in=episodes)
    if filters.model_version:
        queryset = queryset.filter(model_version=filters.model_version)
    annotations: dict[str, Any] = {
        "assessment_model_version": F("model_version"),
        "assessment_category": F("category"),
        "assessment_score": F("score"),
        "assessment_retrospective": F("is_retrospective"),
    }
    columns = {
        "episode_id": NULLABLE_INT,
        "assessment_model_version": TEXT,
        "assessment_category": TEXT,
        "assessment_score": NULLABLE_INT,
        "assessment_retrospective": BOOL,
        "assessed_at": DATETIME,
        "pk": NULLABLE_INT,
    }
    for i in _FACTOR_SLOTS:
        for part in ("factor", "level"):
            annotations[f"f{i}_{part}"] = _factor_text(i, part)
            columns[f"f{i}_{part}"] = TEXT
    return Table(queryset.annotate(**annotations), columns)


def _latest_assessments(frame: pd.DataFrame) -> pd.DataFrame:
    """The latest locked assessment of each episode, one column per factor with its level.

    Compared as categories (each distinct name once), levels copied where the name matches: the last entry
    naming a factor wins."""
    episode = frame["episode_id"].to_numpy(dtype="int64")
    order = np.lexsort((frame["pk"].to_numpy(dtype="int64"), pd.DatetimeIndex(frame["assessed_at"]).asi8, episode))
    last = np.r_[episode[order][1:] != episode[order][:-1], True] if len(order) else np.zeros(0, dtype=bool)
    frame = frame.take(order[last]).reset_index(drop=True)  # sorted by episode, the last assessment of each
    levels = {i: frame[f"f{i}_level"].astype(object).to_numpy() for i in _FACTOR_SLOTS}
    for name in FACTOR_NAMES:
        level = np.full(len(frame), None, dtype=object)
        for i in _FACTOR_SLOTS:
            named = frame[f"f{i}_factor"].eq(name).to_numpy(dtype=bool, na_value=False)
            level[named] = levels[i][named]
        level[pd.isna(level)] = None
        frame[f"assessment_factor_{name}"] = pd.Series(level, index=frame.index, dtype=object)
    return frame.drop(columns=["pk", *(f"f{i}_{part}" for i in _FACTOR_SLOTS for part in ("factor", "level"))])


def _joined_on_episode(analysis: pd.DataFrame, *others: pd.DataFrame) -> pd.DataFrame:
    """``analysis`` with the columns of ``others`` (at most one row per episode each) beside its rows, by
    ``episode_id``; an episode missing from one of them has missing values there (a left join).

    Only the joined columns are taken row by row: a merge would copy every column of the analysis table too."""
    episodes = analysis["episode_id"].to_numpy(dtype="int64", na_value=-1)
    columns = {name: analysis[name].reset_index(drop=True) for name in analysis.columns}
    for other in others:
        keys = pd.Index(other["episode_id"].to_numpy(dtype="int64", na_value=-1))
        if not keys.is_unique:
            raise ValueError("a joined table has more than one row for an episode")
        at = keys.get_indexer(episodes)
        found = at >= 0
        for name in other.columns:
            if name == "episode_id":
                continue
            if name in columns:
                raise ValueError(f"the column {name} would be joined twice")
            values = other[name].reset_index(drop=True)
            columns[name] = (
                values.take(at) if found.all() else values.reindex(pd.Index(np.where(found, at, -1)))
            ).reset_index(drop=True)
    if not pd.Index(episodes).is_unique:
        raise ValueError("the analysis table has more than one row for an episode")
    return pd.DataFrame(columns, copy=False)  # the columns as they are: no copy into consolidated blocks


def _factor_text(slot: int, part: str) -> Expression:
    """The ``part`` ("factor" or "level") of the assessment's ``slot``-th factor, as text (NULL when missing).

    On PostgreSQL two single-step operators (``factors -> slot ->> part``): a path lookup (``#>>``, what a JSON
    key transform compiles to) costs a third more server time over a million assessments."""
    if connection.vendor != "postgresql":
        return _json_text(f"factors__{slot}__{part}")
    item = Func(F("factors"), Value(slot), template="(%(expressions)s)", arg_joiner=" -> ", output_field=JSONField())
    return Func(item, Value(part), template="(%(expressions)s)", arg_joiner=" ->> ", output_field=TextField())


def _json_text(path: str) -> NullIf:
    """The text at a JSON path; NULL for a JSON null or a missing key (SQLite gives the text 'null')."""
    return NullIf(Cast(KT(path), output_field=TextField()), Value("null"), output_field=TextField())


#: Connections reading an export's tables at once on PostgreSQL (see :func:`_read_all`).
READ_CONNECTIONS = 2


@contextmanager
def _reading(tables: Mapping[str, Table]) -> Iterator[Callable[[str], pd.DataFrame]]:
    """Every table of an export, read from one snapshot of the database; on PostgreSQL several at once.

    Yields ``take(name)``, which returns a table once it is read, so the caller works on the first tables while
    the others are still being read (the derivation runs while the analysis table streams in). The tables are
    read in the order given. The server streams one table while this process parses another, so reading costs
    about the longest reads rather than their sum. The connections share the snapshot the first one exports
    (``pg_export_snapshot``), so the tables agree with each other as if read by one query — more exact than
    reading them one after another, each at its own moment. Inside a transaction (a test, a request) the rows
    may be uncommitted and invisible to other connections: then each table is read here when it is taken.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block or READ_CONNECTIONS < 2 or len(tables) < 2:
        yield lambda name: _read(tables[name])
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
        with ThreadPoolExecutor(max_workers=READ_CONNECTIONS, thread_name_prefix="export-read") as pool:
            futures = {name: pool.submit(_read_in_snapshot, table, snapshot) for name, table in tables.items()}
            try:
                yield lambda name: futures[name].result()
            finally:
                for future in futures.values():
                    future.cancel()  # a failure: the reads not yet begun are not begun


def _read_in_snapshot(table: Table, snapshot: str) -> pd.DataFrame:
    """One table, on this thread's own connection, as the database stood in ``snapshot``."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
            return _read(table)
    finally:
        connection.close()  # the pool's threads end with the export: their connections must not linger


def export_tables(
    *,
    datasets: Sequence[str],
    filters: Filters,
    data_cut: dt.datetime,
    profile: Profile,
    field_meta: Mapping[str, Sequence[FieldMeta]],
    progress: Progress | None = None,
) -> dict[str, pd.DataFrame]:
    """The analysis table (always: it anchors the patients) and the requested long tables at ``data_cut``."""
    report = progress or (lambda percent, what: None)
    episodes = _episodes(data_cut, filters)
    patient_ids = Patient.objects.filter(pk__in=episodes.values("patient_id")).values("pk")
    selected = None if filters.takes_everything else patient_ids  # every patient: no IN (subquery) to plan
    episode_ids = episodes.values("pk")
    # The derivation's inputs first: it runs while the analysis table and the assessments are still read.
    reads: dict[str, Table] = {
        **{f"derive:{name}": table for name, table in _derivation_tables(selected, data_cut).items()},
    }
    if IRAES in datasets:
        # irAEs of ICI-1 (no episode) of the selected patients, and those of the selected rechallenges.
        queryset = AdverseEvent.objects.filter(created_at__lte=data_cut, patient_id__in=patient_ids).filter(
            Q(episode__isnull=True) | Q(episode_id__in=episode_ids)
        )
        extra = ("meddra_code", "organ_category", "recurrence_status")
        reads[IRAES] = _long_table(AdverseEvent, ci.Record.PRIOR_IRAE, queryset, field_meta[IRAES], profile, extra)
    if RESPONSES in datasets:
        queryset = ResponseAssessment.objects.filter(created_at__lte=data_cut, episode_id__in=episode_ids)
        reads[RESPONSES] = _long_table(ResponseAssessment, ci.Record.RESPONSE, queryset, field_meta[RESPONSES], profile)
    if FOLLOW_UPS in datasets:
        queryset = FollowUp.objects.filter(created_at__lte=data_cut, episode_id__in=episode_ids)
        reads[FOLLOW_UPS] = _long_table(FollowUp, ci.Record.FOLLOW_UP, queryset, field_meta[FOLLOW_UPS], profile)
    reads["assessments"] = _assessment_table(episodes, data_cut, filters)
    reads[ANALYSIS] = _analysis_table(episodes, field_meta[ANALYSIS], profile)
    report(0, f"Reading {len(reads)} tables")
    with _reading(reads) as take:
        derivation = {name.removeprefix("derive:"): take(name) for name in reads if name.startswith("derive:")}
        report(30, "Deriving the endpoints")
        derived = derive_episodes(derivation).drop(columns=["patient_id", "sequence_number"])
        del derivation
        declared = {m.name for m in field_meta[ANALYSIS]}
        derived = derived[[c for c in derived.columns if c == "episode_id" or c in declared]]
        assessed = _latest_assessments(take("assessments"))
        frames = {name: take(name) for name in (ANALYSIS, IRAES, RESPONSES, FOLLOW_UPS) if name in reads}
    frames[ANALYSIS] = _joined_on_episode(frames[ANALYSIS], assessed, derived)
    report(90, "Tables read")
    # Codes stay categories: the de-identification reads each distinct value once.
    return {name: frames[name] for name in (ANALYSIS, IRAES, RESPONSES, FOLLOW_UPS) if name in frames}


__all__ = [
    "DATASETS",
    "Filters",
    "approval_queue",
    "can_request_exports",
    "export_field_meta",
    "export_reach",
    "export_tables",
    "investigator_list",
    "project_get_for_user",
    "project_list_for_user",
    "ready_downloads_for_user",
    "request_get_for_user",
    "request_list_for_user",
    "site_countries",
]

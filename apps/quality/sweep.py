"""The data-quality sweep: every rule over the registry set-wise, reconciled with the automatic queries.

:func:`quality_sweep` reads each clinical table with one SQL query (never one per record; only the
tables the chosen rules read), runs the checks of ``registry.quality.checks`` over the frames, and
brings the automatic queries in line with what it found:

- a problem with no open (or answered) query gets one, with an "opened" comment by the system;
- a problem that already has one is left alone — an *answered* query whose problem persists stays
  answered: the coordinator decides;
- a query whose problem is gone is closed ("fixed", with a note saying so and when), or, when its record
  no longer exists, closed as "record deleted";
- an implausible value a query was closed on as *confirmed as entered* is not asked about again while the
  value stays the same.

Running it twice opens nothing the second time. The nightly Celery task, ``manage.py quality_sweep`` and
the on-save check (``apps.quality.on_save``, restricted to the written patients and the on-save rules)
all come through here.

Concurrency: on PostgreSQL a sweep holds an advisory lock for its whole run (a second sweep waits for
the first), and its writing step locks the query table against concurrent writers (the on-save check of
a clinical write waits those few seconds), so what it read of the queries is still true when it writes.
The unique constraint ``quality_one_open_query_per_problem`` guards the rest.
"""

from __future__ import annotations

import functools
import io
import operator
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, F, Q, QuerySet
from django.db.models.functions import Left, Trim
from django.utils import timezone

from apps.assessments.models import Assessment
from apps.assessments.services import blinding_is_on
from apps.clinical.models import AdverseEvent, FollowUp, InitialCourse, Patient, RechallengeEpisode, ResponseAssessment
from apps.core.bulk import BulkTable, BulkWriter
from apps.core.frames import copy_out_csv
from apps.core.records import record_types
from registry.quality import FOLLOW_UP_INTERVAL_DAYS, RULES, RULES_BY_ID
from registry.quality.checks import (
    CROSS_PATIENT_RULES,
    FRAME_COLUMNS,
    CheckSettings,
    Frames,
    frames_read,
    run_checks,
)

from .models import DataQuery, QueryComment
from .panels import open_query_counts_refresh

KEY = ["rule_id", "record_type", "record_id", "field"]
CHUNK = 5000
COPY_FROM_ROWS = 1000
_LOCK_KEY = zlib.crc32(b"quality.sweep") & 0x7FFFFFFF
#: Taken shared by each on-save check and exclusively by a sweep's writing step (PostgreSQL advisory lock).
WRITE_LOCK_KEY = zlib.crc32(b"quality.write") & 0x7FFFFFFF

CLOSED_FIXED = "Closed automatically: the problem was fixed on {day}."
CLOSED_DELETED = "Closed automatically: the record was deleted on {day}."
OPENED = "Opened automatically by the data-quality rule '{title}'."


def follow_up_interval_days() -> int:
    """Days without a follow-up after which an episode is overdue (setting ``QUALITY_FOLLOW_UP_INTERVAL_DAYS``)."""
    return int(getattr(settings, "QUALITY_FOLLOW_UP_INTERVAL_DAYS", FOLLOW_UP_INTERVAL_DAYS))


def quality_sweep(*, patient_ids: Iterable[int] | None = None, rule_ids: Iterable[str] | None = None) -> dict:
    """Run the rules (all, or ``rule_ids``) over the registry (or the patients ``patient_ids``) and reconcile
    the automatic queries; returns ``{"opened", "closed", "open_total", "seconds"}``.

    ``open_total`` counts every query not closed (open or answered, automatic or raised by a person).
    With ``patient_ids`` the rules that compare patients with each other (``duplicate_patient``) are not run.
    """
    started = time.perf_counter()
    patients = None if patient_ids is None else sorted({int(pk) for pk in patient_ids})
    rules = _rules(rule_ids, restricted=patients is not None)
    with _sweep_lock():
        counts = quality_check_and_reconcile(patient_ids=patients, rule_ids=rules)
    return {
        "opened": counts["opened"],
        "closed": counts["closed"],
        "open_total": DataQuery.objects.exclude(status=DataQuery.Status.CLOSED).count(),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _rules(rule_ids: Iterable[str] | None, *, restricted: bool) -> list[str]:
    wanted = [rule.id for rule in RULES] if rule_ids is None else list(dict.fromkeys(rule_ids))
    unknown = set(wanted) - set(RULES_BY_ID)
    if unknown:
        raise ValueError(f"Unknown data-quality rule(s): {', '.join(sorted(unknown))}.")
    return [rule_id for rule_id in wanted if not (restricted and rule_id in CROSS_PATIENT_RULES)]


def quality_check_and_reconcile(*, patient_ids: Sequence[int] | None, rule_ids: Sequence[str]) -> dict[str, int]:
    """Check ``rule_ids`` over the patients (all if None) and open / close their automatic queries, writing in a
    transaction of its own that holds off other writers of queries."""
    if not rule_ids or (patient_ids is not None and not patient_ids):
        return {"opened": 0, "closed": 0}
    frames = quality_frames(patient_ids=patient_ids, needed=frames_read(rule_ids))
    check_settings = CheckSettings(
        today=timezone.localdate(),
        follow_up_interval_days=follow_up_interval_days(),
        labels=field_labels(),
        blinded="contraindicated_without_justification" in rule_ids and blinding_is_on(),
    )
    violations = with_slugs(run_checks(frames, check_settings, rule_ids))

    with transaction.atomic():
        _lock_query_table()
        counts = reconcile(
            violations,
            scopes=[Scope(tuple(rule_ids), None if patient_ids is None else tuple(patient_ids))],
            present=records_present(frames),
            blinded=check_settings.blinded,
        )
        open_query_counts_refresh(patient_ids=patient_ids)  # the patient list's open-queries column
        return counts


# --- Reading the frames --------------------------------------------------------------------------------


def _patients_filter(queryset: QuerySet, path: str, patient_ids: Sequence[int] | None) -> QuerySet:
    return queryset if patient_ids is None else queryset.filter(**{f"{path}__in": patient_ids})


def _read(queryset: QuerySet, columns: Sequence[str], *, whole: bool = False) -> pd.DataFrame:
    """One SQL query, its rows straight into a frame (no model instances). A ``whole`` table on PostgreSQL is
    streamed with ``COPY … TO STDOUT`` as CSV and parsed by pandas' C reader (no Python object per value:
    the registry's tables load several times faster); a few patients' rows come through a cursor."""
    sql, params = queryset.order_by().values_list(*columns).query.sql_with_params()
    if whole and connection.vendor == "postgresql":
        return _read_copy(sql, params, columns, _boolean_columns(queryset.model, columns))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return pd.DataFrame.from_records(rows, columns=list(columns)) if rows else pd.DataFrame(columns=list(columns))


def _boolean_columns(model: type, columns: Sequence[str]) -> list[str]:
    names = {field.attname: field for field in model._meta.concrete_fields}
    return [name for name in columns if name in names and isinstance(names[name], BooleanField)]


def _read_copy(sql: str, params: Sequence[Any], columns: Sequence[str], booleans: Sequence[str]) -> pd.DataFrame:
    buffer = io.BytesIO()
    copy_out_csv(sql, tuple(params), buffer)
    if not buffer.getbuffer().nbytes:
        return pd.DataFrame(columns=list(columns))
    buffer.seek(0)
    # Numbers parsed by the C reader; every other column as text, NULL (and an empty text, which the checks
    # treat alike) missing.
    dtypes = {name: "float64" if name in _NUMBERS else str for name in columns}
    frame = pd.read_csv(buffer, header=None, names=list(columns), dtype=dtypes, keep_default_na=False, na_values=[""])
    for name in booleans:
        frame[name] = frame[name].map({"t": True, "f": False})
    return frame


#: Numeric columns the checks compare (the ids are numbers too); every other column stays text.
_NUMBERS = frozenset(
    {
        "id",
        "site_id",
        "patient_id",
        "episode_id",
        "supersedes_id",
        "year_of_birth",
        "sequence_number",
        "episode_sequence_number",
        "grade",
        "resolved_to_grade",
        "pdl1_tps_percent",
        "pdl1_cps",
        "tmb_mut_per_mb",
        "ldh_u_per_l",
        "neutrophil_lymphocyte_ratio",
        "albumin_g_per_l",
        "current_prednisone_mg_per_day",
        "peak_prednisone_mg_per_day",
    }
)


def quality_frames(
    *,
    patient_ids: Sequence[int] | None = None,
    needed: Iterable[str] | None = None,
    given: Mapping[str, pd.DataFrame] | None = None,
) -> Frames:
    """The frames the checks read, one query per table (only the tables in ``needed``; all by default);
    ``given`` frames are taken as they are instead of being read."""
    needed = set(FRAME_COLUMNS) if needed is None else set(needed)
    given = dict(given or {})
    whole = patient_ids is None
    sources: dict[str, Callable[[], pd.DataFrame]] = {
        "patients": lambda: _read(
            _patients_filter(Patient.objects.all(), "pk", patient_ids), FRAME_COLUMNS["patients"], whole=whole
        ),
        "courses": lambda: _read(
            _patients_filter(InitialCourse.objects.all(), "patient_id", patient_ids),
            FRAME_COLUMNS["courses"],
            whole=whole,
        ),
        # The justification is free text: only whether it holds anything leaves the database.
        "episodes": lambda: _read(
            _patients_filter(RechallengeEpisode.objects.all(), "patient_id", patient_ids).annotate(
                justification_given=Left(Trim("clinical_justification"), 1)
            ),
            [name if name != "clinical_justification" else "justification_given" for name in FRAME_COLUMNS["episodes"]],
            whole=whole,
        ).rename(columns={"justification_given": "clinical_justification"}),
        "adverse_events": lambda: _read(
            _patients_filter(AdverseEvent.objects.all(), "patient_id", patient_ids),
            FRAME_COLUMNS["adverse_events"],
            whole=whole,
        ),
        # Their patient and episode number joined from the episode (no episodes frame needed for them).
        "responses": lambda: _read(
            _patients_filter(ResponseAssessment.objects.all(), "episode__patient_id", patient_ids).annotate(
                patient_id=F("episode__patient_id")
            ),
            FRAME_COLUMNS["responses"],
            whole=whole,
        ),
        "follow_ups": lambda: _read(
            _patients_filter(FollowUp.objects.all(), "episode__patient_id", patient_ids).annotate(
                patient_id=F("episode__patient_id"), episode_sequence_number=F("episode__sequence_number")
            ),
            FRAME_COLUMNS["follow_ups"],
            whole=whole,
        ),
        "categories": lambda: current_categories(patient_ids),
    }
    read = {name: source() for name, source in sources.items() if name in needed and name not in given}
    return Frames.of(**read, **given)


def current_categories(patient_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """The category of each enrolled episode's current locked assessment: the latest of the lock made at
    enrollment and the re-assessments that supersede it (one query)."""
    queryset = _patients_filter(
        Assessment.objects.filter(episode__enrolled_at__isnull=False), "episode__patient_id", patient_ids
    )
    rows = _read(
        queryset,
        ["id", "episode_id", "is_reassessment", "supersedes_id", "assessed_at", "category"],
        whole=patient_ids is None,
    )
    if rows.empty:
        return pd.DataFrame(columns=["episode_id", "category"])
    rows["assessed_at"] = pd.to_datetime(rows["assessed_at"], utc=True, format="ISO8601")
    rows = rows.sort_values(["episode_id", "assessed_at", "id"])
    originals = rows[~rows["is_reassessment"].astype(bool)].drop_duplicates("episode_id")
    original_of = originals.set_index("episode_id")["id"]
    lock = rows["episode_id"].map(original_of)
    chain = rows[(rows["id"] == lock) | (rows["supersedes_id"] == lock)]
    latest = chain.drop_duplicates("episode_id", keep="last")
    return latest[["episode_id", "category"]].reset_index(drop=True)


def field_labels() -> dict[tuple[str, str], str]:
    """The forms' field labels, keyed by (record name, field): what the messages call a field."""
    labels = {}
    for record_type in record_types():
        for model_field in record_type.model._meta.concrete_fields:
            label = str(model_field.verbose_name)
            labels[(record_type.crf_name, model_field.name)] = label[:1].upper() + label[1:]
    return labels


def with_slugs(violations: pd.DataFrame) -> pd.DataFrame:
    """The checks name record types as ``registry.crf`` does; queries store the record type's slug."""
    slugs = {record_type.crf_name: record_type.slug for record_type in record_types()}
    return violations.assign(record_type=violations["record_type"].map(slugs))


def records_present(frames: Frames) -> dict[str, set[int]]:
    """The ids of the records read, per slug (a query about a record not among them was deleted)."""
    present = {}
    for record_type in record_types():
        frame = frames.of_record(record_type.crf_name)
        present[record_type.slug] = set(frame["id"].dropna().astype("int64"))
    return present


# --- Reconciling with the queries ----------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a check looked at: the queries of ``rule_ids`` about these patients (None: all) or these records
    (``{slug: ids}``; None: all). Only queries in scope are opened or closed."""

    rule_ids: tuple[str, ...]
    patient_ids: tuple[int, ...] | None = None
    records: Mapping[str, frozenset[int]] | None = None

    def q(self) -> Q:
        q = Q(rule_id__in=self.rule_ids)
        if self.patient_ids is not None:
            q &= Q(patient_id__in=self.patient_ids)
        if self.records is not None:
            q &= functools.reduce(
                operator.or_,
                (Q(record_type=slug, record_id__in=ids) for slug, ids in self.records.items()),
                Q(pk__in=[]),
            )
        return q

    def mask(self, violations: pd.DataFrame) -> pd.Series:
        mask = violations["rule_id"].isin(self.rule_ids)
        if self.patient_ids is not None:
            mask &= violations["patient_id"].isin(self.patient_ids)
        if self.records is not None:
            keys = {(slug, record_id) for slug, ids in self.records.items() for record_id in ids}
            pairs = zip(violations["record_type"], violations["record_id"], strict=True)
            mask &= pd.Series([pair in keys for pair in pairs], index=violations.index, dtype=bool)
        return mask


def reconcile(
    violations: pd.DataFrame,
    *,
    scopes: Sequence[Scope],
    present: Mapping[str, set[int]],
    blinded: bool = False,
) -> dict[str, int]:
    """Open a query per new violation and close those whose problem is gone (see the module docstring), within
    ``scopes``: a violation outside them is left alone, and so is a query.

    ``present`` lists the records that were read: a query whose problem is gone and whose record is not
    among them was about a record since deleted. Runs inside the caller's transaction; one query reads the
    queries in scope, and writing costs two statements per kind of change (COPY or bulk insert, update).
    """
    now = timezone.now()
    rule_ids = sorted({rule_id for scope in scopes for rule_id in scope.rule_ids})
    if not violations.empty:
        violations = violations[functools.reduce(operator.or_, (scope.mask(violations) for scope in scopes))]
    confirmable = [rule_id for rule_id in rule_ids if RULES_BY_ID[rule_id].confirmable]
    in_scope = functools.reduce(operator.or_, (scope.q() for scope in scopes))
    rows = list(
        DataQuery.objects.filter(in_scope)
        .filter(~Q(status=DataQuery.Status.CLOSED) | Q(rule_id__in=confirmable, resolution="confirmed"))
        .order_by()
        .values_list("id", *KEY, "status", "value_seen", "coordinators_only")
    )
    known = pd.DataFrame(rows, columns=["id", *KEY, "status", "value_seen", "coordinators_only"])
    known = known.astype({"record_id": "int64"}) if not known.empty else known
    active = known[known["status"] != DataQuery.Status.CLOSED]
    confirmed = known[known["status"] == DataQuery.Status.CLOSED]

    found = violations.drop_duplicates(KEY).astype({"record_id": "int64"})
    new = found.merge(active[KEY], on=KEY, how="left", indicator=True)
    new = new[new["_merge"] == "left_only"].drop(columns="_merge")
    if not confirmed.empty and not new.empty:
        same = new.merge(
            confirmed[[*KEY, "value_seen"]].drop_duplicates(), on=[*KEY, "value_seen"], how="left", indicator=True
        )
        new = new[(same["_merge"] == "left_only").to_numpy()]
    gone = active.merge(found[KEY], on=KEY, how="left", indicator=True)
    gone = gone[gone["_merge"] == "left_only"]

    opened = _open(new, now)
    deleted = [
        int(pk)
        for pk, slug, record_id in zip(gone["id"], gone["record_type"], gone["record_id"], strict=True)
        if int(record_id) not in present.get(slug, set())
    ]
    fixed = sorted({int(pk) for pk in gone["id"]} - set(deleted))
    day = timezone.localdate(now).isoformat()
    _close(fixed, DataQuery.Resolution.FIXED, CLOSED_FIXED.format(day=day), now)
    _close(deleted, DataQuery.Resolution.RECORD_DELETED, CLOSED_DELETED.format(day=day), now)
    if "contraindicated_without_justification" in rule_ids:
        _blinding_followed(active, blinded)
    return {"opened": opened, "closed": len(fixed) + len(deleted)}


_QUERY_COLUMNS = (
    "rule_id",
    "status",
    "site_id",
    "patient_id",
    "record_type",
    "record_id",
    "field",
    "message",
    "value_seen",
    "coordinators_only",
    "opened_at",
)
_COMMENT_COLUMNS = ("query_id", "action", "text", "created_at")


def _open(new: pd.DataFrame, now) -> int:
    """Write the new queries and their "opened" comments (COPY on PostgreSQL, bulk_create elsewhere)."""
    if new.empty:
        return 0
    rows = [
        (
            rule_id,
            DataQuery.Status.OPEN.value,
            int(site),
            int(patient),
            slug,
            int(record),
            name,
            message,
            seen[:200],
            bool(hidden),
            now,
        )
        for rule_id, site, patient, slug, record, name, message, seen, hidden in zip(
            new["rule_id"],
            new["site_id"],
            new["patient_id"],
            new["record_type"],
            new["record_id"],
            new["field"],
            new["message"],
            new["value_seen"],
            new["coordinators_only"],
            strict=True,
        )
    ]
    writer = BulkWriter(batch_size=CHUNK, use_copy=_copy_pays(len(rows)))
    ids = writer.parents(BulkTable(DataQuery, _QUERY_COLUMNS), rows)
    texts = {rule.id: OPENED.format(title=rule.title) for rule in RULES}
    comments = [(pk, QueryComment.Action.OPENED.value, texts[row[0]], now) for pk, row in zip(ids, rows, strict=True)]
    writer.leaves(BulkTable(QueryComment, _COMMENT_COLUMNS), comments)
    return len(rows)


def _copy_pays(rows: int) -> bool:
    """COPY for a sweep's thousands of rows (PostgreSQL); a plain insert for the few of an on-save check."""
    return connection.vendor == "postgresql" and rows >= COPY_FROM_ROWS


def _close(ids: list[int], resolution: str, text: str, now) -> None:
    if not ids:
        return
    for start in range(0, len(ids), CHUNK):
        DataQuery.objects.filter(pk__in=ids[start : start + CHUNK]).update(
            status=DataQuery.Status.CLOSED, resolution=resolution, closed_at=now
        )
    comments = [(pk, QueryComment.Action.AUTO_CLOSED.value, text, now) for pk in ids]
    BulkWriter(batch_size=CHUNK, use_copy=_copy_pays(len(comments))).leaves(
        BulkTable(QueryComment, _COMMENT_COLUMNS), comments
    )


def _blinding_followed(active: pd.DataFrame, blinded: bool) -> None:
    """Queries about a missing justification are for coordinators only exactly while blinding is on."""
    rows = active[
        (active["rule_id"] == "contraindicated_without_justification") & (active["coordinators_only"] != blinded)
    ]
    ids = [int(pk) for pk in rows["id"]]
    for start in range(0, len(ids), CHUNK):
        DataQuery.objects.filter(pk__in=ids[start : start + CHUNK]).update(coordinators_only=blinded)


# --- Locks ---------------------------------------------------------------------------------------------


@contextmanager
def _sweep_lock() -> Iterator[None]:
    """One sweep at a time (PostgreSQL advisory lock, held by this connection; a second sweep waits)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [_LOCK_KEY])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])


def _lock_query_table() -> None:
    """Hold off other writers of queries until this transaction ends (readers go on): the on-save checks in
    flight finish first (they hold the write lock shared) and the next ones wait, as do people answering."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK_KEY])
            cursor.execute(f"LOCK TABLE {DataQuery._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")

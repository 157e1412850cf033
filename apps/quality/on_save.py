"""On save: the warning rules checked for the patients a clinical write touched, inside the write's transaction.

Registered from ``QualityConfig.ready()`` on ``apps.clinical.hooks.on_records_written``. After every
create, change, delete and transfer (once per import batch) the *warning* rules that run on save
(``Rule.on_save``; the error rules refuse the save before it, and the time-based and cross-patient rules
run only in the nightly sweep) are checked over the written patients' records, and their automatic
queries are opened and closed as the sweep would (``apps.quality.sweep.reconcile``).

The cost is a few queries per write, whatever the registry's size (``tests/apps/quality/test_on_save.py``
pins them). The record rules (``required_missing``, ``implausible_value``) are about one record's own
fields: they are checked for the written records only, when a field they read changed, at the price of
the written table's rows of that patient and the queries about those records (two queries). The patient
rules (``toxicity_stop_without_irae``, ``grade5_without_death``) run when an ICI-1 course, irAE or follow-up
field they read is written: three tables of the patient and their queries (four). Writing a query and its
"opened" note costs two more; a write no on-save rule reads (a response assessment, a histology) none.

Also here, because only quality knows its queries: a deleted record's open queries close as "record
deleted", and a patient transferred to another site takes their open queries to the new site's inbox.
"""

from __future__ import annotations

import functools
import operator
import zlib
from collections.abc import Sequence
from typing import Any

import pandas as pd
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from apps.clinical.hooks import RecordWrite
from apps.core.records import record_type_by_slug
from registry.quality import PLAUSIBLE_RANGES, REQUIRED_FIELDS, RULES, Equals, Given, Severity
from registry.quality.checks import FRAME_OF_RECORD, FRAMES_READ, CheckSettings, run_checks

from .models import DataQuery
from .sweep import (
    CLOSED_DELETED,
    WRITE_LOCK_KEY,
    Scope,
    _close,
    field_labels,
    quality_frames,
    reconcile,
    records_present,
    with_slugs,
)

#: The warning rules checked on save.
ON_SAVE_RULES: tuple[str, ...] = tuple(rule.id for rule in RULES if rule.on_save and rule.severity == Severity.WARNING)
#: Those about one record's own fields: checked for the records written only.
RECORD_RULES: tuple[str, ...] = ("required_missing", "implausible_value")
#: Those across a patient's records: checked for the whole patient when a record they read is written.
PATIENT_RULES: tuple[str, ...] = tuple(rule_id for rule_id in ON_SAVE_RULES if rule_id not in RECORD_RULES)

_PATIENT_LOCKS = zlib.crc32(b"quality.on_save.patient") & 0x7FFFFFFF
_ACTIVE = (DataQuery.Status.OPEN, DataQuery.Status.ANSWERED)


def _record_fields() -> dict[str, frozenset[str]]:
    """Per record (``registry.crf`` name): the fields the record rules read; a change to none of them
    cannot open or close their queries."""
    fields: dict[str, set[str]] = {}
    for record, items in REQUIRED_FIELDS.items():
        for item in items:
            fields.setdefault(record, {"missing_answers"}).add(item.field)
            if isinstance(item.when, Given | Equals):
                fields[record].add(item.when.name)
    for record, name in PLAUSIBLE_RANGES:
        fields.setdefault(record, {"missing_answers"}).add(name)
    return {record: frozenset(names) for record, names in fields.items()}


RECORD_FIELDS = _record_fields()
#: Per record: the fields the patient rules read (toxicity_stop_without_irae, grade5_without_death).
PATIENT_FIELDS: dict[str, frozenset[str]] = {
    "initial_course": frozenset({"stop_reason", "patient"}),
    "adverse_event": frozenset({"led_to_discontinuation", "grade", "episode", "patient"}),
    "follow_up": frozenset({"rechallenge_stop_reason", "vital_status", "episode"}),
}


def quality_on_records_written(*, writes: Sequence[RecordWrite], user: Any, channel: str) -> None:
    """Open and close the automatic queries the on-save warning rules raise about what was written."""
    deleted = [write for write in writes if write.action == "delete"]
    if deleted:
        _close_deleted(deleted)
    _follow_transfers(writes)
    gone = {write.patient_id for write in deleted if write.record_type == "patient"}
    records: dict[str, set[int]] = {}  # slug → ids, for the record rules
    patients: set[int] = set()  # for the patient rules
    sites: dict[int, int] = {}
    for write in writes:
        if write.patient_id is None or write.patient_id in gone:
            continue
        record = record_type_by_slug(write.record_type).crf_name
        if write.action != "delete" and _reads(RECORD_FIELDS.get(record), write):
            records.setdefault(write.record_type, set()).add(write.record_id)
            sites[write.patient_id] = write.site_id
        if _reads(PATIENT_FIELDS.get(record), write):
            patients.add(write.patient_id)
            sites[write.patient_id] = write.site_id
    if not records and not patients:
        return
    _lock_patients(sorted(sites))
    _check(records, sorted(patients), sites)


def _reads(fields: frozenset[str] | None, write: RecordWrite) -> bool:
    return bool(fields) and (write.action != "update" or bool(write.fields & fields))


def _check(records: dict[str, set[int]], patients: list[int], sites: dict[int, int]) -> None:
    """Read the written patients' tables the rules need (one query each), check, and reconcile."""
    crf_names = {slug: record_type_by_slug(slug).crf_name for slug in records}
    needed = {FRAME_OF_RECORD[name] for name in crf_names.values()}
    if patients:
        needed |= set().union(*(FRAMES_READ[rule_id] for rule_id in PATIENT_RULES))
    given = {}
    if "patients" not in needed:  # the site of each patient is known from the writes: no need to read them
        given["patients"] = pd.DataFrame({"id": list(sites), "site_id": list(sites.values())})
    frames = quality_frames(patient_ids=sorted(sites), needed=needed, given=given)
    rules = [*(RECORD_RULES if records else ()), *(PATIENT_RULES if patients else ())]
    settings = CheckSettings(today=timezone.localdate(), labels=field_labels())
    violations = with_slugs(run_checks(frames, settings, rules))
    scopes = []
    if records:
        scopes.append(Scope(RECORD_RULES, records={slug: frozenset(ids) for slug, ids in records.items()}))
    if patients:
        scopes.append(Scope(PATIENT_RULES, patient_ids=tuple(patients)))
    reconcile(violations, scopes=scopes, present=records_present(frames))


def _lock_patients(patient_ids: list[int]) -> None:
    """PostgreSQL: one writer of a patient's queries at a time, and none while a sweep writes (one statement)."""
    if connection.vendor != "postgresql":
        return  # SQLite writes one transaction at a time
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock_shared(%s), pg_advisory_xact_lock(%s, p) FROM unnest(%s::int[]) AS p",
            [WRITE_LOCK_KEY, _PATIENT_LOCKS, patient_ids],
        )


def _close_deleted(deleted: list[RecordWrite]) -> None:
    """The open automatic queries about records just deleted close as "record deleted"."""
    by_type: dict[str, list[int]] = {}
    for write in deleted:
        by_type.setdefault(write.record_type, []).append(write.record_id)
    about = functools.reduce(operator.or_, (Q(record_type=slug, record_id__in=ids) for slug, ids in by_type.items()))
    ids = list(DataQuery.objects.filter(about, status__in=_ACTIVE).exclude(rule_id="").values_list("id", flat=True))
    now = timezone.now()
    _close(sorted(ids), DataQuery.Resolution.RECORD_DELETED, CLOSED_DELETED.format(day=timezone.localdate(now)), now)


def _follow_transfers(writes: Sequence[RecordWrite]) -> None:
    """A transferred patient's open queries go to the new site's inbox (the closed ones stay where they were)."""
    for write in writes:
        if write.record_type == "patient" and write.action == "update" and "site" in write.fields and write.site_id:
            DataQuery.objects.filter(patient_id=write.patient_id, status__in=_ACTIVE).update(site_id=write.site_id)

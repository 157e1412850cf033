"""Bulk import of a site's CSV file: validate every row, then write all of it or nothing.

``import_job_create`` stores the upload and starts the job: small files run at once, larger ones in
the ``imports.run_import_job`` Celery task, enqueued when the job is committed. ``import_job_run``
is what both paths call, and is idempotent: only a pending job is claimed and run.

A run has two phases. **Validation** parses every row (``registry.csv_import``), checks the rules
across rows, builds unsaved model instances and runs their ``full_clean()``, collecting every problem
as ``row N, column X: message``. Any problem fails the job and writes nothing. **Import** then
creates every record in one transaction through ``apps.clinical.services.records_create_bulk`` (so
each record gets the same validation, site check and audit entry as from a web form, channel
``import``, checked set-wise and inserted a table at a time); if a record is still refused there
(a rule across the rows of a patient, or the database), the transaction is rolled back and the job
fails with that row's errors. Rows
sharing a ``local_identifier`` (in its normal form: ``mrn1`` and ``MRN1`` are one) are one patient.

A row naming a patient already registered at the site (by ``local_identifier`` or ``registry_id``)
updates that patient: ``apps.imports.updates`` matches its records to the stored ones and plans the
changes, which are checked with the rest of the file and written in the same transaction as the new
patients (``record_update`` / ``record_create``, channel ``import``, with the row's reason). A **dry
run** (``ImportJob.dry_run``) stops after validation and stores the plan as the job's ``preview``: per
row, what would be created, changed (old → new) and left alone; ``import_job_confirm`` then imports
the same stored file for real, as the same job.

An import registers patients, so only the site's own staff upload one (coordinators are refused, as
on the patient page and the API), and a site closed to new data takes no import.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Model, Q
from django.utils import timezone

from apps.accounts.models import Site
from apps.accounts.selectors import access_for_user, site_closed_message
from apps.clinical.models import AdverseEvent, Patient
from apps.clinical.services import (
    BulkRefused,
    BulkWriteFailed,
    RecordBatch,
    records_create_batch,
    records_create_bulk,
)
from apps.core.errors import ApplicationError
from apps.core.jobs import claimant_is_gone, job_claim, job_enqueue, job_lease
from apps.core.models import AuditChannel
from registry import csv_import as spec

from . import updates
from .models import ImportJob
from .selectors import COUNT_LABELS, COUNT_LABELS_ONE, progress_cache_key, record_type_of

log = logging.getLogger(__name__)

#: Progress is saved every this many rows, in both phases.
PROGRESS_EVERY = 100
#: Files up to this many rows are imported during the upload request; larger ones by a Celery worker.
#: A job costs the same few queries whatever its rows (``tests/apps/imports/test_write_queries.py``).
DEFAULT_INLINE_MAX_ROWS = 25
DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024
#: The error report keeps this many problems; the count of all of them is kept beside it.
MAX_STORED_ERRORS = 5000
#: The Celery task that runs a job (``tasks.run_import_job``), enqueued by this name.
RUN_TASK = "imports.run_import_job"
#: A job still waiting for a worker after this long had its message lost; recovery enqueues it again.
PENDING_GRACE_SECONDS = 120
#: A job is started at most this many times (a worker that keeps dying on it must not loop forever).
MAX_ATTEMPTS = 3
#: Name of the job kind for the liveness lock (see ``apps.core.jobs``).
JOB_KIND = "import"

Status = ImportJob.Status

#: Imports register patients, which only the site's own staff do (see ``Access.can_register_patients_at``).
IMPORT_BY_SITE_STAFF = "Imports register patients, which only the staff of the site do; coordinators cannot import."


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def import_inline_max_rows() -> int:
    """Files up to this many rows are imported during the upload request (setting ``IMPORT_INLINE_MAX_ROWS``)."""
    return _setting("IMPORT_INLINE_MAX_ROWS", DEFAULT_INLINE_MAX_ROWS)


def import_template_csv(*, site: Site) -> str:
    """The empty template of ``site``: the documented header, one rechallenge episode per row below it."""
    return spec.template_csv()


def import_job_create(
    *, user, site: Site, upload: UploadedFile, run_inline: bool | None = None, dry_run: bool = False
) -> ImportJob:
    """Store an uploaded file as a new job and start it (at once if small, else on a Celery worker).

    ``run_inline`` forces either path; by default files of up to ``IMPORT_INLINE_MAX_ROWS`` rows (25)
    run at once. ``dry_run`` checks the file and stores its preview without writing any record. Call
    outside a transaction so the job is committed before a worker looks for it.
    """
    if not access_for_user(user).can_register_patients_at(site.pk):
        raise ApplicationError(IMPORT_BY_SITE_STAFF, field_errors={"site": [IMPORT_BY_SITE_STAFF]}, status=403)
    if not site.active:
        closed = site_closed_message(site.code)
        raise ApplicationError(closed, field_errors={"site": [closed]}, status=409)
    max_bytes = _setting("IMPORT_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES)
    if upload.size is not None and upload.size > max_bytes:
        message = f"The file is larger than {max_bytes // (1024 * 1024)} MB; split it into smaller files."
        raise ApplicationError(message, field_errors={"file": [message]})
    # Counted as a stream and only up to the inline limit: a large file goes to the worker unread, so
    # its size costs the upload request neither time nor memory (the worker counts it in full).
    inline_max = import_inline_max_rows()
    upload.seek(0)
    counted = spec.count_rows_up_to(upload.file, cap=inline_max)
    upload.seek(0)
    if run_inline is None:
        run_inline = counted <= inline_max
    total = counted if counted <= inline_max else 0
    with transaction.atomic():
        job = ImportJob(
            site=site,
            uploaded_by=user,
            original_filename=(upload.name or "")[:200],
            total_rows=total,
            dry_run=dry_run,
        )
        job.file.save("upload.csv", upload, save=False)  # copied in chunks, never whole in memory
        job.save()
        if not run_inline:
            transaction.on_commit(partial(_enqueue, job.pk), robust=True)
    if run_inline:
        import_job_run(job_id=job.pk)
        job.refresh_from_db()
    return job


def _enqueue(job_id: int) -> None:
    job_enqueue(RUN_TASK, job_id)


CONFIRM_BY_UPLOADER = "Only the person who uploaded the file imports it after its preview."


def import_job_confirm(*, user, job: ImportJob) -> ImportJob:
    """Import the file of a checked dry run for real, as the same job; a second click changes nothing.

    The file is checked again (the registry may have changed since the preview) and its plan written;
    the audit entries name the uploader, so only they confirm.
    """
    if job.uploaded_by_id != user.pk:
        raise ApplicationError(CONFIRM_BY_UPLOADER, status=403)
    if not access_for_user(user).can_register_patients_at(job.site_id):
        raise ApplicationError(IMPORT_BY_SITE_STAFF, status=403)
    started = ImportJob.objects.filter(pk=job.pk, dry_run=True, status=Status.SUCCEEDED).update(
        dry_run=False, status=Status.PENDING, started_at=None, finished_at=None, processed_rows=0, attempts=0
    )
    job.refresh_from_db()
    if not started:
        return job  # already confirmed (or not a checked preview): nothing more to do
    if job.total_rows <= import_inline_max_rows():
        import_job_run(job_id=job.pk)
        job.refresh_from_db()
    else:
        transaction.on_commit(partial(_enqueue, job.pk), robust=True)
    return job


def stale_after_seconds() -> int:
    """A job running this long was killed: the task's hard time limit (``CELERY_TASK_TIME_LIMIT``) and a margin."""
    return int(settings.CELERY_TASK_TIME_LIMIT) + 5 * 60


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a pending job to the end (idempotent); a finished job, or one a live worker runs, is left alone.

    A job whose worker died mid-way (its transaction rolled back, so nothing of it was written) is
    claimed again and run from the start, up to ``MAX_ATTEMPTS`` times.
    """
    with job_lease(JOB_KIND, job_id) as leased:
        job = _claim(job_id) if leased else None
        if job is None:
            return ImportJob.objects.select_related("site", "uploaded_by").filter(pk=job_id).first()
        _run_claimed(job)
        return job


def _claim(job_id: int) -> ImportJob | None:
    """Mark the job as this worker's, if it is pending or its previous worker is gone; else None."""

    def give_up(job: ImportJob) -> None:
        job.status, job.finished_at = Status.FAILED, timezone.now()
        job.message = (
            f"The import's worker stopped {job.attempts} times before it could finish. Nothing was imported; "
            "contact the registry team."
        )
        job.save(update_fields=["status", "finished_at", "message"])

    def start(job: ImportJob, worker: str) -> None:
        job.status, job.started_at, job.processed_rows = Status.VALIDATING, timezone.now(), 0
        job.attempts += 1
        job.claimed_by = worker
        job.save(update_fields=["status", "started_at", "processed_rows", "attempts", "claimed_by"])

    return job_claim(
        ImportJob.objects.select_related("site", "uploaded_by"),
        job_id,
        kind=JOB_KIND,
        noun="import job",
        waiting=Status.PENDING,
        running=(Status.VALIDATING, Status.IMPORTING),
        max_attempts=MAX_ATTEMPTS,
        give_up=give_up,
        start=start,
    )


def import_jobs_recover() -> list[int]:
    """Enqueue again every job whose worker died, or that waited too long for a worker (a lost message)."""
    waited_since = timezone.now() - timedelta(seconds=PENDING_GRACE_SECONDS)
    candidates = ImportJob.objects.filter(
        Q(status=Status.PENDING, created_at__lt=waited_since) | Q(status__in=[Status.VALIDATING, Status.IMPORTING])
    ).values_list("pk", "status", "claimed_by")
    recovered = [
        pk
        for pk, status, claimed_by in candidates
        if status == Status.PENDING or claimant_is_gone(JOB_KIND, pk, claimed_by)
    ]
    for pk in recovered:
        _enqueue(pk)
    return recovered


def _run_claimed(job: ImportJob) -> None:
    try:
        _run(job)
    except SoftTimeLimitExceeded:
        _fail(
            job,
            message="The import took longer than its time limit and was stopped. Nothing was imported; "
            "split the file into smaller files and upload them one by one.",
        )
    except Exception:
        log.exception("import job %s stopped by an unexpected error", job.pk)
        _fail(
            job,
            message="An unexpected error stopped the import. Nothing was imported. The error was logged "
            "for the registry team; you can try again or contact them.",
        )


def import_job_expire_if_stale(*, job: ImportJob) -> ImportJob:
    """Mark a job failed when it has run longer than the task may (its worker was killed)."""
    running = job.status in (Status.VALIDATING, Status.IMPORTING)
    if running and job.started_at and (timezone.now() - job.started_at).total_seconds() > stale_after_seconds():
        message = "The import stopped without finishing (its worker was stopped). Nothing was imported."
        updated = ImportJob.objects.filter(pk=job.pk, status=job.status).update(
            status=Status.FAILED, message=message, finished_at=timezone.now()
        )
        if updated:
            job.refresh_from_db()
    return job


# --- Phases ----------------------------------------------------------------------------------------------


def _run(job: ImportJob) -> None:
    if not access_for_user(job.uploaded_by).can_register_patients_at(job.site_id):
        _fail(job, message="The uploader is no longer on the staff of this site. Nothing was imported.")
        return
    if not job.site.active:
        _fail(job, message=f"{site_closed_message(job.site.code)} Nothing was imported.")
        return
    with job.file.open("rb") as handle:
        data = handle.read()
    planner = updates.Planner(site=job.site)
    parsed = spec.parse_file(data, max_rows=_setting("IMPORT_MAX_ROWS", spec.DEFAULT_MAX_ROWS), registered=planner)
    if parsed.rows:  # a file refused as a whole keeps the row count taken at upload
        job.total_rows = len(parsed.rows)
        ImportJob.objects.filter(pk=job.pk).update(total_rows=job.total_rows)
    plan = planner.plan
    errors = [*parsed.errors, *plan.errors, *planner.check(), *_validate_rows(job, plan.new_rows())]
    if errors:
        _fail(job, errors=errors)
        return
    job.preview = plan.preview()
    if job.dry_run:
        _previewed(job, plan)
        return
    job.status = Status.IMPORTING
    ImportJob.objects.filter(pk=job.pk).update(status=Status.IMPORTING, processed_rows=0)
    _progress(job, 0)
    _import(job, plan)


class _Rollback(Exception):
    """The new patients' write failed the job: the updates written before it are rolled back too."""


#: What a failed job saves (``_fail``), again after its failure was rolled back with the import.
_FAILURE_FIELDS = [
    "status",
    "message",
    "error_count",
    "errors",
    "created_counts",
    "finished_at",
    "processed_rows",
    "preview",
    "created_registry_ids",
]


def _import(job: ImportJob, plan: updates.ImportPlan) -> None:
    """Write the updates of registered patients and the new patients in one transaction: all or nothing."""
    try:
        with transaction.atomic():
            done = updates.import_plan_apply(plan=plan, user=job.uploaded_by, job_id=job.pk)
            _write_rows(job, plan.new_rows())
            if job.status != Status.SUCCEEDED:
                raise _Rollback
            _imported(job, plan, done)
    except updates.PlanRefused as refused:
        _fail(job, errors=refused.errors)
    except ApplicationError as error:  # the site closed, or the uploader left it, meanwhile
        _fail(job, message=f"{error.message} Nothing was imported.")
    except _Rollback:
        job.save(update_fields=_FAILURE_FIELDS)  # the failure ``_write_rows`` saved went back with the rest


def _imported(job: ImportJob, plan: updates.ImportPlan, done: dict[str, Counter[str]]) -> None:
    """The job's outcome once both writes succeeded, saved in their transaction."""
    created = Counter(job.created_counts) + done[updates.Action.CREATE]
    job.created_counts = dict(created)
    if not job.created_registry_ids:
        job.created_registry_ids = _registry_ids_of(job.site, plan.new_rows())
    job.message = _outcome(len(plan.rows), created, done[updates.Action.CHANGE], dry_run=False)
    job.save(update_fields=["created_counts", "created_registry_ids", "message", "preview"])


def _registry_ids_of(site: Site, rows: list[spec.ParsedRow]) -> list[str]:
    """The registry IDs of the patients the rows registered (their identifiers were new at the site)."""
    identifiers = sorted({row.local_identifier for row in rows if row.local_identifier})
    found: list[str] = []
    for start in range(0, len(identifiers), 500):
        chunk = identifiers[start : start + 500]
        found.extend(
            Patient.objects.filter(site=site, local_identifier__in=chunk).values_list("registry_id", flat=True)
        )
    return sorted(found)


def _previewed(job: ImportJob, plan: updates.ImportPlan) -> None:
    """A dry run that validated: its preview is kept, nothing else is written."""
    counts = plan.counts()
    job.status = Status.SUCCEEDED
    job.processed_rows = len(plan.rows)
    job.finished_at = timezone.now()
    job.message = _outcome(len(plan.rows), counts[updates.Action.CREATE], counts[updates.Action.CHANGE], dry_run=True)
    job.save(update_fields=["status", "processed_rows", "finished_at", "message", "preview"])
    _cache_call(cache.delete, progress_cache_key(job.pk))


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(
        f"{counts[key]} {COUNT_LABELS_ONE[key] if counts[key] == 1 else label}"
        for key, label in COUNT_LABELS.items()
        if counts.get(key)
    )


def _outcome(rows: int, created: dict[str, int], changed: dict[str, int], *, dry_run: bool) -> str:
    """What a job did, or will do: "Imported 3 rows: created 2 patients, …; changed 1 initial ICI courses."."""
    verbs = ("create", "change") if dry_run else ("created", "changed")
    parts = [
        f"{verb} {_counted(counts)}"
        for verb, counts in zip(verbs, (created, changed), strict=True)
        if any(counts.values())
    ]
    done = "; ".join(parts) or ("create or change nothing" if dry_run else "nothing created or changed")
    plural = "s" if rows != 1 else ""
    if dry_run:
        return f"Checked {rows} row{plural}; nothing is written yet. Importing this file will {done}."
    return f"Imported {rows} row{plural}: {done}."


def _progress(job: ImportJob, done: int) -> None:
    job.processed_rows = done
    ImportJob.objects.filter(pk=job.pk).update(processed_rows=done)
    # Inside the import transaction the row above is invisible to other connections until commit;
    # the cache (shared Redis in production) lets the job page show progress meanwhile.
    _cache_call(cache.set, progress_cache_key(job.pk), done, timeout=stale_after_seconds())


def _cache_call(method, *args: Any, **kwargs: Any) -> None:
    """Progress in the cache is a nicety: an unreachable cache must not fail (or seem to fail) an import."""
    try:
        method(*args, **kwargs)
    except Exception:
        log.warning("import progress could not be written to the cache", exc_info=True)


def _fail(job: ImportJob, *, message: str = "", errors: Iterable[spec.CellError] = ()) -> None:
    errors = spec.sort_errors(errors)
    if not message:
        rows = len({error.row for error in errors})
        message = (
            f"{len(errors)} problem{'s' if len(errors) != 1 else ''} in {rows} row{'s' if rows != 1 else ''}. "
            "Nothing was imported: correct the file and upload it again."
        )
    job.status = Status.FAILED
    job.message = message
    job.error_count = len(errors)
    job.errors = [error.as_dict() for error in errors[:MAX_STORED_ERRORS]]
    job.created_counts = {}
    job.preview = []
    job.created_registry_ids = []
    job.finished_at = timezone.now()
    if errors:
        job.processed_rows = job.total_rows
    job.save(update_fields=_FAILURE_FIELDS)
    _cache_call(cache.delete, progress_cache_key(job.pk))


# --- Validation ------------------------------------------------------------------------------------------


def _validate_rows(job: ImportJob, rows: list[spec.ParsedRow]) -> list[spec.CellError]:
    """The records of the new patients' rows, checked as unsaved model instances."""
    errors: list[spec.CellError] = []
    seen: set[str] = set()
    for index, row in enumerate(rows, start=1):
        first_of_patient = not row.local_identifier or row.local_identifier not in seen
        seen.add(row.local_identifier)
        records = _unsaved_records(job.site, row)
        episode = next((instance for key, instance in records if key[0] is spec.Record.EPISODE), None)
        for key, instance in records:
            if key[0] in spec.PATIENT_LEVEL and not first_of_patient:
                continue  # the patient's first row is checked; later rows must repeat it (check_rows)
            if key[0] is spec.Record.RECHALLENGE_IRAE:  # an irAE of the row's rechallenge, not saved yet
                instance.episode = episode
                field_errors = updates.record_errors(instance, {"patient", "episode"})
            else:
                field_errors = _model_errors(key, instance)
            errors.extend(_cell_errors(row, key, field_errors))
        if index % PROGRESS_EVERY == 0:
            _progress(job, index)
    _progress(job, len(rows))
    return errors


def _unsaved_records(
    site: Site, row: spec.ParsedRow, *, patient: Patient | None = None
) -> list[tuple[spec.RecordKey, Model]]:
    """The row's records as unsaved model instances, linked to each other as they will be saved.

    With ``patient`` (the instance built from the patient's first row) the patient-level records are
    left out and the row's rechallenge links to that patient. An irAE of the rechallenge (any irAE
    other than a prior one of ICI-1) links to the row's episode as well as to the patient; records are
    listed parents first, in the order ``record_create`` would save them.
    """
    parents: dict[str, Any] = {"site": site, "patient": patient}
    built = []
    for key, values in _in_write_order(row):
        if patient is not None and key[0] in spec.PATIENT_LEVEL:
            continue
        record_type = record_type_of(key[0])
        links = {record_type.parent_field: parents[record_type.parent_field]}
        if record_type.model is AdverseEvent and key[0] is not spec.Record.PRIOR_IRAE:
            links["episode"] = parents.get("episode")
        instance = record_type.model(**links, **values)
        if key[0] is spec.Record.PATIENT:
            parents["patient"] = instance
        elif key[0] is spec.Record.EPISODE:
            parents["episode"] = instance
        built.append((key, instance))
    return built


#: Parents before the records that link to them (a row's records are otherwise kept in column order).
_WRITE_RANK = {
    spec.Record.PATIENT: 0,
    spec.Record.INITIAL_COURSE: 1,
    spec.Record.PRIOR_IRAE: 2,
    spec.Record.EPISODE: 3,
}


def _in_write_order(row: spec.ParsedRow) -> list[tuple[spec.RecordKey, dict[str, Any]]]:
    return sorted(row.records.items(), key=lambda item: _WRITE_RANK.get(item[0][0], len(_WRITE_RANK)))


def _model_errors(key: spec.RecordKey, instance: Model) -> dict[str, list[str]]:
    """``full_clean()`` of an unsaved record; links to unsaved parents and generated fields are skipped.

    Database constraints are not checked here: each check constraint of the clinical models repeats a
    rule of a field validator or of ``clean()`` (which run here), checking them costs a query each, and
    ``record_create`` checks them again while writing (a violation there still fails the whole job).
    The patient's unique local identifier is checked against the database separately, in one query.
    """
    record = key[0]
    exclude = {record_type_of(record).parent_field} | ({"registry_id"} if record is spec.Record.PATIENT else set())
    try:
        instance.full_clean(exclude=exclude, validate_constraints=False)
    except ValidationError as error:
        return error.message_dict
    return {}


def _cell_errors(row: spec.ParsedRow, key: spec.RecordKey, field_errors: dict[str, list[str]]) -> list[spec.CellError]:
    """Model errors as cell errors; a record's general errors are dropped when a field error explains it."""
    record, group = key
    has_field_errors = any(name != NON_FIELD_ERRORS for name in field_errors)
    unreadable = row.error_columns()
    cells = []
    for name, messages in field_errors.items():
        if name == NON_FIELD_ERRORS and has_field_errors:
            continue  # e.g. a database check constraint repeating what clean() said about a field
        column = spec.column_for(record, name, group) or spec.first_column(record, group)
        if column.name in unreadable:
            continue  # the cell could not be read; that message says why
        cells.extend(row.error(column, _plain_message(column, message)) for message in messages)
    return cells


_MISSING = frozenset({"This field cannot be null.", "This field cannot be blank."})


def _plain_message(column: spec.Column, message: str) -> str:
    """Django's wording for an empty required field, said as it applies to a file."""
    if message not in _MISSING:
        return message
    if column.group is None:
        return "Required: this cell cannot be empty."
    prefix = column.name.split("_", 1)[0]
    return f"Required when any {prefix}_… column is filled."


# --- Import ----------------------------------------------------------------------------------------------


class _RowRefused(Exception):
    def __init__(self, errors: list[spec.CellError]):
        super().__init__(errors)
        self.errors = errors


def _write_rows(job: ImportJob, rows: list[spec.ParsedRow]) -> None:
    """Register the rows' new patients with every record of theirs in bulk, in one transaction; any
    refusal rolls all of it back and fails the job with the refused rows' errors.

    ``records_create_bulk`` validates every record set-wise and inserts a table at a time. Its errors
    are reported as the one-by-one write reported them: a row's first refused record, and none for the
    later rows of that row's patient. When the database refuses an insert (a rule no validation
    repeats), the rows are written again one by one to find the row, and the job fails with its errors.
    """
    records: list[Model] = []
    origins: list[tuple[spec.ParsedRow, spec.RecordKey]] = []
    patients: dict[str, Patient] = {}
    for index, row in enumerate(rows, start=1):
        for key, instance in _unsaved_records(job.site, row, patient=patients.get(row.local_identifier)):
            if key[0] is spec.Record.PATIENT:
                patients[row.local_identifier] = instance
            records.append(instance)
            origins.append((row, key))
        if index % PROGRESS_EVERY == 0:
            _progress(job, index)
    try:
        with transaction.atomic():
            records_create_bulk(
                site=job.site,
                user=job.uploaded_by,
                channel=AuditChannel.IMPORT,
                reason=f"Bulk import #{job.pk}",
                records=records,
            )
            counts = Counter(key[0].value for _, key in origins)
            registry_ids = [patient.registry_id for patient in patients.values()]  # in file order
            _succeeded(job, len(rows), counts, registry_ids)
    except BulkRefused as refused:
        _fail(job, errors=_first_refusals(refused.errors, origins))
    except BulkWriteFailed:
        log.warning("import job %s: the database refused a bulk insert; writing row by row", job.pk)
        _write_rows_one_by_one(job, rows)
        return
    except ApplicationError as error:  # refused as a whole when it began (the site closed meanwhile)
        _fail(job, message=f"{error.message} Nothing was imported.")
    _cache_call(cache.delete, progress_cache_key(job.pk))


def _succeeded(job: ImportJob, rows: int, counts: Counter, registry_ids: list[str]) -> None:
    """Saved in the import transaction: the records and the job's success commit together."""
    job.status = Status.SUCCEEDED
    job.processed_rows = rows
    job.created_counts = dict(counts)
    job.finished_at = timezone.now()
    job.message = _summary(rows, counts)
    fields = ["status", "processed_rows", "created_counts", "finished_at", "message"]
    if hasattr(job, "created_registry_ids"):
        job.created_registry_ids = registry_ids
        fields.append("created_registry_ids")
    job.save(update_fields=fields)


def _first_refusals(
    errors: dict[int, dict[str, list[str]]], origins: list[tuple[spec.ParsedRow, spec.RecordKey]]
) -> list[spec.CellError]:
    """The errors of each row's first refused record; none for a refused patient's later rows."""
    cells: list[spec.CellError] = []
    refused_rows: set[int] = set()
    refused_patients: dict[str, int] = {}
    for index in sorted(errors):
        row, key = origins[index]
        if row.number in refused_rows:
            continue
        first = refused_patients.setdefault(row.local_identifier, row.number)
        if first != row.number:
            continue  # the patient's earlier row was refused; its errors are reported there
        refused_rows.add(row.number)
        cells.extend(_cell_errors(row, key, errors[index]))
    return cells


def _write_rows_one_by_one(job: ImportJob, rows: list[spec.ParsedRow]) -> None:
    """Create every record one by one in one transaction; any refusal rolls all of it back and fails the job."""
    counts: Counter[str] = Counter()
    errors: list[spec.CellError] = []
    patients: dict[str, Patient] = {}
    refused_patients: set[str] = set()
    batch_of_job = records_create_batch(
        site=job.site, user=job.uploaded_by, channel=AuditChannel.IMPORT, reason=f"Bulk import #{job.pk}"
    )
    try:
        with batch_of_job as batch:
            create = partial(_create, batch=batch, counts=counts)
            for index, row in enumerate(rows, start=1):
                identifier = row.local_identifier
                if identifier in refused_patients:
                    continue  # the patient's first row was refused; its errors are reported there
                known = patients.get(identifier)
                parents: dict[str, Any] = {"site": batch.site, "patient": known}
                try:
                    with batch.group():  # a refused record takes the rest of its row back with it
                        for key, values in _in_write_order(row):
                            record = key[0]
                            if known is not None and record in spec.PATIENT_LEVEL:
                                continue  # written with the patient's first row
                            record_type = record_type_of(record)
                            links = {record_type.parent_field: parents[record_type.parent_field]}
                            if record_type.model is AdverseEvent and record is not spec.Record.PRIOR_IRAE:
                                links["episode"] = parents.get("episode")
                            instance = create(row, key, {**links, **values})
                            if record is spec.Record.PATIENT:
                                parents["patient"] = patients[identifier] = instance
                            elif record is spec.Record.EPISODE:
                                parents["episode"] = instance
                except _RowRefused as refused:
                    errors.extend(refused.errors)
                    refused_patients.add(identifier)
                if index % PROGRESS_EVERY == 0:
                    _progress(job, index)
            if errors:
                raise _FileRefused  # rolls the whole batch back: nothing of the file is written
            _succeeded(job, len(rows), counts, [patient.registry_id for patient in patients.values()])
    except _FileRefused:
        _fail(job, errors=errors)
    except ApplicationError as error:  # refused as a whole when it began (the site closed meanwhile)
        _fail(job, message=f"{error.message} Nothing was imported.")
    _cache_call(cache.delete, progress_cache_key(job.pk))


class _FileRefused(Exception):
    """Some row was refused while writing: the import's transaction is rolled back."""


def _create(
    row: spec.ParsedRow, key: spec.RecordKey, data: dict[str, Any], *, batch: RecordBatch, counts: Counter
) -> Model:
    try:
        instance = batch.create(model=record_type_of(key[0]).model, data=data)
    except ApplicationError as error:
        raise _RowRefused(_cell_errors(row, key, error.field_errors or {NON_FIELD_ERRORS: [error.message]})) from None
    counts[key[0].value] += 1
    return instance


def _summary(rows: int, counts: Counter) -> str:
    parts = ", ".join(f"{number} {COUNT_LABELS[name]}" for name, number in counts.items())
    return f"Imported {rows} row{'s' if rows != 1 else ''}: {parts}."


# --- Reports ---------------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(value: Any) -> Any:
    """Keep spreadsheet programs from running a cell as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def import_errors_csv(*, errors: list[dict]) -> str:
    """The error report as CSV: row, column, value, message (values already masked for the reader)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["row", "column", "value", "message"])
    for error in errors:
        writer.writerow([_csv_safe(error[name]) for name in ("row", "column", "value", "message")])
    return buffer.getvalue()

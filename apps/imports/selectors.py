"""Reads for bulk imports: the column documentation, and import jobs scoped to the user's sites."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Field, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.text import capfirst

from apps.accounts.selectors import Access, access_for_user
from apps.core.records import RecordType, record_type_by_crf_name
from registry import crf
from registry import csv_import as spec
from registry.vocabularies import Vocabulary

from .models import ImportJob


def record_type_of(record: spec.Record) -> RecordType:
    """The record type a record of an import row becomes, from its declaration (``apps.clinical.records``).

    The import's record names are ``registry.crf``'s, except that the irAEs of a row are those of ICI-1.
    """
    return record_type_by_crf_name("adverse_event" if record is spec.Record.PRIOR_IRAE else record.value)


#: How the counts of created records (keyed by record) read on the job page.
COUNT_LABELS: dict[str, str] = {
    spec.Record.PATIENT: "patients",
    spec.Record.INITIAL_COURSE: "initial ICI courses",
    spec.Record.PRIOR_IRAE: "prior irAEs",
    spec.Record.EPISODE: "rechallenge episodes",
    spec.Record.RESPONSE: "response assessments",
    spec.Record.FOLLOW_UP: "follow-ups",
}

HIDDEN = "(hidden)"


def import_access_allowed(access: Access) -> bool:
    """Center staff and coordinators import; investigators (and users without a role) do not."""
    return access.is_coordinator or access.is_site_staff


# --- Column documentation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnDoc:
    """One documented column, read from the column spec and the model field it fills."""

    name: str
    section: str
    label: str
    help_text: str
    format: str
    requirement: str
    note: str
    vocabulary: Vocabulary | None
    identifier: bool

    @property
    def vocabulary_anchor(self) -> str:
        return vocabulary_anchor(self.vocabulary) if self.vocabulary else ""


def vocabulary_anchor(vocabulary: Vocabulary) -> str:
    return "codes-" + "".join(ch if ch.isalnum() else "-" for ch in vocabulary.name.lower()).strip("-")


def _model_field(column: spec.Column) -> Field:
    return record_type_of(column.record).model._meta.get_field(column.field)


def _default_shown(field: Field) -> str:
    default = field.get_default()
    if isinstance(default, bool):
        return "yes" if default else "no"
    return str(default)


def _requirement(column: spec.Column, field: Field) -> str:
    if column.required:
        return "Required"
    if column.note.startswith("Empty:"):
        return "Optional"
    if field.has_default() and field.get_default() not in (None, ""):
        return f"Optional (empty: {_default_shown(field)})"
    if field.blank or field.null:
        return "Optional (empty: not recorded)" if field.get_internal_type() == "BooleanField" else "Optional"
    if column.group:
        return f"Required when any {column.pattern.split('_', 1)[0]}_… column is filled"
    return "Required"


def import_column_docs() -> list[ColumnDoc]:
    """Every column (a repeated group once), documented from the model field's label and help text."""
    docs = []
    for column in spec.documented_columns():
        field = _model_field(column)
        docs.append(
            ColumnDoc(
                name=column.pattern,
                section=spec.RECORD_TITLES[column.record],
                label=capfirst(str(field.verbose_name)),
                help_text=str(field.help_text),
                format=spec.KIND_FORMATS[column.kind],
                requirement=_requirement(column, field),
                note=column.note,
                vocabulary=column.vocabulary,
                identifier=crf.is_identifier(column.record, column.field),
            )
        )
    return docs


def import_code_lists() -> list[Vocabulary]:
    """The vocabularies the columns draw codes from, each once, in column order."""
    seen: dict[str, Vocabulary] = {}
    for column in spec.documented_columns():
        if column.vocabulary is not None:
            seen.setdefault(column.vocabulary.name, column.vocabulary)
    return list(seen.values())


# --- Jobs -------------------------------------------------------------------------------------------------


def import_job_list_for_user(*, user) -> QuerySet[ImportJob]:
    """Jobs of the sites the user works at (every site for coordinators); none for anyone else."""
    access = access_for_user(user)
    qs = ImportJob.objects.select_related("site", "uploaded_by")
    if access.is_coordinator:
        return qs
    if not access.is_site_staff:
        return qs.none()
    return qs.filter(site_id__in=access.site_ids)


def import_job_get_for_user(*, user, pk: int) -> ImportJob:
    """One job within the user's reach; another site's job answers 404."""
    return get_object_or_404(import_job_list_for_user(user=user), pk=pk)


def progress_cache_key(job_id: int) -> str:
    return f"imports:progress:{job_id}"


def import_job_processed_rows(*, job: ImportJob) -> int:
    """Rows done so far; while importing, the count lives in the cache until the transaction commits."""
    if job.status != ImportJob.Status.IMPORTING:
        return job.processed_rows
    try:
        cached = cache.get(progress_cache_key(job.pk)) or 0
    except Exception:  # an unreachable cache only hides the live count
        cached = 0
    return max(job.processed_rows, cached)


def import_job_shows_identifiers(*, job: ImportJob, user) -> bool:
    """Cell values of identifier columns are shown to the job's site staff and to whoever uploaded it."""
    return access_for_user(user).can_see_identifiers_of(job.site_id) or job.uploaded_by_id == user.pk


def import_job_filename_for_user(*, job: ImportJob, user) -> str:
    """The uploaded file's original name for its site's staff (and its uploader); "upload #12 (.csv)" for others.

    A filename can hold a patient's name or hospital number ("smith_john_MRN123.csv"), so it is shown
    like an identifier.
    """
    return job.original_filename if import_job_shows_identifiers(job=job, user=user) else job.masked_filename


def import_job_counts(*, job: ImportJob) -> list[tuple[str, int]]:
    """(label, number) of the records a job created, in record order."""
    return [(label, job.created_counts[key]) for key, label in COUNT_LABELS.items() if job.created_counts.get(key)]


def import_job_errors_for_user(*, job: ImportJob, user) -> list[dict]:
    """The stored error report, with identifier values masked for users who may not see them."""
    if import_job_shows_identifiers(job=job, user=user):
        return list(job.errors)
    hidden = {column.name for column in spec.COLUMNS if crf.is_identifier(column.record, column.field)}
    return [
        {**error, "value": HIDDEN if error["column"] in hidden and error["value"] else error["value"]}
        for error in job.errors
    ]

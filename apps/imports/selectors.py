"""Reads for bulk imports: the column documentation (a data dictionary), and import jobs scoped to the user's
sites with their report and preview, identifiers masked for whoever may not see them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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

    The import's record names are ``registry.crf``'s, except that a row's irAEs are those of ICI-1 or of
    its rechallenge.
    """
    irae = record in (spec.Record.PRIOR_IRAE, spec.Record.RECHALLENGE_IRAE)
    return record_type_by_crf_name("adverse_event" if irae else record.value)


#: How the counts of created records (keyed by record) read on the job page.
COUNT_LABELS: dict[str, str] = {
    spec.Record.PATIENT: "patients",
    spec.Record.INITIAL_COURSE: "initial ICI courses",
    spec.Record.PRIOR_IRAE: "prior irAEs",
    spec.Record.EPISODE: "rechallenge episodes",
    spec.Record.RECHALLENGE_IRAE: "irAEs during rechallenge",
    spec.Record.RESPONSE: "response assessments",
    spec.Record.FOLLOW_UP: "follow-ups",
}

#: The same, for one record ("1 patient").
COUNT_LABELS_ONE: dict[str, str] = {
    spec.Record.PATIENT: "patient",
    spec.Record.INITIAL_COURSE: "initial ICI course",
    spec.Record.PRIOR_IRAE: "prior irAE",
    spec.Record.EPISODE: "rechallenge episode",
    spec.Record.RECHALLENGE_IRAE: "irAE during rechallenge",
    spec.Record.RESPONSE: "response assessment",
    spec.Record.FOLLOW_UP: "follow-up",
}

HIDDEN = "(hidden)"


def import_access_allowed(access: Access) -> bool:
    """Center staff and coordinators import; investigators (and users without a role) do not."""
    return access.is_coordinator or access.is_site_staff


# --- Column documentation --------------------------------------------------------------------------------


#: A code list this long or shorter is shown beside its column; a longer one is linked to.
INLINE_CODES = 12


@dataclass(frozen=True)
class ColumnDoc:
    """One column of the data dictionary: what it means, what it takes and when it must be filled."""

    name: str
    section: str
    label: str
    description: str
    format: str
    requirement: str
    vocabulary: Vocabulary | None
    identifier: bool

    @property
    def vocabulary_anchor(self) -> str:
        return vocabulary_anchor(self.vocabulary) if self.vocabulary else ""

    @property
    def allowed(self) -> list[tuple[str, str]]:
        """(code, label) of a short code list, shown in the column's row; empty for a long one (linked)."""
        if self.vocabulary is None or len(self.vocabulary) > INLINE_CODES:
            return []
        return [(term.code, term.label) for term in self.vocabulary]


def vocabulary_anchor(vocabulary: Vocabulary) -> str:
    return "codes-" + "".join(ch if ch.isalnum() else "-" for ch in vocabulary.name.lower()).strip("-")


def _model_field(column: spec.Column) -> Field:
    return record_type_of(column.record).model._meta.get_field(column.field)


def _default_shown(column: spec.Column, field: Field) -> str:
    default = field.get_default()
    if isinstance(default, bool):
        return "yes" if default else "no"
    if column.vocabulary is not None and str(default) in column.vocabulary:
        return column.vocabulary.label(str(default))
    return str(default)


def _when_group_filled(column: spec.Column) -> str:
    return f"Required when any {column.pattern.split('_', 1)[0]}_… column is filled"


def _requirement(column: spec.Column, field: Field | None) -> str:
    if column.required:
        return _when_group_filled(column) if column.group else "Required"
    if field is None or not column.in_record or column.note.startswith("Empty:"):
        return "Optional"
    if field.has_default() and field.get_default() not in (None, ""):
        return f"Optional (empty: {_default_shown(column, field)})"
    if field.blank or field.null:
        return "Optional (empty: not recorded)" if field.get_internal_type() == "BooleanField" else "Optional"
    if column.group:
        return _when_group_filled(column)
    return "Required"


def _label(text: str) -> str:
    """A label starting a line; "irAEs" keeps its small i."""
    return text if text.startswith("irAE") else capfirst(text)


def import_column_docs() -> list[ColumnDoc]:
    """Every column (a repeated group once), as a person reads it: the field's label, the column's own
    description (else the field's help text), its format and allowed values, and when it is required."""
    docs = []
    for column in spec.documented_columns():
        field = _model_field(column) if column.field else None
        label = spec.COLUMN_LABELS.get(column.name) or _label(str(field.verbose_name if field else column.name))
        docs.append(
            ColumnDoc(
                name=column.pattern,
                section=spec.RECORD_TITLES[column.record],
                label=label,
                description=column.note or (str(field.help_text) if field else ""),
                format=spec.KIND_FORMATS[column.kind],
                requirement=_requirement(column, field),
                vocabulary=column.vocabulary,
                identifier=bool(column.field) and crf.is_identifier(column.record, column.field),
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


#: Columns whose values are identifiers: masked in reports and previews for those who may not see them.
IDENTIFIER_COLUMNS = frozenset(column.name for column in spec.COLUMNS if crf.is_identifier(column.record, column.field))


def import_job_errors_for_user(*, job: ImportJob, user) -> list[dict]:
    """The stored error report, with identifier values masked for users who may not see them."""
    if import_job_shows_identifiers(job=job, user=user):
        return list(job.errors)
    hidden = IDENTIFIER_COLUMNS
    return [
        {**error, "value": HIDDEN if error["column"] in hidden and error["value"] else error["value"]}
        for error in job.errors
    ]


# --- Preview ---------------------------------------------------------------------------------------------

#: How a record of a row is named in the preview (``{n}``: its group number in the file).
PREVIEW_RECORD_NAMES: dict[str, str] = {
    spec.Record.PATIENT: "Patient",
    spec.Record.INITIAL_COURSE: "ICI-1 course",
    spec.Record.PRIOR_IRAE: "irAE {n} of ICI-1",
    spec.Record.EPISODE: "Rechallenge",
    spec.Record.RECHALLENGE_IRAE: "irAE {n} during the rechallenge",
    spec.Record.RESPONSE: "Response assessment {n}",
    spec.Record.FOLLOW_UP: "Follow-up {n}",
}
PREVIEW_ACTIONS: dict[str, str] = {"create": "New", "change": "Changed", "unchanged": "Left as it is"}


@dataclass(frozen=True)
class PreviewRecord:
    name: str
    action: str
    action_label: str
    #: (column, stored value, value of the file) of a changed record.
    changes: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class PreviewRow:
    row: int
    registry_id: str
    records: list[PreviewRecord]
    not_in_file: int

    @property
    def new_patient(self) -> bool:
        return not self.registry_id

    @property
    def record_names(self) -> list[str]:
        return [record.name for record in self.records]


def _preview_record(entry: dict[str, Any], *, mask: bool) -> PreviewRecord:
    changes = [
        (
            column,
            HIDDEN if mask and column in IDENTIFIER_COLUMNS else old,
            HIDDEN if mask and column in IDENTIFIER_COLUMNS else new,
        )
        for column, (old, new) in entry.get("changes", {}).items()
    ]
    return PreviewRecord(
        name=PREVIEW_RECORD_NAMES[entry["record"]].format(n=entry["group"]),
        action=entry["action"],
        action_label=PREVIEW_ACTIONS[entry["action"]],
        changes=changes,
    )


#: Rows of a preview listed on the job page (the stored preview keeps more; the command prints it all).
PREVIEW_SHOWN = 500


def import_job_preview_for_user(*, job: ImportJob, user, limit: int = PREVIEW_SHOWN) -> list[PreviewRow]:
    """The job's preview, row by row; identifier values (a date of birth changed) masked for those who may
    not see them. A row names a registered patient by registry ID, never by local identifier."""
    mask = not import_job_shows_identifiers(job=job, user=user)
    return [
        PreviewRow(
            row=entry["row"],
            registry_id=entry["registry_id"],
            records=[_preview_record(record, mask=mask) for record in entry["records"]],
            not_in_file=entry.get("not_in_file", 0),
        )
        for entry in job.preview[:limit]
    ]


def import_job_preview_counts(*, job: ImportJob) -> dict[str, int]:
    """{action: number of records} over the stored preview."""
    counts = dict.fromkeys(PREVIEW_ACTIONS, 0)
    for entry in job.preview:
        for record in entry["records"]:
            counts[record["action"]] += 1
    return counts

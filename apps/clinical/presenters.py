"""How clinical records read on the pages: values as people read them, timeline entries, history rows.

Everything that differs between record types (the timeline's label, headline and date, the URL
slug, how a message names a record) comes from the record type's declaration (``records``), so
nothing here asks which model a record is.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import capfirst

from apps.accounts.selectors import Access
from apps.core.audit import audit_history
from apps.core.records import record_type_for
from registry import vocabularies as v
from registry.dates import DatePrecision

from .models import PRECISION_SUFFIX, Patient

#: Fields never listed among a record's values on the patient page (bookkeeping, parents, precision).
_NOT_SHOWN = frozenset(
    {
        "id",
        "version",
        "is_complete",
        "missing_answers",
        "created_at",
        "updated_at",
        "patient",
        "episode",
        "registry_id",
        "site",
    }
)


# --- values -----------------------------------------------------------------------------------------


def display_value(record: Model, name: str) -> str:
    """The value of a field as a person reads it: choice labels, ISO dates (month-only marked)."""
    model_field = record._meta.get_field(name)
    value = getattr(record, model_field.attname)
    if value is None or value == "":
        return ""
    if model_field.choices:
        return str(getattr(record, f"get_{name}_display")())
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, dt.date):
        precision = getattr(record, f"{name}{PRECISION_SUFFIX}", DatePrecision.DAY)
        if precision == DatePrecision.MONTH:
            return f"{value:%Y-%m} (month only)"
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return f"{value.normalize():f}"
    return str(value)


def missing_answer_display(code: str) -> SafeString:
    """A missing-data answer as the page shows it: its label in italics, never mistaken for a value."""
    label = v.MISSING_DATA_CODES.label(code) if code in v.MISSING_DATA_CODES.codes() else code
    return format_html('<em class="missing-answer-value">{}</em>', label)


def record_values(record: Model, *, hidden: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(label, value) of every answered field of a record, in CRF order: a value, or a field answered
    with a missing-data code ("Not done", "Unknown", "Not applicable", in italics)."""
    values = []
    missing = getattr(record, "missing_answers", None) or {}
    for model_field in record._meta.concrete_fields:
        name = model_field.name
        if name in _NOT_SHOWN or name in hidden or name.endswith(PRECISION_SUFFIX):
            continue
        shown: str = display_value(record, name)
        if not shown and missing.get(name):
            shown = missing_answer_display(missing[name])
        if shown:
            values.append((capfirst(str(model_field.verbose_name)), shown))
    return values


def hidden_fields(access: Access, record: Model) -> frozenset[str]:
    """The record's fields the user may not see: those its declaration hides, unless it is of their own site."""
    record_type = record_type_for(type(record))
    if not record_type.hidden_from_coordinators or access.can_see_identifiers_of(record_type.site_id_of(record)):
        return frozenset()
    return record_type.hidden_from_coordinators


def describe(record: Model) -> str:
    """How messages and titles name a record ("rechallenge 2", "the ICI-1 course")."""
    return record_type_for(type(record)).describe(record)


# --- timeline entries -------------------------------------------------------------------------------


@dataclass
class Entry:
    """One record on the timeline with its values and the links to act on it."""

    kind: str
    title: str
    date: dt.date | None
    values: list[tuple[str, str]]
    anchor: str
    edit_url: str = ""
    delete_url: str = ""
    history_url: str = ""
    complete: bool = False
    children: list[Entry] = field(default_factory=list)
    #: Why a record the user may change offers no "Delete" (an enrolled episode, a patient with one).
    undeletable: str = ""

    def keep(self, why: str) -> None:
        """Offer no deletion, and say why."""
        if self.delete_url:
            self.delete_url, self.undeletable = "", why


def anchor_of(record: Model) -> str:
    """The record's place on its patient's page (``#episode-12``)."""
    return f"{record_type_for(type(record)).slug}-{record.pk}"


def back_to(patient: Patient, record: Model | None = None) -> str:
    """The patient's page, at ``record`` when it is one of the patient's records."""
    url = patient.get_absolute_url()
    if record is None or isinstance(record, Patient):
        return url
    return f"{url}#{anchor_of(record)}"


def record_urls(record: Model) -> dict[str, str]:
    kwargs = {"model": record_type_for(type(record)).slug, "pk": record.pk}
    return {
        "edit_url": reverse("clinical:record-edit", kwargs=kwargs),
        "delete_url": reverse("clinical:record-delete", kwargs=kwargs),
        "history_url": reverse("clinical:record-history", kwargs=kwargs),
    }


def entry_for(record: Model, *, can_write: bool, hidden: frozenset[str] = frozenset()) -> Entry:
    """The record's timeline entry: its label, headline and date come from its declaration."""
    record_type = record_type_for(type(record))
    urls = record_urls(record)
    if not can_write:
        urls["edit_url"] = urls["delete_url"] = ""
    return Entry(
        kind=record_type.label,
        title=record_type.title(record),
        date=record_type.date_of(record),
        values=record_values(record, hidden=hidden),
        anchor=anchor_of(record),
        complete=getattr(record, "is_complete", False),
        **urls,
    )


def by_date(entries: list[Entry]) -> list[Entry]:
    """Entries in date order (undated first), ties by kind."""
    return sorted(entries, key=lambda entry: (entry.date or dt.date.min, entry.kind))


# --- history ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    who: str
    when: str
    channel: str
    action: str
    changes: list[tuple[str, str, str]]
    reason: str


def history_value(value: Any, choices: dict[Any, str] | None = None) -> str:
    """A value stored in the audit trail as a person reads it ("–" for none, a choice with its code)."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if choices and value in choices:
        return f"{choices[value]} ({value})"
    return str(value)


def missing_answers_text(value: Any, labels: dict[str, str]) -> str:
    """Missing-data answers as the history reads them: "Stop date: Unknown; Stop reason: Not done"."""
    if not value or not isinstance(value, dict):
        return "–"
    codes = dict(v.MISSING_DATA_CODES.choices())
    return "; ".join(
        f"{capfirst(labels.get(name, name))}: {codes.get(code, code)}" for name, code in sorted(value.items())
    )


def history_rows(record: Model, *, hidden: frozenset[str] = frozenset()) -> list[HistoryRow]:
    """The audit trail of one record, oldest first, with the values of ``hidden`` fields masked."""
    fields = {f.name: f for f in type(record)._meta.concrete_fields}
    labels = {name: str(field.verbose_name) for name, field in fields.items()}
    choices = {name: {key: str(text) for key, text in field.flatchoices} for name, field in fields.items()}

    def shown(name: str, value: Any) -> str:
        if name in hidden:
            return "(hidden)"
        if name == "missing_answers":
            return missing_answers_text(value, labels)
        return history_value(value, choices.get(name))

    rows = []
    for entry in audit_history(record):
        changes = [
            (capfirst(labels.get(name, name)), shown(name, old), shown(name, new))
            for name, (old, new) in entry.changes.items()
        ]
        rows.append(
            HistoryRow(
                who=str(entry.user) if entry.user else "System",
                when=entry.timestamp.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
                channel=entry.get_channel_display(),
                action=entry.get_action_display(),
                changes=changes,
                reason=entry.reason,
            )
        )
    return rows


def conflict_message(record: Model) -> str:
    """What a user reads when someone else changed the record since they opened it."""
    latest = audit_history(record).first()
    who = str(latest.user) if latest is not None and latest.user is not None else "someone else"
    return (
        f"This record was changed by {who} since you opened it — your changes were not saved; "
        "reload to see the current values."
    )

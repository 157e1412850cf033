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

from django.db.models import DecimalField, F, Model
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import capfirst

from apps.accounts.selectors import Access
from apps.core.audit import audit_history
from apps.core.records import record_type_for
from registry import vocabularies as v
from registry.dates import DatePrecision, PartialDate

from .models import PRECISION_SUFFIX, Patient, RechallengeEpisode

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
    #: The date as the page shows it: a month-only date as its month ("2023-01 (month only)"), never the 15th.
    date_text: str = ""
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
        date_text=display_value(record, record_type.date_field) if record_type.date_field else "",
        values=record_values(record, hidden=hidden),
        anchor=anchor_of(record),
        complete=getattr(record, "is_complete", False),
        **urls,
    )


def by_date(entries: list[Entry]) -> list[Entry]:
    """Entries in date order (undated first), ties by kind."""
    return sorted(entries, key=lambda entry: (entry.date or dt.date.min, entry.kind))


# --- the next step of a case ------------------------------------------------------------------------


@dataclass(frozen=True)
class NextStep:
    """What a case needs next, offered at the top of its patient page to those who may change it."""

    label: str
    url: str
    why: str = ""


def next_step(*, patient: Patient, timeline: dict[str, Any]) -> NextStep | None:
    """The next step of the case, read off what exists (``timeline`` as ``selectors.patient_timeline`` loads it):
    ICI-1, its stop date, a rechallenge, the last rechallenge's response and follow-up, every record marked
    complete, then the site PI's signature. None once the case is signed."""
    if patient.signed_at is not None:
        return None
    course = timeline["initial_course"]
    episodes = timeline["episodes"]
    registry_id = {"registry_id": patient.registry_id}
    if course is None:
        return NextStep(
            "Record ICI-1",
            reverse("clinical:initial-course-create", kwargs=registry_id),
            "Every case starts with the initial ICI course (ICI-1).",
        )
    if course.stop_date is None:
        return NextStep(
            "Record when ICI-1 stopped",
            record_urls(course)["edit_url"],
            "A rechallenge is added once ICI-1 has its stop date.",
        )
    if not episodes:
        return NextStep("Add the rechallenge episode", reverse("clinical:episode-create", kwargs=registry_id))
    last = episodes[-1]
    of_last = f"Rechallenge {last.sequence_number} has none yet."
    episode_pk = {"episode_pk": last.pk}
    if not last.responses.all():
        return NextStep("Add a response assessment", reverse("clinical:response-create", kwargs=episode_pk), of_last)
    if not last.follow_ups.all():
        return NextStep("Add a follow-up", reverse("clinical:follow-up-create", kwargs=episode_pk), of_last)
    incomplete = next((record for record in _case_records(patient, timeline) if not record.is_complete), None)
    if incomplete is not None:
        return NextStep(
            f"Mark {describe(incomplete)} complete",
            record_urls(incomplete)["edit_url"],
            "Check the record, tick “marked complete” and save; then the site PI signs the case.",
        )
    return NextStep("Sign the case", f"{patient.get_absolute_url()}#case-status", "Every record is marked complete.")


def _case_records(patient: Patient, timeline: dict[str, Any]) -> list[Model]:
    """The case's records in the patient page's order."""
    records: list[Model] = [patient]
    if timeline["initial_course"] is not None:
        records += [timeline["initial_course"], *timeline["initial_adverse_events"]]
    for episode in timeline["episodes"]:
        records += [
            episode,
            *timeline["adverse_events_by_episode"][episode.pk],
            *episode.responses.all(),
            *episode.follow_ups.all(),
        ]
    return records


# --- history ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    """One audit entry as the history page reads it; a change's values may carry a link (safe HTML)."""

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


def _history_number(value: Any) -> Any:
    """A decimal as typed: older entries hold ``str()`` of a normalised Decimal (``2.1E+2`` for 210)."""
    if not isinstance(value, str) or not value:
        return value
    try:
        return f"{decimal.Decimal(value).normalize():f}"
    except decimal.InvalidOperation:
        return value


def _history_date(value: Any, precision: Any) -> Any:
    """A date known only to the month reads as the month, as everywhere else, not as the imputed 15th."""
    if precision != DatePrecision.MONTH or not isinstance(value, str):
        return value
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return value
    return f"{PartialDate(day, DatePrecision.MONTH)} (month only)"


def _related_label(related: Model) -> str:
    """How the history names a linked record: by what people call it, never by its database id."""
    if isinstance(related, Patient):
        return f"Patient {related.registry_id}"
    if isinstance(related, RechallengeEpisode):
        month = f" ({related.start_date:%Y-%m})" if related.start_date else ""
        return f"Rechallenge episode {related.sequence_number}{month}"
    try:
        record_type = record_type_for(type(related))
    except LookupError:
        return str(related)
    return f"{record_type.label}: {record_type.title(related)}"


def _related_shown(model: type[Model], ids: set[Any], access: Access | None) -> dict[Any, str]:
    """Labels of the records ``ids`` of ``model`` in one query, linked where the reader reaches them."""
    try:
        site_path = record_type_for(model).site_path
    except LookupError:
        site_path = ""
    qs = model.objects.filter(pk__in=ids)
    if site_path:
        qs = qs.annotate(history_site_id=F(site_path))
    shown: dict[Any, str] = {}
    for related in qs:
        label = _related_label(related)
        site_id = getattr(related, "history_site_id", None)
        reached = (
            site_path
            and hasattr(related, "get_absolute_url")
            and access is not None
            and access.reaches_records
            and (access.sees_all_sites or site_id in access.site_ids)
        )
        shown[related.pk] = format_html('<a href="{}">{}</a>', related.get_absolute_url(), label) if reached else label
    noun = capfirst(str(model._meta.verbose_name))
    return {pk: shown.get(pk, f"{noun} {pk} (deleted)") for pk in ids}


def history_rows(
    record: Model, *, hidden: frozenset[str] = frozenset(), access: Access | None = None
) -> list[HistoryRow]:
    """The audit trail of one record, newest first, with the values of ``hidden`` fields masked.

    Linked records read by their label (``Patient AMS1-…``), linked only where ``access`` reaches
    them, in one query per kind of link whatever the length of the trail. A date whose precision was
    "month" at that point of the trail reads as the month.
    """
    fields = {f.name: f for f in type(record)._meta.concrete_fields}
    labels = {name: str(field.verbose_name) for name, field in fields.items()}
    choices = {name: {key: str(text) for key, text in field.flatchoices} for name, field in fields.items()}
    entries = list(audit_history(record))

    links: dict[str, set[Any]] = {name: set() for name, f in fields.items() if f.is_relation and name not in hidden}
    for entry in entries:
        for name, values in entry.changes.items():
            if name in links:
                links[name].update(value for value in values if value is not None)
    related = {name: _related_shown(fields[name].related_model, ids, access) for name, ids in links.items() if ids}

    def shown(name: str, value: Any, precision: Any) -> str:
        if name in hidden:
            return "(hidden)"
        if name == "missing_answers":
            return missing_answers_text(value, labels)
        if name in related and value is not None:
            return related[name].get(value, str(value))
        if isinstance(fields.get(name), DecimalField):
            value = _history_number(value)
        return history_value(_history_date(value, precision), choices.get(name))

    rows = []
    precision_then: dict[str, Any] = {}  # each date field's precision, as the trail stood at an entry
    for entry in reversed(entries):  # oldest first, to know each date's precision at the time
        changes = []
        for name, (old, new) in entry.changes.items():
            precision = f"{name}{PRECISION_SUFFIX}"
            was, now = entry.changes.get(precision, [precision_then.get(precision)] * 2)
            changes.append((capfirst(labels.get(name, name)), shown(name, old, was), shown(name, new, now)))
        precision_then |= {name: new for name, (_, new) in entry.changes.items() if name.endswith(PRECISION_SUFFIX)}
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
    return rows[::-1]


def conflict_message(record: Model) -> str:
    """What a user reads when someone else changed the record since they opened it."""
    latest = audit_history(record).first()
    who = str(latest.user) if latest is not None and latest.user is not None else "someone else"
    return (
        f"This record was changed by {who} since you opened it — your changes were not saved; "
        "reload to see the current values."
    )

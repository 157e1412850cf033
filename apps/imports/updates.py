"""Import rows that name a registered patient: match them to the stored records and plan every change.

A row names a patient already registered at the job's site by its ``registry_id`` or its
``local_identifier`` (normal form); such a row updates that patient instead of registering one. Its
records are matched to the stored ones by these rules, the same for the preview and the import:

- the patient and its ICI-1 course: the patient's own (a patient has one ICI-1);
- an irAE of ICI-1 (``irae<n>_``): the patient's ICI-1 irAE with the same onset date (when several
  share it, the one with the same CTCAE term);
- the rechallenge (``episode_``): the patient's rechallenge with the same start date, so a start
  date is never changed by an import (correct it on the episode's page); a row without any
  rechallenge column changes no rechallenge;
- an irAE during the rechallenge (``rirae<n>_``), a response assessment, a follow-up: the
  rechallenge's record with the same onset, assessment or follow-up date.

A record matched is compared field by field: only the cells the row fills count, so an empty cell
leaves the stored value alone, and a record the file does not mention is left alone (the import
never deletes). A record not matched is created. Changes go through ``record_update`` and new
records through ``record_create`` (channel ``import``), so they get the web forms' validation, the
signed-case lock and the rule that a record marked complete changes only with a reason — the row's
``reason_for_change`` cell, checked here first so the whole file is refused before anything is
written. The plan is built once per run; a dry run stores its preview, a real run applies it.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.db.models import Model, Prefetch, Q

from apps.accounts.models import Site
from apps.clinical.models import AdverseEvent, Patient, RechallengeEpisode
from apps.clinical.services import case_signed_message, record_create, record_update
from apps.core.errors import ApplicationError
from apps.core.models import AuditChannel
from registry import csv_import as spec

from .selectors import record_type_of

Record = spec.Record

#: The records each kind of matched record is found among, and the date that says which one it is.
MATCH_DATES: dict[Record, str] = {
    Record.PRIOR_IRAE: "onset_date",
    Record.EPISODE: "start_date",
    Record.RECHALLENGE_IRAE: "onset_date",
    Record.RESPONSE: "assessment_date",
    Record.FOLLOW_UP: "follow_up_date",
}
EPISODE_CHILDREN = frozenset({Record.RECHALLENGE_IRAE, Record.RESPONSE, Record.FOLLOW_UP})
#: Preview entries kept per job (the counts always cover every row).
MAX_PREVIEW_ROWS = 5000

UNKNOWN_REGISTRY_ID = (
    "No patient with this registry ID is registered at {site}. Leave the cell empty for a new patient."
)
OTHER_PATIENT = (
    "This registry ID belongs to a patient with another local identifier: give the patient's own local "
    "identifier, or leave one of the two cells empty."
)
NO_START_DATE = (
    "Give the rechallenge start date: it says which of the patient's rechallenges this row updates (a date "
    "not registered yet adds a rechallenge)."
)
RENUMBERED = "This rechallenge is rechallenge {number} in the registry; an import does not renumber rechallenges."
REASON_NEEDED = "Required: this row changes {record}, which is marked complete. Say why it changes."
EPISODE_TWICE = "Rechallenge of {date} is already in row {row}: give each rechallenge of a patient one row."


class Action(StrEnum):
    CREATE = "create"
    CHANGE = "change"
    UNCHANGED = "unchanged"


@dataclass
class RecordPlan:
    """One record of a row: created from ``values``, or the stored ``instance`` changed by ``changes``."""

    key: spec.RecordKey
    action: Action
    values: dict[str, Any]
    instance: Model | None = None
    #: {field: [stored value, value of the file]} of a changed record.
    changes: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def record(self) -> Record:
        return self.key[0]

    def shown_changes(self) -> dict[str, list[str]]:
        """The changes by column, as the file writes values (a date with its precision is one column)."""
        assert self.instance is not None
        after = copy.copy(self.instance)
        for name, (_, new) in self.changes.items():
            setattr(after, name, new)
        shown: dict[str, list[str]] = {}
        for name in self.changes:
            column = spec.column_for(self.record, name, self.key[1])
            if column is None or column.name in shown:
                continue
            shown[column.name] = [_cell(column, self.instance), _cell(column, after)]
        return shown


def _cell(column: spec.Column, instance: Model) -> str:
    precision = getattr(instance, column.precision_field) if column.precision_field else None
    return spec.cell_text(column, getattr(instance, column.field), precision)


@dataclass
class RowPlan:
    """What one row does: a new patient's records, or the records of a registered ``patient``."""

    row: spec.ParsedRow
    patient: Patient | None
    records: list[RecordPlan]
    #: Records of the patient the file does not mention (on the patient's first row only).
    not_in_file: int = 0

    def as_preview(self) -> dict[str, Any]:
        records = []
        for plan in self.records:
            entry: dict[str, Any] = {"record": plan.record.value, "group": plan.key[1], "action": plan.action.value}
            if plan.action is Action.CHANGE:
                entry["changes"] = plan.shown_changes()
            records.append(entry)
        return {
            "row": self.row.number,
            "registry_id": self.patient.registry_id if self.patient is not None else "",
            "records": records,
            "not_in_file": self.not_in_file,
        }


@dataclass
class ImportPlan:
    """Every row's plan, and the problems found while matching and checking the updates."""

    site: Site
    rows: list[RowPlan] = field(default_factory=list)
    errors: list[spec.CellError] = field(default_factory=list)
    #: Rows naming a patient that cannot be found: their error says so, and they are no new patient either.
    unmatched: set[int] = field(default_factory=set)

    def new_rows(self) -> list[spec.ParsedRow]:
        """The rows of new patients: registered by the import's batch write."""
        return [plan.row for plan in self.rows if plan.patient is None and plan.row.number not in self.unmatched]

    def update_rows(self) -> list[RowPlan]:
        return [plan for plan in self.rows if plan.patient is not None]

    def counts(self) -> dict[str, dict[str, int]]:
        """{action: {record: number}} over every row."""
        counts: dict[str, Counter[str]] = {action.value: Counter() for action in Action}
        for row_plan in self.rows:
            for plan in row_plan.records:
                counts[plan.action.value][plan.record.value] += 1
        return {action: dict(counter) for action, counter in counts.items()}

    def preview(self) -> list[dict[str, Any]]:
        return [plan.as_preview() for plan in self.rows[:MAX_PREVIEW_ROWS]]


class Planner:
    """Finds the registered patients a file names and plans its rows (``parse_file``'s ``registered``)."""

    def __init__(self, *, site: Site) -> None:
        self.site = site
        self.plan = ImportPlan(site=site)

    def __call__(self, rows: list[spec.ParsedRow]) -> set[str]:
        """Match ``rows``; the patient keys of the rows that update a patient rather than register one."""
        patients = self._registered(rows)
        first_rows: dict[str, RowPlan] = {}
        mentioned: dict[str, set[int]] = {}
        new_episodes: Counter[int] = Counter()
        starts: dict[tuple[str, Any], int] = {}
        for row in rows:
            patient = patients.get(row.patient_key) if row.patient_key else None
            if patient is None:
                self.plan.rows.append(
                    RowPlan(row, None, [RecordPlan(key, Action.CREATE, v) for key, v in row.records.items()])
                )
                continue
            row_plan = RowPlan(row, patient, [])
            if row.patient_key not in first_rows:
                first_rows[row.patient_key] = row_plan
                row_plan.records.extend(self._patient_level(row, patient))
            row_plan.records.extend(self._episode_level(row, patient, new_episodes, starts))
            ids = mentioned.setdefault(row.patient_key, set())
            ids.update(id(plan.instance) for plan in row_plan.records if plan.instance is not None)
            self.plan.rows.append(row_plan)
        for key, row_plan in first_rows.items():  # said once, on the patient's first row
            assert row_plan.patient is not None
            records = _records_of(row_plan.patient)
            row_plan.not_in_file = sum(1 for record in records if id(record) not in mentioned[key])
        # A row naming a patient not found meant to update one: it is not checked as a whole new case either.
        return set(first_rows) | {row.patient_key for row in rows if row.number in self.plan.unmatched}

    # --- Matching ---------------------------------------------------------------------------------------

    def _registered(self, rows: list[spec.ParsedRow]) -> dict[str, Patient]:
        """The rows' patient keys → the registered patient each names (rows naming none are new patients)."""
        identifiers = sorted({row.local_identifier for row in rows if row.local_identifier})
        registry_ids = sorted({row.registry_id for row in rows if row.registry_id})
        found: list[Patient] = []
        for start in range(0, max(len(identifiers), len(registry_ids)), 500):
            lookup = Q(local_identifier__in=identifiers[start : start + 500]) | Q(
                registry_id__in=registry_ids[start : start + 500]
            )
            found.extend(_with_case(Patient.objects.filter(lookup, site=self.site)))
        by_identifier = {patient.local_identifier: patient for patient in found}
        by_registry_id = {patient.registry_id: patient for patient in found}
        patients: dict[str, Patient] = {}
        for row in rows:
            named = by_registry_id.get(row.registry_id) if row.registry_id else None
            if row.registry_id and named is None:
                message = UNKNOWN_REGISTRY_ID.format(site=self.site.code)
                self.plan.errors.append(row.error(spec.REGISTRY_ID_COLUMN, message))
                self.plan.unmatched.add(row.number)
                continue
            if named is not None and row.local_identifier and named.local_identifier != row.local_identifier:
                self.plan.errors.append(row.error(spec.REGISTRY_ID_COLUMN, OTHER_PATIENT))
                self.plan.unmatched.add(row.number)
                continue
            patient = named or by_identifier.get(row.local_identifier)
            if patient is not None:
                patients[row.patient_key] = patient
        return patients

    def _patient_level(self, row: spec.ParsedRow, patient: Patient) -> list[RecordPlan]:
        plans = []
        prior = [ae for ae in patient.adverse_events.all() if ae.episode_id is None]
        used: set[int] = set()
        for key, values in row.records.items():
            record = key[0]
            if record is Record.PATIENT:
                values = {name: value for name, value in values.items() if name != "local_identifier"}
                plans.append(_compared(key, values, patient))
            elif record is Record.INITIAL_COURSE:
                course = getattr(patient, "initial_course", None)
                if course is None:
                    if values:
                        plans.append(RecordPlan(key, Action.CREATE, values))
                else:
                    plans.append(_compared(key, values, course))
            elif record is Record.PRIOR_IRAE:
                plans.append(_matched(key, values, prior, used))
        return plans

    def _episode_level(
        self,
        row: spec.ParsedRow,
        patient: Patient,
        new_episodes: Counter[int],
        starts: dict[tuple[str, Any], int],
    ) -> list[RecordPlan]:
        key = (Record.EPISODE, None)
        values = row.records.get(key, {})
        children = [(k, v) for k, v in row.records.items() if k[0] in EPISODE_CHILDREN]
        if not values and not children:
            return []  # the row changes no rechallenge
        start = values.get("start_date")
        if start is None:
            if spec.COLUMNS_BY_NAME["episode_start_date"].name not in row.error_columns():
                self.plan.errors.append(row.error("episode_start_date", NO_START_DATE))
            return []
        earlier = starts.setdefault((row.patient_key, start), row.number)
        if earlier != row.number:
            self.plan.errors.append(
                row.error("episode_start_date", EPISODE_TWICE.format(date=start.isoformat(), row=earlier))
            )
            return []
        stored = next((e for e in patient.episodes.all() if e.start_date == start), None)
        if stored is None:
            numbers = [e.sequence_number for e in patient.episodes.all()]
            new_episodes[patient.pk] += 1
            values.setdefault("sequence_number", max(numbers, default=0) + new_episodes[patient.pk])
            plans = [RecordPlan(key, Action.CREATE, values)]
            plans.extend(RecordPlan(k, Action.CREATE, v) for k, v in children)
            return plans
        number = values.get("sequence_number")
        if number is not None and number != stored.sequence_number:
            self.plan.errors.append(row.error("episode_sequence", RENUMBERED.format(number=stored.sequence_number)))
        values["sequence_number"] = stored.sequence_number
        plans = [_compared(key, values, stored)]
        candidates: dict[Record, list[Model]] = {
            Record.RECHALLENGE_IRAE: list(stored.adverse_events.all()),
            Record.RESPONSE: list(stored.responses.all()),
            Record.FOLLOW_UP: list(stored.follow_ups.all()),
        }
        used: set[int] = set()
        plans.extend(_matched(k, v, candidates[k[0]], used) for k, v in children)
        return plans

    # --- Checks -----------------------------------------------------------------------------------------

    def check(self) -> list[spec.CellError]:
        """Every planned change and new record of a registered patient, checked as the services will."""
        errors: list[spec.CellError] = []
        courses: dict[int, Model] = {}
        for row_plan in self.plan.update_rows():
            errors.extend(_check_row(row_plan, courses))
        return errors


def _with_case(patients) -> Iterable[Patient]:
    """Patients with every record an import may match, loaded in a fixed number of queries."""
    return patients.select_related("initial_course", "signed_by").prefetch_related(
        Prefetch("adverse_events", queryset=AdverseEvent.objects.order_by("onset_date", "pk")),
        Prefetch(
            "episodes",
            queryset=RechallengeEpisode.objects.order_by("sequence_number").prefetch_related(
                "responses", "follow_ups", "adverse_events"
            ),
        ),
    )


def _records_of(patient: Patient) -> list[Model]:
    """Every stored record of a patient's case, the patient included."""
    records: list[Model] = [patient]
    course = getattr(patient, "initial_course", None)
    if course is not None:
        records.append(course)
    records.extend(ae for ae in patient.adverse_events.all() if ae.episode_id is None)
    for episode in patient.episodes.all():
        records.append(episode)
        records.extend([*episode.adverse_events.all(), *episode.responses.all(), *episode.follow_ups.all()])
    return records


def _compared(key: spec.RecordKey, values: dict[str, Any], instance: Model) -> RecordPlan:
    changes = {
        name: [getattr(instance, name), value] for name, value in values.items() if getattr(instance, name) != value
    }
    return RecordPlan(key, Action.CHANGE if changes else Action.UNCHANGED, values, instance, changes)


def _matched(key: spec.RecordKey, values: dict[str, Any], candidates: list[Model], used: set[int]) -> RecordPlan:
    """The stored record with the group's date (and, among several, its CTCAE term), compared; else a new one."""
    date_field = MATCH_DATES[key[0]]
    date = values.get(date_field)
    same = [c for c in candidates if date is not None and getattr(c, date_field) == date and id(c) not in used]
    if len(same) > 1 and values.get("ctcae_term"):
        same = [c for c in same if c.ctcae_term == values["ctcae_term"]] or same
    if not same:
        return RecordPlan(key, Action.CREATE, values)
    used.add(id(same[0]))  # the very instance: records of different tables share primary keys
    return _compared(key, values, same[0])


def _check_row(row_plan: RowPlan, courses: dict[int, Model]) -> list[spec.CellError]:
    """The row's planned writes, checked as the services will check them; ``courses`` collects the ICI-1
    courses the file creates or changes, by patient, which the patient's rechallenges are checked against."""
    from .services import _cell_errors  # the model-to-cell mapping the import shares

    row, patient = row_plan.row, row_plan.patient
    assert patient is not None
    writes = [plan for plan in row_plan.records if plan.action is not Action.UNCHANGED]
    if not writes:
        return []
    if patient.signed_at is not None:
        return [
            row.error(
                spec.KEY_COLUMN if row.local_identifier else spec.REGISTRY_ID_COLUMN, case_signed_message(patient)
            )
        ]
    errors: list[spec.CellError] = []
    episode: Model | None = None
    for plan in row_plan.records:
        if plan.action is Action.CREATE:
            instance, exclude = _unsaved(plan, patient, episode)
        else:
            assert plan.instance is not None
            instance, exclude = copy.copy(plan.instance), set()
            for name, (_, new) in plan.changes.items():
                setattr(instance, name, new)
            if plan.action is Action.CHANGE and plan.instance.is_complete and not row.reason_for_change:
                described = record_type_of(plan.record).describe(plan.instance)
                errors.append(row.error(spec.REASON_COLUMN, REASON_NEEDED.format(record=described)))
        if plan.record is Record.INITIAL_COURSE and plan.action is not Action.UNCHANGED:
            courses[patient.pk] = instance
        if plan.record is Record.EPISODE:
            episode = plan.instance if plan.action is not Action.CREATE else instance
            if patient.pk in courses and plan.action is not Action.UNCHANGED:
                _against_course(instance, courses[patient.pk])
        if plan.action is Action.UNCHANGED:
            continue
        errors.extend(_cell_errors(row, plan.key, record_errors(instance, exclude)))
    return errors


def _against_course(episode: Model, course: Model) -> None:
    """Check a rechallenge against the ICI-1 course the file leaves (written before it), not the stored one."""
    context = episode.patient_context()
    context.update(ici1=course.pk or 0, ici1_stop=course.stop_date, ici1_stop_precision=course.stop_date_precision)
    episode.patient_context = lambda: context  # this instance is only validated, never saved


def _unsaved(plan: RecordPlan, patient: Patient, episode: Model | None) -> tuple[Model, set[str]]:
    """A planned new record, linked as it will be saved; the links to records not saved yet are not checked."""
    record_type = record_type_of(plan.record)
    links: dict[str, Any] = {}
    exclude: set[str] = set()
    if record_type.parent_field == "patient":
        links["patient"] = patient
    if plan.record in EPISODE_CHILDREN:
        links["episode"] = episode
        if episode is None or episode.pk is None:
            exclude.add("episode")
    instance = record_type.model(**links, **plan.values)
    return instance, exclude


def record_errors(instance: Model, exclude: set[str]) -> dict[str, list[str]]:
    """``full_clean`` of a planned record. An irAE of a rechallenge not saved yet says its recurrence
    status only once linked: that it is given is checked by ``check_rows``, so the link is not asked here."""
    unsaved_episode = isinstance(instance, AdverseEvent) and "episode" in exclude
    recurrence = instance.recurrence_status if unsaved_episode else None
    if unsaved_episode:
        instance.recurrence_status = ""
    try:
        instance.full_clean(exclude=exclude, validate_constraints=False)
    except ValidationError as error:
        return error.message_dict
    finally:
        if unsaved_episode:
            instance.recurrence_status = recurrence
    return {}


# --- Applying -----------------------------------------------------------------------------------------------


class PlanRefused(Exception):
    """A planned write was refused by the clinical services: the import's transaction is rolled back."""

    def __init__(self, errors: list[spec.CellError]):
        super().__init__(errors)
        self.errors = errors


@transaction.atomic
def import_plan_apply(*, plan: ImportPlan, user, job_id: int) -> dict[str, Counter[str]]:
    """Write the updates of registered patients: changes by ``record_update``, new records by
    ``record_create``, each audited (channel ``import``) with the row's reason; {action: counts}."""
    from .services import _cell_errors

    done: dict[str, Counter[str]] = {Action.CREATE.value: Counter(), Action.CHANGE.value: Counter()}
    errors: list[spec.CellError] = []
    for row_plan in plan.update_rows():
        row = row_plan.row
        reason = row.reason_for_change or f"Bulk import #{job_id}"
        episode: Model | None = None
        for record_plan in row_plan.records:
            try:
                written = _write(record_plan, patient=row_plan.patient, episode=episode, user=user, reason=reason)
            except ApplicationError as error:
                field_errors = dict(error.field_errors or {NON_FIELD_ERRORS: [error.message]})
                if "reason" in field_errors:
                    errors.extend(row.error(spec.REASON_COLUMN, m) for m in field_errors.pop("reason"))
                errors.extend(_cell_errors(row, record_plan.key, field_errors))
                break  # the rest of the row depends on this record
            if record_plan.record is Record.EPISODE:
                episode = written
            if record_plan.action is not Action.UNCHANGED:
                done[record_plan.action.value][record_plan.record.value] += 1
    if errors:
        raise PlanRefused(errors)
    return done


def _write(plan: RecordPlan, *, patient: Patient | None, episode: Model | None, user, reason: str) -> Model:
    if plan.action is Action.UNCHANGED:
        assert plan.instance is not None
        return plan.instance
    if plan.action is Action.CHANGE:
        assert plan.instance is not None
        data = {name: new for name, (_, new) in plan.changes.items()}
        return record_update(instance=plan.instance, data=data, user=user, channel=AuditChannel.IMPORT, reason=reason)
    record_type = record_type_of(plan.record)
    data = dict(plan.values)
    if record_type.parent_field == "patient":
        data["patient"] = patient
    if plan.record in EPISODE_CHILDREN:
        data["episode"] = episode
    return record_create(model=record_type.model, data=data, user=user, channel=AuditChannel.IMPORT, reason=reason)

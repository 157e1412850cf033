"""Writes of clinical records: validate, save, audit — in one transaction, from every channel.

Web forms, the API, the admin, imports and tasks all call these functions, so every path gets the
same validation, the same site checks, the same optimistic locking and the same audit entry — and the
same storage rules (month precision → the 15th, no date after today, local identifiers in their
normal form), which ``full_clean`` applies.

The rules about *who* and *where* live here too, for every channel: patients are registered by
their site's staff only; a record of an inactive site is not written at all ("Site CODE is closed to
new data"); a patient changes site only through ``patient_transfer``; an enrolled episode never
changes patient; and a user who does not see a patient's identifiers neither changes them nor the
fields checked against them, so no answer tells them whether a hidden value exists.
"""

from __future__ import annotations

import datetime as dt
import gc
import operator
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import CASCADE, Exists, Model, OuterRef, ProtectedError, QuerySet
from django.utils import timezone

from apps.accounts.models import Site
from apps.accounts.selectors import access_for_user, site_closed_message
from apps.core.audit import audit_entries_append, audit_entry_build, audit_write, diff, snapshot
from apps.core.bulk import BulkTable, BulkWriter, copy_chosen
from apps.core.errors import ApplicationError, ConflictError
from apps.core.models import AuditAction, AuditChannel
from apps.core.records import record_type_for, record_types, site_of
from registry import rules, vocabularies
from registry.crf import HIDDEN_FROM_COORDINATORS, TIED_TO_HIDDEN
from registry.identifiers import new_registry_id, normalise_local_identifier

from . import hooks
from .models import (
    AdverseEvent,
    CaseRecord,
    FollowUp,
    InitialCourse,
    Patient,
    RechallengeEpisode,
    ResponseAssessment,
)

REASON_REQUIRED = "A reason is required to change a record that is marked complete."
REGISTERED_BY_SITE = "Patients are registered by the staff of their site; coordinators cannot register patients."
SITE_CHANGE_REFUSED = (
    "A patient changes site only by a transfer, which a coordinator makes from the patient's page "
    "(or POST /api/v1/patients/{registry_id}/transfer/)."
)
ENROLLED_PATIENT_KEPT = (
    "Rechallenge {number} is enrolled: its locked decision-model assessment belongs to this patient, so the "
    "episode cannot move to another patient."
)
IDENTIFIERS_BY_SITE = "Only the patient's own site changes its identifiers."
TIED_BY_SITE = (
    "Only the patient's own site changes the year of birth: it is checked against the date of birth, "
    "which only the site sees."
)
#: What a user who does not see a patient's identifiers reads instead of any error about them.
HIDDEN_FIELD_PROBLEM = "This patient's record needs a correction that only its own site can make."
TRANSFER_REASON_REQUIRED = "Give the reason for the transfer; it is kept in the audit trail."
TRANSFER_BY_COORDINATORS = "Only coordinators transfer patients between sites."
TRANSFER_CONFLICT = (
    "The patient cannot be transferred to site {code}: a record there conflicts with this patient's record. "
    "Nothing was changed; the staff of both sites can resolve it."
)

#: A signed case accepts no change on any channel (web, API, import, admin, enrolment) until unlocked.
CASE_SIGNED = (
    "Patient {registry_id}'s case is signed by {name} on {date}: a coordinator must unlock it before any change."
)

M = TypeVar("M", bound=Model)


def case_signed_message(patient: Patient) -> str:
    """The refusal of any change to a record of a signed case (reads the signer only when refusing)."""
    signer = patient.signed_by
    name = (signer.get_full_name() or signer.username) if signer is not None else "the site PI"
    when = patient.signed_at.astimezone(dt.UTC) if patient.signed_at else None
    return CASE_SIGNED.format(
        registry_id=patient.registry_id, name=name, date=f"{when:%Y-%m-%d %H:%M} UTC" if when else "an unknown date"
    )


def case_open_check(patient: Patient | None) -> None:
    """Refuse (409) a change to a record of a signed case; ``patient`` as read with the record's lock."""
    if patient is not None and patient.signed_at is not None:
        raise ApplicationError(case_signed_message(patient), status=409)


def _check_case_open_by_id(patient_id: int | None) -> None:
    """Lock the patient's row and refuse if their case is signed: a new record, or a record moved into another
    patient's case. Locking the row waits for a signature being written, so none slips in between."""
    if patient_id is None:
        return
    signed_at = Patient.objects.select_for_update().filter(pk=patient_id).values_list("signed_at", flat=True).first()
    if signed_at is not None:
        case_open_check(Patient.objects.select_related("signed_by").get(pk=patient_id))


def _patient_lock_path(model: type[Model]) -> str | None:
    """The relation from a record to its patient, locked with the record (None for a patient itself)."""
    path = record_type_for(model).patient_path
    return "__".join(path) if path else None


def _check_site_write(*, user, site_id: int | None) -> None:
    if user is None:  # system jobs (seed, tasks) run without a user
        return
    if not access_for_user(user).can_write_site(site_id):
        raise ApplicationError(
            "You cannot create or change records of this site.",
            field_errors={"site": ["You are not a member of this site."]},
            status=403,
        )


def _check_site_open(site_id: int | None, *, record: Model | None = None) -> None:
    """Nothing of an inactive site is written, from any channel and by anyone (409).

    The site ``record`` reaches is read where it was loaded with the record in this request (the row
    lock joins it), else from the database.
    """
    if site_id is None:
        return
    site = _loaded_site(record) if record is not None else None
    if site is not None and site.pk == site_id:
        code, active = site.code, site.active
    else:
        code, active = Site.objects.values_list("code", "active").get(pk=site_id)
    if not active:
        raise ApplicationError(site_closed_message(code), status=409)


def _site_relation(model: type[Model]) -> str:
    """The ORM path from a record of ``model`` to its site (``episode__patient__site``)."""
    return record_type_for(model).site_path.removesuffix("_id")


def _loaded_site(record: Model) -> Site | None:
    """The site object ``record`` reaches through related objects already loaded; None if one is not."""
    target: Any = record
    for name in _site_relation(type(record)).split("__"):
        field = type(target)._meta.get_field(name)
        if not field.is_cached(target):
            return None
        target = getattr(target, name)
    return target if isinstance(target, Site) else None


def _check_registration(*, user, site_id: int | None, channel: AuditChannel | str) -> None:
    """Only the site's staff register its patients: a refused duplicate would reveal the identifier.

    Superusers keep registering in the admin, whose forms show them every identifier anyway.
    """
    if user is None or (channel == AuditChannel.ADMIN and user.is_superuser):
        return
    if not access_for_user(user).can_register_patients_at(site_id):
        raise ApplicationError(REGISTERED_BY_SITE, status=403)


def _hidden_from(user, instance: Model) -> frozenset[str]:
    """The identifier fields of ``instance`` that ``user`` does not see (none for system jobs)."""
    if user is None or not isinstance(instance, Patient):
        return frozenset()
    if access_for_user(user).can_see_identifiers_of(instance.site_id):
        return frozenset()
    return HIDDEN_FROM_COORDINATORS["patient"]


def _check_identifier_fields(*, user, instance: Model, data: dict[str, Any]) -> None:
    """A user who does not see a patient's identifiers changes neither them nor the fields tied to them."""
    hidden = _hidden_from(user, instance)
    if not hidden:
        return
    errors: dict[str, list[str]] = {}
    for name, value in data.items():
        if value == getattr(instance, name):
            continue
        if name in hidden:
            errors[name] = [IDENTIFIERS_BY_SITE]
        elif name in TIED_TO_HIDDEN["patient"]:
            errors[name] = [TIED_BY_SITE]
    if errors:
        raise ApplicationError("Please correct the errors below.", field_errors=errors)


def _pk(value: Any) -> Any:
    return value.pk if isinstance(value, Model) else value


def _check_parent_change(*, instance: Model, data: dict[str, Any]) -> None:
    """A patient's site changes only by transfer; an enrolled episode keeps its patient (400, field-level)."""
    if isinstance(instance, Patient) and "site" in data and _pk(data["site"]) != instance.site_id:
        raise ApplicationError(SITE_CHANGE_REFUSED, field_errors={"site": [SITE_CHANGE_REFUSED]})
    if (
        isinstance(instance, RechallengeEpisode)
        and "patient" in data
        and _pk(data["patient"]) != instance.patient_id
        and _is_enrolled(instance)
    ):
        message = ENROLLED_PATIENT_KEPT.format(number=instance.sequence_number)
        raise ApplicationError(message, field_errors={"patient": [message]})


def _apply_date_rules(instance: Model, *, exclude: frozenset[str] = frozenset()) -> None:
    if isinstance(instance, CaseRecord):
        instance.apply_storage_rules(exclude)


def _validate(instance: Model, *, exclude: list[str] | None = None, hidden: frozenset[str] = frozenset()) -> None:
    """``full_clean``; with ``hidden`` (the fields the user may not see) nothing about them is validated
    or said: a user who cannot see them learns from no message whether they hold a value."""
    try:
        instance.full_clean(exclude=[*(exclude or ()), *hidden])
    except ValidationError as error:
        field_errors = error.message_dict
        if hidden and field_errors.keys() & (hidden | TIED_TO_HIDDEN["patient"]):
            field_errors = {NON_FIELD_ERRORS: [HIDDEN_FIELD_PROBLEM]}
        raise ApplicationError("Please correct the errors below.", field_errors=field_errors) from None


def _save(instance: Model, **kwargs: Any) -> None:
    """Save inside the calling service's transaction: a refused statement leaves it through the
    ``ApplicationError``, which rolls the service's block (its savepoint) back, so no savepoint of its own."""
    try:
        instance.save(**kwargs)
    except IntegrityError as error:
        raise ApplicationError(f"The record breaks a database rule: {error}") from None


def records_for_update(queryset: QuerySet[M]) -> QuerySet[M]:
    """``queryset`` read for a change: a row lock on the record, its site joined (the site checks and
    the answer read it), and whether its patient has an enrolled episode (the re-assessment hook)."""
    model = queryset.model
    patient_path = record_type_for(model).patient_path
    patient = "__".join(patient_path) if patient_path else "pk"
    enrolled = RechallengeEpisode.objects.filter(patient=OuterRef(patient), enrolled_at__isnull=False)
    # The patient's row is locked with the record: its signature (``signed_at``) is then read as committed, and
    # a signature being written waits for this change (or this change for it) — never both at once.
    patient_lock = _patient_lock_path(model)
    return (
        queryset.select_for_update(of=("self", patient_lock) if patient_lock else ("self",))
        .select_related(_site_relation(model))
        .annotate(patient_has_enrolled_episode=Exists(enrolled))
    )


def record_lock(queryset: QuerySet[M], **lookup: Any) -> M:
    """The one record of ``queryset`` matching ``lookup``, locked for a change in this transaction.

    A caller that has to find the record itself (the API looks it up within the user's sites) locks
    it here and hands it to ``record_update``, which then does not read it again. ``DoesNotExist``
    when there is none.
    """
    record = records_for_update(queryset).get(**lookup)
    record._locked_in = _current_transaction()
    return record


def _current_transaction() -> Any:
    """The outermost atomic block now open (None outside one): a lock lasts as long as it does."""
    blocks = transaction.get_connection().atomic_blocks
    return blocks[0] if blocks else None


def _locked_now(instance: Model) -> bool:
    marker = getattr(instance, "_locked_in", None)
    return marker is not None and marker is _current_transaction()


@transaction.atomic
def record_create(*, model: type[M], data: dict[str, Any], user, channel: AuditChannel | str, reason: str = "") -> M:
    """Create a clinical record after validation and site checks, and audit it."""
    instance = model(**data)
    site_id = site_of(instance)
    _check_site_write(user=user, site_id=site_id)
    if isinstance(instance, Patient):
        _check_registration(user=user, site_id=site_id, channel=channel)
    _check_site_open(site_id, record=instance)
    if not isinstance(instance, Patient):
        _check_case_open_by_id(_patient_id_of(instance))
    generated = isinstance(instance, Patient) and not instance.registry_id
    if generated:
        instance.registry_id = _unique_registry_id(instance.site_id, site=_loaded_site(instance))
    # A generated registry ID was just checked to be unused; validating it again would ask the same.
    _validate(instance, exclude=["registry_id"] if generated else None)
    _save(instance)
    audit_write(
        instance=instance,
        action=AuditAction.CREATE,
        user=user,
        channel=channel,
        changes={name: [None, value] for name, value in snapshot(instance).items() if value not in (None, "")},
        reason=reason,
    )
    if not isinstance(instance, Patient):  # a patient just registered has no episode yet
        _reassess_enrolled_episodes(instance=instance, user=user, reason=reason)
    hooks.records_written(
        writes=[_write_of(instance, AuditAction.CREATE, snapshot(instance))], user=user, channel=str(channel)
    )
    return instance


class RecordBatch:
    """New records of one site created together, as a bulk import writes a file.

    Each record gets what ``record_create`` gives it — the site checks, its validation (``full_clean``),
    and an audit entry — but the checks of the site and the user run once for the batch and the audit
    entries are chained and written together when the batch ends, in its transaction. Records of one
    file row are created in a :meth:`group`: a refused record rolls its group back, audit entries too.
    """

    def __init__(self, *, site: Site, user, channel: AuditChannel | str, reason: str) -> None:
        self.site, self.user, self.channel, self.reason = site, user, channel, reason
        self.entries: list[Any] = []
        self.writes: list[hooks.RecordWrite] = []
        self.patient_ids: set[int] = set()
        self.new_patient_ids: set[int] = set()
        self.open_case_ids: set[int] = set()  # patients of earlier batches checked unsigned (and locked)

    @contextmanager
    def group(self) -> Iterator[None]:
        """Records that stand or fall together: a refusal inside rolls back their rows and entries."""
        mark, written = len(self.entries), len(self.writes)
        try:
            with transaction.atomic():
                yield
        except BaseException:
            del self.entries[mark:]
            del self.writes[written:]
            raise

    def create(self, *, model: type[M], data: dict[str, Any]) -> M:
        """Create one record of the batch's site (its parents may be records created earlier in the batch)."""
        instance = model(**data)
        if site_of(instance) != self.site.pk:
            raise ApplicationError(
                "You cannot create or change records of this site.",
                field_errors={"site": ["You are not a member of this site."]},
                status=403,
            )
        generated = isinstance(instance, Patient) and not instance.registry_id
        patient_id = _patient_id_of(instance)
        if not isinstance(instance, Patient) and patient_id not in self.new_patient_ids | self.open_case_ids:
            _check_case_open_by_id(patient_id)  # a patient of an earlier batch: at most once per patient
            self.open_case_ids.add(patient_id)
        if isinstance(instance, Patient):
            _check_registration(user=self.user, site_id=self.site.pk, channel=self.channel)
            if generated:
                instance.registry_id = _unique_registry_id(self.site.pk, site=self.site)
        _validate(instance, exclude=["registry_id"] if generated else None)
        _save(instance)
        changes = {name: [None, value] for name, value in snapshot(instance).items() if value not in (None, "")}
        self.entries.append(
            audit_entry_build(
                instance=instance,
                action=AuditAction.CREATE,
                user=self.user,
                channel=self.channel,
                changes=changes,
                reason=self.reason,
            )
        )
        if isinstance(instance, Patient):
            self.new_patient_ids.add(instance.pk)
        else:
            self.patient_ids.add(_patient_id_of(instance))
        self.writes.append(_write_of(instance, AuditAction.CREATE, changes))
        return instance


@contextmanager
def records_create_batch(*, site: Site, user, channel: AuditChannel | str, reason: str) -> Iterator[RecordBatch]:
    """Create many new records of ``site`` in one transaction (see :class:`RecordBatch`).

    The user's right to write at the site and the site being open are checked once, when the batch
    starts (the site is read afresh); when the block ends without an exception, the audit entries of
    every record created are appended to the site's chain, and the enrolled episodes of patients
    registered before the batch are re-assessed as after ``record_create``.
    """
    with transaction.atomic():
        site = Site.objects.get(pk=site.pk)
        _check_site_write(user=user, site_id=site.pk)
        if not site.active:
            raise ApplicationError(site_closed_message(site.code), status=409)
        batch = RecordBatch(site=site, user=user, channel=channel, reason=reason)
        yield batch
        audit_entries_append(batch.entries)
        _reassess_patients(batch.patient_ids - batch.new_patient_ids, user=user, reason=reason)
        hooks.records_written(writes=batch.writes, user=user, channel=str(channel))


# --- Bulk creation -----------------------------------------------------------------------------------

#: The order a bulk write inserts the record types in: each after the records it links to.
BULK_WRITE_ORDER: tuple[type[Model], ...] = (
    Patient,
    InitialCourse,
    RechallengeEpisode,
    AdverseEvent,
    ResponseAssessment,
    FollowUp,
)
BULK_BATCH_SIZE = 2000


class BulkRefused(ApplicationError):
    """Records of a bulk write refused by validation: ``errors`` maps each one's index to its field errors."""

    def __init__(self, errors: dict[int, dict[str, list[str]]]) -> None:
        super().__init__("Please correct the errors below.")
        self.errors = errors


class BulkWriteFailed(ApplicationError):
    """The database refused an insert of a bulk write (nothing of it is kept): which record is not known."""


class _Answer:
    """What ``queryset.exists()`` would answer, known without a query."""

    def __init__(self, found: bool) -> None:
        self.found = found

    def exists(self) -> bool:
        return self.found


@dataclass
class _PatientSoFar:
    """What the records of a patient new in a bulk write, checked so far, tell the rules across records —
    what ``clean()`` would read from the database had each been saved in turn, as ``record_create`` does."""

    course: InitialCourse | None = None
    episodes: list[RechallengeEpisode] = field(default_factory=list)
    course_iraes: bool = False
    deaths: list[dt.date] = field(default_factory=list)
    alive_follow_ups: list[dt.date] = field(default_factory=list)
    responses: list[dt.date] = field(default_factory=list)
    iraes: list[dt.date] = field(default_factory=list)

    @property
    def death(self) -> dt.date | None:
        return min(self.deaths, default=None)

    def context_of(self, episode: RechallengeEpisode) -> dict[str, Any]:
        """``RechallengeEpisode.patient_context()`` from the records checked so far."""
        earlier = [
            e
            for e in self.episodes
            if e.sequence_number is not None and e.sequence_number < (episode.sequence_number or 0)
        ]
        previous = max(earlier, key=lambda e: e.sequence_number, default=None)
        course = self.course
        return {
            "ici1": course is not None or None,
            "ici1_stop": course.stop_date if course else None,
            "ici1_stop_precision": course.stop_date_precision if course else None,
            "previous_number": previous.sequence_number if previous else None,
            "previous_start": previous.start_date if previous else None,
        }

    def death_order_errors(self, follow_up: FollowUp) -> dict[str, str]:
        """``FollowUp.death_order_errors()`` from the records checked so far."""
        errors: dict[str, str] = {}
        if follow_up.vital_status != "dead":
            errors.update(
                rules.after_death_errors(
                    field="follow_up_date",
                    label=follow_up.label_of("follow_up_date"),
                    value=follow_up.follow_up_date,
                    death=self.death,
                )
            )
        errors.update(
            rules.death_before_records_errors(
                death=follow_up.death_date,
                records=[
                    ("The patient's last response assessment", max(self.responses, default=None)),
                    ("The patient's last irAE onset", max(self.iraes, default=None)),
                    ("The patient's last other follow-up", max(self.alive_follow_ups, default=None)),
                ],
            )
        )
        return errors

    def add(self, instance: Model) -> None:
        """Count ``instance`` as written, for the records after it."""
        if isinstance(instance, InitialCourse):
            self.course = instance
        elif isinstance(instance, RechallengeEpisode):
            self.episodes.append(instance)
        elif isinstance(instance, AdverseEvent):
            self.course_iraes = self.course_iraes or instance.episode_id is None
            if instance.onset_date:
                self.iraes.append(instance.onset_date)
        elif isinstance(instance, ResponseAssessment):
            if instance.assessment_date:
                self.responses.append(instance.assessment_date)
        elif isinstance(instance, FollowUp):
            if instance.death_date:
                self.deaths.append(instance.death_date)
            if instance.vital_status != "dead" and instance.follow_up_date:
                self.alive_follow_ups.append(instance.follow_up_date)


def _unsaved_links(instance: Model) -> list[Any]:
    """The foreign keys of ``instance`` to records loaded with it (the records of the batch it links to)."""
    return [
        link
        for link in instance._meta.concrete_fields
        if link.is_relation and (link.many_to_one or link.one_to_one) and link.is_cached(instance)
    ]


def _relink(instance: Model) -> None:
    """Point each link of ``instance`` at the id its linked record has now (temporary, then saved); set
    through the relation, so the linked record stays loaded."""
    for link in _unsaved_links(instance):
        setattr(instance, link.name, getattr(instance, link.name))


def _after_death(instance: Model, errors: dict[str, list[str]], so_far: _PatientSoFar) -> dict[str, str]:
    """The ``after_death`` rule ``clean()`` checks against the death recorded so far (see ``_check_in_bulk``)."""
    if isinstance(instance, AdverseEvent):
        own = instance.episode_id and rules.not_before_rechallenge_errors(
            rechallenge_start=instance.episode.start_date, dates={"onset_date": instance.onset_date}
        )
        if own:
            return {}
        return rules.after_death_errors(
            field="onset_date", label=instance.label_of("onset_date"), value=instance.onset_date, death=so_far.death
        )
    if isinstance(instance, ResponseAssessment):
        if (
            instance.criteria
            and instance.category
            and instance.category not in vocabularies.response_categories(instance.criteria)
        ):
            return {}
        if rules.not_before_rechallenge_errors(
            rechallenge_start=instance.episode.start_date, dates={"assessment_date": instance.assessment_date}
        ):
            return {}
        return rules.after_death_errors(
            field="assessment_date",
            label=instance.label_of("assessment_date"),
            value=instance.assessment_date,
            death=so_far.death,
        )
    return {}


def _check_in_bulk(instance: Model, so_far: _PatientSoFar, *, exclude: list[str]) -> dict[str, list[str]]:
    """``full_clean()`` of a record of a patient new in the batch, without a query.

    The record's links point at records of the batch holding temporary ids, so ``clean()`` checks what
    needs them (an irAE's rechallenge, a response after its rechallenge's start); the lookups it makes
    about the patient's other records are answered from ``so_far`` — the records before it in the batch,
    as ``record_create`` would have saved them one by one. The uniqueness checks are left to
    ``_unique_errors`` (set-wise) and the check constraints to the database, as in ``_validate``.
    A rule of ``clean()`` that reads the database must be answered here too: a new one would ask about
    the temporary ids and find nothing, and shows up in the query pin of ``tests/apps/clinical/test_bulk_create.py``.
    """
    shadows: dict[str, Any] = {}
    if isinstance(instance, InitialCourse):
        shadows["recorded_iraes"] = lambda: _Answer(so_far.course_iraes)
    elif isinstance(instance, RechallengeEpisode):
        shadows["patient_context"] = lambda: so_far.context_of(instance)
    elif isinstance(instance, AdverseEvent):
        course = so_far.course
        shadows["course_answered_no_iraes"] = lambda: (
            instance.episode.iraes_during_rechallenge == "no"
            if instance.episode_id
            else course is not None and course.iraes_during_course == "no"
        )
        shadows["changed_or_new"] = lambda *names: False  # the death is checked below, from ``so_far``
    elif isinstance(instance, ResponseAssessment):
        shadows["changed_or_new"] = lambda *names: False
    elif isinstance(instance, FollowUp):
        shadows["death_order_errors"] = lambda: so_far.death_order_errors(instance)
    instance.__dict__.update(shadows)
    try:
        instance.full_clean(exclude=exclude)
        errors: dict[str, list[str]] = {}
    except ValidationError as error:
        errors = error.message_dict
    finally:
        for name in shadows:
            del instance.__dict__[name]
    for name, message in _after_death(instance, errors, so_far).items():
        errors.setdefault(name, []).append(message)
    return errors


def _unique_message(instance: Model, fields: tuple[str, ...]) -> dict[str, list[str]]:
    """Django's message for a unique check ``full_clean`` would have failed (one field: on that field)."""
    messages = ValidationError(instance.unique_error_message(type(instance), fields)).messages
    return {fields[0] if len(fields) == 1 else NON_FIELD_ERRORS: messages}


def _unique_errors(records: Sequence[Model], site: Site) -> dict[int, dict[str, list[str]]]:
    """The unique rules of new patients and their records, checked set-wise: a local identifier per site
    (one query per 1,000 patients), one ICI-1 per patient and one rechallenge per number (in the batch)."""
    errors: dict[int, dict[str, list[str]]] = {}
    patients = [(index, r) for index, r in enumerate(records) if isinstance(r, Patient)]
    identifiers = sorted({p.local_identifier for _, p in patients if p.local_identifier})
    taken: set[str] = set()
    for start in range(0, len(identifiers), 1000):
        taken.update(
            Patient.objects.filter(site=site, local_identifier__in=identifiers[start : start + 1000]).values_list(
                "local_identifier", flat=True
            )
        )
    seen: set[Any] = set()
    for index, record in enumerate(records):
        if isinstance(record, Patient):
            key: Any = ("patient", record.local_identifier)
            clash = record.local_identifier in taken
            fields: tuple[str, ...] = ("site", "local_identifier")
        elif isinstance(record, InitialCourse):
            key, clash, fields = ("course", id(record.patient)), False, ("patient",)
        elif isinstance(record, RechallengeEpisode):
            key, clash = ("episode", id(record.patient), record.sequence_number), False
            fields = ("patient", "sequence_number")
        else:
            continue
        if clash or key in seen:
            errors[index] = _unique_message(record, fields)
        seen.add(key)
    return errors


def _registry_ids_assign(patients: Sequence[Patient], site: Site) -> None:
    """Give each patient without one a fresh registry ID: unused, checked one query per 1,000 patients."""
    waiting = [patient for patient in patients if not patient.registry_id]
    for _ in range(20):
        if not waiting:
            return
        for patient in waiting:
            patient.registry_id = new_registry_id(site.code)
        candidates = [patient.registry_id for patient in waiting]
        used: set[str] = set()
        for start in range(0, len(candidates), 1000):
            used.update(
                Patient.objects.filter(registry_id__in=candidates[start : start + 1000]).values_list(
                    "registry_id", flat=True
                )
            )
        duplicates = {value for value, count in Counter(candidates).items() if count > 1}
        waiting = [patient for patient in waiting if patient.registry_id in used | duplicates]
    raise ApplicationError("Could not generate a unique registry ID; try again.")


def _bulk_insert(model: type[M], instances: list[M]) -> None:
    """Insert ``instances`` and give them their ids: ``COPY`` on PostgreSQL (ids reserved from the table's
    sequence first), ``bulk_create`` elsewhere."""
    if model is AdverseEvent:
        for event in instances:  # as ``AdverseEvent.save()`` does
            term = vocabularies.CTCAE_TERMS.get(event.ctcae_term)
            event.meddra_code, event.organ_category = term.meddra_code, term.organ_category
    now = timezone.now()
    for instance in instances:
        _relink(instance)  # the ids of the parents inserted just before
        for stamp in ("created_at", "updated_at"):
            setattr(instance, stamp, now)
    try:  # no savepoint of its own: the refusal leaves ``records_create_bulk``'s block, which rolls back
        with connection.wrap_database_errors:  # psycopg's errors read as Django's, ``COPY``'s too
            if copy_chosen(None):
                columns = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
                table = BulkTable(model, columns)
                ids = table.reserve_ids(len(instances))
                values = operator.attrgetter(*columns)
                table.copy((values(instance) for instance in instances), ids=ids)
                for instance, pk in zip(instances, ids, strict=True):
                    instance.pk = pk
                    instance._state.adding, instance._state.db = False, connection.alias
            else:
                model.objects.bulk_create(instances, batch_size=BULK_BATCH_SIZE)
    except IntegrityError as error:
        raise BulkWriteFailed(f"The records break a database rule: {error}") from None


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while a bulk write builds its objects: each of its passes walks every
    object alive, and a 10,000-row file holds some half a million of them (it cost 7 s of 50 in
    ``bench/import_bench.py``). Nothing here makes cycles that need collecting before the write ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def records_create_bulk(
    *, site: Site, user, channel: AuditChannel | str, reason: str, records: Sequence[Model]
) -> list[Model]:
    """Register new patients of ``site`` with their records, validated set-wise and inserted in bulk.

    ``records`` are unsaved, in the order ``record_create`` would create them one by one (a patient
    before its ICI-1 and rechallenges, a rechallenge before its responses); each links to its parent
    by the instance. Every record gets what ``record_create`` gives it — the site checks (once), the
    same validation and messages (without a query per record: see ``_check_in_bulk``), one audit entry
    (chained and written together) and the ``records_written`` hook (once, for all) — in one
    transaction, a table at a time (``COPY`` on PostgreSQL). Patients are new, so none is re-assessed.

    Refusals: :class:`BulkRefused` with every refused record's errors (nothing written);
    :class:`BulkWriteFailed` when the database refuses an insert (everything rolled back: the caller
    may create the records one by one with ``records_create_batch`` to learn which). Records of
    patients registered before take the per-record path (``records_create_batch``).
    """
    with _collector_paused(), transaction.atomic():
        site = Site.objects.get(pk=site.pk)
        _check_site_write(user=user, site_id=site.pk)
        if not site.active:
            raise ApplicationError(site_closed_message(site.code), status=409)
        patients = [record for record in records if isinstance(record, Patient)]
        if patients:
            _check_registration(user=user, site_id=site.pk, channel=channel)
        for record in records:
            if site_of(record) not in (site.pk, None) or (
                not isinstance(record, Patient) and record_type_for(type(record)).patient_of(record).pk is not None
            ):
                raise ApplicationError(
                    "A bulk write registers new patients of its own site with their records only.", status=403
                )
        _registry_ids_assign(patients, site)
        errors = _bulk_validate(records)
        for index, found in _unique_errors(records, site).items():
            for name, messages in found.items():
                errors.setdefault(index, {}).setdefault(name, []).extend(messages)
        if errors:
            raise BulkRefused(errors)
        by_model: dict[type[Model], list[Model]] = {model: [] for model in BULK_WRITE_ORDER}
        for record in records:
            by_model[type(record)].append(record)
        for model, instances in by_model.items():
            if instances:
                _bulk_insert(model, instances)
        entries, writes = [], []
        for record in records:
            changes = {name: [None, value] for name, value in snapshot(record).items() if value not in (None, "")}
            entries.append(
                audit_entry_build(
                    instance=record,
                    action=AuditAction.CREATE,
                    user=user,
                    channel=channel,
                    changes=changes,
                    reason=reason,
                )
            )
            writes.append(_write_of(record, AuditAction.CREATE, changes))
        BulkWriter(batch_size=BULK_BATCH_SIZE, use_copy=copy_chosen(None)).audit_entries(entries)
        hooks.records_written(writes=writes, user=user, channel=str(channel))
    return list(records)


def _bulk_validate(records: Sequence[Model]) -> dict[int, dict[str, list[str]]]:
    """Validate each record as ``record_create`` would, in order, with the records before it counted as written.

    Patients and rechallenges get temporary (negative) ids while the records after them are checked,
    so their links hold an id as after a save; the ids are taken back before the inserts.
    """
    errors: dict[int, dict[str, list[str]]] = {}
    so_far: dict[int, _PatientSoFar] = {}
    parents: list[Model] = []
    try:
        for index, record in enumerate(records):
            _relink(record)
            patient = record if isinstance(record, Patient) else record_type_for(type(record)).patient_of(record)
            state = so_far.setdefault(id(patient), _PatientSoFar())
            links = [link.name for link in _unsaved_links(record)]
            exclude = [*links, "registry_id"] if isinstance(record, Patient) else links
            found = _check_in_bulk(record, state, exclude=exclude)
            if found:
                errors[index] = found
            state.add(record)
            if isinstance(record, Patient | RechallengeEpisode):
                parents.append(record)
                record.pk = -len(parents)
    finally:
        for parent in parents:
            parent.pk = None
    return errors


@transaction.atomic
def record_update(
    *,
    instance: M,
    data: dict[str, Any],
    user,
    channel: AuditChannel | str,
    reason: str = "",
    expected_version: int | None = None,
) -> M:
    """Apply ``data`` to a record: refuse stale versions, require a reason once complete, audit old→new.

    A child record that moves to another patient (or episode) re-assesses the enrolled episodes of
    both the patient it leaves and the one it joins. ``instance`` is locked here, unless it comes
    from ``record_lock`` in this same transaction (then it is not read twice).
    """
    locked = instance if _locked_now(instance) else record_lock(type(instance).objects.all(), pk=instance.pk)
    if expected_version is not None and locked.version != expected_version:
        raise ConflictError()
    site_before = site_of(locked)
    _check_site_write(user=user, site_id=site_before)
    _check_site_open(site_before, record=locked)
    case_open_check(record_type_for(type(locked)).patient_of(locked))  # loaded and locked with the record
    _check_parent_change(instance=locked, data=data)
    _check_identifier_fields(user=user, instance=locked, data=data)
    hidden = _hidden_from(user, locked)
    before = snapshot(locked)
    patient_before = _patient_id_of(locked)
    for name, value in data.items():
        setattr(locked, name, value)
    _apply_date_rules(locked, exclude=hidden)  # before the diff, so the audit shows the value that is stored
    if _patient_id_of(locked) != patient_before:
        _check_case_open_by_id(_patient_id_of(locked))  # moving a record into a signed case
    site_after = site_of(locked)
    _check_site_write(user=user, site_id=site_after)  # moving a record into a foreign site
    if site_after != site_before:
        _check_site_open(site_after, record=locked)
    changes = diff(before, snapshot(locked))
    if not changes:
        return locked
    if (before.get("is_complete") or (locked.is_complete and "is_complete" not in changes)) and not reason.strip():
        raise ApplicationError(REASON_REQUIRED, field_errors={"reason": [REASON_REQUIRED]})
    _validate(locked, hidden=hidden)
    locked.version += 1
    _save(locked)
    changes["version"] = [locked.version - 1, locked.version]
    audit_write(instance=locked, action=AuditAction.UPDATE, user=user, channel=channel, changes=changes, reason=reason)
    _reassess_enrolled_episodes(
        instance=locked,
        user=user,
        reason=reason,
        previous_patient_id=patient_before,
        enrolled_before=getattr(locked, "patient_has_enrolled_episode", None),
    )
    hooks.records_written(
        writes=[_write_of(locked, AuditAction.UPDATE, set(changes) - {"version"})], user=user, channel=str(channel)
    )
    return locked


def patient_transfer_check_user(*, user) -> None:
    """Transfers are made by coordinators and administrators (403 for anyone else)."""
    if user is not None and not access_for_user(user).is_coordinator:
        raise ApplicationError(TRANSFER_BY_COORDINATORS, status=403)


@transaction.atomic
def patient_transfer(
    *,
    patient: Patient,
    to_site: Site,
    user,
    reason: str,
    channel: AuditChannel | str = AuditChannel.WEB,
    expected_version: int | None = None,
) -> Patient:
    """Move a patient, and with them every record of theirs, to another site: the one way a site changes.

    Coordinators and administrators only, with a reason; one audit entry on the patient (site old →
    new). The child records follow the patient (they reach their site through it), the registry ID
    keeps its original prefix (it is permanent), and the identifiers from then on show to the new
    site's staff only. A patient may leave an inactive site (that is how a closing site's patients
    are followed on), but not move into one.

    A local identifier already used at the new site refuses the transfer (409) without naming it; the
    refusal does tell a coordinator that the two sites share an identifier, which is the one thing
    the unique identifier per site cannot keep from them (see the README).
    """
    patient_transfer_check_user(user=user)
    locked = Patient.objects.select_for_update().filter(pk=patient.pk).first()
    if locked is None:
        raise ConflictError("This patient was deleted by someone else since you opened the page.")
    if expected_version is not None and locked.version != expected_version:
        raise ConflictError()
    case_open_check(locked)
    errors: dict[str, list[str]] = {}
    if not reason.strip():
        errors["reason"] = [TRANSFER_REASON_REQUIRED]
    if to_site.pk == locked.site_id:
        errors["site"] = [f"The patient is already at site {to_site.code}."]
    if errors:
        raise ApplicationError("Please correct the errors below.", field_errors=errors)
    _check_site_open(to_site.pk)
    identifiers = {locked.local_identifier, normalise_local_identifier(locked.local_identifier)}
    if Patient.objects.filter(site=to_site, local_identifier__in=identifiers).exclude(pk=locked.pk).exists():
        raise ApplicationError(TRANSFER_CONFLICT.format(code=to_site.code), status=409)
    from_site = locked.site_id
    locked.site = to_site
    locked.version += 1
    _save(locked)
    audit_write(
        instance=locked,
        action=AuditAction.UPDATE,
        user=user,
        channel=channel,
        changes={"site": [from_site, to_site.pk], "version": [locked.version - 1, locked.version]},
        reason=reason,
    )
    hooks.records_written(writes=[_write_of(locked, AuditAction.UPDATE, {"site"})], user=user, channel=str(channel))
    return locked


@transaction.atomic
def record_delete(
    *, instance: Model, user, channel: AuditChannel | str, reason: str = "", expected_version: int | None = None
) -> None:
    """Delete a record and, by cascade, its dependants, with one audit entry (old values) per removed record.

    Like ``record_update``: the row is locked and its version compared under the lock. A reason is
    required when any removed record is marked complete. An enrolled episode, and a patient with one,
    cannot be deleted: the locked assessment is kept for validation (409).
    """
    locked = records_for_update(type(instance).objects.filter(pk=instance.pk)).first()
    if locked is None:
        raise ConflictError("This record was deleted by someone else since you opened it.")
    if expected_version is not None and locked.version != expected_version:
        raise ConflictError()
    _check_site_write(user=user, site_id=site_of(locked))
    _check_site_open(site_of(locked))
    case_open_check(record_type_for(type(locked)).patient_of(locked))  # loaded and locked with the record
    preview = _delete_preview(locked, lock=True)
    if preview.refusal:
        raise ApplicationError(preview.refusal, status=409)
    if preview.complete and not reason.strip():
        raise ApplicationError(preview.reason_required, field_errors={"reason": [preview.reason_required]})
    removed = preview.removed
    writes = [_write_of(record, AuditAction.DELETE, snapshot(record)) for record in removed]
    cascade_reason = f"Deleted with {_describe_for_audit(locked)}" + (f": {reason}" if reason.strip() else ".")
    audit_entries_append(
        [
            audit_entry_build(
                instance=record,
                action=AuditAction.DELETE,
                user=user,
                channel=channel,
                changes={name: [value, None] for name, value in snapshot(record).items() if value not in (None, "")},
                reason=reason if record is locked else cascade_reason,
            )
            for record in removed
        ]
    )
    try:
        with transaction.atomic():
            locked.delete()
    except ProtectedError:
        raise ApplicationError(
            "This record cannot be deleted: a locked decision-model assessment refers to it.", status=409
        ) from None
    _reassess_enrolled_episodes(instance=locked, user=user, reason=reason)  # a deleted patient has no pk left
    hooks.records_written(writes=writes, user=user, channel=str(channel))
    instance.pk = None


def _cascade_of(record: Model, *, lock: bool) -> list[Model]:
    """The records deleting ``record`` removes with it (``on_delete=CASCADE``), each once, parents first.

    With ``lock``, each is locked like the record itself: a child written meanwhile is either waited
    for and found here, or refused because its parent is gone.
    """
    found: dict[tuple[type[Model], Any], Model] = {}
    declared = {record_type.model for record_type in record_types()}

    def visit(parent: Model) -> None:
        for relation in parent._meta.related_objects:
            # Only records: a copy kept beside them (the patient list's summary) is deleted with them, unaudited.
            if relation.on_delete is not CASCADE or relation.related_model not in declared:
                continue
            children = relation.related_model._base_manager.filter(**{relation.field.name: parent}).order_by("pk")
            if lock:
                children = children.select_for_update()
            for child in children:
                if (type(child), child.pk) in found:
                    continue
                setattr(child, relation.field.name, parent)  # so audit entries find the site without a query
                found[(type(child), child.pk)] = child
                visit(child)

    visit(record)
    return list(found.values())


@dataclass(frozen=True)
class DeletePreview:
    """What deleting a record would remove, and whether it may be deleted at all."""

    removed: tuple[Model, ...]  # the record first, then every record removed with it
    refusal: str  # why it cannot be deleted; empty if it can

    @property
    def complete(self) -> int:
        """How many of the removed records are marked complete."""
        return sum(bool(getattr(record, "is_complete", False)) for record in self.removed)

    @property
    def dependants(self) -> list[tuple[str, int]]:
        """(record type, number) of the records removed with the record, in the order found."""
        counts = Counter(str(type(record)._meta.verbose_name_plural) for record in self.removed[1:])
        return list(counts.items())

    @property
    def reason_required(self) -> str:
        if len(self.removed) == 1:
            return REASON_REQUIRED
        marked = "is" if self.complete == 1 else "are"
        return (
            f"A reason is required: this deletion removes {len(self.removed)} records, and {self.complete} of "
            f"them {marked} marked complete."
        )


def record_delete_preview(*, record: Model) -> DeletePreview:
    """The records deleting ``record`` would remove, and why it cannot be deleted if it cannot."""
    return _delete_preview(record, lock=False)


def _delete_preview(record: Model, *, lock: bool) -> DeletePreview:
    removed = (record, *_cascade_of(record, lock=lock))
    return DeletePreview(removed=removed, refusal=_delete_refusal(record, [r for r in removed if _is_enrolled(r)]))


def _is_enrolled(record: Model) -> bool:
    """An episode whose decision-model assessment is locked (enrolled, or with a stored assessment)."""
    if not isinstance(record, RechallengeEpisode):
        return False
    return record.enrolled_at is not None or record.assessments.exists()


def _delete_refusal(record: Model, enrolled: list[Model]) -> str:
    """Why ``record`` cannot be deleted, given the enrolled episodes it would remove ("" if it can)."""
    if not enrolled:
        return ""
    if isinstance(record, RechallengeEpisode):
        return (
            f"Rechallenge {record.sequence_number} is enrolled: its locked decision-model assessment is kept for "
            "the model's validation, so the episode cannot be deleted. Correct its data instead (a "
            "re-assessment is stored beside the lock)."
        )
    numbers = ", ".join(str(n) for n in sorted(getattr(episode, "sequence_number", 0) for episode in enrolled))
    which = f"rechallenge {numbers} is" if len(enrolled) == 1 else f"rechallenges {numbers} are"
    return (
        f"This {record._meta.verbose_name} cannot be deleted: {which} enrolled, and a locked decision-model "
        "assessment is kept for the model's validation."
    )


def _write_of(record: Model, action: AuditAction, fields, *, record_id: int | None = None) -> hooks.RecordWrite:
    record_type = record_type_for(type(record))
    return hooks.RecordWrite(
        action=str(action),
        record_type=record_type.slug,
        record_id=record.pk if record_id is None else record_id,
        patient_id=_patient_id_of(record),
        site_id=site_of(record),
        fields=frozenset(fields),
    )


def _describe_for_audit(record: Model) -> str:
    return f"{record._meta.verbose_name} {record}"


def _patient_id_of(instance: Model) -> int | None:
    return record_type_for(type(instance)).patient_id_of(instance)


def _reassess_enrolled_episodes(
    *,
    instance: Model,
    user,
    reason: str,
    previous_patient_id: int | None = None,
    enrolled_before: bool | None = None,
) -> None:
    """A correction to data an enrolled episode's model inputs come from yields a re-assessment; a record
    that moved to another patient re-assesses the patient it left as well.

    The reaction is registered by the app that stores assessments (``hooks``) and runs in this
    transaction. Only patients with an enrolled episode can need one: ``enrolled_before`` says whether
    the patient the record belonged to when it was locked has one (read with the lock); any other
    patient is looked up.
    """
    known: dict[int, bool] = {}
    if previous_patient_id is not None and enrolled_before is not None:
        known[previous_patient_id] = enrolled_before
    _reassess_patients({_patient_id_of(instance), previous_patient_id} - {None}, user=user, reason=reason, known=known)


def _reassess_patients(patient_ids: set[int], *, user, reason: str, known: dict[int, bool] | None = None) -> None:
    """Run the re-assessment hook for those of ``patient_ids`` with an enrolled episode (``known`` says
    for some; the others are looked up in one query)."""
    if not patient_ids:
        return
    known = dict(known or {})
    unknown = patient_ids - set(known)
    if unknown:
        with_enrolled = set(
            RechallengeEpisode.objects.filter(patient_id__in=unknown, enrolled_at__isnull=False).values_list(
                "patient_id", flat=True
            )
        )
        known.update({patient_id: patient_id in with_enrolled for patient_id in unknown})
    for patient_id in sorted(patient_ids):
        if known[patient_id]:
            hooks.enrolled_patient_changed(patient_id=patient_id, user=user, reason=reason)


def _unique_registry_id(site_id: int, *, site: Site | None = None) -> str:
    code = (
        site.code
        if site is not None and site.pk == site_id
        else Site.objects.values_list("code", flat=True).get(pk=site_id)
    )
    for _ in range(20):
        candidate = new_registry_id(code)
        if not Patient.objects.filter(registry_id=candidate).exists():
            return candidate
    raise ApplicationError("Could not generate a unique registry ID; try again.")

"""Demo data: a synthetic multi-site cohort written in bulk, and demo users for every role.

Why a separate path from ``services.record_create``: a demo or benchmark registry needs 100,000
patients in minutes, which per-record validation and saves cannot give. The generator
(``registry.synthetic``) builds records that are consistent by construction and the tests run
``full_clean()`` over a sample, so here rows go straight to the database — in one transaction,
with one audit entry per patient written the same way.

Two ways to write, same rows and same result:

- ``bulk_create`` (every database; the tests' SQLite): parents whose ids the children need
  (patients, rechallenge episodes) get their primary keys back from ``bulk_create``.
- ``COPY`` (PostgreSQL, the default there): Django's per-value preparation plus psycopg's
  client-side quoting cost ~150 µs a row under ``bulk_create``, which put 100,000 patients
  (≈1.3 million rows) over the three-minute budget (measured with ``bench/seed_demo_bench.py``).
  Parents' ids are reserved from their identity sequences first, then every table is copied.

Either way the next chunk of patients is generated in a background thread while this one is being
written: the database's work (and psycopg's waiting for it, which releases the GIL) overlaps with
the generator's Python, instead of adding to it.

Enrollment is not this module's business (``apps.clinical`` does not know the decision model): a
caller may pass an :class:`Enrollment` — ``apps.assessments.demo`` does — which prepares each
patient's enrollments in the background thread too and writes them once the chunk's ids exist.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import operator
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models, transaction
from django.utils import timezone

from apps.accounts.models import Membership, Role, Site, User
from apps.core.audit import audit_entries_chain
from apps.core.models import AuditAction, AuditChainHead, AuditChannel, AuditEntry
from registry.synthetic import DemoEpisode, DemoPatient, DemoSite, demo_site_codes, stream_cohort

from .models import (
    AdverseEvent,
    FollowUp,
    InitialCourse,
    Patient,
    RechallengeEpisode,
    ResponseAssessment,
)

DEMO_PASSWORD = "registry-demo-2026"  # noqa: S105 - a published demo password, never for real data
CREDENTIALS_FILE_NAME = "demo-credentials.txt"

#: ``progress(stage, done, total)`` is called after every chunk of patients.
Progress = Callable[[str, int, int], None]

COUNT_KEYS = (
    "sites",
    "patients",
    "initial_courses",
    "adverse_events",
    "episodes",
    "response_assessments",
    "follow_ups",
    "audit_entries",
)


class BulkTable:
    """How rows of one model are written: the columns the demo supplies; every other field takes its default.

    Rows are plain tuples in ``columns`` order. Building model instances positionally skips the
    keyword handling of ``Model.__init__``, the costliest step after the insert itself.
    """

    def __init__(self, model: type[models.Model], columns: Sequence[str]) -> None:
        self.model = model
        self.columns = tuple(columns)
        fields = list(model._meta.concrete_fields)
        by_attname = {field.attname: field for field in fields}
        unknown = set(self.columns) - set(by_attname)
        if unknown:
            raise ImproperlyConfigured(f"{model.__name__} has no field(s) {sorted(unknown)}")
        self.template: list[Any] = []
        self.filled: list[tuple[str, Any]] = []  # (column, value) of unsupplied fields, for COPY
        self.stamped: list[str] = []  # auto_now / auto_now_add columns, stamped at write time
        # auto_now(_add) fields the demo supplies (e.g. an assessment's assessed_at in the past).
        self.supplied_stamps = [field for field in fields if field.attname in self.columns and _stamps(field)]
        for field in fields:
            # As Model.__init__ would: the declared default, else None, else "" for blank text.
            # (Shared across rows: fine for the immutable defaults the clinical models declare.)
            default = None if field.primary_key else field.get_default()
            self.template.append(default)
            if field.attname in self.columns or field.primary_key:
                continue
            if _stamps(field):
                self.stamped.append(field.column)
            elif field.has_default() or field.null or (field.blank and field.empty_strings_allowed):
                self.filled.append((field.column, field.get_db_prep_save(default, connection)))
            else:
                raise ImproperlyConfigured(f"demo data gives no value for the required {model.__name__}.{field.name}")
        positions = [list(by_attname).index(column) for column in self.columns]
        first = positions[0] if positions else len(fields)
        # Fast path: the supplied columns are the model's last fields, in order.
        self.contiguous = positions == list(range(first, len(fields)))
        self.prefix = tuple(self.template[:first])
        self.positions = positions
        self.json_positions = [
            index for index, column in enumerate(self.columns) if isinstance(by_attname[column], models.JSONField)
        ]

    def instances(self, rows: Iterable[tuple]) -> list[models.Model]:
        model = self.model
        if self.contiguous:
            prefix = self.prefix
            return [model(*prefix, *row) for row in rows]
        objects = []
        for row in rows:
            args = self.template.copy()
            for position, value in zip(self.positions, row, strict=True):
                args[position] = value
            objects.append(model(*args))
        return objects

    def bulk_create(self, rows: Sequence[tuple], batch_size: int) -> list[models.Model]:
        with _supplied_stamps_kept(self.supplied_stamps):
            return self.model.objects.bulk_create(self.instances(rows), batch_size=batch_size)

    def reserve_ids(self, count: int) -> list[int]:
        """``count`` primary keys from the table's sequence (PostgreSQL); never handed out twice."""
        pk = self.model._meta.pk.column
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [self.model._meta.db_table, pk, count],
            )
            return [row[0] for row in cursor.fetchall()]

    def copy(self, rows: Iterable[tuple], ids: Sequence[int] | None = None) -> None:
        """PostgreSQL ``COPY … FROM STDIN`` of the rows, with defaults and timestamps filled in.

        With ``ids`` the primary keys are written too (from :meth:`reserve_ids`), one per row.
        """
        now = timezone.now()
        extra = tuple(value for _, value in self.filled) + (now,) * len(self.stamped)
        names = [*self.columns, *(column for column, _ in self.filled), *self.stamped]
        if self.json_positions:
            json_positions = self.json_positions
            rows = (tuple(json.dumps(v) if i in json_positions else v for i, v in enumerate(row)) for row in rows)
        if ids is not None:
            names.insert(0, self.model._meta.pk.column)
            rows = ((pk, *row) for pk, row in zip(ids, rows, strict=True))
        quote = connection.ops.quote_name
        statement = f"COPY {quote(self.model._meta.db_table)} ({', '.join(quote(name) for name in names)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            write = copy.write_row
            for row in rows:
                write(row + extra)


def _stamps(field: models.Field) -> bool:
    return getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)


@contextmanager
def _supplied_stamps_kept(fields: Sequence[models.Field]) -> Iterator[None]:
    """Let ``bulk_create`` keep the supplied value of auto_now(_add) fields instead of stamping now.

    Django's ``pre_save`` of such a field overwrites whatever the instance holds; the switch is
    undone at once, and seeding runs in a management command, not beside requests.
    """
    saved = [(field, field.auto_now, field.auto_now_add) for field in fields]
    try:
        for field in fields:
            field.auto_now = field.auto_now_add = False
        yield
    finally:
        for field, auto_now, auto_now_add in saved:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


_PATIENT_FIELDS = (
    "registry_id",
    "local_identifier",
    "sex",
    "year_of_birth",
    "date_of_birth",
    "tumour_type",
    "histology",
    "consent_status",
    "consent_date",
    "pdl1_tps_percent",
    "pdl1_cps",
    "tmb_mut_per_mb",
    "msi_status",
)
_COURSE_FIELDS = (
    "primary_agent",
    "second_agent",
    "regimen_type",
    "line_of_therapy",
    "start_date",
    "start_date_precision",
    "stop_date",
    "stop_date_precision",
    "ecog_at_start",
    "best_overall_response",
    "progression_date",
    "progression_date_precision",
    "stop_reason",
    "iraes_during_course",
)
_EPISODE_FIELDS = (
    "sequence_number",
    "start_date",
    "rechallenge_type",
    "agent_relation",
    "primary_agent",
    "second_agent",
    "regimen_type",
    "ecog_at_rechallenge",
    "ldh_u_per_l",
    "ldh_above_uln",
    "neutrophil_lymphocyte_ratio",
    "albumin_g_per_l",
    "brain_metastases",
    "liver_metastases",
    "current_prednisone_mg_per_day",
    "intervening_therapy",
    "intervening_therapy_lines",
    "iraes_during_rechallenge",
)
# bulk_create skips AdverseEvent.save(), which fills meddra_code and organ_category: the generator
# has already taken them from the CTCAE vocabulary, so they are ordinary columns here.
_ADVERSE_EVENT_FIELDS = (
    "ctcae_version",
    "ctcae_term",
    "meddra_code",
    "organ_category",
    "grade",
    "onset_date",
    "onset_date_precision",
    "resolution_date",
    "resolution_date_precision",
    "resolved_to_grade",
    "management",
    "peak_prednisone_mg_per_day",
    "second_line_immunosuppressant",
    "steroid_refractory",
    "hospitalised",
    "led_to_discontinuation",
    "recurrence_status",
)
_RESPONSE_FIELDS = ("assessment_date", "criteria", "category")
_FOLLOW_UP_FIELDS = (
    "follow_up_date",
    "vital_status",
    "progression_date",
    "rechallenge_stopped_date",
    "rechallenge_stop_reason",
    "death_date",
    "last_known_alive_date",
)
_AUDIT_COLUMNS = (
    "timestamp",
    "user_id",
    "channel",
    "action",
    "model_label",
    "object_id",
    "object_repr",
    "site_id",
    "changes",
    "reason",
    "chain",
    "sequence",
    "previous_hash",
    "entry_hash",
)


_audit_values = operator.attrgetter(*_AUDIT_COLUMNS)


def _values(names: Sequence[str]) -> Callable[[Any], tuple]:
    """A getter returning the named attributes as a tuple (``attrgetter`` returns a bare value for one)."""
    getter = operator.attrgetter(*names)
    return getter if len(names) > 1 else lambda obj: (getter(obj),)


@dataclass(slots=True)
class WrittenEpisode:
    """A demo episode as written: its ids, its site, and the enrollment prepared for it (or None)."""

    patient: DemoPatient
    episode: DemoEpisode
    patient_id: int
    episode_id: int
    site_id: int
    enrollment: Any


class EnrolledPlan(Protocol):
    """What the writer reads of a prepared enrollment: when the episode was enrolled."""

    @property
    def enrolled_at(self) -> dt.datetime: ...


class Enrollment(Protocol):
    """Enrollment of demo episodes, supplied by a layer that knows the decision model (``apps.assessments``).

    ``prepare`` runs in the generator's background thread, one patient at a time, and returns one
    item per episode: an :class:`EnrolledPlan` or None (not enrolled). The writer stamps the
    episode's ``enrolled_at`` and version as ``services.episode_enroll`` would, then calls ``write``
    with the chunk's episodes once their ids exist, in the same transaction.
    """

    count_keys: tuple[str, ...]

    def prepare(self, patient: DemoPatient) -> Sequence[EnrolledPlan | None]: ...

    def write(self, episodes: Sequence[WrittenEpisode], writer: DemoWriter) -> dict[str, int]: ...


class DemoWriter:
    """The tables of one seeding run and how their rows are written (COPY or ``bulk_create``)."""

    def __init__(self, *, batch_size: int, use_copy: bool) -> None:
        self.batch_size = batch_size
        self.use_copy = use_copy
        self.patients = BulkTable(Patient, ("registry_id", "site_id", *_PATIENT_FIELDS[1:]))
        self.courses = BulkTable(InitialCourse, ("patient_id", *_COURSE_FIELDS))
        # An enrolled episode carries enrolled_at and version 2, as episode_enroll leaves it.
        self.episodes = BulkTable(RechallengeEpisode, ("patient_id", *_EPISODE_FIELDS, "enrolled_at", "version"))
        self.adverse_events = BulkTable(AdverseEvent, ("patient_id", "episode_id", *_ADVERSE_EVENT_FIELDS))
        self.responses = BulkTable(ResponseAssessment, ("episode_id", *_RESPONSE_FIELDS))
        self.follow_ups = BulkTable(FollowUp, ("episode_id", *_FOLLOW_UP_FIELDS))
        self.audit = BulkTable(AuditEntry, _AUDIT_COLUMNS)
        self.patient_values = _values(_PATIENT_FIELDS[1:])
        self.course_values = _values(_COURSE_FIELDS)
        self.episode_values = _values(_EPISODE_FIELDS)
        self.adverse_event_values = _values(_ADVERSE_EVENT_FIELDS)
        self.response_values = _values(_RESPONSE_FIELDS)
        self.follow_up_values = _values(_FOLLOW_UP_FIELDS)

    def parents(self, table: BulkTable, rows: list[tuple]) -> list[int]:
        """Write rows whose ids other rows point to; return the ids in row order."""
        if self.use_copy:
            ids = table.reserve_ids(len(rows)) if rows else []
            table.copy(rows, ids=ids)
            return ids
        return [obj.pk for obj in table.bulk_create(rows, self.batch_size)]

    def leaves(self, table: BulkTable, rows: list[tuple]) -> int:
        if self.use_copy:
            table.copy(rows)
        else:
            table.bulk_create(rows, self.batch_size)
        return len(rows)

    def audit_entries(self, entries: Sequence[AuditEntry]) -> int:
        """Unsaved audit entries, in order, each given its place in its site's hash chain as audit_write would."""
        heads = audit_entries_chain(entries)
        return self._audit_leaves([_audit_values(entry) for entry in entries], heads)

    def chunk(
        self,
        chunk: list[tuple[DemoPatient, Sequence[Any]]],
        *,
        site_ids: dict[str, int],
        reason: str,
        enrollment: Enrollment | None = None,
    ) -> dict[str, int]:
        """One chunk of patients (each with its prepared enrollments) and everything under them; parents first."""
        patients = [demo for demo, _ in chunk]
        patient_values = self.patient_values
        patient_rows = [(p.registry_id, site_ids[p.site_code], *patient_values(p)) for p in patients]
        patient_ids = self.parents(self.patients, patient_rows)

        episode_rows = []
        episode_sources = []
        course_rows = []
        adverse_event_rows = []
        course_values, episode_values = self.course_values, self.episode_values
        adverse_event_values = self.adverse_event_values
        for (demo, plans), patient_id in zip(chunk, patient_ids, strict=True):
            course_rows.append((patient_id, *course_values(demo.initial_course)))
            adverse_event_rows.extend((patient_id, None, *adverse_event_values(e)) for e in demo.adverse_events)
            for episode, plan in zip(demo.episodes, plans or [None] * len(demo.episodes), strict=True):
                enrolled_at = None if plan is None else plan.enrolled_at
                episode_rows.append((patient_id, *episode_values(episode), enrolled_at, 1 if plan is None else 2))
                episode_sources.append((demo, patient_id, episode, plan))
        episode_ids = self.parents(self.episodes, episode_rows)

        response_rows = []
        follow_up_rows = []
        written = []
        response_values, follow_up_values = self.response_values, self.follow_up_values
        for (demo, patient_id, demo_episode, plan), episode_id in zip(episode_sources, episode_ids, strict=True):
            if plan is not None:
                site_id = site_ids[demo.site_code]
                written.append(WrittenEpisode(demo, demo_episode, patient_id, episode_id, site_id, plan))
            adverse_event_rows.extend(
                (patient_id, episode_id, *adverse_event_values(e)) for e in demo_episode.adverse_events
            )
            response_rows.extend((episode_id, *response_values(r)) for r in demo_episode.responses)
            follow_up_rows.extend((episode_id, *follow_up_values(f)) for f in demo_episode.follow_ups)

        # One audit entry per patient, as record_create would write, in the same transaction.
        # Each entry takes its place in its site's hash chain, as audit_write would give it.
        label = Patient._meta.label_lower
        entries = [
            AuditEntry(
                channel=AuditChannel.SEED.value,
                action=AuditAction.CREATE.value,
                model_label=label,
                object_id=str(patient_id),
                object_repr=registry_id,
                site_id=site_id,
                changes={"registry_id": [None, registry_id]},
                reason=reason,
            )
            for patient_id, (registry_id, site_id, *_) in zip(patient_ids, patient_rows, strict=True)
        ]
        counts = {
            "patients": len(patient_ids),
            "initial_courses": self.leaves(self.courses, course_rows),
            "adverse_events": self.leaves(self.adverse_events, adverse_event_rows),
            "episodes": len(episode_ids),
            "response_assessments": self.leaves(self.responses, response_rows),
            "follow_ups": self.leaves(self.follow_ups, follow_up_rows),
            "audit_entries": self.audit_entries(entries),
        }
        if enrollment is not None:
            for key, value in enrollment.write(written, self).items():
                counts[key] = counts.get(key, 0) + value
        return counts

    def _audit_leaves(self, rows: list[tuple], heads: list) -> int:
        written = self.leaves(self.audit, rows)
        AuditChainHead.objects.bulk_update(heads, ["sequence", "last_hash"])
        return written


def demo_cohort_seed(
    *,
    sites: int,
    patients: int,
    seed: int,
    batch_size: int = 5000,
    progress: Progress | None = None,
    use_copy: bool | None = None,
    enrollment: Enrollment | None = None,
) -> dict[str, int]:
    """Write a synthetic cohort of ``patients`` over ``sites`` demo sites; return the rows created.

    Deterministic for a seed on an empty registry. Patients are generated and written a chunk of
    ``batch_size`` at a time, so memory stays flat however large the cohort. ``use_copy`` (default:
    on PostgreSQL) writes every table with ``COPY`` instead of ``bulk_create``. ``enrollment``
    (see :class:`Enrollment`) enrolls episodes as they are written; without it none is enrolled.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if use_copy is None:
        use_copy = connection.vendor == "postgresql"
    elif use_copy and connection.vendor != "postgresql":
        raise ValueError("COPY needs PostgreSQL")
    codes = demo_site_codes(sites)
    counts = dict.fromkeys((*COUNT_KEYS, *(enrollment.count_keys if enrollment else ())), 0)
    with transaction.atomic():
        writer = DemoWriter(batch_size=batch_size, use_copy=use_copy)
        taken = Patient.objects.filter(site__code__in=codes).values_list(
            "registry_id", "site__code", "local_identifier"
        )
        taken_registry_ids = set()
        taken_local_identifiers = set()
        for registry_id, site_code, local_identifier in taken:
            taken_registry_ids.add(registry_id)
            taken_local_identifiers.add((site_code, local_identifier))
        stream = stream_cohort(
            sites=sites,
            patients=patients,
            seed=seed,
            taken_registry_ids=taken_registry_ids,
            taken_local_identifiers=taken_local_identifiers,
        )
        site_ids, counts["sites"] = _demo_sites_ensure(stream.sites)
        if use_copy:
            # Check foreign keys as each COPY ends, while the next chunk is being generated,
            # rather than all at once at commit (they are deferred by default).
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        reason = f"Synthetic demo data (seed {seed})"
        done = 0
        prepare = enrollment.prepare if enrollment is not None else None
        for chunk in _chunks_ahead(stream.patients, batch_size, prepare):
            for key, value in writer.chunk(chunk, site_ids=site_ids, reason=reason, enrollment=enrollment).items():
                counts[key] += value
            done += len(chunk)
            if progress is not None:
                progress("patients", done, patients)
        if use_copy:
            # Back to Django's default (foreign keys are DEFERRABLE INITIALLY DEFERRED) in case a
            # caller's transaction encloses this one.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    if connection.vendor == "postgresql":
        # Fresh planner statistics: after a bulk load the estimates are of an empty table, and
        # the patient list would sort 100,000 rows instead of walking the registry-ID index.
        with connection.cursor() as cursor:
            for model in (Patient, InitialCourse, AdverseEvent, RechallengeEpisode, ResponseAssessment, FollowUp):
                cursor.execute(f"ANALYZE {model._meta.db_table}")
    return counts


def _chunks_ahead(
    patients: Iterator[DemoPatient], size: int, prepare: Callable[[DemoPatient], Sequence[Any]] | None = None
) -> Iterator[list[tuple[DemoPatient, Sequence[Any]]]]:
    """Chunks of ``size`` patients with what ``prepare`` made of each, the next chunk made by a background thread.

    The generator is pure Python and runs in one thread, so the cohort stays deterministic.
    """
    ready: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            while not stop.is_set():
                chunk = [(p, prepare(p) if prepare else ()) for p in itertools.islice(patients, size)]
                item = ("chunk", chunk) if chunk else ("end", None)
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if not chunk:
                    return
        except BaseException as error:  # handed to the consumer, which re-raises it
            ready.put(("error", error))

    producer = threading.Thread(target=produce, name="demo-cohort-generator", daemon=True)
    producer.start()
    try:
        while True:
            kind, value = ready.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        producer.join()


def _demo_sites_ensure(demo_sites: Sequence[DemoSite]) -> tuple[dict[str, int], int]:
    """Site ids by code, creating the demo sites that do not exist yet; and how many were created."""
    existing = dict(Site.objects.filter(code__in=[site.code for site in demo_sites]).values_list("code", "id"))
    missing = [
        Site(
            code=site.code,
            name=site.name,
            country=site.country,
            ethics_approval_reference=site.ethics_approval_reference,
            ethics_approval_date=site.ethics_approval_date,
        )
        for site in demo_sites
        if site.code not in existing
    ]
    for site in Site.objects.bulk_create(missing):
        existing[site.code] = site.pk
    return existing, len(missing)


# --- demo users ----------------------------------------------------------------------------------

DemoCredential = tuple[str, str, str | None, str]


def demo_users_ensure(*, sites: Sequence[str]) -> list[DemoCredential]:
    """Demo users for every role, created or reset idempotently; writes ``VAR_DIR/demo-credentials.txt``.

    ``sites`` are site codes; center staff (data entry, site PI) are made for the first two.
    Returns ``(username, role, site code or None, password)`` rows.
    """
    wanted: list[tuple[str, str, str | None]] = [
        ("admin", "admin", None),
        ("coordinator", Role.COORDINATOR, None),
        ("investigator", Role.INVESTIGATOR, None),
    ]
    for code in list(sites)[:2]:
        wanted.append((f"entry_{code.lower()}", Role.DATA_ENTRY, code))
        wanted.append((f"pi_{code.lower()}", Role.SITE_PI, code))
    site_by_code = {site.code: site for site in Site.objects.filter(code__in=[code for _, _, code in wanted if code])}
    # One hash for all: the password is shared anyway, and hashing is deliberately slow.
    password_hash = make_password(DEMO_PASSWORD)
    rows: list[DemoCredential] = []
    with transaction.atomic():
        for username, role, code in wanted:
            user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@demo.invalid"})
            user.password = password_hash
            user.is_active = True
            user.is_staff = user.is_superuser = role == "admin"
            user.save(update_fields=["password", "is_active", "is_staff", "is_superuser"])
            if role != "admin":
                site = site_by_code[code] if code else None
                Membership.objects.get_or_create(user=user, site=site, role=role)
            rows.append((username, str(role), code, DEMO_PASSWORD))
    _credentials_write(rows)
    return rows


def demo_credentials_path() -> Path:
    return Path(settings.VAR_DIR) / CREDENTIALS_FILE_NAME


def demo_credentials_table(rows: Sequence[DemoCredential]) -> str:
    """The demo users as a fixed-width table, for the terminal and the credentials file."""
    header = ("username", "role", "site", "password")
    lines = [header, *((u, r, c or "(all sites)", p) for u, r, c, p in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines]
    text.insert(1, "  ".join("-" * width for width in widths))
    if settings.REQUIRE_OTP_FOR_REGISTRY_WIDE_ROLES:
        text.append("")
        text.append("coordinator and investigator set up a TOTP authenticator app at their first sign-in.")
    return "\n".join(text) + "\n"


def _credentials_write(rows: Sequence[DemoCredential]) -> None:
    path = demo_credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "Demo users of the ICI rechallenge registry — synthetic data only, never real patients.\n\n"
    path.write_text(text + demo_credentials_table(rows), encoding="utf-8")
    os.chmod(path, 0o600)

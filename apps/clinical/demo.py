"""Demo data: a synthetic multi-site cohort written in bulk, with one audit entry per patient.

Why a separate path from ``services.record_create``: a demo or benchmark registry needs 100,000
patients in minutes, which per-record validation and saves cannot give. The generator
(``registry.synthetic``) builds records that are consistent by construction and the tests run
``full_clean()`` over a sample, so here rows go straight to the database through the bulk writer
of ``apps.core.bulk`` (``COPY`` on PostgreSQL, ``bulk_create`` elsewhere) — in one transaction,
with one audit entry per patient written the same way.

The columns are the models' own: a demo record carries the CRF fields of its model under the
same names, and each table's columns are read from the model (:func:`crf_columns`) rather than
listed here, so a new CRF field means the model and the generator's record, not a third list.

The next chunk of patients is generated in a background thread while this one is being written
(``apps.core.bulk.chunks_ahead``). Demo sites and demo users are ``apps.accounts.demo``'s.

Enrollment is not this module's business (``apps.clinical`` does not know the decision model): a
caller may pass an :class:`Enrollment` — ``apps.assessments.demo`` does — which prepares each
patient's enrollments in the background thread too and writes them once the chunk's ids exist.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction

from apps.accounts.demo import demo_sites_ensure
from apps.core.bulk import (
    BulkTable,
    BulkWriter,
    chunks_ahead,
    constraints_checked_per_statement,
    copy_chosen,
    tables_analyze,
    values_getter,
)
from apps.core.models import AuditAction, AuditChannel, AuditEntry
from registry.synthetic import (
    DemoAdverseEvent,
    DemoEpisode,
    DemoFollowUp,
    DemoInitialCourse,
    DemoPatient,
    DemoResponse,
    demo_site_codes,
    stream_cohort,
)

from .models import (
    AdverseEvent,
    FollowUp,
    InitialCourse,
    Patient,
    PatientSummary,
    RechallengeEpisode,
    ResponseAssessment,
)
from .summaries import patient_summaries_refresh

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


#: The tables a seed fills, analysed before the patient list's summaries are computed from them.
_RECORD_TABLES = (Patient, InitialCourse, AdverseEvent, RechallengeEpisode, ResponseAssessment, FollowUp)


def crf_columns(model: type[models.Model], record_type: type, *, besides: Collection[str] = ()) -> tuple[str, ...]:
    """The columns of ``model`` that a demo record of ``record_type`` fills, in the model's order.

    Every field of the record must be a column of the model, or be named in ``besides`` (its site,
    its nested records): a field the generator gains is then written, or refused here, never
    silently dropped.
    """
    columns = [field.attname for field in model._meta.concrete_fields if not field.primary_key]
    carried = {field.name for field in dataclasses.fields(record_type)} - set(besides)
    strays = carried - set(columns)
    if strays:
        raise ImproperlyConfigured(f"{record_type.__name__} carries {sorted(strays)}, not fields of {model.__name__}")
    return tuple(column for column in columns if column in carried)


# The CRF columns of each table, as the models declare them (links to parents are added per table).
_PATIENT_COLUMNS = crf_columns(
    Patient, DemoPatient, besides={"site_code", "initial_course", "adverse_events", "episodes"}
)
_COURSE_COLUMNS = crf_columns(InitialCourse, DemoInitialCourse)
_EPISODE_COLUMNS = crf_columns(RechallengeEpisode, DemoEpisode, besides={"adverse_events", "responses", "follow_ups"})
# bulk_create skips AdverseEvent.save(), which fills meddra_code and organ_category: the generator
# has already taken them from the CTCAE vocabulary, so they are ordinary columns here.
_ADVERSE_EVENT_COLUMNS = crf_columns(AdverseEvent, DemoAdverseEvent)
_RESPONSE_COLUMNS = crf_columns(ResponseAssessment, DemoResponse)
_FOLLOW_UP_COLUMNS = crf_columns(FollowUp, DemoFollowUp)


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

    def write(self, episodes: Sequence[WrittenEpisode], writer: BulkWriter) -> dict[str, int]: ...


class DemoWriter(BulkWriter):
    """The clinical tables of one seeding run, and how a chunk of demo patients becomes their rows."""

    def __init__(self, *, batch_size: int, use_copy: bool) -> None:
        super().__init__(batch_size=batch_size, use_copy=use_copy)
        self.patients = BulkTable(Patient, ("site_id", *_PATIENT_COLUMNS))
        self.courses = BulkTable(InitialCourse, ("patient_id", *_COURSE_COLUMNS))
        # An enrolled episode carries enrolled_at and version 2, as episode_enroll leaves it.
        self.episodes = BulkTable(RechallengeEpisode, ("patient_id", *_EPISODE_COLUMNS, "enrolled_at", "version"))
        self.adverse_events = BulkTable(AdverseEvent, ("patient_id", "episode_id", *_ADVERSE_EVENT_COLUMNS))
        self.responses = BulkTable(ResponseAssessment, ("episode_id", *_RESPONSE_COLUMNS))
        self.follow_ups = BulkTable(FollowUp, ("episode_id", *_FOLLOW_UP_COLUMNS))
        self.patient_values = values_getter(_PATIENT_COLUMNS)
        self.course_values = values_getter(_COURSE_COLUMNS)
        self.episode_values = values_getter(_EPISODE_COLUMNS)
        self.adverse_event_values = values_getter(_ADVERSE_EVENT_COLUMNS)
        self.response_values = values_getter(_RESPONSE_COLUMNS)
        self.follow_up_values = values_getter(_FOLLOW_UP_COLUMNS)

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
        patient_rows = [(site_ids[p.site_code], *patient_values(p)) for p in patients]
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
                object_repr=demo.registry_id,
                site_id=site_ids[demo.site_code],
                changes={"registry_id": [None, demo.registry_id]},
                reason=reason,
            )
            for patient_id, demo in zip(patient_ids, patients, strict=True)
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
    use_copy = copy_chosen(use_copy)
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
        site_ids, counts["sites"] = demo_sites_ensure(stream.sites)
        reason = f"Synthetic demo data (seed {seed})"
        done = 0
        prepare = enrollment.prepare if enrollment is not None else None
        with constraints_checked_per_statement(use_copy):
            for chunk in chunks_ahead(stream.patients, batch_size, prepare):
                for key, value in writer.chunk(chunk, site_ids=site_ids, reason=reason, enrollment=enrollment).items():
                    counts[key] += value
                done += len(chunk)
                if progress is not None:
                    progress("patients", done, patients)
            # Written around the services: the list's values, set-wise; in the block, so their foreign keys are
            # checked as the statement ends (nothing left pending for a TRUNCATE in the same transaction). The
            # records' statistics first: planned on the estimates of empty tables, the per-patient subqueries
            # scan whole tables (hours at a million patients, instead of seconds).
            tables_analyze(_RECORD_TABLES)
            patient_summaries_refresh(patient_ids=None)
    tables_analyze((PatientSummary,))
    return counts

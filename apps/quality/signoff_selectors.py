"""Reads of sign-off and source verification: a case's status, who may sign or unlock it, its SDV marks.

The status is computed from the records (``registry.quality.case_status``), never stored: a patient's page
reads it from the timeline it has loaded already (no query), the sign-off service and the API from
:func:`case_summary` (the timeline's fixed number of queries).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model, QuerySet

from apps.accounts.models import Membership, Role
from apps.accounts.selectors import access_for_user
from apps.clinical.models import PRECISION_SUFFIX, Patient
from apps.clinical.selectors import patient_timeline, scoped_queryset
from apps.core.records import record_type_by_slug, record_type_for, record_types
from registry.quality.case_status import (
    CaseStatus,
    RecordState,
    case_status,
    incomplete_descriptions,
    sign_refusals,
)

from .models import DataQuery, SourceVerification

#: Bookkeeping, not source data: never marked verified, and a change of them clears no mark.
NOT_SOURCE_DATA = frozenset({"id", "version", "is_complete", "missing_answers", "created_at", "updated_at"})


@dataclass(frozen=True)
class CaseSummary:
    """What the patient page, the sign-off pages and the API show of a case's status."""

    patient: Patient
    status: CaseStatus
    records: tuple[Any, ...]  # every record of the case but the patient, in the timeline's order
    incomplete: tuple[str, ...]
    open_queries: int
    refusals: tuple[str, ...] = field(default=())

    @property
    def can_be_signed(self) -> bool:
        return not self.refusals

    @property
    def records_total(self) -> int:
        return len(self.records) + 1

    @property
    def records_complete(self) -> int:
        return sum(bool(record.is_complete) for record in (self.patient, *self.records))


def timeline_records(timeline: dict[str, Any]) -> list[Model]:
    """Every record of a loaded timeline (``clinical.selectors.patient_timeline``) but the patient, in the
    page's order: ICI-1, its irAEs, then each rechallenge with its irAEs, responses and follow-ups."""
    records: list[Model] = []
    if timeline["initial_course"] is not None:
        records.append(timeline["initial_course"])
    records += timeline["initial_adverse_events"]
    for episode in timeline["episodes"]:
        records.append(episode)
        records += timeline["adverse_events_by_episode"].get(episode.pk, [])
        records += list(episode.responses.all())
        records += list(episode.follow_ups.all())
    return records


def describe_record(record: Model) -> str:
    return record_type_for(type(record)).describe(record)


def open_query_count(*, patient: Patient) -> int:
    """Queries of the patient still open or answered (awaiting a coordinator), that the site sees.

    They block signing: a case signed as accurate while a question about it is unsettled would sign a value
    that may still change. Queries kept for coordinators only (their mere existence would unblind the site)
    do not block it, so that a refusal never reveals them.
    """
    return DataQuery.objects.filter(
        patient=patient,
        status__in=[DataQuery.Status.OPEN, DataQuery.Status.ANSWERED],
        coordinators_only=False,
    ).count()


def case_summary(*, patient: Patient, timeline: dict[str, Any] | None = None, with_queries: bool = True) -> CaseSummary:
    """The case's status, the records not marked complete, the open queries and why it cannot be signed."""
    timeline = patient_timeline(patient=patient) if timeline is None else timeline
    records = timeline_records(timeline)
    states = [RecordState(describe_record(record), bool(record.is_complete)) for record in records]
    status = case_status(signed=patient.signed_at is not None, patient_complete=patient.is_complete, records=states)
    incomplete = incomplete_descriptions(patient_complete=patient.is_complete, records=states)
    queries = open_query_count(patient=patient) if with_queries and status is not CaseStatus.SIGNED else 0
    refusals = sign_refusals(status=status, incomplete=incomplete, has_records=bool(records), open_queries=queries)
    return CaseSummary(
        patient=patient,
        status=status,
        records=tuple(records),
        incomplete=tuple(incomplete),
        open_queries=queries,
        refusals=tuple(refusals),
    )


def is_site_pi_of(*, user, site_id: int) -> bool:
    """Whether ``user`` is a site PI of ``site_id`` (no query for users who are site PI nowhere)."""
    access = access_for_user(user)
    if Role.SITE_PI not in access.roles or site_id not in access.site_ids:
        return False
    return Membership.objects.filter(user=user, role=Role.SITE_PI, site_id=site_id).exists()


def can_unlock(*, user) -> bool:
    """Coordinators (and administrators) unlock signed cases."""
    return access_for_user(user).is_coordinator


def can_verify(*, user) -> bool:
    """Coordinators (and administrators) mark records source-data-verified."""
    return access_for_user(user).is_coordinator


# --- Source verification ------------------------------------------------------------------------------------


def verifiable_fields(record_type_slug: str) -> list[tuple[str, str]]:
    """(field, label) a coordinator may mark verified on a record of this type: its data fields, not the links
    to its parents, not bookkeeping, and not the identifiers coordinators never see."""
    record_type = record_type_by_slug(record_type_slug)
    hidden = record_type.hidden_from_coordinators
    fields = []
    for model_field in record_type.model._meta.concrete_fields:
        if model_field.name in NOT_SOURCE_DATA or model_field.name in hidden or model_field.is_relation:
            continue
        if not model_field.editable or model_field.name.endswith(PRECISION_SUFFIX):  # a date's precision: its date
            continue
        fields.append((model_field.name, str(model_field.verbose_name)))
    return fields


def patient_verifications(*, patient: Patient) -> QuerySet[SourceVerification]:
    """The patient's SDV marks, with who verified them (one query)."""
    return (
        SourceVerification.objects.filter(patient=patient)
        .select_related("verified_by")
        .order_by("record_type", "record_id", "field")
    )


def verifications_by_record(marks) -> dict[tuple[str, int], dict[str, SourceVerification]]:
    """``{(record_type, record_id): {field or "": mark}}``."""
    grouped: dict[tuple[str, int], dict[str, SourceVerification]] = {}
    for mark in marks:
        grouped.setdefault((mark.record_type, mark.record_id), {})[mark.field] = mark
    return grouped


def verification_list_for_user(*, user) -> QuerySet[SourceVerification]:
    """SDV marks the user may read: coordinators every site's, center staff their sites', others none."""
    access = access_for_user(user)
    marks = SourceVerification.objects.select_related("site", "patient", "verified_by").order_by("-verified_at", "-id")
    if not access.reaches_records:
        return marks.none()
    if access.sees_all_sites:
        return marks
    return marks.filter(site_id__in=access.site_ids)


def record_for_verification(*, user, record_type_slug: str, record_id: int) -> Model | None:
    """The record a mark points at, if within the user's reach (None otherwise, or for an unknown type)."""
    try:
        record_type = record_type_by_slug(record_type_slug)
    except LookupError:
        return None
    return scoped_queryset(record_type.model, user=user).filter(pk=record_id).first()


def record_type_slugs() -> list[str]:
    return [record_type.slug for record_type in record_types()]


def signer_name(patient: Patient) -> str:
    signer = patient.signed_by
    if signer is None:
        return ""
    return signer.get_full_name() or signer.username


def utc(moment: dt.datetime | None) -> dt.datetime | None:
    return moment.astimezone(dt.UTC) if moment is not None else None


def signature_manifestation(patient: Patient) -> str:
    """The signature as shown with the case (§11.50): name, time (UTC), meaning; "" if unsigned."""
    if patient.signed_at is None:
        return ""
    return (
        f"Signed by {signer_name(patient)} on {utc(patient.signed_at):%Y-%m-%d %H:%M} UTC, "
        f"meaning: “{patient.signature_meaning}”"
    )

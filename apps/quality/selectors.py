"""Reads of data queries, always scoped to who may see them.

Coordinators (and administrators) see every query; center staff see the queries of their own sites except
those kept for coordinators (``coordinators_only``: a query whose mere existence would unblind the site);
investigators and strangers see none. A query out of reach is simply not in the queryset, so a lookup
answers 404. Values a query saw in a field hidden from coordinators (``registry.crf.HIDDEN_FROM_COORDINATORS``)
are shown only to the record's own site (:func:`shown_value_seen`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, IntegerField, Model, QuerySet, Value, When
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.text import capfirst

from apps.accounts.selectors import Access, access_for_user
from apps.core.errors import ApplicationError
from apps.core.records import RecordType, record_type_by_slug, record_types
from registry.quality import RULES_BY_ID

from .models import DataQuery, QueryComment

Status = DataQuery.Status

#: What a query raised by a person (no rule) is called where a rule's title would be.
RAISED_BY_A_COORDINATOR = "Raised by a coordinator"

#: Fields of a record no query asks about: bookkeeping, links to what the record belongs to, precisions.
NOT_QUERYABLE = frozenset({"id", "version", "is_complete", "missing_answers", "created_at", "updated_at", "site"})


def query_reach(*, user) -> str:
    """``"all"`` for coordinators and administrators, ``"sites"`` for center staff, ``""`` for everyone else."""
    access = access_for_user(user)
    if access.is_coordinator:
        return "all"
    if access.is_site_staff:
        return "sites"
    return ""


def query_scope(*, user) -> QuerySet[DataQuery]:
    """Every query the user may see (none for investigators and strangers)."""
    access = access_for_user(user)
    if access.is_coordinator:
        return DataQuery.objects.all()
    if access.is_site_staff:
        return DataQuery.objects.filter(site_id__in=access.site_ids, coordinators_only=False)
    return DataQuery.objects.none()


def query_list_for_user(
    *,
    user,
    status: str = "",
    site_code: str = "",
    rule_id: str = "",
    record_type: str = "",
    registry_id: str = "",
    waiting_first: bool = False,
) -> QuerySet[DataQuery]:
    """The user's queries, filtered; with ``waiting_first`` those waiting for the user come first (an inbox):
    open queries for center staff, answered ones for coordinators; then the oldest first."""
    qs = query_scope(user=user).select_related("site", "patient")
    if status:
        qs = qs.filter(status=status)
    if site_code:
        qs = qs.filter(site__code=site_code)
    if rule_id:
        qs = qs.filter(rule_id="" if rule_id == "manual" else rule_id)
    if record_type:
        qs = qs.filter(record_type=record_type)
    if registry_id:
        qs = qs.filter(patient__registry_id=registry_id)
    if not waiting_first:
        return qs.order_by("-opened_at", "-id")
    waiting = Status.ANSWERED if access_for_user(user).is_coordinator else Status.OPEN
    rank = Case(
        When(status=waiting, then=Value(0)),
        When(status=Status.CLOSED, then=Value(2)),
        default=Value(1),
        output_field=IntegerField(),
    )
    return qs.annotate(waiting_rank=rank).order_by("waiting_rank", "opened_at", "id")


def query_get_for_user(*, user, pk: Any) -> DataQuery:
    """One query within the user's reach (404 otherwise, also for what is no id at all), with its site and patient."""
    try:
        number = int(str(pk))
    except ValueError:
        raise Http404("No such query.") from None
    if not 0 < number < 2**63:
        raise Http404("No such query.")
    return get_object_or_404(query_scope(user=user).select_related("site", "patient"), pk=number)


def query_comments(*, query: DataQuery) -> QuerySet[QueryComment]:
    return query.comments.select_related("author").order_by("created_at", "id")


def waiting_count_for_user(*, user) -> int | None:
    """The number in the navigation bar, in one COUNT: for coordinators the answered queries waiting for their
    decision, for center staff the open (and re-opened) queries of their sites; None for everyone else."""
    access = access_for_user(user)
    if access.is_coordinator:
        return DataQuery.objects.filter(status=Status.ANSWERED).count()
    if access.is_site_staff:
        return DataQuery.objects.filter(
            site_id__in=access.site_ids, coordinators_only=False, status=Status.OPEN
        ).count()
    return None


def patient_open_queries(*, patient, user) -> list[DataQuery]:
    """The patient's open and answered queries the user may see, oldest first (the patient page's panel)."""
    return list(
        query_scope(user=user)
        .filter(patient=patient)
        .exclude(status=Status.CLOSED)
        .select_related("site")
        .order_by("opened_at", "id")
    )


# --- how a query reads ------------------------------------------------------------------------------------


def rule_title(query: DataQuery) -> str:
    rule = RULES_BY_ID.get(query.rule_id)
    if rule is not None:
        return rule.title
    return RAISED_BY_A_COORDINATOR if not query.rule_id else query.rule_id


def is_confirmable(query: DataQuery) -> bool:
    """Whether the value may be confirmed as entered (a rule such as ``implausible_value``)."""
    rule = RULES_BY_ID.get(query.rule_id)
    return bool(rule and rule.confirmable)


def age_days(query: DataQuery, *, now: dt.datetime | None = None) -> int:
    """Whole days from opening to closing (or to now, while it is not closed)."""
    end = query.closed_at or now or timezone.now()
    return max((end - query.opened_at).days, 0)


def record_type_of(query: DataQuery) -> RecordType | None:
    try:
        return record_type_by_slug(query.record_type)
    except LookupError:
        return None


def field_label(query: DataQuery) -> str:
    """The field as people read it ("Albumin (g/L)"); "The whole record" for a query without a field."""
    if not query.field:
        return "The whole record"
    record_type = record_type_of(query)
    if record_type is None:
        return query.field
    try:
        return capfirst(str(record_type.model._meta.get_field(query.field).verbose_name))
    except Exception:  # a field renamed since the query was raised
        return query.field


def record_label(query: DataQuery) -> str:
    record_type = record_type_of(query)
    noun = record_type.noun if record_type is not None else query.record_type
    return f"{capfirst(noun)} #{query.record_id}"


def record_anchor_url(query: DataQuery) -> str:
    """The record on its patient's page (``/patients/<registry_id>/#episode-12``); "" once the patient is gone."""
    if query.patient_id is None or query.patient is None:
        return ""
    return record_anchor_url_for(patient=query.patient, slug=query.record_type, pk=query.record_id)


def record_anchor_url_for(*, patient, slug: str, pk: int) -> str:
    """A record's place on its patient's page (the anchors of ``apps.clinical.presenters.anchor_of``)."""
    url = patient.get_absolute_url()
    return url if slug == "patient" else f"{url}#{slug}-{pk}"


def hides_value_from(query: DataQuery, access: Access) -> bool:
    """Whether the value the query saw is in a field hidden from this user (an identifier of another's site)."""
    record_type = record_type_of(query)
    if record_type is None or query.field not in record_type.hidden_from_coordinators:
        return False
    return not access.can_see_identifiers_of(query.site_id)


def shown_value_seen(query: DataQuery, access: Access) -> str:
    return "" if hides_value_from(query, access) else query.value_seen


# --- what a query may be raised about --------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChoice:
    name: str
    label: str


def queryable_fields(record_type: RecordType) -> list[FieldChoice]:
    """The fields of a record type a query may point at, in CRF order (editable clinical fields)."""
    choices = []
    for model_field in record_type.model._meta.concrete_fields:
        name = model_field.name
        if (
            not model_field.editable
            or name in NOT_QUERYABLE
            or name == record_type.parent_field
            or name.endswith("_precision")
        ):
            continue
        choices.append(FieldChoice(name=name, label=capfirst(str(model_field.verbose_name))))
    return choices


def record_for_query(*, record_type: RecordType, record_id: Any) -> Model | None:
    """The record a query is raised about (the caller is a coordinator, who reaches every site)."""
    try:
        pk = int(record_id)
    except (TypeError, ValueError):
        return None
    if not 0 < pk < 2**63:
        return None
    return record_type.model.objects.filter(pk=pk).first()


def record_type_named(slug: Any) -> RecordType:
    """The record type a query or a verification names; a field-level 400 naming the choices otherwise."""
    try:
        return record_type_by_slug(str(slug or ""))
    except LookupError:
        slugs = ", ".join(rt.slug for rt in record_types())
        raise ApplicationError(
            "Unknown record type.", field_errors={"record_type": [f"Choose one of {slugs}."]}
        ) from None

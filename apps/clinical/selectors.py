"""Reads of clinical records, always scoped to the sites the user may reach.

Every query a page or endpoint makes for clinical data starts here: a record outside the user's
reach is simply not in the queryset, so lookups answer 404 rather than 403.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import F, Model, Q, QuerySet
from django.shortcuts import get_object_or_404

from apps.accounts.selectors import access_for_user, site_list_for_user
from apps.core.records import record_type_for
from registry.identifiers import local_identifiers_plan, normalise_local_identifier
from registry.text import contains_nul

from .derived import timeline_derived
from .models import (
    AdverseEvent,
    InitialCourse,
    Patient,
    PatientSummary,
    RechallengeEpisode,
)
from .panels import patient_list_columns

M = TypeVar("M", bound=Model)


def scoped_queryset(model: type[M], *, user) -> QuerySet[M]:
    """All records of ``model`` the user may read; empty for investigators and strangers."""
    access = access_for_user(user)
    if not access.reaches_records:
        return model.objects.none()
    if access.sees_all_sites:
        return model.objects.all()
    return model.objects.filter(**{f"{record_type_for(model).site_path}__in": access.site_ids})


def patient_search(qs: QuerySet[Patient], *, user, search: str) -> QuerySet[Patient]:
    """``qs`` narrowed to patients whose registry ID starts with ``search`` (any case) or, at the user's own
    sites, whose local identifier does: both read an index (registry IDs are stored in upper case)."""
    term = search.strip()
    if not term:
        return qs
    if contains_nul(term):  # no registry ID or identifier holds one (PostgreSQL text cannot)
        return qs.none()
    # The lower bound lets PostgreSQL read a broad prefix in registry-ID order from where it starts.
    matches = Q(registry_id__startswith=term.upper(), registry_id__gte=term.upper())
    access = access_for_user(user)
    identifier = normalise_local_identifier(term)
    if access.sees_identifiers and identifier:
        # The stored normal form; and an identifier the normalising migration had to leave as typed (it collided
        # with another of its site), as typed, in upper or in lower case: each a range of the (site, identifier)
        # pattern index.
        starts = Q()
        for start in {identifier, term, term.upper(), term.lower()}:
            starts |= Q(local_identifier__startswith=start)
        matches |= Q(site_id__in=access.site_ids) & starts
    return qs.filter(matches)


# --- Patient list: sorting, status columns and keyset pages ---------------------------------------------------


@dataclass(frozen=True)
class ListColumn:
    """A column the patient list sorts by: the value's path from the patient row, and the registry ID and site
    beside it in the same table, so that one index (value, registry ID) serves every page in that order."""

    key: str
    label: str
    field: str
    #: The registry ID and the site on the table of ``field``.
    tie: str = "registry_id"
    site: str = "site_id"
    #: An empty value sorts as the lowest (open queries: none) rather than last in either direction.
    nulls_low: bool = False
    nullable: bool = False
    #: Stored only for patients with a value (open queries: a row while there are some); the others are empty.
    sparse: bool = False
    #: A cursor's JSON value back to the field's (``int``, a date…).
    parse: Callable[[Any], Any] = lambda value: value
    #: Annotated on the rows as ``field`` (a column computed per patient rather than stored).
    expression: Any = None
    #: A column of few values (the site): ``groups()`` → each value in ascending order with the filter that
    #: selects it, read one value at a time in registry-ID order (one index range each, no sort of the list).
    groups: Callable[[], list[tuple[Any, dict[str, Any]]]] | None = None

    @property
    def stored(self) -> bool:
        return self.tie != "registry_id"


@dataclass(frozen=True)
class ListOrder:
    column: ListColumn
    descending: bool = False
    #: The order read backwards (a "Previous" page): every direction and the empty values' place reversed.
    reverse: bool = False

    def reversed(self) -> ListOrder:
        return ListOrder(self.column, self.descending, not self.reverse)

    @property
    def _first_desc(self) -> bool:
        return self.descending != self.reverse

    @property
    def _nulls_last(self) -> bool:
        # Lowest-sorting empties come last when descending; otherwise empties are last in the list's order.
        last = self.descending if self.column.nulls_low else True
        return last != self.reverse

    @property
    def _tie_desc(self) -> bool:
        if self.column.key == "registry_id":
            return self._first_desc
        return self.reverse

    def order_by(self) -> list[Any]:
        """The order of non-empty values (empty ones are a part of their own: see :meth:`rows`)."""
        tie = F(self.column.tie).desc() if self._tie_desc else F(self.column.tie).asc()
        if self.column.key == "registry_id":
            return [tie]
        value = F(self.column.field)
        return [value.desc() if self._first_desc else value.asc(), tie]

    def rows(
        self, qs: QuerySet[Patient], cursor: tuple[Any, str] | None, limit: int, *, empty_qs: QuerySet[Patient] | None
    ) -> list[Patient]:
        """Up to ``limit`` rows from the start, or after the cursor (value, registry ID), in this order: the rest
        of the cursor's value, then the values beyond it, with the empty values first or last; each part one
        index range read in index order, so a page deep in the list costs what the first one does. The empty
        values of a sparse column (no stored row) are read from ``empty_qs``, the patients in registry-ID order."""
        column, field = self.column, self.column.field
        tie_order = self.order_by()[-1]
        beyond = "lt" if self._first_desc else "gt"
        tie_beyond = "lt" if self._tie_desc else "gt"
        if column.key == "registry_id":
            if cursor is not None:
                qs = qs.filter(**{f"registry_id__{tie_beyond}": cursor[1]})
            return list(qs.order_by(tie_order)[:limit])
        parts: list[QuerySet[Patient]] = []
        if column.groups is not None:
            groups = column.groups()[:: -1 if self._first_desc else 1]
            for value, selects in groups:
                if cursor is None or (value < cursor[0] if self._first_desc else value > cursor[0]):
                    parts.append(qs.filter(**selects).order_by(tie_order))
                elif value == cursor[0]:
                    parts.append(qs.filter(**selects, **{f"{column.tie}__{tie_beyond}": cursor[1]}).order_by(tie_order))
            return _first_rows(parts, limit)
        empty_tie = "registry_id" if column.sparse else column.tie
        if column.sparse:  # no stored row (an anti-join PostgreSQL plans as one), in the patients' own scope
            empty = (qs if empty_qs is None else empty_qs).filter(**{f"{field.split('__')[0]}__isnull": True})
        else:
            empty = qs.filter(**{f"{field}__isnull": True})
        empty = empty.order_by(F(empty_tie).desc() if self._tie_desc else F(empty_tie).asc())
        values = qs.filter(**{f"{field}__isnull": False}) if column.nullable else qs
        if cursor is None:
            parts = [values.order_by(*self.order_by())]
            if column.nullable:
                parts.insert(1 if self._nulls_last else 0, empty)
        elif cursor[0] is None:  # in the empty values
            parts = [empty.filter(**{f"{empty_tie}__{tie_beyond}": cursor[1]})]
            if not self._nulls_last:
                parts.append(values.order_by(*self.order_by()))
        else:
            value, registry_id = cursor
            parts = [
                qs.filter(**{field: value, f"{column.tie}__{tie_beyond}": registry_id}).order_by(tie_order),
                qs.filter(**{f"{field}__{beyond}": value}).order_by(*self.order_by()),
            ]
            if column.nullable and self._nulls_last:
                parts.append(empty)
        return _first_rows(parts, limit)


def _first_rows(parts: list[QuerySet[Patient]], limit: int) -> list[Patient]:
    """The first ``limit`` rows of ``parts`` read in turn (a part is read only while rows are missing)."""
    rows: list[Patient] = []
    for part in parts:
        rows += list(part[: limit - len(rows)])
        if len(rows) >= limit:
            break
    return rows


def _registry_id_column() -> ListColumn:
    return ListColumn("registry_id", "Registry ID", "registry_id", parse=str)


def _stored(key: str, label: str, name: str, **options: Any) -> ListColumn:
    """A column of the patient's stored summary, beside the summary's own registry ID and site."""
    return ListColumn(key, label, f"summary__{name}", tie="summary__registry_id", site="summary__site_id", **options)


def _site_groups(user) -> list[tuple[str, dict[str, Any]]]:
    return [(site.code, {"site_id": site.pk}) for site in site_list_for_user(user=user).order_by("code")]


def _date(value: Any) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


def patient_list_sorts(*, user) -> dict[str, ListColumn]:
    """Sort key → column: the whitelist of the list's ``?sort=``. Each reads an index: the registry ID and site
    on the patient, the status columns on the patient's stored summary (``apps.clinical.summaries``)."""
    columns = [
        _registry_id_column(),
        ListColumn("site", "Site", "site__code", parse=str, groups=lambda: _site_groups(user)),
        _stored("initial_course", "ICI-1 recorded", "has_initial_course", parse=bool),
        _stored("episodes", "Episodes", "episode_count", parse=int),
        _stored("status", "Case status", "case_status", parse=int),
        _stored("enrolled", "Enrolled", "enrolled", parse=bool),
        _stored("last_follow_up", "Last follow-up", "last_follow_up_date", nullable=True, parse=_date),
    ]
    sorts = {column.key: column for column in columns}
    for extra in patient_list_columns():
        if extra.stored is not None:  # a value kept by its app in a row of its own, one index per order
            field = extra.stored(user=user)
            relation = field.split("__")[0]
            sorts[extra.key] = ListColumn(
                extra.key,
                extra.label,
                field,
                tie=f"{relation}__registry_id",
                site=f"{relation}__site_id",
                nulls_low=True,
                nullable=True,
                sparse=True,
                parse=int,
            )
        else:
            sorts[extra.key] = ListColumn(
                extra.key, extra.label, f"list_{extra.key}", parse=int, expression=extra.annotation(user=user)
            )
    return sorts


def _list_base(*, user, search: str, site_id: int | None, column: ListColumn) -> QuerySet[Patient]:
    if column.stored:
        # Scoped on the summary's own copy of the site (the same site, refreshed with every transfer), so its
        # (site, value, registry ID) index serves the page and the planner sees one site condition, not two.
        access = access_for_user(user)
        relation = column.tie.split("__")[0]
        qs = Patient.objects.filter(**{f"{relation}__isnull": False})
        if not access.reaches_records:
            qs = Patient.objects.none()
        if not access.sees_all_sites:
            qs = qs.filter(**{f"{column.site}__in": access.site_ids})
    else:
        qs = scoped_queryset(Patient, user=user)
    qs = patient_search(qs, user=user, search=search)
    if site_id:
        qs = qs.filter(**{column.site: site_id})
    if column.expression is not None:
        qs = qs.annotate(**{column.field: column.expression})
    return qs.select_related("site", "summary", *([column.tie.split("__")[0]] if column.sparse else []))


def _value_of(patient: Patient, column: ListColumn) -> Any:
    target: Any = patient
    try:
        for part in column.field.split("__"):
            target = getattr(target, part)
    except ObjectDoesNotExist:  # no stored row: an empty value of a sparse column
        return None
    return target.isoformat() if isinstance(target, dt.date) else target


def _cursor(sort: str, patient: Patient, column: ListColumn) -> str:
    value = None if column.key == "registry_id" else _value_of(patient, column)
    raw = json.dumps([sort, value, patient.registry_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def patient_list_cursor(*, user, sort: str, patient: Patient) -> str:
    """The cursor of the page that starts after ``patient`` in the order of ``sort`` (a link to a deep page)."""
    sorts = patient_list_sorts(user=user)
    column = sorts[sort.removeprefix("-")]
    # A patient without a value of a sparse column is listed among the empty ones, outside the column's rows.
    rows = _list_base(user=user, search="", site_id=None, column=sorts["registry_id"] if column.sparse else column)
    return _cursor(sort, rows.get(pk=patient.pk), column)


class BadCursor(ValueError):
    """A cursor that is not one this list made (edited, or from another order)."""


def _read_cursor(cursor: str, *, sort: str, column: ListColumn) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, registry_id = json.loads(raw)
        if cursor_sort != sort or not isinstance(registry_id, str) or len(registry_id) > 20:
            raise BadCursor(cursor)
        if contains_nul([value, registry_id]):
            raise BadCursor(cursor)
        return (None if value is None else column.parse(value)), registry_id
    except (ValueError, TypeError) as error:  # binascii.Error and JSONDecodeError are ValueErrors
        raise BadCursor(cursor) from error


@dataclass(frozen=True)
class PatientListPage:
    """One page of the patient list: its rows, the total, and the cursors of the pages either side."""

    rows: list[Patient]
    count: int
    next_cursor: str | None
    previous_cursor: str | None
    #: Whether this is the list's first page (no "Previous", nothing before it).
    is_first: bool


def patient_list_page(
    *,
    user,
    search: str = "",
    site_id: int | None = None,
    sort: str = "registry_id",
    after: str = "",
    before: str = "",
    size: int = 50,
    count: bool = True,
) -> PatientListPage:
    """One page of the user's patients, searched, filtered by site and sorted by ``sort`` (a key of
    :func:`patient_list_sorts`, ``-`` for descending), after (or before) a cursor of a page shown before: a keyset
    page, read as an index range from the cursor, so a deep page costs what the first page costs. A cursor the
    list did not make raises :class:`BadCursor`."""
    key = sort.removeprefix("-")
    sorts = patient_list_sorts(user=user)
    if key not in sorts:
        sort, key = "registry_id", "registry_id"
    column = sorts[key]
    order = ListOrder(column, descending=sort.startswith("-"))
    qs = _list_base(user=user, search=search, site_id=site_id, column=column)
    counted = _list_base(user=user, search=search, site_id=site_id, column=sorts["registry_id"])
    total = counted.order_by().count() if count else -1
    if before:
        value, registry_id = _read_cursor(before, sort=sort, column=column)
        rows = order.reversed().rows(qs, (value, registry_id), size + 1, empty_qs=counted)
        if len(rows) > size:  # there is a page before this one
            rows = rows[:size][::-1]
            return PatientListPage(rows, total, _cursor(sort, rows[-1], column), _cursor(sort, rows[0], column), False)
        after = ""  # back at the start: the first page, full
    if after:
        value, registry_id = _read_cursor(after, sort=sort, column=column)
        rows = order.rows(qs, (value, registry_id), size + 1, empty_qs=counted)
        previous = _cursor(sort, rows[0], column) if rows else None
        is_first = False
    else:
        rows = order.rows(qs, None, size + 1, empty_qs=counted)
        previous, is_first = None, True
    more = len(rows) > size
    rows = rows[:size]
    following = _cursor(sort, rows[-1], column) if more and rows else None
    return PatientListPage(rows, total, following, previous, is_first)


def patient_keyset_cursor(*, registry_id: str, before: bool = False) -> str:
    """The API's cursor of the page after (or before) ``registry_id``."""
    raw = json.dumps(["before" if before else "after", registry_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def patient_keyset_page(qs: QuerySet[Patient], *, cursor: str, size: int) -> PatientListPage:
    """A page of ``qs`` (scoped and filtered by the caller) in registry-ID order, after or before ``cursor`` (empty:
    the first page): the API's cursor pages, each one index range, so a deep page costs what the first one does."""
    order = ListOrder(_registry_id_column())
    total = qs.order_by().count()
    direction, registry_id = "after", ""
    if cursor:
        try:
            direction, registry_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except (ValueError, TypeError) as error:
            raise BadCursor(cursor) from error
        if direction not in ("after", "before") or not isinstance(registry_id, str) or len(registry_id) > 20:
            raise BadCursor(cursor)
        if contains_nul(registry_id):
            raise BadCursor(cursor)

    if direction == "before":
        rows = order.reversed().rows(qs, (None, registry_id), size + 1, empty_qs=None)
        if len(rows) > size:
            rows = rows[:size][::-1]
            return PatientListPage(
                rows,
                total,
                patient_keyset_cursor(registry_id=rows[-1].registry_id),
                patient_keyset_cursor(registry_id=rows[0].registry_id, before=True),
                False,
            )
        registry_id = ""  # back at the start
    rows = order.rows(qs, (None, registry_id) if registry_id else None, size + 1, empty_qs=None)
    more, rows = len(rows) > size, rows[:size]
    following = patient_keyset_cursor(registry_id=rows[-1].registry_id) if more and rows else None
    previous = patient_keyset_cursor(registry_id=rows[0].registry_id, before=True) if registry_id and rows else None
    return PatientListPage(rows, total, following, previous, not registry_id)


def patient_summary_of(patient: Patient) -> PatientSummary:
    """The patient's stored list values; a patient written around the services (none yet) shows the defaults."""
    try:
        return patient.summary
    except PatientSummary.DoesNotExist:
        return PatientSummary(patient=patient, site_id=patient.site_id, registry_id=patient.registry_id)


def local_identifier_collisions() -> list[tuple[str, list[str]]]:
    """Groups of patients of one site whose stored identifiers share one normal form, as (site code,
    registry IDs): left as stored by the normalising migration (clinical 0004) for the site to resolve."""
    stored = Patient.objects.values_list("registry_id", "site__code", "local_identifier").order_by("registry_id")
    plan = local_identifiers_plan(stored.iterator(chunk_size=2000))
    return sorted((str(site), sorted(str(key) for key in keys)) for site, _, keys in plan.collisions)


def patient_get_for_user(*, user, registry_id: str) -> Patient:
    return get_object_or_404(scoped_queryset(Patient, user=user).select_related("site"), registry_id=registry_id)


def record_get_for_user(model: type[M], *, user, pk: int) -> M:
    return get_object_or_404(scoped_queryset(model, user=user), pk=pk)


def patient_episodes(*, patient: Patient) -> QuerySet[RechallengeEpisode]:
    """The patient's rechallenge episodes in order (the choices of an irAE's episode)."""
    return RechallengeEpisode.objects.filter(patient=patient).order_by("sequence_number")


def patient_last_episode(*, patient: Patient) -> RechallengeEpisode | None:
    return RechallengeEpisode.objects.filter(patient=patient).order_by("-sequence_number").first()


def patient_initial_course(*, patient: Patient, fields: tuple[str, ...] = ("pk",)) -> InitialCourse | None:
    """The patient's ICI-1 course, with only ``fields`` loaded; None before it is recorded."""
    return InitialCourse.objects.filter(patient=patient).only(*fields).first()


def patient_timeline(*, patient: Patient) -> dict:
    """The patient's whole case, loaded in a fixed number of queries for the patient page."""
    return patient_timelines(patient_ids=[patient.pk])[patient.pk]


def patient_timelines(*, patient_ids: Iterable[int], with_assessments: bool = True) -> dict[int, dict]:
    """``patient_timeline`` of many patients at once, in the same fixed number of queries (an API page).

    The caller has scoped the patients; each timeline has the shape ``apps.clinical.derived`` reads.
    """
    ids = sorted(set(patient_ids))
    courses = {course.patient_id: course for course in InitialCourse.objects.filter(patient_id__in=ids)}
    related = ("responses", "follow_ups", "assessments") if with_assessments else ("responses", "follow_ups")
    episodes = list(
        RechallengeEpisode.objects.filter(patient_id__in=ids)
        .prefetch_related(*related)
        .order_by("patient_id", "sequence_number")
    )
    adverse_events = list(AdverseEvent.objects.filter(patient_id__in=ids).order_by("onset_date", "pk"))
    timelines: dict[int, dict] = {
        pk: {
            "initial_course": courses.get(pk),
            "episodes": [],
            "initial_adverse_events": [],
            "adverse_events_by_episode": {},
        }
        for pk in ids
    }
    for episode in episodes:
        timelines[episode.patient_id]["episodes"].append(episode)
        timelines[episode.patient_id]["adverse_events_by_episode"][episode.pk] = []
    for ae in adverse_events:
        timeline = timelines[ae.patient_id]
        if ae.episode_id is None:
            timeline["initial_adverse_events"].append(ae)
        elif ae.episode_id in timeline["adverse_events_by_episode"]:
            timeline["adverse_events_by_episode"][ae.episode_id].append(ae)
    return timelines


def episodes_derived(*, episodes: Iterable[RechallengeEpisode]) -> dict[int, dict]:
    """The API's ``derived`` object of each episode, by pk: the page's derivation, run on every patient of
    ``episodes`` with all their records loaded at once (``patient_timelines``), so a page of episodes costs
    the same few queries whatever its size."""
    wanted = {episode.pk: episode.patient_id for episode in episodes}
    timelines = patient_timelines(patient_ids=wanted.values(), with_assessments=False)
    values: dict[int, dict] = {}
    for timeline in timelines.values():
        for pk, derived in timeline_derived(timeline)[1].items():
            if pk in wanted:
                values[pk] = derived.api_dict()
    return values

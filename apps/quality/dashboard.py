"""The data-quality dashboard: per-site figures computed set-wise, and the records behind each figure.

Every figure is one aggregate per table grouped by site (no query per site, no query per record), in two
parts:

- the *clinical* part (patients, episodes, enrollment, completeness, days from event to entry, record
  counts, last change), which reads every clinical table, is kept per site in the cache: a clinical write
  forgets its site's entry once the write commits (:func:`dashboard_records_written`), and an entry older than
  ``QUALITY_DASHBOARD_CACHE_SECONDS`` is recomputed (enrollment, sign-off and loads that bypass the services
  are not clinical writes);
- the *quality* part (open queries and their age, overdue follow-ups, signed cases, verified records), which
  changes outside clinical writes, is kept a minute (``QUALITY_DASHBOARD_LIVE_SECONDS``) per reach.

The page says how old each part is, and ``?refresh=1`` recomputes both. The drilldowns always read the records
as they are.

Definitions, stated on the page as well (:data:`DEFINITIONS`):

- completeness: of the required fields that apply to the site's records (``registry.quality.REQUIRED_FIELDS``
  with their conditions; fields the database requires are always answered and are not counted), the share
  answered by a value or by a missing-data code;
- days from event to entry: the day a record was entered minus its clinical date, over response assessments
  (assessment date), follow-ups (follow-up date) and irAEs (onset date);
- signed: patients whose case the site PI signed (``Patient.signed_at``);
- SDV: the share of the site's records (all six record types) with a whole-record source-verification mark.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.db.models import (
    Case,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate, TruncMonth
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Site
from apps.accounts.selectors import access_for_user, site_list_for_user
from apps.clinical.models import PRECISION_SUFFIX, Patient, RechallengeEpisode
from apps.clinical.panels import PatientListColumn
from apps.clinical.selectors import scoped_queryset
from apps.core.records import RecordType, record_type_by_slug, record_types
from registry.dates import DatePrecision
from registry.quality import REQUIRED_FIELDS, Equals, Given, Required

from .models import DataQuery, SourceVerification
from .panels import open_query_sort_field
from .selectors import query_scope

log = logging.getLogger(__name__)

#: The record types whose clinical date, against the day the record was entered, gives the entry delay.
ENTRY_DELAY_RECORDS: tuple[str, ...] = ("response", "follow-up", "adverse-event")

DEFINITIONS: dict[str, str] = {
    "completeness": "Of the required fields that apply to the site's records (conditionally required fields "
    "only when their condition holds), the share answered by a value or by a missing-data code (not done, "
    "unknown, not applicable). Fields the form itself requires are always answered and are not counted.",
    "open_queries": "Queries open or answered by the site and not yet closed; their median age in days since "
    "they were opened.",
    "overdue": "Open or answered queries of the rule follow_up_overdue: episodes still on follow-up with no "
    "follow-up for longer than the follow-up interval.",
    "entry_delay": "Median days from the clinical date to the day the record was entered: response "
    "assessments (assessment date), follow-ups (follow-up date) and irAEs (onset date).",
    "signed": "Share of patients whose case the site PI signed.",
    "sdv": "Share of the site's records (patients, ICI-1 courses, episodes, irAEs, responses, follow-ups) "
    "with a whole-record source-data-verification mark.",
    "last_entry": "The latest day any record of the site was created or changed.",
}

OPEN_STATUSES = (DataQuery.Status.OPEN, DataQuery.Status.ANSWERED)
OVERDUE_RULE = "follow_up_overdue"
CACHE_PREFIX = "quality:dashboard:v2:site:"


def cache_seconds() -> int:
    return int(getattr(settings, "QUALITY_DASHBOARD_CACHE_SECONDS", 600))


# --- Required fields as conditions the database evaluates ---------------------------------------------


def _has_value(model: type[models.Model], name: str) -> Q:
    """``name`` holds a value: not null, and for text fields not empty."""
    model_field = model._meta.get_field(name)
    present = Q(**{f"{name}__isnull": False})
    if isinstance(model_field, models.CharField | models.TextField):
        present &= ~Q(**{name: ""})
    return present


def applies_condition(model: type[models.Model], item: Required) -> Q:
    """The set-wise form of ``item.applies(values)``: a ``Q`` the database evaluates per record."""
    when = item.when
    if when is None:
        return Q()
    if isinstance(when, Given):
        return _has_value(model, when.name)
    if isinstance(when, Equals):
        return Q(**{f"{when.name}__in": list(when.codes)})
    raise TypeError(f"{item.field}: a condition other than Given or Equals cannot be read set-wise ({when!r})")


def answered_condition(model: type[models.Model], item: Required) -> Q:
    """The field holds a value, or a missing-data code answers it (``ClinicalRecord.missing_answers``)."""
    return _has_value(model, item.field) | Q(missing_answers__has_key=item.field)


# --- Figures ---------------------------------------------------------------------------------------------


Histogram = Mapping[int, int] | tuple[np.ndarray, np.ndarray]


def histogram_arrays(histogram: Histogram) -> tuple[np.ndarray, np.ndarray]:
    """``(values, counts)`` arrays of a ``{value: how many}`` histogram (the form the cache keeps)."""
    if isinstance(histogram, tuple):
        return histogram
    return np.array(list(histogram), dtype=np.int64), np.array(list(histogram.values()), dtype=np.int64)


def median_of(*histograms: Histogram) -> float | None:
    """The median of values given as ``{value: how many}`` histograms (or their arrays) taken together: the mean
    of the two middle values for an even count; None for no values. Vectorised: a registry's histograms hold
    thousands of values."""
    pairs = [histogram_arrays(histogram) for histogram in histograms]
    values = np.concatenate([pair[0] for pair in pairs]) if pairs else np.array([], dtype=np.int64)
    counts = np.concatenate([pair[1] for pair in pairs]) if pairs else np.array([], dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return None
    order = np.argsort(values, kind="stable")
    values, cumulative = values[order], np.cumsum(counts[order])
    # zero-based positions of the middle value(s): the first value whose cumulative count passes each
    low = values[np.searchsorted(cumulative, (total - 1) // 2, side="right")]
    high = values[np.searchsorted(cumulative, total // 2, side="right")]
    return (int(low) + int(high)) / 2


def _percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else 100.0 * part / whole


@dataclass
class SiteFigures:
    """The figures of one site (or of the registry: the total row)."""

    code: str
    name: str
    site_id: int | None = None
    # clinical part (cached)
    patients: int = 0
    episodes: int = 0
    enrolled: int = 0
    required_applicable: int = 0
    required_answered: int = 0
    records: int = 0
    last_entry: dt.datetime | None = None
    entry_delays: Histogram = field(default_factory=Counter)  # days → records
    enrollment: Counter = field(default_factory=Counter)  # first day of month → episodes enrolled
    computed_at: dt.datetime | None = None
    # quality part (read on every request)
    open_queries: int = 0
    open_query_ages: Counter = field(default_factory=Counter)  # days → queries
    overdue: int = 0
    signed: int = 0
    verified_records: int = 0
    quality_at: dt.datetime | None = None
    #: The histograms of the sites added to a total, by name (``entry_delays``, ``open_query_ages``).
    parts: dict[str, list[Histogram]] = field(default_factory=lambda: {"entry_delays": [], "open_query_ages": []})

    @property
    def completeness(self) -> float | None:
        return _percent(self.required_answered, self.required_applicable)

    @property
    def unanswered(self) -> int:
        return self.required_applicable - self.required_answered

    # Read once the figures are complete (a total after its last ``add``): a histogram may hold thousands of values,
    # so a total keeps its sites' histograms side by side rather than merging them.
    @cached_property
    def open_query_age_median(self) -> float | None:
        return median_of(self.open_query_ages, *self.parts["open_query_ages"])

    @cached_property
    def entry_delay_median(self) -> float | None:
        return median_of(self.entry_delays, *self.parts["entry_delays"])

    @property
    def signed_percent(self) -> float | None:
        return _percent(self.signed, self.patients)

    @property
    def sdv_percent(self) -> float | None:
        return _percent(self.verified_records, self.records)

    def add(self, other: SiteFigures) -> None:
        """Add another site's figures to this total (medians stay exact: their histograms are merged)."""
        for name in (
            "patients",
            "episodes",
            "enrolled",
            "required_applicable",
            "required_answered",
            "records",
            "open_queries",
            "overdue",
            "signed",
            "verified_records",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.enrollment.update(other.enrollment)
        for name in ("entry_delays", "open_query_ages"):
            self.parts[name].extend([getattr(other, name), *other.parts[name]])
        if other.last_entry and (self.last_entry is None or other.last_entry > self.last_entry):
            self.last_entry = other.last_entry
        for name in ("computed_at", "quality_at"):  # the total is as old as its oldest part
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs and (mine is None or theirs < mine):
                setattr(self, name, theirs)


_CLINICAL = (
    "patients",
    "episodes",
    "enrolled",
    "required_applicable",
    "required_answered",
    "records",
    "last_entry",
    "entry_delays",
    "enrollment",
    "computed_at",
)


def _site_path(record_type: RecordType) -> str:
    return record_type.site_path


def _entry_delay() -> ExpressionWrapper:
    """Days from a record's clinical date to the day it was entered (a duration)."""
    return ExpressionWrapper(TruncDate("created_at") - F("clinical_date"), output_field=DurationField())


def clinical_figures(*, site_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The clinical part of each site's figures, set-wise: one grouped query per table (and one per
    entry-delay table, and one for enrollment by month), whatever the number of sites."""
    now = timezone.now()
    out: dict[int, dict[str, Any]] = {
        site_id: {
            "patients": 0,
            "episodes": 0,
            "enrolled": 0,
            "required_applicable": 0,
            "required_answered": 0,
            "records": 0,
            "last_entry": None,
            "entry_delays": Counter(),
            "enrollment": Counter(),
            # Per record type: how many records, and per required field (in REQUIRED_FIELDS' order) how many
            # leave it unanswered — what the drilldowns "incomplete" and "unverified" count.
            "records_by_type": {record_type.slug: 0 for record_type in record_types()},
            "unanswered": {
                record_type.slug: [0] * len(REQUIRED_FIELDS.get(record_type.crf_name, ()))
                for record_type in record_types()
            },
            "computed_at": now,
        }
        for site_id in site_ids
    }
    if not site_ids:
        return out
    ids = list(site_ids)
    for record_type in record_types():
        model, path = record_type.model, _site_path(record_type)
        required = REQUIRED_FIELDS.get(record_type.crf_name, ())
        aggregates: dict[str, Any] = {"n": Count("pk"), "last": Max("updated_at")}
        for index, item in enumerate(required):
            applies = applies_condition(model, item)
            aggregates[f"a{index}"] = Count("pk", filter=applies) if applies else Count("pk")
            aggregates[f"d{index}"] = Count("pk", filter=applies & answered_condition(model, item))
        if model is RechallengeEpisode:
            aggregates["enrolled"] = Count("pk", filter=Q(enrolled_at__isnull=False))
        rows = model.objects.filter(**{f"{path}__in": ids}).order_by().values(site_key=F(path)).annotate(**aggregates)
        for row in rows:
            figures = out[row["site_key"]]
            figures["records"] += row["n"]
            figures["records_by_type"][record_type.slug] = row["n"]
            if model is Patient:
                figures["patients"] = row["n"]
            if model is RechallengeEpisode:
                figures["episodes"] = row["n"]
                figures["enrolled"] = row["enrolled"]
            for index in range(len(required)):
                figures["required_applicable"] += row[f"a{index}"]
                figures["required_answered"] += row[f"d{index}"]
                figures["unanswered"][record_type.slug][index] = row[f"a{index}"] - row[f"d{index}"]
            if row["last"] and (figures["last_entry"] is None or row["last"] > figures["last_entry"]):
                figures["last_entry"] = row["last"]
    for slug in ENTRY_DELAY_RECORDS:
        record_type = record_type_by_slug(slug)
        path = _site_path(record_type)
        rows = (
            record_type.model.objects.filter(**{f"{path}__in": ids})
            .order_by()
            .annotate(clinical_date=F(record_type.date_field))
            .values(site_key=F(path), delay=_entry_delay())
            .annotate(n=Count("pk"))
        )
        for row in rows:
            out[row["site_key"]]["entry_delays"][row["delay"].days] += row["n"]
    enrolled = (
        RechallengeEpisode.objects.filter(patient__site_id__in=ids, enrolled_at__isnull=False)
        .order_by()
        .values(site_key=F("patient__site_id"), month=TruncMonth("enrolled_at"))
        .annotate(n=Count("pk"))
    )
    for row in enrolled:
        month = row["month"]
        month = month.date() if isinstance(month, dt.datetime) else month
        out[row["site_key"]]["enrollment"][month] += row["n"]
    for figures in out.values():  # kept as arrays: thousands of distinct delays unpickle and merge fast so
        figures["entry_delays"] = histogram_arrays(figures["entry_delays"])
    return out


def _cached_clinical_figures(site_ids: Sequence[int], *, refresh: bool = False) -> dict[int, dict[str, Any]]:
    """The clinical part from the cache; the sites missing from it are computed together and stored."""
    keys = {site_id: f"{CACHE_PREFIX}{site_id}" for site_id in site_ids}
    found = {} if refresh else cache.get_many(list(keys.values()))
    out = {site_id: found[key] for site_id, key in keys.items() if key in found}
    missing = [site_id for site_id in site_ids if site_id not in out]
    if missing:
        computed = clinical_figures(site_ids=missing)
        cache.set_many({keys[site_id]: value for site_id, value in computed.items()}, cache_seconds())
        out.update(computed)
    return out


#: How often Celery beat runs ``quality.warm_dashboard`` (``settings.PERIODIC_TASKS``: every five minutes).
WARM_EVERY_SECONDS = 300


def dashboard_warm(*, now: dt.datetime | None = None) -> list[int]:
    """Compute and cache the clinical figures of every site missing from the cache or about to expire from it;
    the sites computed.

    Run every five minutes by Celery beat (``quality.warm_dashboard``): an entry is recomputed before it can
    expire (older than the cache time less one interval and a minute), so coordinators read the dashboard from
    the cache; only a site written since the last run is computed on view, alone. Idempotent."""
    now = now or timezone.now()
    site_ids = list(Site.objects.order_by("pk").values_list("pk", flat=True))
    found = cache.get_many([f"{CACHE_PREFIX}{site_id}" for site_id in site_ids])
    oldest = now - dt.timedelta(seconds=max(0, cache_seconds() - WARM_EVERY_SECONDS - 60))
    stale = [
        site_id
        for site_id in site_ids
        if (entry := found.get(f"{CACHE_PREFIX}{site_id}")) is None or entry["computed_at"] <= oldest
    ]
    if stale:
        _cached_clinical_figures(stale, refresh=True)
    return stale


def dashboard_forget(*, site_ids: Iterable[int]) -> None:
    """Drop the cached figures of these sites: the next dashboard recomputes them."""
    cache.delete_many([f"{CACHE_PREFIX}{site_id}" for site_id in set(site_ids)])


def dashboard_records_written(*, writes, user, channel) -> None:
    """Registered on ``apps.clinical.hooks.on_records_written``: once the write commits, the cached figures of
    the sites it touched are forgotten (all sites for a transfer: the patient's former site changed too)."""
    if any(write.record_type == "patient" and write.action == "update" and "site" in write.fields for write in writes):
        site_ids: list[int] = list(Site.objects.values_list("pk", flat=True))
    else:
        site_ids = sorted({write.site_id for write in writes if write.site_id is not None})
    if site_ids:
        transaction.on_commit(lambda: dashboard_forget(site_ids=site_ids))
        transaction.on_commit(dashboard_warm_soon, robust=True)


#: Set while a warming is scheduled, so a busy registry sends one message, not one per write.
WARM_SCHEDULED_KEY = "quality:dashboard:warm-scheduled"
#: A write's sites are computed again this long after it (the writes of the next seconds go with it).
WARM_AFTER_WRITE_SECONDS = 10


def dashboard_warm_soon() -> None:
    """After a write: have a worker compute the figures the write dropped shortly, so the next view reads the
    cache. At most one warming is scheduled at a time (it clears the mark as it starts); an unreachable broker
    or cache only delays this until the five-minute run."""
    try:
        if cache.add(WARM_SCHEDULED_KEY, True, timeout=WARM_AFTER_WRITE_SECONDS + WARM_EVERY_SECONDS):
            current_app.tasks["quality.warm_dashboard"].apply_async(countdown=WARM_AFTER_WRITE_SECONDS)
    except Exception:
        log.warning("the data-quality dashboard's warming could not be scheduled", exc_info=True)


def _cached_quality_figures(*, user, site_ids: Sequence[int], refresh: bool = False) -> dict[int, dict[str, Any]]:
    """The quality part, kept ``QUALITY_DASHBOARD_LIVE_SECONDS`` (a minute) per reach: every site for coordinators,
    a set of sites without the queries kept for coordinators for center staff."""
    access = access_for_user(user)
    scope = "all" if access.is_coordinator else "sites"
    key = f"quality:dashboard:v1:quality:{scope}:{','.join(str(pk) for pk in sorted(site_ids))}"
    found = None if refresh else cache.get(key)
    if found is None:
        found = quality_figures(user=user, site_ids=site_ids)
        cache.set(key, found, live_seconds())
    return found


def live_seconds() -> int:
    return int(getattr(settings, "QUALITY_DASHBOARD_LIVE_SECONDS", 60))


def quality_figures(*, user, site_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The part that changes outside clinical writes: queries (as far as the user sees them), signatures, SDV
    marks, and when they were read."""
    today = timezone.localdate()
    out: dict[int, dict[str, Any]] = {
        site_id: {
            "open_queries": 0,
            "open_query_ages": Counter(),
            "overdue": 0,
            "signed": 0,
            "verified_records": 0,
            "quality_at": timezone.now(),
        }
        for site_id in site_ids
    }
    if not site_ids:
        return out
    ids = list(site_ids)
    queries = (
        query_scope(user=user)
        .filter(site_id__in=ids, status__in=OPEN_STATUSES)
        .order_by()
        .values("site_id", day=TruncDate("opened_at"))
        .annotate(n=Count("pk"), overdue=Count("pk", filter=Q(rule_id=OVERDUE_RULE)))
    )
    for row in queries:
        figures = out[row["site_id"]]
        figures["open_queries"] += row["n"]
        figures["overdue"] += row["overdue"]
        figures["open_query_ages"][(today - row["day"]).days] += row["n"]
    signed = (
        Patient.objects.filter(site_id__in=ids, signed_at__isnull=False)
        .order_by()
        .values("site_id")
        .annotate(n=Count("pk"))
    )
    for row in signed:
        out[row["site_id"]]["signed"] = row["n"]
    verified = (
        SourceVerification.objects.filter(site_id__in=ids, field="")
        .order_by()
        .values("site_id")
        .annotate(n=Count("pk"))
    )
    for row in verified:
        out[row["site_id"]]["verified_records"] = row["n"]
    return out


@dataclass
class Dashboard:
    rows: list[SiteFigures]
    total: SiteFigures
    computed_at: dt.datetime | None
    quality_at: dt.datetime | None = None


def dashboard_for_user(*, user, refresh: bool = False) -> Dashboard:
    """One row per site the user reads (every site for coordinators, their own for center staff) and the
    registry's total, in a fixed number of queries."""
    sites = list(site_list_for_user(user=user).order_by("code"))
    site_ids = [site.pk for site in sites]
    clinical = _cached_clinical_figures(site_ids, refresh=refresh)
    quality = _cached_quality_figures(user=user, site_ids=site_ids, refresh=refresh)
    rows = []
    total = SiteFigures(code="", name="Registry total" if access_for_user(user).sees_all_sites else "Your sites")
    for site in sites:
        figures = SiteFigures(code=site.code, name=site.name, site_id=site.pk)
        for name in _CLINICAL:
            value = clinical[site.pk][name]
            setattr(figures, name, value)
        for name, value in quality[site.pk].items():
            setattr(figures, name, value)
        rows.append(figures)
        total.add(figures)
    return Dashboard(rows=rows, total=total, computed_at=total.computed_at, quality_at=total.quality_at)


# --- Drilldowns: the records behind each figure -------------------------------------------------------------


@dataclass(frozen=True)
class DrilldownRow:
    registry_id: str
    patient_url: str
    site: str
    record: str
    record_url: str
    field: str = ""
    date: Any = None
    detail: str = ""
    #: The date is known only to the month: shown as the month, never the imputed 15th.
    month_only: bool = False


@dataclass(frozen=True)
class Part:
    """One queryset of a drilldown and how its records become rows."""

    queryset: QuerySet
    row: Callable[[Any], DrilldownRow]


class ChainedRows:
    """Several querysets read as one list for a paginator: counted once each (or all at once by ``counts``),
    sliced without loading the rest."""

    def __init__(self, parts: Sequence[Part], counts: Callable[[], list[int]] | None = None) -> None:
        self.parts = list(parts)
        self._counts: list[int] | None = None
        self._count_all = counts

    def counts(self) -> list[int]:
        if self._counts is None:
            if self._count_all is not None:
                self._counts = self._count_all()
            else:
                self._counts = [part.queryset.count() for part in self.parts]
        return self._counts

    def count(self) -> int:
        return sum(self.counts())

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[DrilldownRow]:
        if not isinstance(index, slice):
            raise TypeError("ChainedRows is read by slices")
        start, stop = index.start or 0, index.stop if index.stop is not None else self.count()
        rows: list[DrilldownRow] = []
        offset = 0
        for part, count in zip(self.parts, self.counts(), strict=True):
            lo, hi = max(start - offset, 0), min(stop - offset, count)
            if lo < hi:
                rows.extend(part.row(record) for record in part.queryset[lo:hi])
            offset += count
            if offset >= stop:
                break
        return rows


def _patient_of(record_type: RecordType, record) -> Patient:
    return record_type.patient_of(record)


def _record_row(record_type: RecordType, *, field_name: str = "", date: Any = None, detail: str = "") -> Callable:
    def row(record) -> DrilldownRow:
        patient = _patient_of(record_type, record)
        if record_type.slug == "patient":
            url = patient.get_absolute_url()
        else:
            url = reverse("clinical:record-edit", args=[record_type.slug, record.pk])
        label = f"{record_type.label}: {record_type.describe(record)}" if record_type.slug != "patient" else "Patient"
        field_label = ""
        if field_name:
            field_label = str(record_type.model._meta.get_field(field_name).verbose_name)
        shown_date = date(record) if callable(date) else (record_type.date_of(record) if date is None else date)
        precision = f"{record_type.date_field}{PRECISION_SUFFIX}" if date is None and record_type.date_field else ""
        return DrilldownRow(
            month_only=bool(precision) and getattr(record, precision, DatePrecision.DAY) == DatePrecision.MONTH,
            registry_id=patient.registry_id,
            patient_url=patient.get_absolute_url(),
            site=patient.site.code,
            record=label,
            record_url=url,
            field=field_label,
            date=shown_date,
            detail=detail(record) if callable(detail) else detail,
        )

    return row


def _records(record_type: RecordType, *, user, site_ids: Sequence[int]) -> QuerySet:
    """The user's records of ``record_type`` at ``site_ids``, with their patient and site for the rows."""
    related = "__".join([*record_type.patient_path, "site"]) if record_type.patient_path else "site"
    return (
        scoped_queryset(record_type.model, user=user)
        .filter(**{f"{record_type.site_path}__in": list(site_ids)})
        .select_related(related)
    )


def _by_patient(record_type: RecordType) -> tuple[str, ...]:
    prefix = "__".join(record_type.patient_path)
    return (f"{prefix}__registry_id" if prefix else "registry_id", "pk")


@dataclass(frozen=True)
class Drilldown:
    slug: str
    title: str
    #: What the list shows, one sentence.
    description: str
    parts: Callable[..., list[Part]]
    #: ``counts(user=, site_ids=)`` → each part's number of rows at once, where that is cheaper than a count each.
    counts: Callable[..., list[int]] | None = None


def _patients(*, user, site_ids) -> list[Part]:
    patient = record_type_by_slug("patient")
    qs = _records(patient, user=user, site_ids=site_ids).order_by("registry_id")
    return [Part(qs, _record_row(patient, date=lambda p: timezone.localdate(p.created_at), detail=_tumour))]


def _tumour(patient) -> str:
    return patient.get_tumour_type_display()


def _episodes(*, user, site_ids, enrolled: bool = False) -> list[Part]:
    episode = record_type_by_slug("episode")
    qs = _records(episode, user=user, site_ids=site_ids)
    if enrolled:
        qs = qs.filter(enrolled_at__isnull=False)
        row = _record_row(episode, date=lambda e: timezone.localdate(e.enrolled_at), detail="Enrolled")
    else:
        row = _record_row(episode, detail=lambda e: "Enrolled" if e.enrolled_at else "Not enrolled")
    return [Part(qs.order_by(*_by_patient(episode)), row)]


def _unanswered(model: type[models.Model], item: Required) -> Q:
    return applies_condition(model, item) & ~answered_condition(model, item)


def _incomplete(*, user, site_ids) -> list[Part]:
    parts = []
    for record_type in record_types():
        for item in REQUIRED_FIELDS.get(record_type.crf_name, ()):
            qs = _records(record_type, user=user, site_ids=site_ids).filter(_unanswered(record_type.model, item))
            detail = f"Required {item.condition}" if item.condition else "Required"
            parts.append(
                Part(
                    qs.order_by(*_by_patient(record_type)),
                    _record_row(record_type, field_name=item.field, detail=detail),
                )
            )
    return parts


def _incomplete_counts(*, user, site_ids) -> list[int]:
    """The number of rows of each part of :func:`_incomplete`: the dashboard's own counts of unanswered fields,
    from its cached clinical figures (a write forgets its site's), so paging costs no count of a whole table."""
    figures = _cached_clinical_figures(list(site_ids))
    return [
        sum(figures[site_id]["unanswered"][record_type.slug][index] for site_id in site_ids)
        for record_type in record_types()
        for index in range(len(REQUIRED_FIELDS.get(record_type.crf_name, ())))
    ]


def _queries(*, user, site_ids, rule_id: str = "") -> list[Part]:
    qs = (
        query_scope(user=user)
        .filter(site_id__in=list(site_ids), status__in=OPEN_STATUSES)
        .select_related("site", "patient")
        .order_by("opened_at", "pk")
    )
    if rule_id:
        qs = qs.filter(rule_id=rule_id)
    today = timezone.localdate()

    def row(query: DataQuery) -> DrilldownRow:
        opened = timezone.localdate(query.opened_at)
        patient = query.patient
        return DrilldownRow(
            registry_id=patient.registry_id if patient else "",
            patient_url=patient.get_absolute_url() if patient else "",
            site=query.site.code,
            record=f"Query #{query.pk}: {query.get_status_display()}",
            record_url=reverse("quality:query-detail", args=[query.pk]),
            field=query.field,
            date=opened,
            detail=f"{(today - opened).days} days open · {query.message}",
        )

    return [Part(qs, row)]


def _entry_delays(*, user, site_ids) -> list[Part]:
    parts = []
    for slug in ENTRY_DELAY_RECORDS:
        record_type = record_type_by_slug(slug)
        qs = (
            _records(record_type, user=user, site_ids=site_ids)
            .annotate(clinical_date=F(record_type.date_field), delay=_entry_delay())
            .order_by("-delay", "pk")
        )
        detail = lambda r: f"entered {timezone.localdate(r.created_at):%Y-%m-%d}, {r.delay.days} days later"  # noqa: E731
        parts.append(Part(qs, _record_row(record_type, detail=detail)))
    return parts


def _unsigned(*, user, site_ids) -> list[Part]:
    patient = record_type_by_slug("patient")
    qs = _records(patient, user=user, site_ids=site_ids).filter(signed_at__isnull=True).order_by("registry_id")
    return [Part(qs, _record_row(patient, date=lambda p: timezone.localdate(p.created_at), detail="Not signed"))]


def _unverified(*, user, site_ids) -> list[Part]:
    parts = []
    for record_type in record_types():
        marks = SourceVerification.objects.filter(record_type=record_type.slug, record_id=OuterRef("pk"), field="")
        qs = _records(record_type, user=user, site_ids=site_ids).filter(~Exists(marks))
        parts.append(Part(qs.order_by(*_by_patient(record_type)), _record_row(record_type, detail="Not verified")))
    return parts


def _unverified_counts(*, user, site_ids) -> list[int]:
    """The number of rows of each part of :func:`_unverified`: each record type's records at the sites (the
    dashboard's cached counts) less their whole-record marks (one grouped query over the marks)."""
    ids = list(site_ids)
    figures = _cached_clinical_figures(ids)
    marks = dict(
        SourceVerification.objects.filter(site_id__in=ids, field="")
        .order_by()
        .values_list("record_type")
        .annotate(n=Count("pk"))
    )
    return [
        max(
            0,
            sum(figures[site_id]["records_by_type"][record_type.slug] for site_id in ids)
            - marks.get(record_type.slug, 0),
        )
        for record_type in record_types()
    ]


def _recent(*, user, site_ids) -> list[Part]:
    """The latest changes: each record type's most recently changed records, newest first."""
    parts = []
    for record_type in record_types():
        qs = _records(record_type, user=user, site_ids=site_ids).order_by("-updated_at", "-pk")
        row = _record_row(
            record_type,
            date=lambda r: timezone.localdate(r.updated_at),
            detail=lambda r: "Created" if r.created_at == r.updated_at else "Changed",
        )
        parts.append(Part(qs, row))
    return parts


DRILLDOWNS: dict[str, Drilldown] = {
    d.slug: d
    for d in (
        Drilldown("patients", "Patients", "The patients registered.", _patients),
        Drilldown("episodes", "Rechallenge episodes", "Every rechallenge episode recorded.", _episodes),
        Drilldown(
            "enrolled",
            "Enrolled episodes",
            "Episodes enrolled (their decision-model assessment locked), with the day of enrollment.",
            lambda **kw: _episodes(enrolled=True, **kw),
        ),
        Drilldown(
            "incomplete",
            "Required fields not answered",
            "Each required field that applies and holds neither a value nor a missing-data code: the fields "
            "completeness counts as unanswered.",
            _incomplete,
            _incomplete_counts,
        ),
        Drilldown(
            "open-queries", "Open queries", "Queries open or answered and not yet closed, oldest first.", _queries
        ),
        Drilldown(
            "overdue",
            "Overdue follow-ups",
            "Open queries of the rule follow_up_overdue, oldest first.",
            lambda **kw: _queries(rule_id=OVERDUE_RULE, **kw),
        ),
        Drilldown(
            "entry-delay",
            "Days from event to entry",
            "Response assessments, follow-ups and irAEs with their clinical date and the day they were entered, "
            "longest delay first within each record type.",
            _entry_delays,
        ),
        Drilldown("unsigned", "Cases not signed", "Patients whose case the site PI has not signed.", _unsigned),
        Drilldown(
            "unverified",
            "Records not source-verified",
            "Records without a whole-record source-data-verification mark.",
            _unverified,
            _unverified_counts,
        ),
        Drilldown(
            "recent", "Latest entries", "Each record type's records, most recently created or changed first.", _recent
        ),
    )
}


def drilldown_sites(*, user, site_code: str) -> list[Site]:
    """The sites a drilldown covers: the one named (404 if out of the user's reach), else all the user reads."""
    sites = site_list_for_user(user=user).order_by("code")
    if site_code:
        site = sites.filter(code=site_code).first()
        if site is None:
            raise Http404("No such site.")
        return [site]
    return list(sites)


def drilldown_rows(*, user, metric: str, site_ids: Sequence[int]) -> ChainedRows:
    """The records behind ``metric`` at ``site_ids``, as one list for a paginator."""
    try:
        drilldown = DRILLDOWNS[metric]
    except KeyError:
        raise Http404("No such figure.") from None
    counts = drilldown.counts
    return ChainedRows(
        drilldown.parts(user=user, site_ids=site_ids),
        counts=(lambda: counts(user=user, site_ids=site_ids)) if counts else None,
    )


def iter_rows(rows: ChainedRows) -> Iterator[DrilldownRow]:
    """Every row (for tests and small sets)."""
    yield from rows[0 : rows.count()]


# --- The patient list's open-queries column (registered on apps.clinical.panels) ------------------------------


def open_query_counts(*, patient_ids: Sequence[int], user) -> dict[int, int]:
    """Open and answered queries of each listed patient the user may see, in one query."""
    rows = (
        query_scope(user=user)
        .filter(patient_id__in=list(patient_ids), status__in=OPEN_STATUSES)
        .order_by()
        .values_list("patient_id")
        .annotate(n=Count("pk"))
    )
    return dict(rows)


def open_query_count_annotation(*, user) -> Case:
    """The same count over the patient row, to sort the whole list by (0 for none). Counted only for the patients
    in the (hashed) set of those with an open query: most patients have none, and a count per patient would probe
    the queries once per row of the list."""
    open_queries = query_scope(user=user).filter(status__in=OPEN_STATUSES)
    counted = (
        open_queries.filter(patient_id=OuterRef("pk"))
        .order_by()
        .values("patient_id")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return Case(
        When(pk__in=open_queries.order_by().values("patient_id"), then=Coalesce(Subquery(counted), Value(0))),
        default=Value(0),
        output_field=IntegerField(),
    )


OPEN_QUERIES_COLUMN = PatientListColumn(
    key="open_queries",
    label="Open queries",
    values=open_query_counts,
    annotation=open_query_count_annotation,
    default=0,
    url=lambda patient: f"{patient.get_absolute_url()}#patient-queries",
    stored=open_query_sort_field,
)

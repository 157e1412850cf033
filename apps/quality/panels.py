"""The patient page's panel of data queries (a clinical patient panel), and the stored counts the patient list's
open-queries column sorts by.

Registered from ``QualityConfig.ready()`` (``apps.clinical.panels``), so the patient page shows the patient's
open queries, each linked to its thread, and, for coordinators, a "Raise a query" link for every record of the
case, without clinical importing this app. One query, whatever the size of the case.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import apps as installed_apps
from django.db import connection
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse

from apps.accounts.selectors import access_for_user
from apps.clinical.models import Patient
from apps.clinical.panels import PatientPanel
from apps.core.records import record_type_for

from . import selectors
from .models import DataQuery, PatientOpenQueries, PatientSiteOpenQueries

#: Recounted this many patients per statement (within SQLite's limit on parameters).
CHUNK = 2000


def _case_records(patient, timeline: dict[str, Any]) -> list[Any]:
    """Every record of the case, in the order of the page: patient, ICI-1 and its irAEs, then each rechallenge."""
    records: list[Any] = [patient]
    if timeline.get("initial_course") is not None:
        records.append(timeline["initial_course"])
    records += timeline.get("initial_adverse_events", [])
    for episode in timeline.get("episodes", []):
        records.append(episode)
        records += timeline.get("adverse_events_by_episode", {}).get(episode.pk, [])
        records += list(episode.responses.all())
        records += list(episode.follow_ups.all())
    return records


def patient_queries_context(*, patient, timeline: dict[str, Any], user, can_write: bool) -> dict[str, Any]:
    access = access_for_user(user)
    queries = selectors.patient_open_queries(patient=patient, user=user)
    rows = [
        {
            "query": query,
            "url": reverse("quality:query-detail", args=[query.pk]),
            "age": selectors.age_days(query),
            "record": selectors.record_label(query),
            "field": selectors.field_label(query),
            "record_url": selectors.record_anchor_url_for(patient=patient, slug=query.record_type, pk=query.record_id),
        }
        for query in queries
    ]
    raise_links = []
    if access.is_coordinator:
        for record in _case_records(patient, timeline):
            record_type = record_type_for(type(record))
            raise_links.append(
                {
                    "label": f"{record_type.label}: {record_type.title(record)}",
                    "url": reverse("quality:query-raise", kwargs={"model": record_type.slug, "pk": record.pk}),
                }
            )
    return {"rows": rows, "raise_links": raise_links, "is_coordinator": access.is_coordinator}


QUERY_PANEL = PatientPanel(template="quality/_patient_queries.html", context=patient_queries_context)


# --- The patient list's open-queries column, stored (``PatientOpenQueries``) ----------------------------------


def open_query_sort_field(*, user) -> str:
    """The stored count the patient list sorts by for ``user``: every query for coordinators, those the site
    sees for center staff (a count must not reveal a query kept for coordinators)."""
    return "open_queries_all__count" if access_for_user(user).is_coordinator else "open_queries_site__count"


def open_query_counts_refresh(*, patient_ids: Iterable[int] | None, apps: Any = installed_apps) -> None:
    """Recount the queries not closed of ``patient_ids`` (None: every patient) set-wise, in the caller's
    transaction: one row per patient with any, none for the others, for each audience."""
    if patient_ids is None:
        _recount(apps, None)
        return
    ids = sorted({int(pk) for pk in patient_ids if pk is not None})
    for start in range(0, len(ids), CHUNK):
        _recount(apps, ids[start : start + CHUNK])


def _recount(apps: Any, patient_ids: list[int] | None) -> None:
    not_closed = apps.get_model("quality", "DataQuery").objects.filter(patient__isnull=False).exclude(status="closed")
    for name, queries in (
        ("PatientOpenQueries", not_closed),
        ("PatientSiteOpenQueries", not_closed.filter(coordinators_only=False)),
    ):
        model = apps.get_model("quality", name)
        stale = model.objects.all()
        if patient_ids is not None:
            queries, stale = queries.filter(patient_id__in=patient_ids), stale.filter(patient_id__in=patient_ids)
        stale.exclude(patient_id__in=queries.values("patient_id")).delete()
        rows = (
            queries.order_by()
            .values_list("patient_id", "patient__site_id", "patient__registry_id")
            .annotate(count=Count("pk"))
        )
        select, params = rows.query.sql_with_params()
        quote = connection.ops.quote_name
        columns = ("patient_id", "site_id", "registry_id", "count")
        updates = ", ".join(f"{quote(column)} = excluded.{quote(column)}" for column in columns[1:])
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
                f"SELECT * FROM ({select}) counted WHERE true "
                f"ON CONFLICT ({quote('patient_id')}) DO UPDATE SET {updates}",
                params,
            )


def open_query_counts_on_write(*, writes: Sequence[Any], user: Any, channel: str) -> None:
    """``hooks.records_written`` receiver, after the on-save rules: the written patients' counts (queries opened or
    closed by the rules, closed with a deleted record, moved with a transferred patient) where they changed: one
    query finds them, most writes change none."""
    open_query_counts_refresh(patient_ids=_stale(sorted({w.patient_id for w in writes if w.patient_id is not None})))


def _stale(patient_ids: list[int]) -> list[int]:
    """Those of ``patient_ids`` whose stored counts (or site) differ from their queries, in one query."""
    if not patient_ids:
        return []
    queries = DataQuery.objects.filter(patient_id=OuterRef("pk")).exclude(status="closed").order_by()
    counted = queries.values("patient_id").annotate(n=Count("pk")).values("n")[:1]
    counted_site = queries.filter(coordinators_only=False).values("patient_id").annotate(n=Count("pk")).values("n")
    stored = PatientOpenQueries.objects.filter(patient_id=OuterRef("pk"))
    stored_site = PatientSiteOpenQueries.objects.filter(patient_id=OuterRef("pk"))
    rows = Patient.objects.filter(pk__in=patient_ids).annotate(
        n=Coalesce(Subquery(counted), 0),
        n_site=Coalesce(Subquery(counted_site[:1]), 0),
        stored=Coalesce(Subquery(stored.values("count")[:1]), 0),
        stored_site=Coalesce(Subquery(stored_site.values("count")[:1]), 0),
        stored_at=Subquery(stored.values("site_id")[:1]),
    )
    differ = ~Q(n=F("stored")) | ~Q(n_site=F("stored_site")) | (Q(n__gt=0) & ~Q(stored_at=F("site_id")))
    return list(rows.filter(differ).values_list("pk", flat=True))

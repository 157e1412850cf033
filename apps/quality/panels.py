"""The patient page's panel of data queries (a clinical patient panel).

Registered from ``QualityConfig.ready()`` (``apps.clinical.panels``), so the patient page shows the patient's
open queries, each linked to its thread, and, for coordinators, a "Raise a query" link for every record of the
case, without clinical importing this app. One query, whatever the size of the case.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from apps.accounts.selectors import access_for_user
from apps.clinical.panels import PatientPanel
from apps.core.records import record_type_for

from . import selectors


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

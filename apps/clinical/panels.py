"""Extension point of the patient page: sections an app built on clinical adds to every rechallenge episode.

Clinical imports none of the apps above it. An app that has something to show for an episode (the
decision-model assessments) registers an :class:`EpisodePanel` from its ``AppConfig.ready()``; the
patient page asks each registered panel for its context and includes its template in every episode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EpisodePanel:
    """A template shown in each episode of the patient page, and what it is given to show."""

    template: str
    #: ``context(episodes=, user=, can_write=)`` → the template's context for each episode, by episode pk.
    #: The episodes come with their patient's whole timeline loaded (``selectors.patient_timeline``).
    context: Callable[..., dict[int, dict[str, Any]]]


_PANELS: list[EpisodePanel] = []


def episode_panel_register(panel: EpisodePanel) -> None:
    """Add a panel to every episode of the patient page (once, however often it is registered)."""
    if panel not in _PANELS:
        _PANELS.append(panel)


def episode_panels_for(*, episodes: Sequence[Any], user, can_write: bool) -> dict[int, list[dict[str, Any]]]:
    """Each episode's panels, in registration order, as ``{"template": …, "context": …}``."""
    shown: dict[int, list[dict[str, Any]]] = {episode.pk: [] for episode in episodes}
    if not episodes:
        return shown
    for panel in _PANELS:
        contexts = panel.context(episodes=episodes, user=user, can_write=can_write)
        for episode in episodes:
            shown[episode.pk].append({"template": panel.template, "context": contexts[episode.pk]})
    return shown


# --- Patient panels ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientPanel:
    """A template shown once on the patient page, under the patient's own record (case status and sign-off,
    open queries, source verification: what the apps above clinical have to say about the whole case)."""

    template: str
    #: ``context(patient=, timeline=, user=, can_write=)`` → the template's context (an empty dict shows nothing
    #: only if the template says so). ``timeline`` is ``selectors.patient_timeline(patient=)``.
    context: Callable[..., dict[str, Any]]


_PATIENT_PANELS: list[PatientPanel] = []


def patient_panel_register(panel: PatientPanel) -> None:
    """Add a panel to the patient page (once, however often it is registered)."""
    if panel not in _PATIENT_PANELS:
        _PATIENT_PANELS.append(panel)


def patient_panels_for(*, patient: Any, timeline: dict[str, Any], user, can_write: bool) -> list[dict[str, Any]]:
    """The patient page's panels, in registration order, as ``{"template": …, "context": …}``."""
    return [
        {
            "template": panel.template,
            "context": panel.context(patient=patient, timeline=timeline, user=user, can_write=can_write),
        }
        for panel in _PATIENT_PANELS
    ]


# --- Patient list columns ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientListColumn:
    """A column an app above clinical adds to the patient list (the open queries of data quality), sortable.

    ``values(patient_ids=, user=)`` → each listed patient's value, for one page of rows in one query;
    ``annotation(user=)`` → an expression over the patient row (``OuterRef("pk")``) the whole list is sorted
    by. Both see only what the user may see (a count must not reveal what is hidden from them).
    """

    key: str
    label: str
    values: Callable[..., dict[int, Any]]
    annotation: Callable[..., Any]
    #: The value of a patient absent from ``values``.
    default: Any = 0
    #: The list's URL for one row's value (``url(patient)``), or None for plain text.
    url: Callable[[Any], str] | None = None
    #: ``stored(user=)`` → the path from the patient of the value as the app stores it, to sort a list of any
    #: length by index (``"open_query_count__total"``): a one-to-one row holding ``site_id`` and ``registry_id``
    #: beside it, present only while there is a value (no row: none, sorted lowest). None: sort by ``annotation``.
    stored: Callable[..., str] | None = None


_LIST_COLUMNS: list[PatientListColumn] = []


def patient_list_column_register(column: PatientListColumn) -> None:
    """Add a column to the patient list (once, however often it is registered)."""
    if all(known.key != column.key for known in _LIST_COLUMNS):
        _LIST_COLUMNS.append(column)


def patient_list_columns() -> tuple[PatientListColumn, ...]:
    """The registered columns, in registration order."""
    return tuple(_LIST_COLUMNS)

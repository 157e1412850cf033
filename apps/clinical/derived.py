"""Derived clinical variables of one patient for the patient page: a thin adapter over ``registry.derive``.

The stored records are reduced to plain :class:`registry.records.PatientRecords` (``patient_records``)
and derived by :func:`registry.derive.derive_patient` — the same code the decision inputs, the API and
the set-wise derivation are held to. What stays here is turning the results into read-only lines for
the page. Nothing here queries the database: it works on the objects ``patient_timeline`` loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry import derive
from registry import vocabularies as v
from registry.dates import PartialDate
from registry.derive import EpisodeDerived
from registry.records import (
    CourseRecord,
    EpisodeRecord,
    FollowUpRecord,
    IraeRecord,
    PatientRecords,
    ResponseRecord,
)

from .models import RechallengeEpisode

__all__ = [
    "CourseDerived",
    "DerivedLine",
    "EpisodeDerived",
    "course_lines",
    "episode_lines",
    "patient_records",
    "rechallenge_stop",
    "timeline_derived",
]


@dataclass(frozen=True)
class DerivedLine:
    """One derived value as the patient page shows it."""

    label: str
    value: str
    imputed: bool = False
    note: str = ""


@dataclass(frozen=True)
class CourseDerived:
    """Derived values of the initial ICI course."""

    pfs1: derive.TimeToEvent


# --- ORM objects → plain records ---------------------------------------------------------------------


def patient_records(timeline: dict) -> PatientRecords:
    """The records of a ``patient_timeline`` as plain values (responses and follow-ups are prefetched)."""
    course = timeline["initial_course"]
    episodes: list[RechallengeEpisode] = timeline["episodes"]
    adverse_events = list(timeline["initial_adverse_events"])
    for episode in episodes:
        adverse_events += timeline["adverse_events_by_episode"][episode.pk]
    return PatientRecords(
        course=CourseRecord.from_crf(course) if course is not None else None,
        episodes=tuple(EpisodeRecord.from_crf(episode, id=episode.pk) for episode in episodes),
        iraes=tuple(IraeRecord.from_crf(event, episode_id=event.episode_id) for event in adverse_events),
        responses=tuple(
            ResponseRecord.from_crf(response, episode_id=episode.pk)
            for episode in episodes
            for response in episode.responses.all()
        ),
        follow_ups=tuple(
            FollowUpRecord.from_crf(fu, episode_id=episode.pk)
            for episode in episodes
            for fu in episode.follow_ups.all()
        ),
    )


def rechallenge_stop(episode: RechallengeEpisode) -> PartialDate | None:
    """When a rechallenge stopped: the earliest stop date any of its (prefetched) follow-ups records."""
    stop = derive.rechallenge_stop(
        FollowUpRecord.from_crf(fu, episode_id=episode.pk) for fu in episode.follow_ups.all()
    )
    return PartialDate(stop) if stop is not None else None


def timeline_derived(timeline: dict) -> tuple[CourseDerived | None, dict[int, EpisodeDerived]]:
    """Derived values of a whole ``patient_timeline``: the ICI-1 course and each episode by pk."""
    derived = derive.derive_patient(patient_records(timeline))
    course_values = CourseDerived(pfs1=derived.pfs1) if derived.pfs1 is not None else None
    return course_values, derived.episodes


# --- display -----------------------------------------------------------------------------------------


def _months(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} months"


def _response_label(code: str | None) -> str:
    if code is None:
        return "Not assessed yet"
    vocabulary = v.IRECIST_CATEGORIES if code.startswith("i") else v.RECIST_CATEGORIES
    return f"{code} – {vocabulary.label(code)}" if code in vocabulary else code


def _flag(value: bool | None, *, yes: str = "Yes", no: str = "No", unknown: str = "Unknown") -> str:
    return unknown if value is None else (yes if value else no)


def _time_to_event_line(label: str, value: derive.TimeToEvent, *, event: str, censoring: str = "") -> DerivedLine:
    if value.months is None:
        return DerivedLine(label, "Not computable", note=value.missing_reason or "")
    outcome = event if value.event else "censored"
    note = censoring if value.event is False else ""
    return DerivedLine(label, f"{_months(value.months)} ({outcome})", imputed=value.imputed, note=note)


_COMPETING_OUTCOME = {"irae": "irAE", "death": "death, competing", "censored": "censored"}


def _competing_line(label: str, value: derive.CompetingTime) -> DerivedLine:
    if value.months is None or value.event_type is None:
        return DerivedLine(label, "Not computable", note=value.missing_reason or "")
    return DerivedLine(
        label, f"{_months(value.months)} ({_COMPETING_OUTCOME[value.event_type]})", imputed=value.imputed
    )


def course_lines(values: CourseDerived) -> list[DerivedLine]:
    return [_time_to_event_line("PFS1 (ICI-1 start → progression)", values.pfs1, event="progression")]


def episode_lines(values: EpisodeDerived) -> list[DerivedLine]:
    preceding = values.preceding_course
    recurrence = values.recurrence
    tfi_note = "" if values.tfi_months is not None else f"Needs the stop date of {preceding}."
    lines = [
        DerivedLine(
            f"Treatment-free interval (since {preceding} stop)",
            _months(values.tfi_months),
            imputed=values.tfi_imputed,
            note=tfi_note,
        ),
        DerivedLine(
            f"Worst irAE grade during {preceding}",
            "None" if values.worst_prior_grade == 0 else f"Grade {values.worst_prior_grade}",
        ),
        DerivedLine(f"All irAEs of {preceding} resolved to grade ≤1", _flag(values.all_prior_resolved)),
        DerivedLine(
            "Best overall response",
            _response_label(values.best_response),
            note=(
                f"Up to progression; CR/PR confirmed ≥ {derive.RESPONSE_CONFIRMATION_MIN_DAYS} days later, "
                f"SD ≥ {derive.STABLE_DISEASE_MIN_DAYS} days after the start."
            ),
        ),
        DerivedLine(
            "Objective response (ORR, all treated)",
            _flag(values.objective_response),
            note="NE or no assessment counts as no response.",
        ),
        DerivedLine(
            "Disease control (DCR, all treated)",
            _flag(values.disease_control),
            note="NE or no assessment counts as no control.",
        ),
        DerivedLine(
            "Evaluable for response (ORR/DCR among evaluable)",
            _flag(values.response_evaluable),
            note="" if values.response_evaluable else "Left out of the evaluable-only ORR and DCR.",
        ),
        _time_to_event_line(
            "PFS2 (rechallenge start → progression or death)",
            values.pfs2,
            event="event",
            censoring="Censored at the last adequate tumour assessment.",
        ),
        _time_to_event_line("PFS2, censored at last contact (sensitivity)", values.pfs2_last_contact, event="event"),
        _time_to_event_line("OS from rechallenge", values.os, event="death"),
        DerivedLine(
            "irAE recurrence",
            "No irAE during rechallenge"
            if not recurrence.any_grade
            else "; ".join(
                [
                    "irAE during rechallenge",
                    f"grade ≥3: {_flag(recurrence.grade3_or_higher)}",
                    f"same organ: {_flag(recurrence.same_organ)}",
                    f"same term: {_flag(recurrence.same_term)}",
                ]
            ),
        ),
        _competing_line("Time to first irAE on rechallenge", recurrence.time_to_any_grade),
        _competing_line(f"Time to recurrence of an irAE term of {preceding}", recurrence.time_to_same_term),
    ]
    return lines

"""Derived clinical variables of one patient, computed by ``registry.derive`` from the stored records.

This is the adapter between model instances and the pure functions of ``registry/derive.py``: it
picks the inputs each derivation needs (the *immediately preceding* ICI course for an episode's
predictors, follow-ups for outcomes) and turns the results into read-only lines for the patient page.
Nothing here queries the database: it works on the records ``patient_timeline`` already loaded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from registry import derive
from registry import vocabularies as v
from registry.dates import PartialDate

from .models import AdverseEvent, FollowUp, InitialCourse, RechallengeEpisode


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


@dataclass(frozen=True)
class EpisodeDerived:
    """Predictors (from the preceding course) and outcomes of one rechallenge episode."""

    preceding_course: str
    tfi_months: float | None
    tfi_imputed: bool
    worst_prior_grade: int
    all_prior_resolved: bool | None
    best_response: str | None
    objective_response: bool | None
    disease_control: bool | None
    pfs2: derive.TimeToEvent
    os: derive.TimeToEvent
    recurrence: derive.Recurrence


def prior_iraes(adverse_events: Sequence[AdverseEvent]) -> list[derive.PriorIrae]:
    return [
        derive.PriorIrae(
            ctcae_term=ae.ctcae_term,
            organ_category=ae.organ_category,
            grade=ae.grade,
            onset=ae.onset,
            resolved_to_grade=ae.resolved_to_grade,
            resolution=ae.resolution,
        )
        for ae in adverse_events
    ]


def course_derived(course: InitialCourse, *, episodes: Sequence[RechallengeEpisode]) -> CourseDerived:
    """PFS1, censored at ICI-1 stop or, later, at the start of the first rechallenge."""
    first_start = min((episode.start_date for episode in episodes), default=None)
    pfs1 = derive.progression_free_survival_1(
        start=course.start,
        progression=course.progression,
        stop=course.stop,
        last_contact=first_start or course.stop_date,
    )
    return CourseDerived(pfs1=pfs1)


def rechallenge_stop(episode: RechallengeEpisode) -> PartialDate | None:
    """When a rechallenge stopped: the earliest stop date any of its follow-ups records."""
    stops = [fu.rechallenge_stopped_date for fu in _follow_ups(episode) if fu.rechallenge_stopped_date]
    return PartialDate(min(stops)) if stops else None


def _follow_ups(episode: RechallengeEpisode) -> list[FollowUp]:
    return list(episode.follow_ups.all())  # prefetched by patient_timeline


def _last_contact(follow_ups: Sequence[FollowUp]) -> dt.date | None:
    """The last date the patient was known alive: an 'alive' follow-up or a last-known-alive date."""
    dates = [fu.last_known_alive_date for fu in follow_ups if fu.last_known_alive_date]
    dates += [fu.follow_up_date for fu in follow_ups if fu.vital_status == "alive"]
    return max(dates, default=None)


def episode_derived(
    episode: RechallengeEpisode,
    *,
    course: InitialCourse | None,
    previous: RechallengeEpisode | None,
    prior_adverse_events: Sequence[AdverseEvent],
    adverse_events: Sequence[AdverseEvent],
) -> EpisodeDerived:
    """Derive an episode's values; ``previous`` is the preceding rechallenge (None for the first one)."""
    if previous is None:
        preceding = "ICI-1"
        previous_stop = course.stop if course is not None else None
    else:
        preceding = f"rechallenge {previous.sequence_number}"
        previous_stop = rechallenge_stop(previous)
    tfi, tfi_imputed = derive.treatment_free_interval_months(
        previous_stop=previous_stop, rechallenge_start=episode.start_date
    )
    prior = prior_iraes(prior_adverse_events)
    observations = [
        derive.ResponseObservation(assessed_on=response.assessment_date, category=response.category)
        for response in episode.responses.all()
    ]
    best = derive.best_overall_response(observations)
    follow_ups = _follow_ups(episode)
    death_date = min((fu.death_date for fu in follow_ups if fu.death_date), default=None)
    last_contact = _last_contact(follow_ups)
    progression_dates = [fu.progression_date for fu in follow_ups]
    progression_dates.append(derive.progression_date_from_responses(observations))
    return EpisodeDerived(
        preceding_course=preceding,
        tfi_months=tfi,
        tfi_imputed=tfi_imputed,
        worst_prior_grade=derive.worst_prior_irae_grade(prior),
        all_prior_resolved=derive.all_prior_iraes_resolved_to_grade1(prior),
        best_response=best,
        objective_response=derive.objective_response(best),
        disease_control=derive.disease_control(best),
        pfs2=derive.progression_free_survival_2(
            rechallenge_start=episode.start_date,
            progression_dates=progression_dates,
            death_date=death_date,
            last_contact=last_contact,
        ),
        os=derive.overall_survival_from_rechallenge(
            rechallenge_start=episode.start_date, death_date=death_date, last_contact=last_contact
        ),
        recurrence=derive.irae_recurrence(
            prior=prior, during_rechallenge=prior_iraes(adverse_events), rechallenge_start=episode.start_date
        ),
    )


def timeline_derived(timeline: dict) -> tuple[CourseDerived | None, dict[int, EpisodeDerived]]:
    """Derived values of a whole ``patient_timeline``: the ICI-1 course and each episode by pk."""
    course = timeline["initial_course"]
    episodes = timeline["episodes"]
    by_episode = timeline["adverse_events_by_episode"]
    course_values = course_derived(course, episodes=episodes) if course is not None else None
    episode_values: dict[int, EpisodeDerived] = {}
    previous: RechallengeEpisode | None = None
    for episode in episodes:  # in sequence order
        prior = timeline["initial_adverse_events"] if previous is None else by_episode[previous.pk]
        episode_values[episode.pk] = episode_derived(
            episode,
            course=course,
            previous=previous,
            prior_adverse_events=prior,
            adverse_events=by_episode[episode.pk],
        )
        previous = episode
    return course_values, episode_values


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


def _time_to_event_line(label: str, value: derive.TimeToEvent, *, event: str) -> DerivedLine:
    if value.months is None:
        return DerivedLine(label, "Not computable", note=value.missing_reason or "")
    outcome = event if value.event else "censored"
    return DerivedLine(label, f"{_months(value.months)} ({outcome})", imputed=value.imputed)


def course_lines(values: CourseDerived) -> list[DerivedLine]:
    return [_time_to_event_line("PFS1 (ICI-1 start → progression)", values.pfs1, event="progression")]


def episode_lines(values: EpisodeDerived) -> list[DerivedLine]:
    preceding = values.preceding_course
    recurrence = values.recurrence
    tfi_note = "" if values.tfi_months is not None else f"Needs the stop date of {preceding}."
    time_to_recurrence = (
        _months(recurrence.months_to_first) if recurrence.any_grade and recurrence.months_to_first is not None else "–"
    )
    return [
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
        DerivedLine("Best overall response", _response_label(values.best_response)),
        DerivedLine("Objective response (ORR)", _flag(values.objective_response)),
        DerivedLine("Disease control (DCR)", _flag(values.disease_control)),
        _time_to_event_line("PFS2 (rechallenge start → progression or death)", values.pfs2, event="event"),
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
        DerivedLine("Time to first irAE on rechallenge", time_to_recurrence, imputed=recurrence.imputed),
    ]

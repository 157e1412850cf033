"""The decision model's inputs for an enrolled episode, computed from the recorded data.

Every predictor refers to the **immediately preceding ICI course**: ICI-1 for a first rechallenge,
the previous rechallenge for a later one. Values come from the same derived-variable adapter the
patient page shows (``apps.clinical.derived``), so what staff see is what the model was given.
"""

from __future__ import annotations

import datetime as dt

from apps.clinical.derived import rechallenge_stop, timeline_derived
from apps.clinical.models import AdverseEvent, RechallengeEpisode
from apps.clinical.selectors import patient_timeline
from registry.decision import DecisionInputs, PriorIraeInput


def _prior_irae_inputs(adverse_events: list[AdverseEvent]) -> tuple[PriorIraeInput, ...]:
    return tuple(
        PriorIraeInput(
            ctcae_term=ae.ctcae_term,
            grade=ae.grade,
            resolved_to_grade=ae.resolved_to_grade,
            steroid_refractory=ae.steroid_refractory,
            controlled_on_replacement=ae.organ_category == "endocrine" and ae.management == "hormone_replacement",
        )
        for ae in adverse_events
    )


def _progressed_while_on(progression: dt.date | None, stop: dt.date | None) -> bool | None:
    if progression is None:
        return False
    if stop is None:
        return None
    return progression <= stop


def episode_decision_inputs(episode: RechallengeEpisode) -> DecisionInputs:
    """Inputs of ``episode`` as they stand in the database now."""
    timeline = patient_timeline(patient=episode.patient)
    course_values, episode_values = timeline_derived(timeline)
    episodes = timeline["episodes"]
    index = next(i for i, candidate in enumerate(episodes) if candidate.pk == episode.pk)
    current = episodes[index]
    course = timeline["initial_course"]
    if index == 0:
        preceding_pfs = course_values.pfs1 if course_values else None
        prior = timeline["initial_adverse_events"]
        stop_reason = course.stop_reason if course else None
        progressed = _progressed_while_on(course.progression_date, course.stop_date) if course else None
    else:
        previous = episodes[index - 1]
        preceding_pfs = episode_values[previous.pk].pfs2
        prior = timeline["adverse_events_by_episode"][previous.pk]
        follow_ups = list(previous.follow_ups.all())
        stop = rechallenge_stop(previous)
        stopped = stop.value if stop else None
        progression = min((fu.progression_date for fu in follow_ups if fu.progression_date), default=None)
        stop_reason = next(
            (
                fu.rechallenge_stop_reason
                for fu in sorted(follow_ups, key=lambda fu: fu.follow_up_date)
                if fu.rechallenge_stop_reason
            ),
            None,
        )
        progressed = _progressed_while_on(progression, stopped)
    derived = episode_values[current.pk]
    return DecisionInputs(
        pfs1_months=None if preceding_pfs is None or preceding_pfs.months is None else round(preceding_pfs.months, 2),
        tfi_months=None if derived.tfi_months is None else round(derived.tfi_months, 2),
        progressed_on_ici1=progressed,
        ecog=current.ecog_at_rechallenge,
        prior_iraes=_prior_irae_inputs(prior),
        current_prednisone_mg_per_day=float(current.current_prednisone_mg_per_day),
        stop_reason=stop_reason or None,
        strategy=current.regimen_type,
    )

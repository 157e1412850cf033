"""The decision model's inputs for one rechallenge episode, read from a patient's plain records.

Every predictor refers to the **immediately preceding ICI course**: ICI-1 for a first rechallenge,
the previous rechallenge for a later one. How the records are read is part of the model version,
chosen by the specification's optional ``"inputs"`` section:

- **current** (``"inputs": {"months": "calendar", "missing": "missing"}``, spec 1.1 on): PFS1 and
  TFI in calendar months from :func:`registry.derive.derive_patient` (the values the patient page
  shows), ``pfs1_event`` says whether PFS1 ended in progression or is censored, and missing stays
  missing — a prednisone dose not recorded is ``None``, an irAE history not answered "no" with no
  irAE recorded is ``None``, an unknown steroid-refractoriness is ``None``. Progression on a preceding
  rechallenge also counts its response assessments (``registry.derive``'s RECIST/iRECIST reading).
- **legacy** (no ``"inputs"`` section, spec 1.0): exactly the reading 1.0 assessments were locked
  with, frozen here on purpose — months of 30.4375 days, PFS on a preceding rechallenge censored at
  last contact, a prednisone dose not recorded read as 0, the irAE history read as the irAEs
  recorded (``()`` when none), an unknown steroid-refractoriness read as "no", progression on a
  preceding rechallenge from its follow-ups only. A 1.0 re-assessment
  is then made only when recorded data change, never because the derivations were improved.

Pure Python: no Django.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from registry.dates import DAYS_PER_MONTH, PartialDate
from registry.decision.evaluate import DecisionInputs, PriorIraeInput
from registry.decision.spec import ModelSpec
from registry.derive import ResponseObservation, derive_patient, progression_date_from_responses
from registry.records import FollowUpRecord, IraeRecord, PatientRecords, ResponseRecord

#: Months are rounded to this many decimals before the model reads them (and in the locked snapshot).
MONTH_DECIMALS = 2


@dataclass(frozen=True, slots=True)
class InputReading:
    """How a spec reads the records: ``months`` (``calendar`` / ``days``) and ``missing`` (``missing`` / ``legacy``)."""

    months: str
    missing: str

    @property
    def is_legacy(self) -> bool:
        return self == LEGACY_READING


LEGACY_READING = InputReading(months="days", missing="legacy")
CURRENT_READING = InputReading(months="calendar", missing="missing")
_READINGS = (LEGACY_READING, CURRENT_READING)


def input_reading(spec: ModelSpec) -> InputReading:
    """The reading ``spec`` asks for: legacy without an ``"inputs"`` section, else the one it names."""
    section = spec.data.get("inputs")
    if section is None:
        return LEGACY_READING
    reading = InputReading(months=section.get("months", ""), missing=section.get("missing", ""))
    if reading not in _READINGS:
        raise ValueError(f"decision model {spec.version}: unsupported inputs reading {dict(section)!r}")
    return reading


def decision_inputs(records: PatientRecords, episode_id: int, spec: ModelSpec) -> DecisionInputs:
    """What ``spec`` is given for episode ``episode_id`` of the patient ``records`` describes."""
    if list(records.episodes) != sorted(records.episodes, key=lambda e: e.sequence_number):
        records = replace(records, episodes=tuple(sorted(records.episodes, key=lambda e: e.sequence_number)))
    index = records.episode_index(episode_id)
    if input_reading(spec).is_legacy:
        return _legacy_inputs(records, index)
    return _current_inputs(records, index)


def inputs_snapshot(inputs: DecisionInputs, spec: ModelSpec) -> dict[str, Any]:
    """The inputs as JSON for the locked assessment; a legacy (1.0) snapshot keeps exactly its old keys."""
    snapshot: dict[str, Any] = {"pfs1_months": inputs.pfs1_months}
    if not input_reading(spec).is_legacy:
        snapshot["pfs1_event"] = inputs.pfs1_event
    snapshot.update(
        {
            "tfi_months": inputs.tfi_months,
            "progressed_on_ici1": inputs.progressed_on_ici1,
            "ecog": inputs.ecog,
            "prior_iraes": None
            if inputs.prior_iraes is None
            else [
                {
                    "ctcae_term": irae.ctcae_term,
                    "grade": irae.grade,
                    "resolved_to_grade": irae.resolved_to_grade,
                    "steroid_refractory": irae.steroid_refractory,
                    "controlled_on_replacement": irae.controlled_on_replacement,
                }
                for irae in inputs.prior_iraes
            ],
            "current_prednisone_mg_per_day": inputs.current_prednisone_mg_per_day,
            "stop_reason": inputs.stop_reason,
            "strategy": inputs.strategy,
        }
    )
    return snapshot


# --- The preceding course ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Preceding:
    """What the model reads of the course before the episode (ICI-1 or the previous rechallenge)."""

    iraes: tuple[IraeRecord, ...]
    #: "yes" / "no" / "unknown", or None when the irAE question was not answered.
    irae_history: str | None
    stop_reason: str | None
    progressed_while_on: bool | None
    #: Id of the previous rechallenge; None when the preceding course is ICI-1.
    episode_id: int | None


def _of_episode(items: Iterable[Any], episode_id: int | None) -> list[Any]:
    return [item for item in items if item.episode_id == episode_id]


def _progressed_while_on(progression: dt.date | None, stop: dt.date | None) -> bool | None:
    """No progression → False; progression but no stop date → unknown; else progression on or before stop."""
    if progression is None:
        return False
    if stop is None:
        return None
    return progression <= stop


def _preceding(records: PatientRecords, index: int, *, legacy: bool) -> _Preceding:
    """The preceding course's facts; a rechallenge's progression also counts its response assessments,
    except in the legacy reading, which read the follow-ups' progression dates only."""
    if index == 0:
        course = records.course
        if course is None:
            return _Preceding(_iraes(records, None), None, None, None, None)
        progression = course.progression.value if course.progression else None
        stop = course.stop.value if course.stop else None
        return _Preceding(
            iraes=_iraes(records, None),
            irae_history=course.iraes_during_course or None,
            stop_reason=course.stop_reason or None,
            progressed_while_on=_progressed_while_on(progression, stop),
            episode_id=None,
        )
    previous = records.episodes[index - 1]
    follow_ups: list[FollowUpRecord] = _of_episode(records.follow_ups, previous.id)
    stopped = min((fu.rechallenge_stopped_date for fu in follow_ups if fu.rechallenge_stopped_date), default=None)
    progressions: list[dt.date | None] = [fu.progression_date for fu in follow_ups if fu.progression_date]
    if not legacy:
        observations = [
            ResponseObservation(assessed_on=r.assessed_on, category=r.category)
            for r in _of_episode(records.responses, previous.id)
        ]
        progressions.append(progression_date_from_responses(observations))
    progression = min((d for d in progressions if d is not None), default=None)
    stop_reason = next(
        (
            fu.rechallenge_stop_reason
            for fu in sorted(follow_ups, key=lambda fu: fu.follow_up_date)
            if fu.rechallenge_stop_reason
        ),
        None,
    )
    return _Preceding(
        iraes=_iraes(records, previous.id),
        irae_history=previous.iraes_during_rechallenge or None,
        stop_reason=stop_reason,
        progressed_while_on=_progressed_while_on(progression, stopped),
        episode_id=previous.id,
    )


def _iraes(records: PatientRecords, episode_id: int | None) -> tuple[IraeRecord, ...]:
    """The course's irAEs in onset order (as the database lists them), whatever order the records came in."""
    return tuple(
        sorted(
            _of_episode(records.iraes, episode_id),
            key=lambda irae: (irae.onset is None, irae.onset.value if irae.onset else dt.date.min),
        )
    )


def _irae_input(irae: IraeRecord, *, unknown_refractory_is_no: bool) -> PriorIraeInput:
    refractory = irae.steroid_refractory
    return PriorIraeInput(
        ctcae_term=irae.ctcae_term,
        grade=irae.grade,
        resolved_to_grade=irae.resolved_to_grade,
        steroid_refractory=bool(refractory) if unknown_refractory_is_no else refractory,
        controlled_on_replacement=irae.organ_category == "endocrine" and irae.management == "hormone_replacement",
    )


def _round(months: float | None) -> float | None:
    return None if months is None else round(months, MONTH_DECIMALS)


# --- Current reading (spec 1.1 on) -------------------------------------------------------------------


def _prior_iraes(preceding: _Preceding) -> tuple[PriorIraeInput, ...] | None:
    """The irAEs recorded; none recorded is "none" only when the history was answered "no"."""
    if preceding.iraes:
        return tuple(_irae_input(irae, unknown_refractory_is_no=False) for irae in preceding.iraes)
    return () if preceding.irae_history == "no" else None


def _current_inputs(records: PatientRecords, index: int) -> DecisionInputs:
    episode = records.episodes[index]
    derived = derive_patient(records).episodes[episode.id]
    preceding = _preceding(records, index, legacy=False)
    pfs1 = derived.pfs1
    known = pfs1 is not None and pfs1.months is not None
    return DecisionInputs(
        pfs1_months=_round(pfs1.months) if known else None,
        pfs1_event=pfs1.event if known else None,
        tfi_months=_round(derived.tfi_months),
        progressed_on_ici1=preceding.progressed_while_on,
        ecog=episode.ecog_at_rechallenge,
        prior_iraes=_prior_iraes(preceding),
        current_prednisone_mg_per_day=episode.current_prednisone_mg_per_day,
        stop_reason=preceding.stop_reason,
        strategy=episode.regimen_type,
    )


# --- Legacy reading (spec 1.0), frozen ---------------------------------------------------------------
# The derivations as they stood when 1.0 assessments were locked. Do not "fix" them: a 1.0 lock is
# compared with these values to decide whether recorded data changed.


def _legacy_months(start: PartialDate, end: PartialDate) -> float | None:
    """Days / 30.4375; 0 when only mid-month imputation puts ``end`` first in the same month, else None."""
    if end.value >= start.value:
        return (end.value - start.value).days / DAYS_PER_MONTH
    same_month = (start.value.year, start.value.month) == (end.value.year, end.value.month)
    if same_month and (start.imputed or end.imputed):
        return 0.0
    return None


def _legacy_latest(dates: Iterable[PartialDate | None]) -> PartialDate | None:
    known = [d for d in dates if d is not None]
    return max(known, key=lambda d: (d.value, not d.imputed)) if known else None


def _legacy_pfs_of_ici1(records: PatientRecords) -> float | None:
    """ICI-1 start → progression, else censored at the later of the stop and the first rechallenge."""
    course = records.course
    if course is None or course.start is None:
        return None
    if course.progression is not None:
        return _legacy_months(course.start, course.progression)
    first_start = min((e.start_date for e in records.episodes if e.start_date is not None), default=None)
    last_contact = first_start or (course.stop.value if course.stop else None)
    censor = _legacy_latest([course.stop, PartialDate(last_contact) if last_contact else None])
    return None if censor is None else _legacy_months(course.start, censor)


def _legacy_progression_from_responses(responses: Sequence[ResponseRecord]) -> dt.date | None:
    """RECIST 1.1: the first PD. iRECIST (any ``i…`` category): the first iUPD a later iCPD confirmed."""
    if any(r.category.startswith("i") for r in responses):
        pending: dt.date | None = None
        for response in sorted(responses, key=lambda r: r.assessed_on):
            if response.category == "iUPD" and pending is None:
                pending = response.assessed_on
            elif response.category == "iCPD":
                return pending or response.assessed_on
            elif response.category in ("iSD", "iPR", "iCR"):
                pending = None
        return None
    return min((r.assessed_on for r in responses if r.category == "PD"), default=None)


def _legacy_pfs_of_rechallenge(records: PatientRecords, episode_id: int, start: dt.date | None) -> float | None:
    """Rechallenge start → progression or death, else censored at the last date known alive."""
    if start is None:
        return None
    follow_ups: list[FollowUpRecord] = _of_episode(records.follow_ups, episode_id)
    responses: list[ResponseRecord] = _of_episode(records.responses, episode_id)
    progressions = [fu.progression_date for fu in follow_ups]
    progressions.append(_legacy_progression_from_responses(responses))
    first_progression = min((d for d in progressions if d is not None), default=None)
    death = min((fu.death_date for fu in follow_ups if fu.death_date), default=None)
    events = [d for d in (first_progression, death) if d is not None]
    end: dt.date | None
    if events:
        end = min(events)
    else:
        alive = [fu.last_known_alive_date for fu in follow_ups if fu.last_known_alive_date]
        alive += [fu.follow_up_date for fu in follow_ups if fu.vital_status == "alive"]
        end = max(alive, default=None)
    return None if end is None else _legacy_months(PartialDate(start), PartialDate(end))


def _legacy_inputs(records: PatientRecords, index: int) -> DecisionInputs:
    episode = records.episodes[index]
    preceding = _preceding(records, index, legacy=True)
    if index == 0:
        pfs1 = _legacy_pfs_of_ici1(records)
        previous_stop = records.course.stop if records.course is not None else None
    else:
        previous = records.episodes[index - 1]
        pfs1 = _legacy_pfs_of_rechallenge(records, previous.id, previous.start_date)
        stops = [fu.rechallenge_stopped_date for fu in _of_episode(records.follow_ups, previous.id)]
        known_stops = [d for d in stops if d is not None]
        previous_stop = PartialDate(min(known_stops)) if known_stops else None
    tfi = None
    if previous_stop is not None and episode.start_date is not None:
        tfi = _legacy_months(previous_stop, PartialDate(episode.start_date))
    dose = episode.current_prednisone_mg_per_day
    return DecisionInputs(
        pfs1_months=_round(pfs1),
        tfi_months=_round(tfi),
        progressed_on_ici1=preceding.progressed_while_on,
        ecog=episode.ecog_at_rechallenge,
        prior_iraes=tuple(_irae_input(irae, unknown_refractory_is_no=True) for irae in preceding.iraes),
        current_prednisone_mg_per_day=0.0 if dose is None else float(dose),
        stop_reason=preceding.stop_reason,
        strategy=episode.regimen_type,
    )

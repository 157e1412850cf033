"""Derived clinical variables: computed from the case report form, never typed in.

Rules every function here follows:

- **Months** are elapsed days / 30.4375 (365.25 / 12, :data:`registry.dates.DAYS_PER_MONTH`).
- **Imputation propagates.** A date known only to the month is stored at mid-month (the 15th); any
  value computed from such a date is flagged ``imputed=True`` so reports can show it.
- **Imputation never invents a contradiction.** If an end date falls before its start date only
  because one of them was imputed to the 15th of the *same* calendar month, the interval is 0 months
  (flagged imputed) rather than an error. An end genuinely before its start gives no value
  (``months=None``) and, for time-to-event variables, a ``missing_reason``.
- **Events.** PFS1 (ICI-1): progression only — every registry patient lived to be rechallenged.
  PFS2 (rechallenge): progression or death, whichever is first. OS: death. Without an event the
  patient is censored at the last date they were known to be event-free.
- **Response criteria are not mixed.** If any assessment is iRECIST (a category starting with
  ``i``), only iRECIST assessments count; RECIST 1.1 ones are ignored.
- Missing values stay missing: nothing is guessed beyond the mid-month rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from registry import vocabularies
from registry.dates import PartialDate, as_partial, months_between

RECIST_CATEGORIES: tuple[str, ...] = vocabularies.RECIST_CATEGORIES.codes()
IRECIST_CATEGORIES: tuple[str, ...] = vocabularies.IRECIST_CATEGORIES.codes()

# Higher is better; NE is lowest so it is the best response only when nothing else was assessed.
_RECIST_RANK: dict[str, int] = {"CR": 4, "PR": 3, "SD": 2, "PD": 1, "NE": 0}
_IRECIST_RANK: dict[str, int] = {"iCR": 5, "iPR": 4, "iSD": 3, "iUPD": 2, "iCPD": 1, "NE": 0}
_KNOWN_CATEGORIES = frozenset(_RECIST_RANK) | frozenset(_IRECIST_RANK)
_OBJECTIVE_RESPONSES = frozenset({"CR", "PR", "iCR", "iPR"})
_DISEASE_CONTROL = _OBJECTIVE_RESPONSES | {"SD", "iSD"}
# iRECIST categories after which a pending iUPD is no longer waiting for confirmation.
_IRECIST_RESETS = frozenset({"iSD", "iPR", "iCR"})


@dataclass(frozen=True, slots=True)
class TimeToEvent:
    """A time-to-event value ready for survival analysis, or the reason it could not be computed."""

    months: float | None
    event: bool | None
    imputed: bool
    end_date: dt.date | None
    missing_reason: str | None


@dataclass(frozen=True, slots=True)
class PriorIrae:
    """One immune-related adverse event, reduced to the plain values the derivations need."""

    ctcae_term: str
    organ_category: str
    grade: int
    onset: PartialDate | None = None
    resolved_to_grade: int | None = None
    resolution: PartialDate | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.grade <= 5:
            raise ValueError(f"CTCAE grade must be 1-5, not {self.grade}")
        if self.resolved_to_grade is not None and not 0 <= self.resolved_to_grade <= 4:
            raise ValueError(f"an irAE resolves to grade 0-4, not {self.resolved_to_grade}")


@dataclass(frozen=True, slots=True)
class ResponseObservation:
    """One tumour response assessment (RECIST 1.1 or iRECIST category)."""

    assessed_on: dt.date
    category: str

    def __post_init__(self) -> None:
        _check_category(self.category)


@dataclass(frozen=True, slots=True)
class Recurrence:
    """irAEs during a rechallenge, compared with the irAEs of the preceding ICI course."""

    any_grade: bool
    grade3_or_higher: bool
    same_organ: bool
    same_term: bool
    months_to_first: float | None
    imputed: bool


# --- helpers ---------------------------------------------------------------------------------------


def _check_category(category: str | None) -> None:
    if category is not None and category not in _KNOWN_CATEGORIES:
        raise ValueError(f"{category!r} is not a RECIST 1.1 or iRECIST response category")


def _missing(reason: str) -> TimeToEvent:
    return TimeToEvent(months=None, event=None, imputed=False, end_date=None, missing_reason=reason)


def _elapsed_months(start: PartialDate, end: PartialDate) -> float | None:
    """Months from ``start`` to ``end``; 0 if only mid-month imputation puts ``end`` first, else None."""
    if end.value >= start.value:
        return months_between(start.value, end.value)
    same_month = (start.value.year, start.value.month) == (end.value.year, end.value.month)
    if same_month and (start.imputed or end.imputed):
        return 0.0
    return None


def _time_to_event(
    *, start: PartialDate, end: PartialDate, event: bool, start_label: str, end_label: str
) -> TimeToEvent:
    months = _elapsed_months(start, end)
    if months is None:
        return _missing(f"{end_label} is before the {start_label}")
    return TimeToEvent(
        months=months,
        event=event,
        imputed=start.imputed or end.imputed,
        # An end clamped to the start (same-month imputation) is reported at the start date.
        end_date=max(start.value, end.value),
        missing_reason=None,
    )


def _latest(dates: Iterable[PartialDate | None]) -> PartialDate | None:
    """The latest known date; on a tie, the day-precision one (so no needless imputed flag)."""
    known = [d for d in dates if d is not None]
    return max(known, key=lambda d: (d.value, not d.imputed)) if known else None


def _uses_irecist(observations: Iterable[ResponseObservation]) -> bool:
    return any(o.category.startswith("i") for o in observations)


def _chronological(observations: Sequence[ResponseObservation]) -> list[ResponseObservation]:
    return sorted(observations, key=lambda o: o.assessed_on)


def _confirmed_irecist(observations: Sequence[ResponseObservation]) -> list[tuple[dt.date, str]]:
    """iRECIST assessments in date order, each iUPD that a later iCPD confirmed relabelled iCPD.

    An iUPD waits for confirmation until the next iCPD (confirmed) or iSD/iPR/iCR (reset); NE and
    further iUPDs leave it waiting. RECIST 1.1 categories are dropped (criteria are not mixed).
    """
    labelled: list[tuple[dt.date, str]] = []
    pending: list[int] = []
    for obs in _chronological(observations):
        if obs.category not in _IRECIST_RANK:
            continue
        if obs.category == "iUPD":
            pending.append(len(labelled))
        elif obs.category == "iCPD":
            for index in pending:
                labelled[index] = (labelled[index][0], "iCPD")
            pending = []
        elif obs.category in _IRECIST_RESETS:
            pending = []
        labelled.append((obs.assessed_on, obs.category))
    return labelled


# --- ICI-1 ------------------------------------------------------------------------------------------


def progression_free_survival_1(
    *,
    start: PartialDate | dt.date | None,
    progression: PartialDate | dt.date | None,
    stop: PartialDate | dt.date | None,
    last_contact: dt.date | None,
) -> TimeToEvent:
    """PFS on ICI-1: start to progression, else censored at the later of stop and last contact.

    Death is not an event here: a patient in the registry survived ICI-1 to be rechallenged.
    """
    start_date = as_partial(start)
    if start_date is None:
        return _missing("ICI-1 start date is missing")
    progression_date = as_partial(progression)
    if progression_date is not None:
        return _time_to_event(
            start=start_date,
            end=progression_date,
            event=True,
            start_label="ICI-1 start date",
            end_label="ICI-1 progression date",
        )
    censor_date = _latest([as_partial(stop), as_partial(last_contact)])
    if censor_date is None:
        return _missing("no ICI-1 progression, and no stop or last-contact date to censor at")
    return _time_to_event(
        start=start_date,
        end=censor_date,
        event=False,
        start_label="ICI-1 start date",
        end_label="censoring date (later of ICI-1 stop and last contact)",
    )


def treatment_free_interval_months(
    *, previous_stop: PartialDate | dt.date | None, rechallenge_start: dt.date | None
) -> tuple[float | None, bool]:
    """Months off ICI between the preceding course's stop and the rechallenge, with its imputed flag.

    ``(None, False)`` when either date is missing or the rechallenge starts before the stop.
    """
    stop = as_partial(previous_stop)
    start = as_partial(rechallenge_start)
    if stop is None or start is None:
        return None, False
    months = _elapsed_months(stop, start)
    if months is None:
        return None, False
    return months, stop.imputed or start.imputed


def worst_prior_irae_grade(iraes: Sequence[PriorIrae]) -> int:
    """Highest CTCAE grade among the prior course's irAEs; 0 when there were none."""
    return max((irae.grade for irae in iraes), default=0)


def all_prior_iraes_resolved_to_grade1(iraes: Sequence[PriorIrae]) -> bool | None:
    """Whether every prior irAE is back to grade ≤ 1, the usual precondition for restarting an ICI.

    True with no irAEs; False if any irAE is known to remain above grade 1 (or was fatal);
    None if some resolution is unknown and none is known to be unresolved. An irAE whose worst
    grade was 1 is at grade ≤ 1 whatever its recorded resolution.
    """
    unknown = False
    for irae in iraes:
        if irae.grade == 5:
            return False
        if irae.grade <= 1:
            continue
        if irae.resolved_to_grade is None:
            unknown = True
        elif irae.resolved_to_grade > 1:
            return False
    return None if unknown else True


# --- Rechallenge response ---------------------------------------------------------------------------


def best_overall_response(observations: Sequence[ResponseObservation]) -> str | None:
    """Best response over the rechallenge (RECIST 1.1 BOR or iRECIST iBOR); None without assessments.

    RECIST: CR > PR > SD > PD > NE. iRECIST: iCR > iPR > iSD > iUPD > iCPD > NE, where an iUPD later
    confirmed by iCPD counts as iCPD. NE is the best response only if nothing else was assessed.
    """
    if not observations:
        return None
    if _uses_irecist(observations):
        categories = [category for _, category in _confirmed_irecist(observations)]
        return max(categories, key=_IRECIST_RANK.__getitem__)
    return max((o.category for o in observations), key=_RECIST_RANK.__getitem__)


def objective_response(best: str | None) -> bool | None:
    """ORR flag: complete or partial response; None when the best response is unknown or NE."""
    _check_category(best)
    if best is None or best == "NE":
        return None
    return best in _OBJECTIVE_RESPONSES


def disease_control(best: str | None) -> bool | None:
    """DCR flag: complete, partial response or stable disease; None when unknown or NE."""
    _check_category(best)
    if best is None or best == "NE":
        return None
    return best in _DISEASE_CONTROL


def progression_date_from_responses(observations: Sequence[ResponseObservation]) -> dt.date | None:
    """Date of progression shown by the response assessments, or None.

    RECIST 1.1: the earliest PD. iRECIST: progression dates back to the first iUPD that a later iCPD
    confirmed (or to the iCPD itself if no iUPD preceded it); an unconfirmed iUPD is not progression.
    """
    if _uses_irecist(observations):
        pending: dt.date | None = None
        for obs in _chronological(observations):
            if obs.category == "iUPD" and pending is None:
                pending = obs.assessed_on
            elif obs.category == "iCPD":
                return pending or obs.assessed_on
            elif obs.category in _IRECIST_RESETS:
                pending = None
        return None
    return min((o.assessed_on for o in observations if o.category == "PD"), default=None)


# --- Rechallenge outcome ----------------------------------------------------------------------------


def _from_rechallenge(
    *,
    rechallenge_start: dt.date | None,
    events: dict[str, dt.date | None],
    last_contact: dt.date | None,
    no_event: str,
) -> TimeToEvent:
    """Rechallenge start to the earliest event (first-listed label wins a tie), else to last contact."""
    if rechallenge_start is None:
        return _missing("rechallenge start date is missing")
    start = PartialDate(rechallenge_start)
    known = [(when, label) for label, when in events.items() if when is not None]
    if known:
        when, label = min(known, key=lambda item: item[0])
        return _time_to_event(
            start=start,
            end=PartialDate(when),
            event=True,
            start_label="rechallenge start date",
            end_label=label,
        )
    if last_contact is None:
        return _missing(f"no {no_event}, and no last-contact date to censor at")
    return _time_to_event(
        start=start,
        end=PartialDate(last_contact),
        event=False,
        start_label="rechallenge start date",
        end_label="last-contact date",
    )


def progression_free_survival_2(
    *,
    rechallenge_start: dt.date | None,
    progression_dates: Sequence[dt.date | None],
    death_date: dt.date | None,
    last_contact: dt.date | None,
) -> TimeToEvent:
    """PFS after rechallenge: start to the first progression or death, else censored at last contact.

    Progression dates may come from several sources (follow-up, response assessments); None entries
    are ignored and the earliest counts. Progression and death on the same day are one event.
    """
    first_progression = min((d for d in progression_dates if d is not None), default=None)
    return _from_rechallenge(
        rechallenge_start=rechallenge_start,
        events={"progression date": first_progression, "death date": death_date},
        last_contact=last_contact,
        no_event="progression or death",
    )


def overall_survival_from_rechallenge(
    *, rechallenge_start: dt.date | None, death_date: dt.date | None, last_contact: dt.date | None
) -> TimeToEvent:
    """OS from rechallenge start to death, else censored at the last date known alive."""
    return _from_rechallenge(
        rechallenge_start=rechallenge_start,
        events={"death date": death_date},
        last_contact=last_contact,
        no_event="death",
    )


def irae_recurrence(
    *, prior: Sequence[PriorIrae], during_rechallenge: Sequence[PriorIrae], rechallenge_start: dt.date | None
) -> Recurrence:
    """irAEs on rechallenge: any grade, grade ≥ 3, in an organ or term already hit, and time to the first.

    ``months_to_first`` runs from rechallenge start to the earliest onset among all irAEs during the
    rechallenge; it is None when the start or any onset is missing (the unknown one may have been
    first) or when the earliest onset is genuinely before the start.
    """
    prior_organs = {irae.organ_category for irae in prior}
    prior_terms = {irae.ctcae_term for irae in prior}
    months: float | None = None
    imputed = False
    start = as_partial(rechallenge_start)
    onsets = [irae.onset for irae in during_rechallenge]
    if start is not None and onsets and all(onset is not None for onset in onsets):
        first = min((o for o in onsets if o is not None), key=lambda d: (d.value, d.imputed))
        months = _elapsed_months(start, first)
        imputed = months is not None and first.imputed
    return Recurrence(
        any_grade=bool(during_rechallenge),
        grade3_or_higher=any(irae.grade >= 3 for irae in during_rechallenge),
        same_organ=any(irae.organ_category in prior_organs for irae in during_rechallenge),
        same_term=any(irae.ctcae_term in prior_terms for irae in during_rechallenge),
        months_to_first=months,
        imputed=imputed,
    )

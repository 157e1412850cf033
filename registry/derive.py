"""Derived clinical variables: computed from the case report form, never typed in.

Rules every function here follows:

- **Months.** The decision model's predictors, PFS1 and the treatment-free interval, are in
  **calendar months** (:func:`registry.dates.calendar_months_between`), so an exact 12-month interval
  meets a "≥ 12 months" cut-point. Outcomes (PFS2, OS, time to irAE recurrence) are elapsed days /
  30.4375 (365.25 / 12, :data:`registry.dates.DAYS_PER_MONTH`), as survival analyses report them.
- **Imputation propagates.** A date known only to the month is stored at mid-month (the 15th); any
  value computed from such a date is flagged ``imputed=True`` so reports can show it.
- **Imputation never invents a contradiction.** If an end date falls before its start date only
  because one of them was imputed to the 15th of the *same* calendar month, the interval is 0 months
  (flagged imputed) rather than an error. An end genuinely before its start gives no value
  (``months=None``) and, for time-to-event variables, a ``missing_reason``.
- **Events.** PFS1 (ICI-1): progression only — every registry patient lived to be rechallenged.
  PFS2 (rechallenge): progression or death, whichever is first, censored at the last adequate tumour
  assessment (the trialists' rule; last-contact censoring is kept as a named sensitivity variant).
  OS: death, censored at last contact. irAE recurrence: the irAE, with death as a competing event.
- **Best overall response** follows RECIST 1.1 / iRECIST: only assessments up to progression count,
  CR/PR need confirmation :data:`RESPONSE_CONFIRMATION_MIN_DAYS` later, SD needs
  :data:`STABLE_DISEASE_MIN_DAYS` from rechallenge start. Criteria are not mixed: if any assessment
  is iRECIST (a category starting with ``i``), the RECIST 1.1 rows of that episode are read as their
  iRECIST equivalents (RECIST progression is iUPD by definition) rather than dropped.
- Missing values stay missing: nothing is guessed beyond the mid-month rule.

:func:`derive_patient` applies all of these to one patient's :class:`registry.records.PatientRecords`;
:mod:`registry.derive_frames` computes the same values set-wise and is tested equal to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from registry import vocabularies
from registry.dates import PartialDate, as_partial, calendar_months_between, months_between
from registry.records import EpisodeRecord, FollowUpRecord, IraeRecord, PatientRecords, ResponseRecord

RECIST_CATEGORIES: tuple[str, ...] = vocabularies.RECIST_CATEGORIES.codes()
IRECIST_CATEGORIES: tuple[str, ...] = vocabularies.IRECIST_CATEGORIES.codes()

#: A CR or PR counts only if a later assessment confirms it at least this many days later (RECIST 1.1).
RESPONSE_CONFIRMATION_MIN_DAYS = 28
#: SD (or an unconfirmed response) counts only if assessed at least this many days after rechallenge start.
STABLE_DISEASE_MIN_DAYS = 42

_KNOWN_CATEGORIES = frozenset(RECIST_CATEGORIES) | frozenset(IRECIST_CATEGORIES)
#: How a RECIST 1.1 row reads in an episode assessed by iRECIST.
RECIST_AS_IRECIST: dict[str, str] = {"CR": "iCR", "PR": "iPR", "SD": "iSD", "PD": "iUPD", "NE": "NE"}
_COMPLETE_RESPONSES = frozenset({"CR", "iCR"})
_OBJECTIVE_RESPONSES = frozenset({"CR", "PR", "iCR", "iPR"})
_DISEASE_CONTROL = _OBJECTIVE_RESPONSES | {"SD", "iSD"}
#: Categories that end the assessment window: RECIST progression, iRECIST confirmed progression.
_PROGRESSION = frozenset({"PD", "iCPD"})
# iRECIST categories after which a pending iUPD is no longer waiting for confirmation.
_IRECIST_RESETS = frozenset({"iSD", "iPR", "iCR"})

#: The four irAE recurrence variables, in the order reports list them.
RECURRENCE_KINDS: tuple[str, ...] = ("any_grade", "same_term", "same_organ", "grade3_or_higher")
#: ``CompetingTime.event_code`` values, as lifelines' ``AalenJohansenFitter`` reads them.
EVENT_CODES: dict[str, int] = {"censored": 0, "irae": 1, "death": 2}


@dataclass(frozen=True, slots=True)
class TimeToEvent:
    """A time-to-event value ready for survival analysis, or the reason it could not be computed."""

    months: float | None
    event: bool | None
    imputed: bool
    end_date: dt.date | None
    missing_reason: str | None


@dataclass(frozen=True, slots=True)
class CompetingTime:
    """Time to an irAE with death as a competing event (for cumulative incidence), or why it is unknown."""

    months: float | None
    #: "irae", "death" (the competing event) or "censored"; None when the time could not be computed.
    event_type: str | None
    imputed: bool
    end_date: dt.date | None
    missing_reason: str | None

    @property
    def event_code(self) -> int | None:
        """0 censored, 1 irAE, 2 competing death (``AalenJohansenFitter(event_of_interest=1)``)."""
        return None if self.event_type is None else EVENT_CODES[self.event_type]


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
    """irAEs during a rechallenge compared with the preceding course's: four flags, four competing times."""

    any_grade: bool
    same_term: bool
    same_organ: bool
    grade3_or_higher: bool
    time_to_any_grade: CompetingTime
    time_to_same_term: CompetingTime
    time_to_same_organ: CompetingTime
    time_to_grade3_or_higher: CompetingTime

    def occurred(self, kind: str) -> bool:
        return getattr(self, kind)

    def time_to(self, kind: str) -> CompetingTime:
        return getattr(self, f"time_to_{kind}")


# --- helpers ---------------------------------------------------------------------------------------


def _check_category(category: str | None) -> None:
    if category is not None and category not in _KNOWN_CATEGORIES:
        raise ValueError(f"{category!r} is not a RECIST 1.1 or iRECIST response category")


def _missing(reason: str) -> TimeToEvent:
    return TimeToEvent(months=None, event=None, imputed=False, end_date=None, missing_reason=reason)


def _missing_competing(reason: str) -> CompetingTime:
    return CompetingTime(months=None, event_type=None, imputed=False, end_date=None, missing_reason=reason)


def _elapsed_months(start: PartialDate, end: PartialDate, *, calendar: bool = False) -> float | None:
    """Months from ``start`` to ``end``; 0 if only mid-month imputation puts ``end`` first, else None."""
    if end.value >= start.value:
        if calendar:
            return calendar_months_between(start.value, end.value)
        return months_between(start.value, end.value)
    same_month = (start.value.year, start.value.month) == (end.value.year, end.value.month)
    if same_month and (start.imputed or end.imputed):
        return 0.0
    return None


def _time_to_event(
    *, start: PartialDate, end: PartialDate, event: bool, start_label: str, end_label: str, calendar: bool = False
) -> TimeToEvent:
    months = _elapsed_months(start, end, calendar=calendar)
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


def _earliest(dates: Iterable[PartialDate]) -> PartialDate:
    """The earliest date; on a tie, the day-precision one."""
    return min(dates, key=lambda d: (d.value, d.imputed))


def _uses_irecist(observations: Iterable[ResponseObservation]) -> bool:
    return any(o.category.startswith("i") for o in observations)


def _read(observations: Sequence[ResponseObservation]) -> list[tuple[dt.date, str]]:
    """Assessments in date order (stable on ties), RECIST rows read as iRECIST in an iRECIST episode."""
    ordered = sorted(observations, key=lambda o: o.assessed_on)
    if _uses_irecist(observations):
        return [(o.assessed_on, RECIST_AS_IRECIST.get(o.category, o.category)) for o in ordered]
    return [(o.assessed_on, o.category) for o in ordered]


def _up_to_progression(assessed: list[tuple[dt.date, str]]) -> list[tuple[dt.date, str]]:
    """The assessments up to and including the first progression (PD, or iCPD under iRECIST)."""
    for index, (_, category) in enumerate(assessed):
        if category in _PROGRESSION:
            return assessed[: index + 1]
    return assessed


def _confirmed(dates: Sequence[dt.date]) -> bool:
    """Whether some assessment is followed by another at least the confirmation interval later.

    Any two qualifying assessments will do, so this is the span from the first to the last.
    """
    return bool(dates) and (max(dates) - min(dates)).days >= RESPONSE_CONFIRMATION_MIN_DAYS


# --- ICI-1 ------------------------------------------------------------------------------------------


def progression_free_survival_1(
    *,
    start: PartialDate | dt.date | None,
    progression: PartialDate | dt.date | None,
    stop: PartialDate | dt.date | None,
    last_contact: dt.date | None,
) -> TimeToEvent:
    """PFS on ICI-1 in calendar months: start to progression, else censored at the later of stop and last contact.

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
            calendar=True,
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
        calendar=True,
    )


def treatment_free_interval_months(
    *, previous_stop: PartialDate | dt.date | None, rechallenge_start: dt.date | None
) -> tuple[float | None, bool]:
    """Calendar months off ICI between the preceding course's stop and the rechallenge, with its imputed flag.

    ``(None, False)`` when either date is missing or the rechallenge starts before the stop.
    """
    stop = as_partial(previous_stop)
    start = as_partial(rechallenge_start)
    if stop is None or start is None:
        return None, False
    months = _elapsed_months(stop, start, calendar=True)
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


def best_overall_response(
    observations: Sequence[ResponseObservation], *, rechallenge_start: dt.date | None
) -> str | None:
    """Best overall response of the rechallenge (RECIST 1.1 BOR or iRECIST iBOR); None without assessments.

    Only assessments up to the first progression (PD; iCPD under iRECIST) count. In that window:

    1. CR if a CR is confirmed by a later CR ≥ :data:`RESPONSE_CONFIRMATION_MIN_DAYS` days after it;
    2. PR if a CR or PR is confirmed by a later CR or PR that far after it (a CR followed by a PR is
       read as a PR, as RECIST 1.1 advises);
    3. SD if an SD, or an unconfirmed CR/PR, was assessed ≥ :data:`STABLE_DISEASE_MIN_DAYS` days after
       rechallenge start;
    4. otherwise PD if the window ends in progression (iCPD; iUPD if progression was never confirmed),
       else NE.

    The start anchors the SD duration: without it the best response is not computed (None).
    """
    if not observations or rechallenge_start is None:
        return None
    irecist = _uses_irecist(observations)
    assessed = _up_to_progression(_read(observations))
    if _confirmed([day for day, category in assessed if category in _COMPLETE_RESPONSES]):
        return "iCR" if irecist else "CR"
    if _confirmed([day for day, category in assessed if category in _OBJECTIVE_RESPONSES]):
        return "iPR" if irecist else "PR"
    if any(
        category in _DISEASE_CONTROL and (day - rechallenge_start).days >= STABLE_DISEASE_MIN_DAYS
        for day, category in assessed
    ):
        return "iSD" if irecist else "SD"
    categories = {category for _, category in assessed}
    for progression in ("PD", "iCPD", "iUPD"):
        if progression in categories:
            return progression
    return "NE"


def objective_response(best: str | None) -> bool:
    """ORR flag over all treated episodes: confirmed CR or PR. NE or no assessment counts as no response."""
    _check_category(best)
    return best in _OBJECTIVE_RESPONSES


def disease_control(best: str | None) -> bool:
    """DCR flag over all treated episodes: CR, PR or SD. NE or no assessment counts as no control."""
    _check_category(best)
    return best in _DISEASE_CONTROL


def response_evaluable(best: str | None) -> bool:
    """Whether the episode counts in the evaluable-only ORR/DCR: a best response other than NE."""
    _check_category(best)
    return best is not None and best != "NE"


def progression_date_from_responses(observations: Sequence[ResponseObservation]) -> dt.date | None:
    """Date of progression shown by the response assessments, or None.

    RECIST 1.1: the earliest PD. iRECIST: progression dates back to the first iUPD that a later iCPD
    confirmed (or to the iCPD itself if no iUPD preceded it); an unconfirmed iUPD is not progression.
    iUPD waits for its iCPD through NE and further iUPDs; iSD, iPR or iCR end the wait.
    """
    assessed = _read(observations)
    if not _uses_irecist(observations):
        return next((day for day, category in assessed if category == "PD"), None)
    pending: dt.date | None = None
    for day, category in assessed:
        if category == "iUPD" and pending is None:
            pending = day
        elif category == "iCPD":
            return pending or day
        elif category in _IRECIST_RESETS:
            pending = None
    return None


def last_adequate_assessment(observations: Sequence[ResponseObservation]) -> dt.date | None:
    """Date of the last adequate tumour assessment without progression (the PFS censoring date), or None.

    Adequate: a category other than NE. Only assessments before the first progression (PD, iCPD)
    count; an unconfirmed iUPD is an assessment without progression.
    """
    assessed = _up_to_progression(_read(observations))
    return max((day for day, category in assessed if category != "NE" and category not in _PROGRESSION), default=None)


# --- Rechallenge outcome ----------------------------------------------------------------------------


def _from_rechallenge(
    *,
    rechallenge_start: dt.date | None,
    events: dict[str, dt.date | None],
    censor_at: dt.date | None,
    censor_label: str,
    no_event: str,
) -> TimeToEvent:
    """Rechallenge start to the earliest event (first-listed label wins a tie), else to ``censor_at``."""
    if rechallenge_start is None:
        return _missing("rechallenge start date is missing")
    start = PartialDate(rechallenge_start)
    known = [(when, label) for label, when in events.items() if when is not None]
    if known:
        when, label = min(known, key=lambda item: item[0])
        return _time_to_event(
            start=start, end=PartialDate(when), event=True, start_label="rechallenge start date", end_label=label
        )
    if censor_at is None:
        return _missing(f"no {no_event}, and no {censor_label} to censor at")
    return _time_to_event(
        start=start,
        end=PartialDate(censor_at),
        event=False,
        start_label="rechallenge start date",
        end_label=censor_label,
    )


def _pfs2_events(progression_dates: Sequence[dt.date | None], death_date: dt.date | None) -> dict[str, dt.date | None]:
    first_progression = min((d for d in progression_dates if d is not None), default=None)
    return {"progression date": first_progression, "death date": death_date}


def progression_free_survival_2(
    *,
    rechallenge_start: dt.date | None,
    progression_dates: Sequence[dt.date | None],
    death_date: dt.date | None,
    last_adequate_assessment: dt.date | None,
) -> TimeToEvent:
    """PFS after rechallenge: start to the first progression or death, else censored at the last adequate assessment.

    Progression dates may come from several sources (follow-up, response assessments); None entries
    are ignored and the earliest counts. Progression and death on the same day are one event. Without
    any adequate assessment the patient is censored at rechallenge start (0 months), as trialists do.
    """
    return _from_rechallenge(
        rechallenge_start=rechallenge_start,
        events=_pfs2_events(progression_dates, death_date),
        censor_at=last_adequate_assessment or rechallenge_start,
        censor_label="last adequate tumour assessment",
        no_event="progression or death",
    )


def progression_free_survival_2_last_contact(
    *,
    rechallenge_start: dt.date | None,
    progression_dates: Sequence[dt.date | None],
    death_date: dt.date | None,
    last_contact: dt.date | None,
) -> TimeToEvent:
    """PFS after rechallenge, sensitivity variant: as :func:`progression_free_survival_2`, censored at last contact."""
    return _from_rechallenge(
        rechallenge_start=rechallenge_start,
        events=_pfs2_events(progression_dates, death_date),
        censor_at=last_contact,
        censor_label="last-contact date",
        no_event="progression or death",
    )


def overall_survival_from_rechallenge(
    *, rechallenge_start: dt.date | None, death_date: dt.date | None, last_contact: dt.date | None
) -> TimeToEvent:
    """OS from rechallenge start to death, else censored at the last date known alive."""
    return _from_rechallenge(
        rechallenge_start=rechallenge_start,
        events={"death date": death_date},
        censor_at=last_contact,
        censor_label="last-contact date",
        no_event="death",
    )


def time_to_irae(
    *,
    rechallenge_start: dt.date | None,
    onsets: Sequence[PartialDate | None],
    death_date: dt.date | None,
    last_contact: dt.date | None,
) -> CompetingTime:
    """Rechallenge start to the earliest of ``onsets`` (an irAE), or death first (competing), else last contact.

    Unknown when an onset is missing (the unknown one may have been first) or an end genuinely
    precedes the start. An irAE and death on the same day count as the irAE.
    """
    if rechallenge_start is None:
        return _missing_competing("rechallenge start date is missing")
    start = PartialDate(rechallenge_start)
    if any(onset is None for onset in onsets):
        return _missing_competing("an irAE onset date is missing")
    known = [onset for onset in onsets if onset is not None]
    first = _earliest(known) if known else None
    if first is not None and not (death_date is not None and death_date < first.value):
        end, event_type, label = first, "irae", "irAE onset date"
    elif death_date is not None:
        end, event_type, label = PartialDate(death_date), "death", "death date"
    elif last_contact is not None:
        end, event_type, label = PartialDate(last_contact), "censored", "last-contact date"
    else:
        return _missing_competing("no irAE or death, and no last-contact date to censor at")
    months = _elapsed_months(start, end)
    if months is None:
        return _missing_competing(f"{label} is before the rechallenge start date")
    return CompetingTime(
        months=months,
        event_type=event_type,
        imputed=end.imputed,
        end_date=max(start.value, end.value),
        missing_reason=None,
    )


def irae_recurrence(
    *,
    prior: Sequence[PriorIrae],
    during_rechallenge: Sequence[PriorIrae],
    rechallenge_start: dt.date | None,
    death_date: dt.date | None,
    last_contact: dt.date | None,
) -> Recurrence:
    """irAEs on rechallenge: any grade, same term or organ as the preceding course, grade ≥ 3 — each with its time.

    Each variable has its own time to event (a new irAE may come before a same-term recurrence: the
    time to *any* irAE is then the new one, the time to *same term* the recurrence).
    """
    prior_organs = {irae.organ_category for irae in prior}
    # "Other (specify)" is never the same term: two terms outside the CTCAE list are not known to be one.
    prior_terms = {irae.ctcae_term for irae in prior} - {vocabularies.CTCAE_OTHER_TERM}
    qualifying = {
        "any_grade": list(during_rechallenge),
        "same_term": [irae for irae in during_rechallenge if irae.ctcae_term in prior_terms],
        "same_organ": [irae for irae in during_rechallenge if irae.organ_category in prior_organs],
        "grade3_or_higher": [irae for irae in during_rechallenge if irae.grade >= 3],
    }
    times = {
        f"time_to_{kind}": time_to_irae(
            rechallenge_start=rechallenge_start,
            onsets=[irae.onset for irae in iraes],
            death_date=death_date,
            last_contact=last_contact,
        )
        for kind, iraes in qualifying.items()
    }
    flags = {kind: bool(iraes) for kind, iraes in qualifying.items()}
    # mypy checks each `**` dict against every field, so flags (bool) and times (CompetingTime) both clash.
    return Recurrence(**flags, **times)  # type: ignore[arg-type]


# --- One patient ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EpisodeDerived:
    """Predictors (from the immediately preceding course) and outcomes of one rechallenge episode."""

    episode_id: int
    sequence_number: int
    #: "ICI-1" for a first rechallenge, "rechallenge N" for a later one.
    preceding_course: str
    #: PFS on the preceding course, in calendar months: ICI-1 PFS, or the previous rechallenge's PFS2.
    pfs1: TimeToEvent
    tfi_months: float | None
    tfi_imputed: bool
    worst_prior_grade: int
    all_prior_resolved: bool | None
    best_response: str | None
    objective_response: bool
    disease_control: bool
    response_evaluable: bool
    pfs2: TimeToEvent
    pfs2_last_contact: TimeToEvent
    os: TimeToEvent
    recurrence: Recurrence

    def imputed_names(self) -> tuple[str, ...]:
        """The derived values (by their ``as_row`` names) fed by a month-precision date."""
        flags = {"pfs1_months": self.pfs1.imputed, "tfi_months": self.tfi_imputed}
        for kind in RECURRENCE_KINDS:
            flags[f"recurrence_{kind}_months"] = self.recurrence.time_to(kind).imputed
        return tuple(name for name, imputed in flags.items() if imputed)

    def as_row(self) -> dict:
        """Every value, flat, full precision: one row of :func:`registry.derive_frames.derive_episodes`."""
        row: dict = {
            "episode_id": self.episode_id,
            "sequence_number": self.sequence_number,
            "preceding_course": self.preceding_course,
            "pfs1_months": self.pfs1.months,
            "pfs1_event": self.pfs1.event,
            "pfs1_imputed": self.pfs1.imputed,
            "tfi_months": self.tfi_months,
            "tfi_imputed": self.tfi_imputed,
            "worst_prior_grade": self.worst_prior_grade,
            "all_prior_resolved": self.all_prior_resolved,
            "best_overall_response": self.best_response,
            "objective_response": self.objective_response,
            "disease_control": self.disease_control,
            "response_evaluable": self.response_evaluable,
            "pfs2_months": self.pfs2.months,
            "pfs2_event": self.pfs2.event,
            "pfs2_last_contact_months": self.pfs2_last_contact.months,
            "pfs2_last_contact_event": self.pfs2_last_contact.event,
            "os_months": self.os.months,
            "os_event": self.os.event,
        }
        for kind in RECURRENCE_KINDS:
            time = self.recurrence.time_to(kind)
            row[f"recurrence_{kind}"] = self.recurrence.occurred(kind)
            row[f"recurrence_{kind}_months"] = time.months
            row[f"recurrence_{kind}_event_code"] = time.event_code
            row[f"recurrence_{kind}_imputed"] = time.imputed
        row["imputed"] = self.imputed_names()
        return row

    def api_dict(self) -> dict:
        """The episode's ``derived`` object of the API: months rounded to 2 decimals, JSON types only."""
        row = self.as_row()
        result = {
            key: round(value, 2) if key.endswith("_months") and value is not None else value
            for key, value in row.items()
            if key not in {"episode_id", "sequence_number"} and not key.endswith(("_imputed", "_event_code"))
        }
        for kind in RECURRENCE_KINDS:
            result[f"recurrence_{kind}_event"] = self.recurrence.time_to(kind).event_type
        result["imputed"] = list(self.imputed_names())
        return result


@dataclass(frozen=True, slots=True)
class PatientDerived:
    """Derived values of one patient: PFS1 of ICI-1 (None without an ICI-1 record) and each episode by id."""

    pfs1: TimeToEvent | None
    episodes: dict[int, EpisodeDerived] = field(default_factory=dict)


def _prior_irae(record: IraeRecord) -> PriorIrae:
    return PriorIrae(
        ctcae_term=record.ctcae_term,
        organ_category=record.organ_category,
        grade=record.grade,
        onset=record.onset,
        resolved_to_grade=record.resolved_to_grade,
        resolution=record.resolution,
    )


def rechallenge_stop(follow_ups: Iterable[FollowUpRecord]) -> dt.date | None:
    """When a rechallenge stopped: the earliest stop date any of its follow-ups records."""
    return min((fu.rechallenge_stopped_date for fu in follow_ups if fu.rechallenge_stopped_date), default=None)


def last_contact(follow_ups: Iterable[FollowUpRecord]) -> dt.date | None:
    """The last date the patient was known alive: an 'alive' follow-up or a last-known-alive date."""
    follow_ups = list(follow_ups)
    dates = [fu.last_known_alive_date for fu in follow_ups if fu.last_known_alive_date]
    dates += [fu.follow_up_date for fu in follow_ups if fu.vital_status == "alive"]
    return max(dates, default=None)


def _in_calendar_months(value: TimeToEvent, start: dt.date | None) -> TimeToEvent:
    """A rechallenge PFS re-expressed in calendar months, to serve as the next episode's PFS1."""
    if value.months is None or value.end_date is None or start is None:
        return value
    return replace(value, months=calendar_months_between(start, value.end_date))


def _episode_derived(
    episode: EpisodeRecord,
    *,
    preceding_course: str,
    pfs1: TimeToEvent,
    previous_stop: PartialDate | dt.date | None,
    prior: Sequence[PriorIrae],
    during: Sequence[PriorIrae],
    responses: Sequence[ResponseRecord],
    follow_ups: Sequence[FollowUpRecord],
) -> EpisodeDerived:
    start = episode.start_date
    tfi, tfi_imputed = treatment_free_interval_months(previous_stop=previous_stop, rechallenge_start=start)
    observations = [ResponseObservation(assessed_on=r.assessed_on, category=r.category) for r in responses]
    best = best_overall_response(observations, rechallenge_start=start)
    death_date = min((fu.death_date for fu in follow_ups if fu.death_date), default=None)
    contact = last_contact(follow_ups)
    progression_dates = [fu.progression_date for fu in follow_ups]
    progression_dates.append(progression_date_from_responses(observations))
    return EpisodeDerived(
        episode_id=episode.id,
        sequence_number=episode.sequence_number,
        preceding_course=preceding_course,
        pfs1=pfs1,
        tfi_months=tfi,
        tfi_imputed=tfi_imputed,
        worst_prior_grade=worst_prior_irae_grade(prior),
        all_prior_resolved=all_prior_iraes_resolved_to_grade1(prior),
        best_response=best,
        objective_response=objective_response(best),
        disease_control=disease_control(best),
        response_evaluable=response_evaluable(best),
        pfs2=progression_free_survival_2(
            rechallenge_start=start,
            progression_dates=progression_dates,
            death_date=death_date,
            last_adequate_assessment=last_adequate_assessment(observations),
        ),
        pfs2_last_contact=progression_free_survival_2_last_contact(
            rechallenge_start=start, progression_dates=progression_dates, death_date=death_date, last_contact=contact
        ),
        os=overall_survival_from_rechallenge(rechallenge_start=start, death_date=death_date, last_contact=contact),
        recurrence=irae_recurrence(
            prior=prior, during_rechallenge=during, rechallenge_start=start, death_date=death_date, last_contact=contact
        ),
    )


def derive_patient(records: PatientRecords) -> PatientDerived:
    """Every derived value of one patient, each episode read against its immediately preceding course.

    The first rechallenge follows ICI-1 (its PFS1, stop date and irAEs); a later one follows the
    previous rechallenge (that episode's PFS2 in calendar months, its stop — the earliest follow-up
    stop date — and its irAEs). ICI-1 PFS is censored at the later of its stop and the first
    rechallenge start.
    """
    course = records.course
    episodes = sorted(records.episodes, key=lambda e: e.sequence_number)
    first_start = min((e.start_date for e in episodes if e.start_date is not None), default=None)
    course_pfs = (
        progression_free_survival_1(
            start=course.start, progression=course.progression, stop=course.stop, last_contact=first_start
        )
        if course is not None
        else None
    )
    iraes: dict[int | None, list[PriorIrae]] = {}
    for irae in records.iraes:
        iraes.setdefault(irae.episode_id, []).append(_prior_irae(irae))
    responses: dict[int, list[ResponseRecord]] = {}
    for response in records.responses:
        responses.setdefault(response.episode_id, []).append(response)
    follow_ups: dict[int, list[FollowUpRecord]] = {}
    for follow_up in records.follow_ups:
        follow_ups.setdefault(follow_up.episode_id, []).append(follow_up)

    derived: dict[int, EpisodeDerived] = {}
    previous: EpisodeRecord | None = None
    for episode in episodes:
        if previous is None:
            preceding_course = "ICI-1"
            pfs1 = course_pfs if course_pfs is not None else _missing("no ICI-1 course is recorded")
            previous_stop: PartialDate | dt.date | None = course.stop if course is not None else None
            prior = iraes.get(None, [])
        else:
            preceding_course = f"rechallenge {previous.sequence_number}"
            pfs1 = _in_calendar_months(derived[previous.id].pfs2, previous.start_date)
            previous_stop = rechallenge_stop(follow_ups.get(previous.id, []))
            prior = iraes.get(previous.id, [])
        derived[episode.id] = _episode_derived(
            episode,
            preceding_course=preceding_course,
            pfs1=pfs1,
            previous_stop=previous_stop,
            prior=prior,
            during=iraes.get(episode.id, []),
            responses=responses.get(episode.id, []),
            follow_ups=follow_ups.get(episode.id, []),
        )
        previous = episode
    return PatientDerived(pfs1=course_pfs, episodes=derived)

"""irAEs of the synthetic cohort: drafted with ordinal dates, managed by grade, then turned into records.

The irAE that stopped ICI-1 explains the stop; ordinary ones are milder and earlier; every irAE gets
the management, hospitalisation and course that ESMO/ASCO guidance (simplified) gives its grade.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from registry import vocabularies as v

from .draws import any_of, between, mid_month, one_decimal, to_date
from .mixes import (
    CONTRAINDICATED_IRAE,
    DISCONTINUING_IRAE,
    ENDOCRINE,
    GRADE_DISCONTINUING,
    GRADE_ORDINARY,
    IRAE_HISTORY_WITHOUT_IRAES,
    OTHER_SECOND_LINE,
    RESOLVED_TO,
    SECOND_LINE,
    SETTLED_BEFORE_RESTART,
    UNKNOWN_HOSPITALISED,
    UNKNOWN_LED_TO_DISCONTINUATION,
    UNKNOWN_STEROID_REFRACTORY,
)
from .records import DemoAdverseEvent


@dataclass(slots=True)
class IraeDraft:
    """An irAE while it is being built (dates as ordinals)."""

    term: str
    grade: int
    onset: int
    resolution: int | None = None
    resolved_to: int | None = None
    management: str = "none"
    peak_prednisone: Decimal | None = None
    second_line: str = ""
    steroid_refractory: bool | None = False
    hospitalised: bool | None = False
    led_to_discontinuation: bool | None = False
    recurrence: str = ""
    onset_precision: str = "day"
    resolution_precision: str = "day"

    def impute(self, rng: random.Random, start: int, stop: int, rechallenge_start: int) -> None:
        """Month-only onset/resolution for some old irAEs, if the mid-month date keeps every order."""
        if rng.random() < 0.1:
            imputed = mid_month(self.onset)
            upper = stop - 1 if self.led_to_discontinuation else stop
            if start <= imputed <= upper and (self.resolution is None or imputed <= self.resolution):
                self.onset, self.onset_precision = imputed, "month"
        if self.resolution is not None and rng.random() < 0.1:
            imputed = mid_month(self.resolution)
            upper = rechallenge_start - 1 if self.resolution < rechallenge_start else rechallenge_start + 3650
            if self.onset <= imputed <= upper:
                self.resolution, self.resolution_precision = imputed, "month"

    def record(self) -> DemoAdverseEvent:
        """The finished irAE, with the MedDRA code and organ of its CTCAE term."""
        term = v.CTCAE_TERMS.get(self.term)
        return DemoAdverseEvent(
            ctcae_version="6.0" if self.term == "diabetes_mellitus" else v.CTCAE_DEFAULT_VERSION,
            ctcae_term=self.term,
            meddra_code=term.meddra_code,
            organ_category=term.organ_category,
            grade=self.grade,
            onset_date=to_date(self.onset),
            onset_date_precision=self.onset_precision,
            resolution_date=to_date(self.resolution) if self.resolution is not None else None,
            resolution_date_precision=self.resolution_precision,
            resolved_to_grade=self.resolved_to,
            management=self.management,
            peak_prednisone_mg_per_day=self.peak_prednisone,
            second_line_immunosuppressant=self.second_line,
            steroid_refractory=self.steroid_refractory,
            hospitalised=self.hospitalised,
            led_to_discontinuation=self.led_to_discontinuation,
            recurrence_status=self.recurrence,
        )


def irae_history(rng: random.Random, recorded: bool) -> str:
    """The CRF's "irAEs during this course?": "yes" when irAEs are recorded, never "no" with irAEs."""
    return "yes" if recorded else IRAE_HISTORY_WITHOUT_IRAES.pick(rng)


def safe_grade(term: str, grade: int) -> int:
    """Keep ordinary draws out of the contraindicated zone (G3–4 pneumonitis, G4 non-endocrine)."""
    if term == "pneumonitis":
        return min(grade, 2)
    if grade >= 4 and term not in ENDOCRINE:
        return 3
    return grade


def irae_discontinuing(
    rng: random.Random, start: int, stop: int, rechallenge_start: int, contraindicated: bool
) -> IraeDraft:
    """The irAE that stopped ICI-1: grade ≥ 2, onset before the stop, mostly settled before rechallenge."""
    if contraindicated:
        term = CONTRAINDICATED_IRAE.pick(rng)
        grade = {"pneumonitis": any_of(rng, (3, 3, 4)), "colitis": 4}.get(term, any_of(rng, (2, 3, 3, 4)))
    else:
        term = DISCONTINUING_IRAE.pick(rng)
        grade = safe_grade(term, GRADE_DISCONTINUING.pick(rng))
    onset = max(start, stop - between(rng, 1, 21))
    irae = irae_managed(rng, term, grade, onset, contraindicated=contraindicated)
    irae.led_to_discontinuation = True
    if term in ENDOCRINE:
        irae.resolution, irae.resolved_to = None, None  # lifelong replacement
    else:
        # Restart is usually considered once back to grade ≤ 1; a few restart earlier.
        irae.resolved_to = SETTLED_BEFORE_RESTART.pick(rng)
        latest = rechallenge_start - 7
        irae.resolution = min(latest, onset + 7 + int(rng.lognormvariate(math.log(40), 0.5)))
        irae.resolution = max(onset, irae.resolution)
    return irae


def irae_ordinary(rng: random.Random, term: str, start: int, stop: int, rechallenge_start: int) -> IraeDraft:
    """An irAE of ICI-1 that did not stop it; early onset is commoner."""
    grade = safe_grade(term, GRADE_ORDINARY.pick(rng))
    onset = start + int((stop - start) * rng.random() ** 1.5)
    irae = irae_managed(rng, term, grade, onset, contraindicated=False)
    if rng.random() < UNKNOWN_LED_TO_DISCONTINUATION:
        irae.led_to_discontinuation = None
    if irae.resolution is not None:
        irae.resolution = min(irae.resolution, rechallenge_start - 1)
        irae.resolution = max(irae.resolution, onset)
    return irae


def irae_managed(
    rng: random.Random, term: str, grade: int, onset: int, *, contraindicated: bool, end: int | None = None
) -> IraeDraft:
    """Grade-appropriate management, hospitalisation and course (ESMO/ASCO irAE guidance, simplified)."""
    irae = IraeDraft(term=term, grade=grade, onset=onset)
    if term in ENDOCRINE:
        if term == "hyperthyroidism":
            irae.management = "none"
            if rng.random() < 0.85:
                irae.resolution, irae.resolved_to = onset + between(rng, 21, 70), 0
        elif term in ("hypothyroidism",) and grade == 1:
            irae.management = "none" if rng.random() < 0.6 else "hormone_replacement"
            if rng.random() < 0.4:
                irae.resolution, irae.resolved_to = onset + between(rng, 30, 120), 0
        else:
            irae.management = "hormone_replacement"
            if rng.random() < 0.15:  # most stay on replacement, unresolved
                irae.resolution, irae.resolved_to = onset + between(rng, 30, 180), min(grade, 1)
        irae.hospitalised = grade >= 3 and rng.random() < 0.6
        if term in ("hypophysitis", "adrenal_insufficiency") and grade >= 2 and rng.random() < 0.4:
            irae.peak_prednisone = one_decimal(any_of(rng, (20, 30, 40, 60)))
    elif grade == 1:
        if rng.random() < 0.25:
            irae.management, irae.peak_prednisone = "corticosteroids", one_decimal(any_of(rng, (10, 15, 20)))
        if rng.random() < 0.95:
            irae.resolution, irae.resolved_to = onset + 7 + int(rng.lognormvariate(math.log(14), 0.5)), 0
    else:
        severe = grade >= 3
        if rng.random() < (0.95 if severe else 0.8):
            irae.management = "corticosteroids"
            doses = (60, 80, 100, 125) if severe else (30, 40, 50, 60)
            irae.peak_prednisone = one_decimal(any_of(rng, doses))
            if contraindicated and rng.random() < 0.4:
                irae.peak_prednisone = one_decimal(1250)  # methylprednisolone 1 g pulses
            if severe and rng.random() < (0.45 if contraindicated else 0.15):
                irae.management = "second_line"
                irae.second_line = SECOND_LINE.get(term, OTHER_SECOND_LINE).pick(rng)
                irae.steroid_refractory = contraindicated and rng.random() < 0.4
        irae.hospitalised = rng.random() < (0.75 if severe else 0.12)
        if rng.random() < (0.85 if severe else 0.92):
            median = 50 if severe else 35
            irae.resolution = onset + 7 + int(rng.lognormvariate(math.log(median), 0.5))
            irae.resolved_to = RESOLVED_TO.pick(rng)
    if grade == 5:
        irae.resolution = irae.resolved_to = None
        irae.hospitalised = True
    if end is not None and irae.resolution is not None and irae.resolution > end:
        irae.resolution = irae.resolved_to = None  # still ongoing at the last contact
    if irae.resolved_to is not None:
        irae.resolved_to = min(irae.resolved_to, grade)
    # Yes / No / Unknown on the CRF: a few answers are unknown, mostly for milder irAEs.
    if not irae.hospitalised and grade <= 2 and rng.random() < UNKNOWN_HOSPITALISED:
        irae.hospitalised = None
    if irae.management == "corticosteroids" and rng.random() < UNKNOWN_STEROID_REFRACTORY:
        irae.steroid_refractory = None
    return irae


def prednisone_at_rechallenge(rng: random.Random, iraes: Sequence[DemoAdverseEvent]) -> float:
    """Steroid dose at rechallenge: a taper tail after an irAE, physiological cover for adrenal failure."""
    dose = 0.0
    for irae in iraes:
        if irae.ctcae_term in ("adrenal_insufficiency", "hypophysitis") and irae.resolution_date is None:
            dose = max(dose, any_of(rng, (5.0, 5.0, 7.5)))
        elif irae.ctcae_term not in ENDOCRINE and irae.grade >= 2:
            if irae.resolved_to_grade is not None and irae.resolved_to_grade >= 2 and rng.random() < 0.5:
                dose = max(dose, any_of(rng, (10.0, 15.0, 20.0)))
            elif irae.management in ("corticosteroids", "second_line") and rng.random() < 0.15:
                dose = max(dose, any_of(rng, (2.5, 5.0, 7.5)))
    return dose

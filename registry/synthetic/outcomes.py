"""What happens after a rechallenge: latent outcome times, then the scans and visits read off them.

Outcomes are latent times first (progression, death, censoring at the data cut or loss to
follow-up); response assessments and follow-up visits are then read off those times, so the records
agree with each other by construction. Times here are days from the rechallenge start.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .draws import below, between, to_date, weibull, weibull_scale
from .effects import Hazards, proportional_hazards_time
from .mixes import (
    DEATH_WITHOUT_PROGRESSION_MEDIAN_DAYS,
    FIRST_YEAR_DAYS,
    IRECIST_SHARE,
    LATER_SCAN_INTERVAL_DAYS,
    LATER_VISIT_INTERVAL_DAYS,
    LOST_TO_FOLLOW_UP,
    NON_RESPONDER_PFS_MEDIAN_DAYS,
    NON_RESPONDER_PFS_SHAPE,
    ORR,
    POST_PROGRESSION_MEDIAN_DAYS,
    RESPONDER_PFS_EXTRA_MEDIAN_DAYS,
    RESPONDER_PROGRESSION_FREE_DAYS,
    SCAN_INTERVAL_DAYS,
    VISIT_INTERVAL_DAYS,
)
from .records import DemoFollowUp, DemoResponse


@dataclass(slots=True)
class Latent:
    """An episode's latent outcome, in days from its start."""

    responder: bool
    progression: int
    death: int
    censor: int
    lost: bool


def progression_status(progression: int, confirmation: int | None, end: int) -> tuple[bool, bool]:
    """Whether progression counts by the last contact ``end``, and whether an iUPD still awaits confirmation."""
    if progression >= end:
        return False, False
    if confirmation is not None and confirmation >= end:
        return False, True
    return True, False


@dataclass(slots=True)
class Observation:
    """What of an episode's latent outcome is seen by its last contact ``end``.

    With iRECIST a progression counts once the next scan confirms it (``confirmation``); until then
    it is ``unconfirmed``.
    """

    irecist: bool
    confirmation: int | None
    end: int = 0
    progression_seen: bool = False
    unconfirmed: bool = False

    def until(self, latent: Latent, end: int) -> None:
        """Follow the episode up to ``end``, and see what of its progression is known by then."""
        self.end = end
        self.progression_seen, self.unconfirmed = progression_status(latent.progression, self.confirmation, end)


def observation(rng: random.Random, latent: Latent) -> Observation:
    """How an episode is followed: RECIST or iRECIST, up to death or censoring."""
    irecist = rng.random() < IRECIST_SHARE
    # iRECIST: progression counts once the next scan, 4–8 weeks later, confirms it (iCPD).
    confirmation = latent.progression + between(rng, 28, 56) if irecist else None
    seen = Observation(irecist=irecist, confirmation=confirmation)
    seen.until(latent, min(latent.death, latent.censor))
    return seen


def latent_outcome(
    rng: random.Random, cut: int, start: int, rechallenge_type: str, *, combination: bool, hazards: Hazards
) -> Latent:
    """Latent progression, death and censoring times (days from rechallenge start).

    Progression: a baseline time from the responder / non-responder mixture, moved to the same
    quantile under the episode's hazard ratio (exact proportional hazards). Death: progression plus
    an exponential survival after it, or death without progression, each hazard scaled too.
    """
    orr = ORR[rechallenge_type] * (1.25 if combination else 1.0)
    responder = rng.random() < orr
    factor = 1.15 if combination else 1.0
    median = NON_RESPONDER_PFS_MEDIAN_DAYS[rechallenge_type] * factor
    non_responder_scale = weibull_scale(median, NON_RESPONDER_PFS_SHAPE)
    responder_scale = weibull_scale(RESPONDER_PFS_EXTRA_MEDIAN_DAYS * factor, 1.0)
    if responder:
        progression = RESPONDER_PROGRESSION_FREE_DAYS + rng.expovariate(1.0) * responder_scale
    else:
        progression = 1 + rng.expovariate(1.0) ** (1 / NON_RESPONDER_PFS_SHAPE) * non_responder_scale

    def survival(days: float) -> float:
        """The baseline mixture's probability of being progression-free at ``days``."""
        free = 1.0 if days <= 1 else math.exp(-(((days - 1) / non_responder_scale) ** NON_RESPONDER_PFS_SHAPE))
        if days > RESPONDER_PROGRESSION_FREE_DAYS:
            return (1 - orr) * free + orr * math.exp(-(days - RESPONDER_PROGRESSION_FREE_DAYS) / responder_scale)
        return (1 - orr) * free + orr

    progression = proportional_hazards_time(progression, hazards.progression, survival)
    after_progression = weibull(
        rng, POST_PROGRESSION_MEDIAN_DAYS[rechallenge_type] * factor / hazards.after_progression, 1.0
    )
    without_progression = weibull(rng, DEATH_WITHOUT_PROGRESSION_MEDIAN_DAYS / hazards.death, 1.0)
    death = min(progression + 1 + after_progression, 1 + without_progression)
    censor = cut - start
    lost = rng.random() < LOST_TO_FOLLOW_UP
    if lost:
        censor = between(rng, min(30, censor), censor)
    return Latent(responder=responder, progression=int(progression), death=int(death), censor=censor, lost=lost)


def response_assessments(
    rng: random.Random,
    start: int,
    latent: Latent,
    end: int,
    irecist: bool,
    progressed: bool,
    confirmation: int | None,
) -> list[DemoResponse]:
    """Scans every ~8 weeks until progression or the last contact; PD (or iUPD→iCPD) on progression.

    Progression may be found between planned scans (symptoms, an unscheduled scan), so its
    assessment is dated on the progression day itself.
    """
    criteria = "irecist" if irecist else "recist_1_1"
    limit = latent.progression if progressed else end
    scans: list[tuple[int, str]] = []
    day = SCAN_INTERVAL_DAYS + between(rng, -5, 7)
    response_from = 1 if rng.random() < 0.7 else 2
    complete = False
    index = 0
    while day < limit:
        index += 1
        if latent.responder and index >= response_from:
            complete = complete or (index >= 3 and rng.random() < 0.25)
            category = "CR" if complete else "PR"
        else:
            category = "NE" if rng.random() < 0.03 else "SD"
        scans.append((day, category))
        interval = SCAN_INTERVAL_DAYS if day < FIRST_YEAR_DAYS else LATER_SCAN_INTERVAL_DAYS
        day += interval + between(rng, -5, 7)
    if irecist and len(scans) >= 3 and not latent.responder and rng.random() < 0.12:
        # Pseudoprogression: an unconfirmed iUPD that the next scan does not confirm.
        at = below(rng, len(scans) - 1)
        scans[at] = (scans[at][0], "UPD")
        scans[at + 1] = (scans[at + 1][0], "SD")
    if progressed:
        scans.append((latent.progression, "PD"))
        if confirmation is not None:
            scans.append((confirmation, "CPD"))
    records = []
    for day, category in scans:
        if irecist:
            category = {"UPD": "iUPD", "CPD": "iCPD", "PD": "iUPD", "NE": "NE"}.get(category, "i" + category)
        records.append(DemoResponse(assessment_date=to_date(start + day), criteria=criteria, category=category))
    return records


def follow_up_visits(
    rng: random.Random,
    cut: int,
    start: int,
    latent: Latent,
    end: int,
    progression_seen: bool,
    stop_at: int | None,
    stop_reason: str,
    continues: bool,
) -> list[DemoFollowUp]:
    """Visits every 3 months, then every 6, and a last one: death, last known alive, or lost to follow-up."""
    died = latent.death <= latent.censor and not continues
    last = latent.death if died else end
    progression = start + latent.progression if progression_seen else None

    def visit(day: int) -> DemoFollowUp:
        on = start + day
        stopped = stop_at is not None and stop_at <= day
        return DemoFollowUp(
            follow_up_date=to_date(on),
            vital_status="alive",
            progression_date=to_date(progression) if progression is not None and progression <= on else None,
            rechallenge_stopped_date=to_date(start + stop_at) if stopped and stop_at is not None else None,
            rechallenge_stop_reason=stop_reason if stopped else "",
            death_date=None,
            last_known_alive_date=to_date(on),
        )

    visits = []
    day = VISIT_INTERVAL_DAYS + between(rng, -10, 10)
    while day < last:
        visits.append(visit(day))
        interval = VISIT_INTERVAL_DAYS if day < FIRST_YEAR_DAYS else LATER_VISIT_INTERVAL_DAYS
        day += interval + between(rng, -10, 14)
    final = visit(last)
    if died:
        reported = min(cut, start + last + between(rng, 0, 30))
        final.follow_up_date = to_date(reported)
        final.vital_status, final.death_date = "dead", to_date(start + last)
        final.last_known_alive_date = visits[-1].last_known_alive_date if visits else None
    elif latent.lost:
        # Contact lost: the last attempt is later than the last date known alive.
        final.follow_up_date = to_date(min(cut, start + last + between(rng, 30, 120)))
        final.vital_status = "unknown"
    visits.append(final)
    return visits

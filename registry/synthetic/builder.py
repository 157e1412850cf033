"""The cohort builder: one patient after another from a single seeded random stream.

How a patient is built, and why in this order: the rechallenge start is drawn first and the ICI-1
course is laid out backwards from it (treatment-free interval, then course length), so every date is
in order without rejection sampling. Each rechallenge then gets its strategy, its latent outcome
(:mod:`registry.synthetic.outcomes`), its irAEs, why it stopped, and maybe a second rechallenge.

Every step draws from the one ``random.Random``, so the order of the steps is part of the cohort a
seed gives: reordering two draws changes every patient after them.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import NamedTuple

from registry import vocabularies as v
from registry.dates import add_months
from registry.identifiers import new_registry_id

from .draws import any_of, below, between, decimal, mid_month, one_decimal, to_date, weibull
from .effects import Hazards
from .iraes import IraeDraft, irae_discontinuing, irae_history, irae_managed, irae_ordinary, prednisone_at_rechallenge
from .mixes import (
    AGENT_RELATIONS,
    ANY_IRAE,
    CLASS_AGENTS,
    CONTRAINDICATED_SHARE_OF_TOXICITY,
    CPS_TUMOURS,
    ECOG_AT_ICI1,
    ECOG_AT_RECHALLENGE,
    ENDOCRINE,
    EXTRA_IRAES,
    EXTRA_IRAES_AFTER_TOXICITY,
    FIRST_RECHALLENGE,
    GRADE_RECHALLENGE,
    HISTOLOGY,
    ICI1_BEST_RESPONSE,
    INTERVENING,
    IRAE_ON_RECHALLENGE,
    LINE_OF_THERAPY,
    LUNG,
    MALE_SHARE,
    MELANOMA,
    NEXT_RECHALLENGE_TYPE,
    PREDNISONE_NOT_RECORDED,
    RECHALLENGE_NEW_IRAE,
    RECHALLENGE_REGIMENS,
    REGIMENS,
    SAME_TERM_SHARE,
    SECOND_RECHALLENGE_CHANCE,
    SITES,
    STOP_REASONS,
    SYSTEMIC,
    TUMOURS,
    Regimen,
    drug_class,
)
from .outcomes import Latent, Observation, follow_up_visits, latent_outcome, observation, response_assessments
from .records import DemoAdverseEvent, DemoEpisode, DemoInitialCourse, DemoPatient, DemoSite

#: A next rechallenge: its start (ordinal), its type, and the prognostic effects its preceding course gives.
NextPlan = tuple[int, str, tuple[str, ...]]


class PlannedIrae(NamedTuple):
    """An irAE of a rechallenge before it is managed: onset in days from the rechallenge start."""

    onset: int
    term: str
    grade: int


class CohortBuilder:
    """Builds one patient after another from a single seeded random stream."""

    def __init__(
        self,
        *,
        seed: int,
        data_cut: dt.date,
        taken_registry_ids: Collection[str],
        taken_local_identifiers: Collection[tuple[str, str]],
    ) -> None:
        self.rng = random.Random(seed)
        self.cut = data_cut.toordinal()
        self.first_rechallenge = FIRST_RECHALLENGE.toordinal()
        self.registry_ids: set[str] = set(taken_registry_ids)
        self.local_identifiers: set[tuple[str, str]] = set(taken_local_identifiers)

    # -- sites and identifiers --

    def sites(self, codes: Sequence[str]) -> list[DemoSite]:
        """The demo centers with these codes: a name and country each, and an ethics approval."""
        rng = self.rng
        sites = []
        for index, code in enumerate(codes):
            name, country = SITES[index % len(SITES)]
            if index >= len(SITES):
                name = f"{name} {index // len(SITES) + 1}"
            approved = dt.date(2017, 1, 1) + dt.timedelta(days=below(rng, 700))
            sites.append(
                DemoSite(
                    code=code,
                    name=f"{name} (demo)",
                    country=country,
                    ethics_approval_reference=f"EC-{approved.year}-{between(rng, 100, 999)}",
                    ethics_approval_date=approved,
                )
            )
        return sites

    def registry_id(self, site_code: str) -> str:
        """A registry ID not taken yet (in the database or earlier in this cohort)."""
        while True:
            candidate = new_registry_id(site_code, choice=self.rng.choice)
            if candidate not in self.registry_ids:
                self.registry_ids.add(candidate)
                return candidate

    def local_identifier(self, site_code: str) -> str:
        """A medical record number not taken yet at the site."""
        while True:
            candidate = f"MRN{below(self.rng, 10_000_000):07d}"
            if (site_code, candidate) not in self.local_identifiers:
                self.local_identifiers.add((site_code, candidate))
                return candidate

    # -- a patient --

    def patient(self, site_code: str) -> DemoPatient:
        """A patient of the site: ICI-1 and its irAEs, one or two rechallenges, then who the patient is."""
        rng = self.rng
        tumour = TUMOURS.pick(rng)
        stop_reason = STOP_REASONS.pick(rng)
        contraindicated = stop_reason == "toxicity" and rng.random() < CONTRAINDICATED_SHARE_OF_TOXICITY

        # Accrual grows over time: the square root skews starts towards the data cut.
        span = self.cut - 30 - self.first_rechallenge
        rechallenge_start = self.first_rechallenge + int(span * math.sqrt(rng.random()))
        course, prior_iraes, progressed = self.initial_course(tumour, stop_reason, contraindicated, rechallenge_start)
        episodes = self.rechallenges(
            course,
            prior_iraes,
            start=rechallenge_start,
            rechallenge_type=_rechallenge_type(stop_reason, progressed),
            contraindicated=contraindicated,
        )

        sex = "male" if rng.random() < MALE_SHARE[tumour] else "female"
        if rng.random() < 0.002:
            sex = "unknown"
        age = min(92, max(28, round(rng.gauss(65, 10.5))))
        year_of_birth = min(2000, max(1930, to_date(rechallenge_start).year - age))
        date_of_birth = None
        if rng.random() < 0.25:
            date_of_birth = dt.date(year_of_birth, 1, 1) + dt.timedelta(days=below(rng, 365))
        consent = rng.random()
        consent_status = "consented" if consent < 0.94 else ("waived" if consent < 0.99 else "withdrawn")
        consent_date = None
        if consent_status != "waived":
            # Mostly before the rechallenge, a few days after at most: enrollment, which needs consent,
            # can then lock its prediction within the first fortnight.
            consent_date = to_date(min(self.cut, rechallenge_start + between(rng, -21, 10)))
        histology = any_of(rng, HISTOLOGY[tumour]) if rng.random() < 0.7 else ""
        tps, cps, tmb, msi = self.biomarkers(tumour)
        return DemoPatient(
            site_code=site_code,
            registry_id=self.registry_id(site_code),
            local_identifier=self.local_identifier(site_code),
            sex=sex,
            year_of_birth=year_of_birth,
            date_of_birth=date_of_birth,
            tumour_type=tumour,
            histology=histology,
            consent_status=consent_status,
            consent_date=consent_date,
            pdl1_tps_percent=tps,
            pdl1_cps=cps,
            tmb_mut_per_mb=tmb,
            msi_status=msi,
            initial_course=course,
            adverse_events=prior_iraes,
            episodes=episodes,
        )

    def rechallenges(
        self,
        course: DemoInitialCourse,
        prior_iraes: list[DemoAdverseEvent],
        *,
        start: int,
        rechallenge_type: str,
        contraindicated: bool,
    ) -> list[DemoEpisode]:
        """The first rechallenge after ICI-1, and a second one if the first plans it."""
        episodes: list[DemoEpisode] = []
        all_iraes = list(prior_iraes)
        preceding: Regimen = (course.primary_agent, course.second_agent, course.regimen_type)
        preceding_iraes = prior_iraes
        sequence, prednisone = 1, prednisone_at_rechallenge(self.rng, prior_iraes)
        course_exposures = _course_exposures(
            course.start_date, course.progression_date, course.stop_date, to_date(start)
        )
        while True:
            episode, next_plan = self.episode(
                sequence=sequence,
                start=start,
                rechallenge_type=rechallenge_type,
                preceding=preceding,
                preceding_iraes=preceding_iraes,
                course_exposures=course_exposures,
                earlier_terms={irae.ctcae_term for irae in all_iraes},
                prednisone=prednisone,
                allow_next=sequence == 1 and not contraindicated,
            )
            episodes.append(episode)
            all_iraes.extend(episode.adverse_events)
            if next_plan is None:
                return episodes
            start, rechallenge_type, course_exposures = next_plan
            preceding = (episode.primary_agent, episode.second_agent, episode.regimen_type)
            preceding_iraes = episode.adverse_events
            prednisone = prednisone_at_rechallenge(self.rng, preceding_iraes)
            sequence += 1

    def biomarkers(self, tumour: str) -> tuple[Decimal | None, Decimal | None, Decimal | None, str]:
        """PD-L1 (TPS, CPS where it is used), TMB and MSI, each tested in some patients only."""
        rng = self.rng
        tps = cps = tmb = None
        if rng.random() < (0.9 if tumour in LUNG else 0.25):
            band = rng.random()
            if band < 0.28:
                tps = one_decimal(any_of(rng, (0.0, 0.0, 0.5)))
            elif band < 0.64:
                tps = one_decimal(between(rng, 1, 49))
            else:
                tps = one_decimal(between(rng, 50, 100))
        if tumour in CPS_TUMOURS and rng.random() < 0.8:
            cps = one_decimal(min(100.0, round(rng.lognormvariate(math.log(10), 1.0))))
        if rng.random() < 0.2:
            median = 14.0 if tumour in MELANOMA else (9.0 if tumour in LUNG else 6.0)
            tmb = one_decimal(min(400.0, rng.lognormvariate(math.log(median), 0.8)))
        if tumour == "COADREAD":
            msi = "msi_high" if rng.random() < 0.75 else "mss"
        elif tumour == "UCEC":
            msi = "msi_high" if rng.random() < 0.45 else "mss"
        elif tumour in ("STAD", "EGC"):
            msi = "msi_high" if rng.random() < 0.12 else "mss"
        elif rng.random() < 0.2:
            msi = "msi_high" if rng.random() < 0.02 else "mss"
        else:
            msi = "unknown"
        return tps, cps, tmb, msi

    # -- ICI-1 --

    def initial_course(
        self, tumour: str, stop_reason: str, contraindicated: bool, rechallenge_start: int
    ) -> tuple[DemoInitialCourse, list[DemoAdverseEvent], bool]:
        """ICI-1 laid out backwards from the rechallenge start, with the irAEs that explain its stop."""
        rng = self.rng
        primary, second, regimen = REGIMENS[tumour].pick(rng)
        tfi, duration = self.course_span(stop_reason)
        stop = rechallenge_start - int(tfi)
        start = stop - int(duration)
        progression = self.course_progression(stop_reason, start, stop, rechallenge_start)
        iraes = self.course_iraes(stop_reason, start, stop, rechallenge_start, contraindicated)

        # Some dates of old records are known only to the month: impute mid-month where order still holds.
        onsets = [irae.onset for irae in iraes]
        start_precision = stop_precision = progression_precision = "day"
        if rng.random() < 0.15:
            imputed = mid_month(start)
            later = [*onsets, *([progression] if progression is not None else [])]
            if imputed < stop and all(imputed <= day for day in later):
                start, start_precision = imputed, "month"
        if rng.random() < 0.12:
            imputed = mid_month(stop)
            ok = start < imputed < rechallenge_start and all(onset < imputed for onset in onsets)
            if stop_reason != "progression" and progression is not None:
                ok = ok and imputed < progression
            if ok:
                stop, stop_precision = imputed, "month"
                if stop_reason == "progression":
                    progression, progression_precision = imputed, "month"
        for irae in iraes:
            irae.impute(rng, start, stop, rechallenge_start)

        best = ICI1_BEST_RESPONSE[stop_reason].pick(rng)
        if stop_reason != "progression" and progression is None and best == "PD":
            best = "SD"
        course = DemoInitialCourse(
            primary_agent=primary,
            second_agent=second,
            regimen_type=regimen,
            line_of_therapy=LINE_OF_THERAPY.pick(rng),
            start_date=to_date(start),
            start_date_precision=start_precision,
            stop_date=to_date(stop),
            stop_date_precision=stop_precision,
            ecog_at_start=ECOG_AT_ICI1.pick(rng),
            best_overall_response=best,
            progression_date=to_date(progression) if progression is not None else None,
            progression_date_precision=progression_precision,
            stop_reason=stop_reason,
            iraes_during_course=irae_history(rng, bool(iraes)),
        )
        return course, [irae.record() for irae in iraes], progression is not None

    def course_span(self, stop_reason: str) -> tuple[float, float]:
        """ICI-1's treatment-free interval before the rechallenge, and its length (days), by why it stopped."""
        rng = self.rng
        if stop_reason == "progression":
            tfi = 14 + rng.lognormvariate(math.log(60), 0.7)
            duration = 42 + weibull(rng, 160, 1.2)
        elif stop_reason == "toxicity":
            tfi = 21 + rng.lognormvariate(math.log(80), 0.6)
            duration = 21 + weibull(rng, 90, 1.0)
        elif stop_reason == "planned_completion":
            tfi = 60 + rng.lognormvariate(math.log(330), 0.5)
            duration = (365 if rng.random() < 0.2 else 730) + between(rng, -21, 21)
        else:
            tfi = 30 + rng.lognormvariate(math.log(200), 0.6)
            duration = 42 + weibull(rng, 260, 1.2)
        return tfi, duration

    def course_progression(self, stop_reason: str, start: int, stop: int, rechallenge_start: int) -> int | None:
        """ICI-1 progression: on treatment when it stopped ICI-1, otherwise during the treatment-free interval."""
        rng = self.rng
        if stop_reason == "progression":
            return max(start + 28, stop - between(rng, 0, 21))
        chance = {"toxicity": 0.55, "planned_completion": 0.92}.get(stop_reason, 0.75)
        if rng.random() < chance:
            return stop + 1 + int((rechallenge_start - stop - 2) * rng.uniform(0.4, 0.95))
        return None

    def course_iraes(
        self, stop_reason: str, start: int, stop: int, rechallenge_start: int, contraindicated: bool
    ) -> list[IraeDraft]:
        """ICI-1's irAEs: the one that stopped it (after a toxicity stop), then a few ordinary ones."""
        rng = self.rng
        iraes: list[IraeDraft] = []
        if stop_reason == "toxicity":
            iraes.append(irae_discontinuing(rng, start, stop, rechallenge_start, contraindicated))
        extra = (EXTRA_IRAES_AFTER_TOXICITY if stop_reason == "toxicity" else EXTRA_IRAES).pick(rng)
        terms = {irae.term for irae in iraes}
        for _ in range(extra):
            term = ANY_IRAE.pick(rng)
            if term in terms:
                continue
            terms.add(term)
            iraes.append(irae_ordinary(rng, term, start, stop, rechallenge_start))
        return iraes

    # -- a rechallenge episode --

    def episode(
        self,
        *,
        sequence: int,
        start: int,
        rechallenge_type: str,
        preceding: Regimen,
        preceding_iraes: Sequence[DemoAdverseEvent],
        course_exposures: tuple[str, ...],
        earlier_terms: set[str],
        prednisone: float,
        allow_next: bool,
    ) -> tuple[DemoEpisode, NextPlan | None]:
        """One rechallenge and what happened after it; maybe the plan of a next rechallenge.

        ``course_exposures`` are the prognostic effects the preceding course gives (PFS1, TFI).
        """
        rng = self.rng
        relation, primary, second, regimen = self.strategy(rechallenge_type, preceding)
        ecog = ECOG_AT_RECHALLENGE[rechallenge_type].pick(rng)
        intervening = INTERVENING[rechallenge_type].pick(rng)
        lines = (1 if rng.random() < 0.8 else 2) if intervening in SYSTEMIC else 0
        hazards = Hazards.of(_episode_exposures(course_exposures, ecog, preceding_iraes))
        combination = regimen in v.COMBINATION_REGIMENS
        latent = latent_outcome(rng, self.cut, start, rechallenge_type, combination=combination, hazards=hazards)
        planned = self.planned_iraes(rechallenge_type, preceding_iraes, earlier_terms, latent)
        self.fatal_iraes(planned, latent)
        seen = observation(rng, latent)
        stop_at, stop_reason = self.stop(planned, latent, seen)
        next_plan = self.next_rechallenge(start, stop_at, stop_reason, latent, seen) if allow_next else None
        iraes = self.rechallenge_iraes(start, planned, seen.end, stop_at, stop_reason, earlier_terms)

        episode = DemoEpisode(
            sequence_number=sequence,
            start_date=to_date(start),
            rechallenge_type=rechallenge_type,
            agent_relation=relation,
            primary_agent=primary,
            second_agent=second,
            regimen_type=regimen,
            ecog_at_rechallenge=ecog,
            ldh_u_per_l=None,
            ldh_above_uln=None,
            neutrophil_lymphocyte_ratio=None,
            albumin_g_per_l=None,
            brain_metastases=None,
            liver_metastases=None,
            current_prednisone_mg_per_day=None if rng.random() < PREDNISONE_NOT_RECORDED else one_decimal(prednisone),
            intervening_therapy=intervening,
            intervening_therapy_lines=lines,
            iraes_during_rechallenge=irae_history(rng, bool(iraes)),
            adverse_events=iraes,
        )
        self.baseline(episode, rechallenge_type)
        progressed = seen.progression_seen or seen.unconfirmed
        confirmation = seen.confirmation if seen.progression_seen else None
        episode.responses = response_assessments(rng, start, latent, seen.end, seen.irecist, progressed, confirmation)
        episode.follow_ups = follow_up_visits(
            rng, self.cut, start, latent, seen.end, seen.progression_seen, stop_at, stop_reason, next_plan is not None
        )
        return episode, next_plan

    def strategy(self, rechallenge_type: str, preceding: Regimen) -> tuple[str, str, str, str]:
        """Agent relative to the preceding course, and the regimen: mostly monotherapy, some combinations."""
        rng = self.rng
        previous, _, _ = preceding
        previous_class = drug_class(previous)
        relation = AGENT_RELATIONS[rechallenge_type].pick(rng)
        regimen = RECHALLENGE_REGIMENS[rechallenge_type].pick(rng)
        second = ""
        if relation == "same_class" and previous_class in CLASS_AGENTS:
            primary = previous
            for _ in range(8):
                primary = CLASS_AGENTS[previous_class].pick(rng)
                if primary != previous:
                    break
            if primary == previous:
                relation = "same_agent"
        elif relation == "class_switch":
            if previous_class == "anti_pd1" and rng.random() < 0.6:
                # The commonest switch: add anti-CTLA-4 (ipilimumab + nivolumab).
                primary, second, regimen = "ipilimumab", "nivolumab", "ici_ici"
            elif previous_class == "anti_pd1":
                primary = CLASS_AGENTS["anti_pdl1"].pick(rng)
            else:
                primary = any_of(rng, ("pembrolizumab", "nivolumab"))
        else:
            primary, relation = previous, "same_agent"
        return relation, primary, second, regimen

    def planned_iraes(
        self,
        rechallenge_type: str,
        preceding_iraes: Sequence[DemoAdverseEvent],
        earlier_terms: set[str],
        latent: Latent,
    ) -> list[PlannedIrae]:
        """irAEs during the rechallenge: more likely after earlier irAEs, mostly a recurrence of one of them."""
        rng = self.rng
        chance = IRAE_ON_RECHALLENGE[(bool(preceding_iraes), rechallenge_type)]
        recurring_terms = [irae.ctcae_term for irae in preceding_iraes if irae.ctcae_term not in ENDOCRINE]
        if not recurring_terms:
            # Sorted: a set's order follows PYTHONHASHSEED, and the cohort must not.
            recurring_terms = sorted(term for term in earlier_terms if term not in ENDOCRINE)
        planned: list[PlannedIrae] = []
        if rng.random() < chance:
            count = 1 if rng.random() < 0.85 else 2
            onset = int(7 + weibull(rng, 50, 1.0))
            for _ in range(count):
                if recurring_terms and rng.random() < SAME_TERM_SHARE:
                    term = any_of(rng, recurring_terms)
                else:
                    term = RECHALLENGE_NEW_IRAE.pick(rng)
                if any(term == other for _, other, _ in planned):
                    continue
                grade = GRADE_RECHALLENGE.pick(rng)
                if term in ENDOCRINE:
                    grade = min(grade, 3)
                if grade == 5 and onset + 21 > latent.censor:
                    grade = 4
                planned.append(PlannedIrae(onset, term, grade))
                onset += between(rng, 14, 90)
        return planned

    def fatal_iraes(self, planned: Sequence[PlannedIrae], latent: Latent) -> None:
        """A grade 5 irAE brings death forward to a few days after its onset."""
        for onset, _, grade in planned:
            if grade == 5:
                latent.death = min(latent.death, onset + between(self.rng, 3, 21))

    def stop(self, planned: Sequence[PlannedIrae], latent: Latent, seen: Observation) -> tuple[int | None, str]:
        """Why the rechallenge stopped (the earliest reason), and when, if it did before the last contact."""
        rng = self.rng
        reasons: list[tuple[int, str]] = [(any_of(rng, (365, 730, 730)) + between(rng, -14, 14), "planned_completion")]
        if seen.progression_seen:
            reasons.append((latent.progression + between(rng, 0, 10), "progression"))
        for onset, term, grade in planned:
            if (grade >= 3 and term not in ENDOCRINE) or (grade == 2 and rng.random() < 0.2):
                reasons.append((onset + between(rng, 0, 7), "toxicity"))
        if rng.random() < 0.04:
            reasons.append((between(rng, 60, 600), "patient_choice"))
        if latent.death < latent.censor:
            reasons.append((latent.death, "other"))
        stop_time, stop_reason = min(reasons)
        return (stop_time if stop_time <= seen.end else None), stop_reason

    def next_rechallenge(
        self, start: int, stop_at: int | None, stop_reason: str, latent: Latent, seen: Observation
    ) -> NextPlan | None:
        """Maybe a second rechallenge once this one stopped; this one is then followed only until it starts."""
        # Only about one patient in ten is rechallenged a second time.
        if stop_at is None or stop_reason not in NEXT_RECHALLENGE_TYPE:
            return None
        if not self.rng.random() < SECOND_RECHALLENGE_CHANCE:
            return None
        gap = stop_at + 14 + int(self.rng.lognormvariate(math.log(80), 0.6))
        if stop_reason == "progression" and seen.confirmation is not None:
            gap = max(gap, seen.confirmation + 1)
        if gap >= seen.end or start + gap > self.cut - 30:
            return None
        latent.censor, latent.lost = gap, False
        seen.until(latent, gap)
        next_exposures = _course_exposures(
            to_date(start),
            to_date(start + latent.progression) if seen.progression_seen else None,
            to_date(start + stop_at),
            to_date(start + gap),
        )
        return start + gap, NEXT_RECHALLENGE_TYPE[stop_reason], next_exposures

    def rechallenge_iraes(
        self,
        start: int,
        planned: Sequence[PlannedIrae],
        end: int,
        stop_at: int | None,
        stop_reason: str,
        earlier_terms: set[str],
    ) -> list[DemoAdverseEvent]:
        """The planned irAEs that began by the last contact ``end``, managed, each a recurrence or new."""
        rng = self.rng
        iraes = []
        for onset, term, grade in planned:
            if onset > end:
                continue
            irae = irae_managed(rng, term, grade, start + onset, contraindicated=False, end=start + end)
            irae.led_to_discontinuation = stop_reason == "toxicity" and stop_at is not None and onset <= stop_at
            irae.led_to_discontinuation = irae.led_to_discontinuation and (grade >= 2)
            irae.recurrence = "recurrence" if term in earlier_terms else "new"
            if grade >= 3 and irae.management == "second_line" and rng.random() < 0.5:
                irae.steroid_refractory = True
            iraes.append(irae.record())
        return iraes

    def baseline(self, episode: DemoEpisode, rechallenge_type: str) -> None:
        """Baseline at rechallenge: labs (some missing), metastatic sites."""
        rng = self.rng
        worse = 1.15 if rechallenge_type == "after_progression" else 1.0
        if rng.random() < 0.88:
            ldh = rng.lognormvariate(math.log(225 * worse), 0.35)
            episode.ldh_u_per_l, episode.ldh_above_uln = one_decimal(ldh), ldh > 250
        elif rng.random() < 0.5:
            episode.ldh_above_uln = rng.random() < 0.3  # only the flag was recorded
        if rng.random() < 0.9:
            episode.neutrophil_lymphocyte_ratio = decimal(
                round(rng.lognormvariate(math.log(3.4 * worse), 0.55) * 100), 2
            )
        if rng.random() < 0.85:
            episode.albumin_g_per_l = one_decimal(min(52.0, max(20.0, rng.gauss(38 / worse, 4.5))))
        if rng.random() < 0.95:
            episode.brain_metastases = rng.random() < 0.12
            episode.liver_metastases = rng.random() < 0.2 * worse


def _course_exposures(
    start: dt.date, progression: dt.date | None, stop: dt.date | None, rechallenge_start: dt.date
) -> tuple[str, ...]:
    """The prognostic effects a preceding course gives its rechallenge: PFS1 and TFI under 6 calendar months."""
    exposures = []
    if progression is not None and progression < add_months(start, 6):
        exposures.append("pfs1_under_6_months")
    if stop is not None and rechallenge_start < add_months(stop, 6):
        exposures.append("tfi_under_6_months")
    return tuple(exposures)


def _episode_exposures(
    course_exposures: tuple[str, ...], ecog: int, preceding_iraes: Sequence[DemoAdverseEvent]
) -> list[str]:
    """An episode's prognostic effects: its preceding course's, ECOG ≥ 2, a grade ≥ 3 irAE before it."""
    exposures = list(course_exposures)
    if ecog >= 2:
        exposures.append("ecog_2_or_more")
    if any(irae.grade >= 3 for irae in preceding_iraes):
        exposures.append("prior_irae_grade_3_or_more")
    return exposures


def _rechallenge_type(stop_reason: str, progressed: bool) -> str:
    """The rechallenge type follows why the preceding course stopped."""
    if stop_reason == "progression":
        return "after_progression"
    if stop_reason == "toxicity":
        return "after_toxicity"
    if stop_reason == "other" and progressed:
        return "after_progression"
    return "after_planned_stop"

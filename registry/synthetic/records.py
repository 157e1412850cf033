"""The plain records of the synthetic cohort: what one demo site, patient, course or episode holds.

Field names match the Django models' fields (``apps.clinical``), so the demo writer copies them one
to one; dates are ``datetime.date``, missing answers ``None`` or ``""`` as on the CRF.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(slots=True)
class DemoSite:
    """A participating center."""

    code: str
    name: str
    country: str
    ethics_approval_reference: str
    ethics_approval_date: dt.date


@dataclass(slots=True)
class DemoAdverseEvent:
    """One irAE, of ICI-1 or of a rechallenge (then ``recurrence_status`` is filled)."""

    ctcae_version: str
    ctcae_term: str
    meddra_code: str
    organ_category: str
    grade: int
    onset_date: dt.date
    onset_date_precision: str
    resolution_date: dt.date | None
    resolution_date_precision: str
    resolved_to_grade: int | None
    management: str
    peak_prednisone_mg_per_day: Decimal | None
    second_line_immunosuppressant: str
    #: Yes / No / Unknown on the CRF: ``None`` is "unknown" (a few, mostly for mild irAEs).
    steroid_refractory: bool | None
    hospitalised: bool | None
    led_to_discontinuation: bool | None
    recurrence_status: str = ""
    #: The term typed for the CTCAE term "other": none in the demo cohort (every demo term is listed). Left out of
    #: the repr, which pins a seed's cohort (``test_a_seed_gives_the_very_cohort_it_gave_before``).
    ctcae_term_other: str = field(default="", repr=False)


@dataclass(slots=True)
class DemoInitialCourse:
    """The first ICI course (ICI-1)."""

    primary_agent: str
    second_agent: str
    regimen_type: str
    line_of_therapy: int
    start_date: dt.date
    start_date_precision: str
    stop_date: dt.date
    stop_date_precision: str
    ecog_at_start: int
    best_overall_response: str
    progression_date: dt.date | None
    progression_date_precision: str
    stop_reason: str
    #: "yes" whenever ICI-1 irAEs are recorded; otherwise mostly "no", a few "unknown" or "" (not answered).
    iraes_during_course: str = ""


@dataclass(slots=True)
class DemoResponse:
    """A tumour response assessment during a rechallenge."""

    assessment_date: dt.date
    criteria: str
    category: str


@dataclass(slots=True)
class DemoFollowUp:
    """A follow-up contact after rechallenge start."""

    follow_up_date: dt.date
    vital_status: str
    progression_date: dt.date | None
    rechallenge_stopped_date: dt.date | None
    rechallenge_stop_reason: str
    death_date: dt.date | None
    last_known_alive_date: dt.date | None


@dataclass(slots=True)
class DemoEpisode:
    """One rechallenge with its baseline, irAEs, response assessments and follow-ups."""

    sequence_number: int
    start_date: dt.date
    rechallenge_type: str
    agent_relation: str
    primary_agent: str
    second_agent: str
    regimen_type: str
    ecog_at_rechallenge: int
    ldh_u_per_l: Decimal | None
    ldh_above_uln: bool | None
    neutrophil_lymphocyte_ratio: Decimal | None
    albumin_g_per_l: Decimal | None
    brain_metastases: bool | None
    liver_metastases: bool | None
    #: Prednisone-equivalent mg/day at the rechallenge start; ``None`` = not recorded (a few episodes).
    current_prednisone_mg_per_day: Decimal | None
    intervening_therapy: str
    intervening_therapy_lines: int
    #: "yes" whenever irAEs of this rechallenge are recorded; otherwise "no", a few "unknown" or "".
    iraes_during_rechallenge: str = ""
    adverse_events: list[DemoAdverseEvent] = field(default_factory=list)
    responses: list[DemoResponse] = field(default_factory=list)
    follow_ups: list[DemoFollowUp] = field(default_factory=list)


@dataclass(slots=True)
class DemoPatient:
    """A registered patient with ICI-1, its irAEs and one or two rechallenge episodes."""

    site_code: str
    registry_id: str
    local_identifier: str
    sex: str
    year_of_birth: int
    date_of_birth: dt.date | None
    tumour_type: str
    histology: str
    consent_status: str
    consent_date: dt.date | None
    pdl1_tps_percent: Decimal | None
    pdl1_cps: Decimal | None
    tmb_mut_per_mb: Decimal | None
    msi_status: str
    initial_course: DemoInitialCourse
    adverse_events: list[DemoAdverseEvent]
    episodes: list[DemoEpisode]


@dataclass(slots=True)
class DemoCohort:
    """The whole synthetic registry for one seed."""

    seed: int
    data_cut: dt.date
    sites: list[DemoSite]
    patients: list[DemoPatient]


@dataclass(slots=True)
class CohortStream:
    """The sites, and the patients as an iterator, so a large cohort can be written chunk by chunk."""

    seed: int
    data_cut: dt.date
    sites: list[DemoSite]
    patients: Iterator[DemoPatient]

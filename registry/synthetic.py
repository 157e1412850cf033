"""A deterministic synthetic cohort of rechallenged patients, for demos, benchmarks and calibration.

Demos, load tests and the validation pipeline need many patients whose records look like a real
multi-site registry — dates in order, irAEs that explain toxicity stops, outcomes near the published
figures in VOCABULARIES.md — without one real patient. Everything here is plain Python driven by one
``random.Random(seed)``: the same seed always gives the same cohort, and ``apps.clinical.demo`` only
turns it into rows.

How a patient is built, and why in this order: the rechallenge start is drawn first and the ICI-1
course is laid out backwards from it (treatment-free interval, then course length), so every date is
in order without rejection sampling. Outcomes after rechallenge are latent times (progression,
death, censoring at the data cut or loss to follow-up); response assessments and follow-up visits
are then read off those times, so the records agree with each other by construction.

Outcomes carry prognostic effects (:data:`PROGNOSTIC_EFFECTS`: ECOG, PFS on the preceding course,
treatment-free interval, prior irAE severity — each hazard ratio with its source, or "assumed"), so a
validation run on demo data has something to find; the baselines are set so the cohort still sits on
the published medians (PFS after rechallenge 5.1 vs 2.9 months after a toxicity vs a progression stop).
The CRF's yes/no/unknown answers, the irAE-history questions and the prednisone dose are mostly
known, and missing in a realistic few.

Internally dates are ordinal day numbers (``date.toordinal()``); records carry ``datetime.date``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import math
import random
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import accumulate
from typing import Generic, TypeVar

from registry import vocabularies as v
from registry.dates import IMPUTED_DAY_OF_MONTH, add_months
from registry.identifiers import new_registry_id

#: Fixed data cut, so a seed gives the same cohort whatever day it is generated on.
DATA_CUT = dt.date(2026, 10, 31)
#: Earliest rechallenge start; accrual grows towards the data cut.
FIRST_RECHALLENGE = dt.date(2018, 1, 1)
#: Share of patients given a second rechallenge (a third is out of scope for demo data).
SECOND_RECHALLENGE_SHARE = 0.10

T = TypeVar("T")
_LN2 = math.log(2)


# --- records -------------------------------------------------------------------------------------
# Field names match the Django models' fields, so the service can copy them one to one.


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


# --- small tools ---------------------------------------------------------------------------------


class _Weighted(Generic[T]):
    """A weighted choice that costs one ``random()`` call and a bisect."""

    __slots__ = ("cumulative", "total", "values")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self.values = tuple(value for value, _ in pairs)
        self.cumulative = list(accumulate(weight for _, weight in pairs))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self.values[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


def _weibull(rng: random.Random, median: float, shape: float) -> float:
    """A Weibull time with the given median: survival times with a rising or flat hazard."""
    return median / _LN2 ** (1 / shape) * (-math.log(1.0 - rng.random())) ** (1 / shape)


def _between(rng: random.Random, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` inclusive; several times cheaper than ``randint``."""
    return low + int(rng.random() * (high - low + 1))


def _below(rng: random.Random, stop: int) -> int:
    return int(rng.random() * stop)


def _any(rng: random.Random, options: Sequence[T]) -> T:
    return options[int(rng.random() * len(options))]


@functools.cache
def _decimal(units: int, places: int) -> Decimal:
    return Decimal(units).scaleb(-places)


def _one_decimal(value: float) -> Decimal:
    return _decimal(round(value * 10), 1)


_date = dt.date.fromordinal


def _mid_month(ordinal: int) -> int:
    """The mid-month rule of ``registry.dates``: a month-only date is stored as the 15th."""
    day = dt.date.fromordinal(ordinal)
    return dt.date(day.year, day.month, IMPUTED_DAY_OF_MONTH).toordinal()


# --- reference mixes -----------------------------------------------------------------------------

_SITES = (
    ("Amsterdam Cancer Centre", "NL"),
    ("Leuven University Hospitals", "BE"),
    ("Heidelberg Tumour Centre", "DE"),
    ("Lyon Comprehensive Cancer Institute", "FR"),
    ("Milan Oncology Institute", "IT"),
    ("Barcelona University Hospital", "ES"),
    ("Manchester Cancer Centre", "GB"),
    ("Stockholm Karolinska Oncology", "SE"),
    ("Copenhagen Rigshospital Oncology", "DK"),
    ("Zurich University Hospital", "CH"),
    ("Vienna Medical University", "AT"),
    ("Warsaw Oncology Centre", "PL"),
    ("Boston Cancer Institute", "US"),
    ("Toronto Princess Oncology", "CA"),
    ("Shanghai Chest Hospital", "CN"),
    ("Tokyo National Cancer Center", "JP"),
    ("Seoul National University Hospital", "KR"),
    ("Melbourne Peter Oncology", "AU"),
    ("Oslo University Hospital", "NO"),
    ("Helsinki University Hospital", "FI"),
    ("Dublin St James's Oncology", "IE"),
    ("Lisbon Oncology Institute", "PT"),
    ("Prague Motol Oncology", "CZ"),
    ("Athens University Oncology", "GR"),
)

# OncoTree code, weight (rechallenge practice is dominated by lung, melanoma and kidney).
_TUMOURS = _Weighted(
    [
        ("NSCLC", 11), ("LUAD", 18), ("LUSC", 8), ("SCLC", 1.5), ("MEL", 9), ("SKCM", 6), ("ACRM", 0.6),
        ("UM", 0.5), ("RCC", 6), ("CCRCC", 5), ("BLCA", 5), ("UTUC", 1), ("HNSC", 5), ("NPC", 1),
        ("HCC", 3), ("CHOL", 0.5), ("STAD", 1.5), ("EGC", 1), ("ESCC", 2), ("COADREAD", 1.5),
        ("MCC", 0.7), ("CSCC", 1.2), ("CESC", 0.8), ("UCEC", 1.2), ("BRCA", 0.8), ("PLMESO", 1.3), ("CUP", 0.5),
    ]
)  # fmt: skip

_MALE_SHARE = {
    "NSCLC": 0.6, "LUAD": 0.55, "LUSC": 0.72, "SCLC": 0.6, "MEL": 0.58, "SKCM": 0.58, "ACRM": 0.5, "UM": 0.52,
    "RCC": 0.68, "CCRCC": 0.68, "BLCA": 0.76, "UTUC": 0.65, "HNSC": 0.75, "NPC": 0.72, "HCC": 0.8,
    "CHOL": 0.55, "STAD": 0.68, "EGC": 0.75, "ESCC": 0.75, "COADREAD": 0.55, "MCC": 0.65, "CSCC": 0.75,
    "CESC": 0.0, "UCEC": 0.0, "BRCA": 0.01, "PLMESO": 0.78, "CUP": 0.5,
}  # fmt: skip

_HISTOLOGY = {
    "NSCLC": ("Non-small cell carcinoma, NOS", "Large cell carcinoma"),
    "LUAD": ("Adenocarcinoma, acinar predominant", "Adenocarcinoma, solid predominant", "Adenocarcinoma"),
    "LUSC": ("Squamous cell carcinoma, keratinising", "Squamous cell carcinoma"),
    "SCLC": ("Small cell carcinoma",),
    "MEL": ("Melanoma, NOS",),
    "SKCM": ("Superficial spreading melanoma", "Nodular melanoma"),
    "ACRM": ("Acral lentiginous melanoma",),
    "UM": ("Uveal melanoma, mixed cell type",),
    "RCC": ("Papillary renal cell carcinoma", "Renal cell carcinoma, NOS"),
    "CCRCC": ("Clear cell renal cell carcinoma",),
    "BLCA": ("Urothelial carcinoma, high grade",),
    "UTUC": ("Upper tract urothelial carcinoma",),
    "HNSC": ("Squamous cell carcinoma, HPV-positive", "Squamous cell carcinoma, HPV-negative"),
    "NPC": ("Non-keratinising nasopharyngeal carcinoma",),
    "HCC": ("Hepatocellular carcinoma",),
    "CHOL": ("Intrahepatic cholangiocarcinoma",),
    "STAD": ("Adenocarcinoma, intestinal type", "Adenocarcinoma, diffuse type"),
    "EGC": ("Adenocarcinoma of the gastro-oesophageal junction",),
    "ESCC": ("Squamous cell carcinoma of the oesophagus",),
    "COADREAD": ("Adenocarcinoma, mismatch-repair deficient",),
    "MCC": ("Merkel cell carcinoma",),
    "CSCC": ("Cutaneous squamous cell carcinoma",),
    "CESC": ("Squamous cell carcinoma of the cervix",),
    "UCEC": ("Endometrioid carcinoma", "Serous carcinoma"),
    "BRCA": ("Triple-negative invasive ductal carcinoma",),
    "PLMESO": ("Epithelioid mesothelioma", "Biphasic mesothelioma"),
    "CUP": ("Carcinoma of unknown primary",),
}

_LUNG = frozenset({"NSCLC", "LUAD", "LUSC", "SCLC"})
_MELANOMA = frozenset({"MEL", "SKCM", "ACRM", "UM"})
_CPS_TUMOURS = frozenset({"HNSC", "STAD", "EGC", "ESCC", "CESC", "BLCA", "UTUC", "BRCA"})

# ICI-1 regimens by tumour group: (primary agent, second ICI, regimen type, weight).
_Regimen = tuple[str, str, str]
_REGIMENS: dict[str, _Weighted[_Regimen]] = {}
_REGIMEN_GROUPS: dict[tuple[str, ...], list[tuple[_Regimen, float]]] = {
    ("NSCLC", "LUAD", "LUSC"): [
        (("pembrolizumab", "", "ici_chemotherapy"), 30), (("pembrolizumab", "", "monotherapy"), 25),
        (("nivolumab", "", "monotherapy"), 8), (("nivolumab", "ipilimumab", "ici_ici"), 4),
        (("atezolizumab", "", "monotherapy"), 8), (("atezolizumab", "", "ici_chemotherapy"), 4),
        (("durvalumab", "", "monotherapy"), 6), (("durvalumab", "tremelimumab", "ici_ici"), 2),
        (("cemiplimab", "", "monotherapy"), 3), (("sintilimab", "", "ici_chemotherapy"), 3),
        (("tislelizumab", "", "ici_chemotherapy"), 3), (("camrelizumab", "", "ici_chemotherapy"), 2),
        (("pembrolizumab", "", "ici_radiotherapy"), 2),
    ],
    ("SCLC",): [
        (("atezolizumab", "", "ici_chemotherapy"), 50), (("durvalumab", "", "ici_chemotherapy"), 40),
        (("toripalimab", "", "ici_chemotherapy"), 10),
    ],
    ("MEL", "SKCM", "ACRM"): [
        (("nivolumab", "ipilimumab", "ici_ici"), 30), (("pembrolizumab", "", "monotherapy"), 30),
        (("nivolumab", "", "monotherapy"), 20), (("nivolumab", "relatlimab", "ici_ici"), 12),
        (("ipilimumab", "", "monotherapy"), 3), (("pembrolizumab", "", "ici_radiotherapy"), 5),
    ],
    ("UM",): [(("nivolumab", "ipilimumab", "ici_ici"), 70), (("pembrolizumab", "", "monotherapy"), 30)],
    ("RCC", "CCRCC"): [
        (("nivolumab", "ipilimumab", "ici_ici"), 35), (("pembrolizumab", "", "ici_antiangiogenic"), 30),
        (("nivolumab", "", "ici_antiangiogenic"), 10), (("avelumab", "", "ici_antiangiogenic"), 5),
        (("nivolumab", "", "monotherapy"), 20),
    ],
    ("BLCA", "UTUC"): [
        (("pembrolizumab", "", "monotherapy"), 40), (("avelumab", "", "monotherapy"), 25),
        (("nivolumab", "", "monotherapy"), 15), (("atezolizumab", "", "monotherapy"), 10),
        (("pembrolizumab", "", "ici_other"), 10),
    ],
    ("HNSC",): [
        (("pembrolizumab", "", "monotherapy"), 45), (("pembrolizumab", "", "ici_chemotherapy"), 30),
        (("nivolumab", "", "monotherapy"), 25),
    ],
    ("NPC",): [
        (("toripalimab", "", "ici_chemotherapy"), 40), (("camrelizumab", "", "ici_chemotherapy"), 30),
        (("tislelizumab", "", "ici_chemotherapy"), 30),
    ],
    ("HCC",): [
        (("atezolizumab", "", "ici_antiangiogenic"), 50), (("durvalumab", "tremelimumab", "ici_ici"), 25),
        (("nivolumab", "", "monotherapy"), 10), (("pembrolizumab", "", "monotherapy"), 10),
        (("camrelizumab", "", "ici_antiangiogenic"), 5),
    ],
    ("CHOL",): [(("durvalumab", "", "ici_chemotherapy"), 70), (("pembrolizumab", "", "ici_chemotherapy"), 30)],
    ("STAD", "EGC"): [
        (("nivolumab", "", "ici_chemotherapy"), 60), (("pembrolizumab", "", "ici_chemotherapy"), 30),
        (("tislelizumab", "", "ici_chemotherapy"), 10),
    ],
    ("ESCC",): [
        (("nivolumab", "", "ici_chemotherapy"), 30), (("pembrolizumab", "", "ici_chemotherapy"), 30),
        (("nivolumab", "", "monotherapy"), 15), (("tislelizumab", "", "monotherapy"), 10),
        (("camrelizumab", "", "monotherapy"), 10), (("toripalimab", "", "ici_chemotherapy"), 5),
    ],
    ("COADREAD",): [(("pembrolizumab", "", "monotherapy"), 60), (("nivolumab", "ipilimumab", "ici_ici"), 40)],
    ("MCC",): [
        (("avelumab", "", "monotherapy"), 60), (("pembrolizumab", "", "monotherapy"), 30),
        (("retifanlimab", "", "monotherapy"), 10),
    ],
    ("CSCC",): [(("cemiplimab", "", "monotherapy"), 80), (("pembrolizumab", "", "monotherapy"), 20)],
    ("CESC",): [
        (("pembrolizumab", "", "ici_chemotherapy"), 60), (("cemiplimab", "", "monotherapy"), 25),
        (("pembrolizumab", "", "monotherapy"), 15),
    ],
    ("UCEC",): [
        (("dostarlimab", "", "ici_chemotherapy"), 40), (("pembrolizumab", "", "ici_antiangiogenic"), 40),
        (("durvalumab", "", "ici_chemotherapy"), 20),
    ],
    ("BRCA",): [(("pembrolizumab", "", "ici_chemotherapy"), 80), (("atezolizumab", "", "ici_chemotherapy"), 20)],
    ("PLMESO",): [(("nivolumab", "ipilimumab", "ici_ici"), 80), (("pembrolizumab", "", "ici_chemotherapy"), 20)],
    ("CUP",): [(("pembrolizumab", "", "monotherapy"), 50), (("nivolumab", "", "monotherapy"), 50)],
}  # fmt: skip
for _codes, _pairs in _REGIMEN_GROUPS.items():
    for _code in _codes:
        _REGIMENS[_code] = _Weighted(_pairs)

# Agents to pick within a class (weights follow market share, roughly).
_ANTI_PD1_SHARES = [("pembrolizumab", 45), ("nivolumab", 35), ("cemiplimab", 5), ("tislelizumab", 5)]
_ANTI_PD1_SHARES += [("sintilimab", 4), ("toripalimab", 3), ("camrelizumab", 3)]
_CLASS_AGENTS: dict[str, _Weighted[str]] = {
    "anti_pd1": _Weighted(_ANTI_PD1_SHARES),
    "anti_pdl1": _Weighted([("atezolizumab", 55), ("durvalumab", 35), ("avelumab", 10)]),
    "anti_ctla4": _Weighted([("ipilimumab", 85), ("tremelimumab", 15)]),
}


def _drug_class(agent: str) -> str:
    return v.ICI_AGENTS.get(agent).drug_class


# Why ICI-1 stopped: progression 40%, toxicity 35%, planned completion 15%, patient choice/other 10%.
_STOP_REASONS = _Weighted(
    [("progression", 40), ("toxicity", 35), ("planned_completion", 15), ("patient_choice", 6), ("other", 4)]
)
#: Among toxicity stops, the share with a contraindicated irAE (≈1.5% of all patients).
_CONTRAINDICATED_SHARE_OF_TOXICITY = 0.043

_ICI1_BEST_RESPONSE = {
    "progression": _Weighted([("CR", 2), ("PR", 20), ("SD", 30), ("PD", 45), ("NE", 3)]),
    "toxicity": _Weighted([("CR", 8), ("PR", 35), ("SD", 35), ("PD", 12), ("NE", 10)]),
    "planned_completion": _Weighted([("CR", 25), ("PR", 50), ("SD", 25)]),
    "patient_choice": _Weighted([("CR", 10), ("PR", 35), ("SD", 40), ("PD", 5), ("NE", 10)]),
    "other": _Weighted([("CR", 5), ("PR", 30), ("SD", 40), ("PD", 10), ("NE", 15)]),
}

# irAE terms. Ordinary ones for any irAE; a heavier mix for the irAE that stopped ICI-1.
_ENDOCRINE = frozenset(t.code for t in v.CTCAE_TERMS if t.organ_category == "endocrine")
_ANY_IRAE = _Weighted(
    [
        ("colitis", 9), ("diarrhea", 10), ("hepatitis", 4), ("alt_increased", 4), ("ast_increased", 2),
        ("blood_bilirubin_increased", 1), ("pneumonitis", 6), ("hypothyroidism", 14), ("hyperthyroidism", 6),
        ("adrenal_insufficiency", 2.5), ("hypophysitis", 2.5), ("hyperglycemia", 1), ("diabetes_mellitus", 0.8),
        ("rash_maculo_papular", 12), ("pruritus", 8), ("arthritis", 3), ("arthralgia", 4), ("myalgia", 2),
        ("myositis", 0.8), ("heart_failure", 0.2), ("creatinine_increased", 2), ("acute_kidney_injury", 1.5),
        ("infusion_related_reaction", 1.5), ("uveitis", 0.5), ("pancreatitis", 0.5),
    ]
)  # fmt: skip
_DISCONTINUING_IRAE = _Weighted(
    [
        ("colitis", 20), ("diarrhea", 6), ("hepatitis", 12), ("alt_increased", 5), ("pneumonitis", 14),
        ("hypophysitis", 4), ("adrenal_insufficiency", 3), ("diabetes_mellitus", 1.5), ("hypothyroidism", 2),
        ("rash_maculo_papular", 6), ("arthritis", 4), ("myositis", 1.5), ("acute_kidney_injury", 3),
        ("creatinine_increased", 1), ("uveitis", 1), ("pancreatitis", 1), ("heart_failure", 0.3),
    ]
)  # fmt: skip
_CONTRAINDICATED_IRAE = _Weighted(
    [
        ("myocarditis", 35), ("pneumonitis", 35), ("myasthenia_gravis", 8), ("guillain_barre_syndrome", 4),
        ("encephalitis", 3), ("colitis", 15),
    ]
)  # fmt: skip
_RECHALLENGE_NEW_IRAE = _Weighted(
    [
        ("colitis", 9), ("diarrhea", 9), ("hepatitis", 5), ("alt_increased", 4), ("pneumonitis", 7),
        ("hypothyroidism", 8), ("hyperthyroidism", 3), ("adrenal_insufficiency", 2), ("hypophysitis", 1.5),
        ("rash_maculo_papular", 11), ("pruritus", 7), ("arthritis", 4), ("arthralgia", 4), ("myalgia", 2),
        ("myositis", 0.8), ("myocarditis", 0.5), ("creatinine_increased", 2), ("acute_kidney_injury", 1.5),
        ("myasthenia_gravis", 0.2), ("encephalitis", 0.1), ("uveitis", 0.4), ("pancreatitis", 0.4),
    ]
)  # fmt: skip

_SECOND_LINE = {
    "colitis": _Weighted([("infliximab", 70), ("vedolizumab", 30)]),
    "diarrhea": _Weighted([("infliximab", 70), ("vedolizumab", 30)]),
    "hepatitis": _Weighted([("mycophenolate_mofetil", 1)]),
    "alt_increased": _Weighted([("mycophenolate_mofetil", 1)]),
    "ast_increased": _Weighted([("mycophenolate_mofetil", 1)]),
    "blood_bilirubin_increased": _Weighted([("mycophenolate_mofetil", 1)]),
    "pneumonitis": _Weighted([("mycophenolate_mofetil", 60), ("infliximab", 40)]),
    "myocarditis": _Weighted([("abatacept", 50), ("ruxolitinib", 30), ("anti_thymocyte_globulin", 20)]),
    "myositis": _Weighted([("ivig", 60), ("abatacept", 40)]),
    "myasthenia_gravis": _Weighted([("ivig", 60), ("plasma_exchange", 40)]),
    "guillain_barre_syndrome": _Weighted([("ivig", 70), ("plasma_exchange", 30)]),
    "encephalitis": _Weighted([("ivig", 60), ("plasma_exchange", 40)]),
    "arthritis": _Weighted([("methotrexate", 1)]),
    "acute_kidney_injury": _Weighted([("mycophenolate_mofetil", 1)]),
    "creatinine_increased": _Weighted([("mycophenolate_mofetil", 1)]),
}
_OTHER_SECOND_LINE = _Weighted([("other", 1)])

_EXTRA_IRAES = _Weighted([(0, 58), (1, 30), (2, 10), (3, 2)])
_EXTRA_IRAES_AFTER_TOXICITY = _Weighted([(0, 60), (1, 30), (2, 10)])
_SETTLED_BEFORE_RESTART = _Weighted([(0, 55), (1, 38), (2, 7)])
_RESOLVED_TO = _Weighted([(0, 60), (1, 35), (2, 5)])
_LINE_OF_THERAPY = _Weighted([(1, 65), (2, 28), (3, 7)])
_ECOG_AT_ICI1 = _Weighted([(0, 40), (1, 50), (2, 10)])
_GRADE_ORDINARY = _Weighted([(1, 45), (2, 42), (3, 13)])
_GRADE_DISCONTINUING = _Weighted([(2, 45), (3, 45), (4, 10)])
_GRADE_RECHALLENGE = _Weighted([(1, 30), (2, 37), (3, 26), (4, 6), (5, 1)])

# Rechallenge strategy. The type follows why the preceding course stopped.
_AGENT_RELATIONS = {
    "after_toxicity": _Weighted([("same_agent", 72), ("same_class", 15), ("class_switch", 13)]),
    "after_progression": _Weighted([("same_agent", 45), ("same_class", 25), ("class_switch", 30)]),
    "after_planned_stop": _Weighted([("same_agent", 82), ("same_class", 13), ("class_switch", 5)]),
}
_RECHALLENGE_REGIMENS = {
    "after_toxicity": _Weighted([("monotherapy", 84), ("ici_chemotherapy", 6), ("ici_antiangiogenic", 4),
                                 ("ici_radiotherapy", 4), ("ici_other", 2)]),
    "after_progression": _Weighted([("monotherapy", 50), ("ici_chemotherapy", 22), ("ici_antiangiogenic", 12),
                                    ("ici_radiotherapy", 12), ("ici_other", 4)]),
    "after_planned_stop": _Weighted([("monotherapy", 76), ("ici_chemotherapy", 10), ("ici_antiangiogenic", 5),
                                     ("ici_radiotherapy", 7), ("ici_other", 2)]),
}  # fmt: skip
_ECOG_AT_RECHALLENGE = {
    "after_progression": _Weighted([(0, 25), (1, 50), (2, 20), (3, 5)]),
    "after_toxicity": _Weighted([(0, 38), (1, 47), (2, 12), (3, 3)]),
    "after_planned_stop": _Weighted([(0, 45), (1, 44), (2, 9), (3, 2)]),
}
_INTERVENING = {
    "after_progression": _Weighted([("none", 28), ("chemotherapy", 52), ("targeted", 6), ("radiotherapy", 10),
                                    ("surgery", 2), ("other", 2)]),
    "after_toxicity": _Weighted([("none", 85), ("chemotherapy", 6), ("radiotherapy", 5), ("surgery", 3),
                                 ("other", 1)]),
    "after_planned_stop": _Weighted([("none", 68), ("chemotherapy", 15), ("radiotherapy", 10), ("surgery", 5),
                                     ("targeted", 2)]),
}  # fmt: skip
_SYSTEMIC = frozenset({"chemotherapy", "targeted", "other"})

# Outcome calibration (VOCABULARIES.md, published figures):
#   median PFS after rechallenge 5.1 mo after a toxicity stop vs 2.9 mo after progression (Lu & Xie);
#   ORR 11–46% by stop reason (Xu 2022; Zhao 2021); OS median ≈ 13 mo (Feng 2023);
#   irAE recurrence 20–60%, ≈ 34% any grade, ≈ 12% high grade, ≈ 70% the same irAE (Zhao; Allouchery).
# The baseline times below are those of the reference patient (ECOG 0–1, PFS1 ≥ 6 months, TFI ≥ 6 months,
# no grade ≥ 3 prior irAE); the prognostic effects (PROGNOSTIC_EFFECTS) scale their hazards, and the
# baselines are set so the cohort as a whole still shows the published medians.
_ORR = {"after_progression": 0.17, "after_toxicity": 0.31, "after_planned_stop": 0.37}
_NON_RESPONDER_PFS_MEDIAN_DAYS = {"after_progression": 128.0, "after_toxicity": 198.0, "after_planned_stop": 155.0}
_RESPONDER_PFS_EXTRA_MEDIAN_DAYS = 270.0
_NON_RESPONDER_PFS_SHAPE = 1.15
#: Responders cannot progress before their confirmed response (two scans and a fortnight).
_RESPONDER_PROGRESSION_FREE_DAYS = 2 * 56 + 14
_POST_PROGRESSION_MEDIAN_DAYS = {"after_progression": 278.0, "after_toxicity": 410.0, "after_planned_stop": 297.0}
_DEATH_WITHOUT_PROGRESSION_MEDIAN_DAYS = 2200.0
_IRAE_ON_RECHALLENGE = {
    # (prior irAE in the preceding course?, rechallenge type) -> chance of ≥1 irAE during the rechallenge
    (True, "after_toxicity"): 0.52,
    (True, "after_progression"): 0.44,
    (True, "after_planned_stop"): 0.48,
    (False, "after_toxicity"): 0.20,
    (False, "after_progression"): 0.18,
    (False, "after_planned_stop"): 0.21,
}
_SAME_TERM_SHARE = 0.92
#: Chance of a second rechallenge once the first has stopped for a reason that allows one.
_SECOND_RECHALLENGE_CHANCE = 0.17
_NEXT_RECHALLENGE_TYPE = {
    "progression": "after_progression",
    "toxicity": "after_toxicity",
    "planned_completion": "after_planned_stop",
}
_LOST_TO_FOLLOW_UP = 0.04
# Missing answers on the CRF (item 4 of issue 7: missing stays missing). A course without recorded
# irAEs is mostly answered "no"; a few forms leave the question blank or answer "unknown".
_IRAE_HISTORY_WITHOUT_IRAES = _Weighted([("no", 94), ("", 4), ("unknown", 2)])
_PREDNISONE_NOT_RECORDED = 0.03
_UNKNOWN_HOSPITALISED = 0.05
_UNKNOWN_STEROID_REFRACTORY = 0.04
_UNKNOWN_LED_TO_DISCONTINUATION = 0.03
_IRECIST_SHARE = 0.15
# Scans every 8 weeks in the first year, then every 12; visits every 3 months, then every 6.
_SCAN_INTERVAL_DAYS = 56
_LATER_SCAN_INTERVAL_DAYS = 84
_VISIT_INTERVAL_DAYS = 91
_LATER_VISIT_INTERVAL_DAYS = 182
_FIRST_YEAR_DAYS = 365


# --- prognostic effects --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrognosticEffect:
    """A baseline factor of a rechallenge and its hazard ratios on PFS and OS after rechallenge.

    The hazard ratios are those a Cox model stratified by rechallenge type and combination regimen
    recovers from the generated cohort (``tests/registry/test_synthetic.py`` checks it on 20,000
    patients). ``source`` says where the value comes from, or that it is assumed.
    """

    name: str
    exposed: str
    reference: str
    hr_pfs2: float
    hr_os: float
    source: str


#: The prognostic effects built into the cohort, so a validation run on demo data has something to find.
PROGNOSTIC_EFFECTS: tuple[PrognosticEffect, ...] = (
    PrognosticEffect(
        name="ecog_2_or_more",
        exposed="ECOG ≥ 2 at rechallenge",
        reference="ECOG 0–1",
        hr_pfs2=1.8,
        hr_os=2.0,
        source=(
            "Dall'Olio et al., Lung Cancer 2020;145:95–104 (meta-analysis, 19 real-world ICI cohorts, NSCLC): "
            "pooled unadjusted HR 2.72 for OS and 2.39 for PFS; in ICI rechallenge, J Clin Med 2020;9(1):102 "
            "(35 NSCLC patients, multivariable): HR 2.38 for PFS. Set lower than the pooled unadjusted HRs, "
            "as an adjusted effect; the exact values are our choice."
        ),
    ),
    PrognosticEffect(
        name="pfs1_under_6_months",
        exposed="progression within 6 calendar months of the preceding course's start (primary resistance)",
        reference="no progression within 6 months",
        hr_pfs2=1.6,
        hr_os=1.4,
        source=(
            "assumed. Direction: the review's PFS1 ≥ 6 months criterion (Lu & Xie 2026) and longer initial ICI "
            "benefit going with better rechallenge outcomes (Plazy et al., Curr Oncol Rep 2022); no pooled HR."
        ),
    ),
    PrognosticEffect(
        name="tfi_under_6_months",
        exposed="treatment-free interval < 6 calendar months",
        reference="TFI ≥ 6 months",
        hr_pfs2=1.3,
        hr_os=1.2,
        source="assumed. Direction: the review names a long treatment-free interval as a predictor (Lu & Xie 2026).",
    ),
    PrognosticEffect(
        name="prior_irae_grade_3_or_more",
        exposed="a grade ≥ 3 irAE during the preceding course",
        reference="prior irAEs of grade ≤ 2 or none",
        hr_pfs2=1.15,
        hr_os=1.3,
        source=(
            "assumed. Severe irAEs need high-dose or long immunosuppression and leave sequelae; the literature "
            "is mixed (any irAE goes with better ICI outcomes: meta-analysis, BMC Med 2020, "
            "doi:10.1186/s12916-020-01549-2), so both values are ours."
        ),
    ),
)
_EFFECTS = {effect.name: effect for effect in PROGNOSTIC_EFFECTS}
#: Hazard ratios on survival *after progression*, calibrated (with the HR on progression, which OS
#: inherits) so that the Cox HR of OS in the cohort is ``hr_os``; death without progression takes ``hr_os``.
_POST_PROGRESSION_HR = {
    "ecog_2_or_more": 1.55,
    "pfs1_under_6_months": 1.13,
    "tfi_under_6_months": 1.05,
    "prior_irae_grade_3_or_more": 1.22,
}


@dataclass(frozen=True, slots=True)
class _Hazards:
    """Hazard multipliers of one episode: on progression, on death after progression, on death without it."""

    progression: float = 1.0
    after_progression: float = 1.0
    death: float = 1.0

    @classmethod
    def of(cls, exposures: Collection[str]) -> _Hazards:
        return cls(
            progression=math.prod(_EFFECTS[name].hr_pfs2 for name in exposures),
            after_progression=math.prod(_POST_PROGRESSION_HR[name] for name in exposures),
            death=math.prod(_EFFECTS[name].hr_os for name in exposures),
        )


def _scale(median: float, shape: float) -> float:
    return median / _LN2 ** (1 / shape)


def proportional_hazards_time(days: float, hazard_ratio: float, survival: Callable[[float], float]) -> float:
    """The time with survival ``S0(days) ** (1 / hr)`` under ``S0``: the same quantile with hazards × ``hr``.

    Drawing a baseline time and moving it so gives exactly ``S(t) = S0(t) ** hr``, proportional hazards,
    whatever the shape of ``S0`` (here a mixture of responders and non-responders), without a random draw.
    """
    if hazard_ratio == 1.0:
        return days
    target = survival(days) ** (1 / hazard_ratio)
    if target >= 1.0:
        return days
    # The baseline is progression-free for a day (S0 = 1 up to day 1), so no time moves below it.
    low, high = (1.0, days) if hazard_ratio > 1.0 else (days, days * 2)
    while hazard_ratio < 1.0 and survival(high) > target:
        low, high = high, high * 2
    while high - low > 0.25:
        middle = (low + high) / 2
        if survival(middle) > target:
            low = middle
        else:
            high = middle
    return (low + high) / 2


# --- the generator -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Latent:
    """An episode's latent outcome, in days from its start."""

    responder: bool
    progression: int
    death: int
    censor: int
    lost: bool


class _CohortBuilder:
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

    def sites(self, count: int) -> list[DemoSite]:
        rng = self.rng
        sites = []
        for index, code in enumerate(demo_site_codes(count)):
            name, country = _SITES[index % len(_SITES)]
            if index >= len(_SITES):
                name = f"{name} {index // len(_SITES) + 1}"
            approved = dt.date(2017, 1, 1) + dt.timedelta(days=_below(rng, 700))
            sites.append(
                DemoSite(
                    code=code,
                    name=f"{name} (demo)",
                    country=country,
                    ethics_approval_reference=f"EC-{approved.year}-{_between(rng, 100, 999)}",
                    ethics_approval_date=approved,
                )
            )
        return sites

    def registry_id(self, site_code: str) -> str:
        while True:
            candidate = new_registry_id(site_code, choice=self.rng.choice)
            if candidate not in self.registry_ids:
                self.registry_ids.add(candidate)
                return candidate

    def local_identifier(self, site_code: str) -> str:
        while True:
            candidate = f"MRN{_below(self.rng, 10_000_000):07d}"
            if (site_code, candidate) not in self.local_identifiers:
                self.local_identifiers.add((site_code, candidate))
                return candidate

    # -- a patient --

    def patient(self, site_code: str) -> DemoPatient:
        rng = self.rng
        tumour = _TUMOURS.pick(rng)
        stop_reason = _STOP_REASONS.pick(rng)
        contraindicated = stop_reason == "toxicity" and rng.random() < _CONTRAINDICATED_SHARE_OF_TOXICITY

        # Accrual grows over time: the square root skews starts towards the data cut.
        span = self.cut - 30 - self.first_rechallenge
        rechallenge_start = self.first_rechallenge + int(span * math.sqrt(rng.random()))
        course, prior_iraes, progressed = self.initial_course(tumour, stop_reason, contraindicated, rechallenge_start)

        rechallenge_type = _rechallenge_type(stop_reason, progressed)
        episodes: list[DemoEpisode] = []
        all_iraes = list(prior_iraes)
        preceding: _Regimen = (course.primary_agent, course.second_agent, course.regimen_type)
        preceding_iraes = prior_iraes
        sequence, start, prednisone = 1, rechallenge_start, self.prednisone_at_rechallenge(prior_iraes)
        course_exposures = _course_exposures(
            course.start_date, course.progression_date, course.stop_date, _date(rechallenge_start)
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
                break
            start, rechallenge_type, course_exposures = next_plan
            preceding = (episode.primary_agent, episode.second_agent, episode.regimen_type)
            preceding_iraes = episode.adverse_events
            prednisone = self.prednisone_at_rechallenge(preceding_iraes)
            sequence += 1

        sex = "male" if rng.random() < _MALE_SHARE[tumour] else "female"
        if rng.random() < 0.002:
            sex = "unknown"
        age = min(92, max(28, round(rng.gauss(65, 10.5))))
        year_of_birth = min(2000, max(1930, _date(rechallenge_start).year - age))
        date_of_birth = None
        if rng.random() < 0.25:
            date_of_birth = dt.date(year_of_birth, 1, 1) + dt.timedelta(days=_below(rng, 365))
        consent = rng.random()
        consent_status = "consented" if consent < 0.94 else ("waived" if consent < 0.99 else "withdrawn")
        consent_date = None
        if consent_status != "waived":
            # Mostly before the rechallenge, a few days after at most: enrollment, which needs consent,
            # can then lock its prediction within the first fortnight.
            consent_date = _date(min(self.cut, rechallenge_start + _between(rng, -21, 10)))
        histology = _any(rng, _HISTOLOGY[tumour]) if rng.random() < 0.7 else ""
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

    def biomarkers(self, tumour: str) -> tuple[Decimal | None, Decimal | None, Decimal | None, str]:
        rng = self.rng
        tps = cps = tmb = None
        if rng.random() < (0.9 if tumour in _LUNG else 0.25):
            band = rng.random()
            if band < 0.28:
                tps = _one_decimal(_any(rng, (0.0, 0.0, 0.5)))
            elif band < 0.64:
                tps = _one_decimal(_between(rng, 1, 49))
            else:
                tps = _one_decimal(_between(rng, 50, 100))
        if tumour in _CPS_TUMOURS and rng.random() < 0.8:
            cps = _one_decimal(min(100.0, round(rng.lognormvariate(math.log(10), 1.0))))
        if rng.random() < 0.2:
            median = 14.0 if tumour in _MELANOMA else (9.0 if tumour in _LUNG else 6.0)
            tmb = _one_decimal(min(400.0, rng.lognormvariate(math.log(median), 0.8)))
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
        primary, second, regimen = _REGIMENS[tumour].pick(rng)
        if stop_reason == "progression":
            tfi = 14 + rng.lognormvariate(math.log(60), 0.7)
            duration = 42 + _weibull(rng, 160, 1.2)
        elif stop_reason == "toxicity":
            tfi = 21 + rng.lognormvariate(math.log(80), 0.6)
            duration = 21 + _weibull(rng, 90, 1.0)
        elif stop_reason == "planned_completion":
            tfi = 60 + rng.lognormvariate(math.log(330), 0.5)
            duration = (365 if rng.random() < 0.2 else 730) + _between(rng, -21, 21)
        else:
            tfi = 30 + rng.lognormvariate(math.log(200), 0.6)
            duration = 42 + _weibull(rng, 260, 1.2)
        stop = rechallenge_start - int(tfi)
        start = stop - int(duration)

        # ICI-1 progression: on treatment when it stopped ICI-1, otherwise during the treatment-free interval.
        progression: int | None = None
        if stop_reason == "progression":
            progression = max(start + 28, stop - _between(rng, 0, 21))
        else:
            chance = {"toxicity": 0.55, "planned_completion": 0.92}.get(stop_reason, 0.75)
            if rng.random() < chance:
                progression = stop + 1 + int((rechallenge_start - stop - 2) * rng.uniform(0.4, 0.95))

        iraes: list[_Irae] = []
        if stop_reason == "toxicity":
            iraes.append(self.discontinuing_irae(start, stop, rechallenge_start, contraindicated))
        extra = (_EXTRA_IRAES_AFTER_TOXICITY if stop_reason == "toxicity" else _EXTRA_IRAES).pick(rng)
        terms = {irae.term for irae in iraes}
        for _ in range(extra):
            term = _ANY_IRAE.pick(rng)
            if term in terms:
                continue
            terms.add(term)
            iraes.append(self.ordinary_irae(term, start, stop, rechallenge_start))

        # Some dates of old records are known only to the month: impute mid-month where order still holds.
        onsets = [irae.onset for irae in iraes]
        start_precision = stop_precision = progression_precision = "day"
        if rng.random() < 0.15:
            imputed = _mid_month(start)
            later = [*onsets, *([progression] if progression is not None else [])]
            if imputed < stop and all(imputed <= day for day in later):
                start, start_precision = imputed, "month"
        if rng.random() < 0.12:
            imputed = _mid_month(stop)
            ok = start < imputed < rechallenge_start and all(onset < imputed for onset in onsets)
            if stop_reason != "progression" and progression is not None:
                ok = ok and imputed < progression
            if ok:
                stop, stop_precision = imputed, "month"
                if stop_reason == "progression":
                    progression, progression_precision = imputed, "month"
        for irae in iraes:
            irae.impute(rng, start, stop, rechallenge_start)

        best = _ICI1_BEST_RESPONSE[stop_reason].pick(rng)
        if stop_reason != "progression" and progression is None and best == "PD":
            best = "SD"
        course = DemoInitialCourse(
            primary_agent=primary,
            second_agent=second,
            regimen_type=regimen,
            line_of_therapy=_LINE_OF_THERAPY.pick(rng),
            start_date=_date(start),
            start_date_precision=start_precision,
            stop_date=_date(stop),
            stop_date_precision=stop_precision,
            ecog_at_start=_ECOG_AT_ICI1.pick(rng),
            best_overall_response=best,
            progression_date=_date(progression) if progression is not None else None,
            progression_date_precision=progression_precision,
            stop_reason=stop_reason,
            iraes_during_course=_irae_history(rng, bool(iraes)),
        )
        return course, [irae.record() for irae in iraes], progression is not None

    def discontinuing_irae(self, start: int, stop: int, rechallenge_start: int, contraindicated: bool) -> _Irae:
        """The irAE that stopped ICI-1: grade ≥ 2, onset before the stop, mostly settled before rechallenge."""
        rng = self.rng
        if contraindicated:
            term = _CONTRAINDICATED_IRAE.pick(rng)
            grade = {"pneumonitis": _any(rng, (3, 3, 4)), "colitis": 4}.get(term, _any(rng, (2, 3, 3, 4)))
        else:
            term = _DISCONTINUING_IRAE.pick(rng)
            grade = _safe_grade(term, _GRADE_DISCONTINUING.pick(rng))
        onset = max(start, stop - _between(rng, 1, 21))
        irae = self.manage(term, grade, onset, contraindicated=contraindicated)
        irae.led_to_discontinuation = True
        if term in _ENDOCRINE:
            irae.resolution, irae.resolved_to = None, None  # lifelong replacement
        else:
            # Restart is usually considered once back to grade ≤ 1; a few restart earlier.
            irae.resolved_to = _SETTLED_BEFORE_RESTART.pick(rng)
            latest = rechallenge_start - 7
            irae.resolution = min(latest, onset + 7 + int(rng.lognormvariate(math.log(40), 0.5)))
            irae.resolution = max(onset, irae.resolution)
        return irae

    def ordinary_irae(self, term: str, start: int, stop: int, rechallenge_start: int) -> _Irae:
        """An irAE of ICI-1 that did not stop it; early onset is commoner."""
        rng = self.rng
        grade = _safe_grade(term, _GRADE_ORDINARY.pick(rng))
        onset = start + int((stop - start) * rng.random() ** 1.5)
        irae = self.manage(term, grade, onset, contraindicated=False)
        if rng.random() < _UNKNOWN_LED_TO_DISCONTINUATION:
            irae.led_to_discontinuation = None
        if irae.resolution is not None:
            irae.resolution = min(irae.resolution, rechallenge_start - 1)
            irae.resolution = max(irae.resolution, onset)
        return irae

    def manage(self, term: str, grade: int, onset: int, *, contraindicated: bool, end: int | None = None) -> _Irae:
        """Grade-appropriate management, hospitalisation and course (ESMO/ASCO irAE guidance, simplified)."""
        rng = self.rng
        irae = _Irae(term=term, grade=grade, onset=onset)
        if term in _ENDOCRINE:
            if term == "hyperthyroidism":
                irae.management = "none"
                if rng.random() < 0.85:
                    irae.resolution, irae.resolved_to = onset + _between(rng, 21, 70), 0
            elif term in ("hypothyroidism",) and grade == 1:
                irae.management = "none" if rng.random() < 0.6 else "hormone_replacement"
                if rng.random() < 0.4:
                    irae.resolution, irae.resolved_to = onset + _between(rng, 30, 120), 0
            else:
                irae.management = "hormone_replacement"
                if rng.random() < 0.15:  # most stay on replacement, unresolved
                    irae.resolution, irae.resolved_to = onset + _between(rng, 30, 180), min(grade, 1)
            irae.hospitalised = grade >= 3 and rng.random() < 0.6
            if term in ("hypophysitis", "adrenal_insufficiency") and grade >= 2 and rng.random() < 0.4:
                irae.peak_prednisone = _one_decimal(_any(rng, (20, 30, 40, 60)))
        elif grade == 1:
            if rng.random() < 0.25:
                irae.management, irae.peak_prednisone = "corticosteroids", _one_decimal(_any(rng, (10, 15, 20)))
            if rng.random() < 0.95:
                irae.resolution, irae.resolved_to = onset + 7 + int(rng.lognormvariate(math.log(14), 0.5)), 0
        else:
            severe = grade >= 3
            if rng.random() < (0.95 if severe else 0.8):
                irae.management = "corticosteroids"
                doses = (60, 80, 100, 125) if severe else (30, 40, 50, 60)
                irae.peak_prednisone = _one_decimal(_any(rng, doses))
                if contraindicated and rng.random() < 0.4:
                    irae.peak_prednisone = _one_decimal(1250)  # methylprednisolone 1 g pulses
                if severe and rng.random() < (0.45 if contraindicated else 0.15):
                    irae.management = "second_line"
                    irae.second_line = _SECOND_LINE.get(term, _OTHER_SECOND_LINE).pick(rng)
                    irae.steroid_refractory = contraindicated and rng.random() < 0.4
            irae.hospitalised = rng.random() < (0.75 if severe else 0.12)
            if rng.random() < (0.85 if severe else 0.92):
                median = 50 if severe else 35
                irae.resolution = onset + 7 + int(rng.lognormvariate(math.log(median), 0.5))
                irae.resolved_to = _RESOLVED_TO.pick(rng)
        if grade == 5:
            irae.resolution = irae.resolved_to = None
            irae.hospitalised = True
        if end is not None and irae.resolution is not None and irae.resolution > end:
            irae.resolution = irae.resolved_to = None  # still ongoing at the last contact
        if irae.resolved_to is not None:
            irae.resolved_to = min(irae.resolved_to, grade)
        # Yes / No / Unknown on the CRF: a few answers are unknown, mostly for milder irAEs.
        if not irae.hospitalised and grade <= 2 and rng.random() < _UNKNOWN_HOSPITALISED:
            irae.hospitalised = None
        if irae.management == "corticosteroids" and rng.random() < _UNKNOWN_STEROID_REFRACTORY:
            irae.steroid_refractory = None
        return irae

    def prednisone_at_rechallenge(self, iraes: Sequence[DemoAdverseEvent]) -> float:
        """Steroid dose at rechallenge: a taper tail after an irAE, physiological cover for adrenal failure."""
        rng = self.rng
        dose = 0.0
        for irae in iraes:
            if irae.ctcae_term in ("adrenal_insufficiency", "hypophysitis") and irae.resolution_date is None:
                dose = max(dose, _any(rng, (5.0, 5.0, 7.5)))
            elif irae.ctcae_term not in _ENDOCRINE and irae.grade >= 2:
                if irae.resolved_to_grade is not None and irae.resolved_to_grade >= 2 and rng.random() < 0.5:
                    dose = max(dose, _any(rng, (10.0, 15.0, 20.0)))
                elif irae.management in ("corticosteroids", "second_line") and rng.random() < 0.15:
                    dose = max(dose, _any(rng, (2.5, 5.0, 7.5)))
        return dose

    # -- a rechallenge episode --

    def episode(
        self,
        *,
        sequence: int,
        start: int,
        rechallenge_type: str,
        preceding: _Regimen,
        preceding_iraes: Sequence[DemoAdverseEvent],
        course_exposures: tuple[str, ...],
        earlier_terms: set[str],
        prednisone: float,
        allow_next: bool,
    ) -> tuple[DemoEpisode, _NextPlan | None]:
        """One rechallenge and what happened after it; maybe the plan of a next rechallenge.

        ``course_exposures`` are the prognostic effects the preceding course gives (PFS1, TFI).
        """
        rng = self.rng
        relation, primary, second, regimen = self.strategy(rechallenge_type, preceding)
        ecog = _ECOG_AT_RECHALLENGE[rechallenge_type].pick(rng)
        intervening = _INTERVENING[rechallenge_type].pick(rng)
        lines = (1 if rng.random() < 0.8 else 2) if intervening in _SYSTEMIC else 0
        combination = regimen in v.COMBINATION_REGIMENS
        exposures = list(course_exposures)
        if ecog >= 2:
            exposures.append("ecog_2_or_more")
        if any(irae.grade >= 3 for irae in preceding_iraes):
            exposures.append("prior_irae_grade_3_or_more")
        latent = self.latent(start, rechallenge_type, combination=combination, hazards=_Hazards.of(exposures))

        # irAEs during the rechallenge (onset times in days from start).
        chance = _IRAE_ON_RECHALLENGE[(bool(preceding_iraes), rechallenge_type)]
        recurring_terms = [irae.ctcae_term for irae in preceding_iraes if irae.ctcae_term not in _ENDOCRINE]
        if not recurring_terms:
            # Sorted: a set's order follows PYTHONHASHSEED, and the cohort must not.
            recurring_terms = sorted(term for term in earlier_terms if term not in _ENDOCRINE)
        planned: list[tuple[int, str, int]] = []
        if rng.random() < chance:
            count = 1 if rng.random() < 0.85 else 2
            onset = int(7 + _weibull(rng, 50, 1.0))
            for _ in range(count):
                if recurring_terms and rng.random() < _SAME_TERM_SHARE:
                    term = _any(rng, recurring_terms)
                else:
                    term = _RECHALLENGE_NEW_IRAE.pick(rng)
                if any(term == other for _, other, _ in planned):
                    continue
                grade = _GRADE_RECHALLENGE.pick(rng)
                if term in _ENDOCRINE:
                    grade = min(grade, 3)
                if grade == 5 and onset + 21 > latent.censor:
                    grade = 4
                planned.append((onset, term, grade))
                onset += _between(rng, 14, 90)
        for onset, _, grade in planned:
            if grade == 5:
                latent.death = min(latent.death, onset + _between(rng, 3, 21))

        irecist = rng.random() < _IRECIST_SHARE
        # iRECIST: progression counts once the next scan, 4–8 weeks later, confirms it (iCPD).
        confirmation = latent.progression + _between(rng, 28, 56) if irecist else None
        end = min(latent.death, latent.censor)
        progression_seen, unconfirmed = _progression_status(latent.progression, confirmation, end)

        # Why the rechallenge stopped (the earliest reason), if it did before the last contact.
        reasons: list[tuple[int, str]] = [(_any(rng, (365, 730, 730)) + _between(rng, -14, 14), "planned_completion")]
        if progression_seen:
            reasons.append((latent.progression + _between(rng, 0, 10), "progression"))
        for onset, term, grade in planned:
            if (grade >= 3 and term not in _ENDOCRINE) or (grade == 2 and rng.random() < 0.2):
                reasons.append((onset + _between(rng, 0, 7), "toxicity"))
        if rng.random() < 0.04:
            reasons.append((_between(rng, 60, 600), "patient_choice"))
        if latent.death < latent.censor:
            reasons.append((latent.death, "other"))
        stop_time, stop_reason = min(reasons)
        stop_at: int | None = stop_time if stop_time <= end else None

        next_plan: _NextPlan | None = None
        # Only about one patient in ten is rechallenged a second time.
        eligible = allow_next and stop_at is not None and stop_reason in _NEXT_RECHALLENGE_TYPE
        if eligible and stop_at is not None and rng.random() < _SECOND_RECHALLENGE_CHANCE:
            gap = stop_at + 14 + int(rng.lognormvariate(math.log(80), 0.6))
            if stop_reason == "progression" and confirmation is not None:
                gap = max(gap, confirmation + 1)
            if gap < end and start + gap <= self.cut - 30:
                latent.censor, latent.lost = gap, False
                end = gap
                # The first rechallenge is followed only until the second starts.
                progression_seen, unconfirmed = _progression_status(latent.progression, confirmation, end)
                next_exposures = _course_exposures(
                    _date(start),
                    _date(start + latent.progression) if progression_seen else None,
                    _date(start + stop_at),
                    _date(start + gap),
                )
                next_plan = (start + gap, _NEXT_RECHALLENGE_TYPE[stop_reason], next_exposures)
        iraes = []
        for onset, term, grade in planned:
            if onset > end:
                continue
            irae = self.manage(term, grade, start + onset, contraindicated=False, end=start + end)
            irae.led_to_discontinuation = stop_reason == "toxicity" and stop_at is not None and onset <= stop_at
            irae.led_to_discontinuation = irae.led_to_discontinuation and (grade >= 2)
            irae.recurrence = "recurrence" if term in earlier_terms else "new"
            if grade >= 3 and irae.management == "second_line" and rng.random() < 0.5:
                irae.steroid_refractory = True
            iraes.append(irae.record())

        episode = DemoEpisode(
            sequence_number=sequence,
            start_date=_date(start),
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
            current_prednisone_mg_per_day=None if rng.random() < _PREDNISONE_NOT_RECORDED else _one_decimal(prednisone),
            intervening_therapy=intervening,
            intervening_therapy_lines=lines,
            iraes_during_rechallenge=_irae_history(rng, bool(iraes)),
            adverse_events=iraes,
        )
        self.baseline(episode, rechallenge_type)
        episode.responses = self.responses(
            start, latent, end, irecist, progression_seen or unconfirmed, confirmation if progression_seen else None
        )
        episode.follow_ups = self.follow_ups(
            start, latent, end, progression_seen, stop_at, stop_reason, next_plan is not None
        )
        return episode, next_plan

    def strategy(self, rechallenge_type: str, preceding: _Regimen) -> tuple[str, str, str, str]:
        """Agent relative to the preceding course, and the regimen: mostly monotherapy, some combinations."""
        rng = self.rng
        previous, _, _ = preceding
        previous_class = _drug_class(previous)
        relation = _AGENT_RELATIONS[rechallenge_type].pick(rng)
        regimen = _RECHALLENGE_REGIMENS[rechallenge_type].pick(rng)
        second = ""
        if relation == "same_class" and previous_class in _CLASS_AGENTS:
            primary = previous
            for _ in range(8):
                primary = _CLASS_AGENTS[previous_class].pick(rng)
                if primary != previous:
                    break
            if primary == previous:
                relation = "same_agent"
        elif relation == "class_switch":
            if previous_class == "anti_pd1" and rng.random() < 0.6:
                # The commonest switch: add anti-CTLA-4 (ipilimumab + nivolumab).
                primary, second, regimen = "ipilimumab", "nivolumab", "ici_ici"
            elif previous_class == "anti_pd1":
                primary = _CLASS_AGENTS["anti_pdl1"].pick(rng)
            else:
                primary = _any(rng, ("pembrolizumab", "nivolumab"))
        else:
            primary, relation = previous, "same_agent"
        return relation, primary, second, regimen

    def baseline(self, episode: DemoEpisode, rechallenge_type: str) -> None:
        """Baseline at rechallenge: labs (some missing), metastatic sites."""
        rng = self.rng
        worse = 1.15 if rechallenge_type == "after_progression" else 1.0
        if rng.random() < 0.88:
            ldh = rng.lognormvariate(math.log(225 * worse), 0.35)
            episode.ldh_u_per_l, episode.ldh_above_uln = _one_decimal(ldh), ldh > 250
        elif rng.random() < 0.5:
            episode.ldh_above_uln = rng.random() < 0.3  # only the flag was recorded
        if rng.random() < 0.9:
            episode.neutrophil_lymphocyte_ratio = _decimal(
                round(rng.lognormvariate(math.log(3.4 * worse), 0.55) * 100), 2
            )
        if rng.random() < 0.85:
            episode.albumin_g_per_l = _one_decimal(min(52.0, max(20.0, rng.gauss(38 / worse, 4.5))))
        if rng.random() < 0.95:
            episode.brain_metastases = rng.random() < 0.12
            episode.liver_metastases = rng.random() < 0.2 * worse

    def latent(self, start: int, rechallenge_type: str, *, combination: bool, hazards: _Hazards) -> _Latent:
        """Latent progression, death and censoring times (days from rechallenge start).

        Progression: a baseline time from the responder / non-responder mixture, moved to the same
        quantile under the episode's hazard ratio (exact proportional hazards). Death: progression plus
        an exponential survival after it, or death without progression, each hazard scaled too.
        """
        rng = self.rng
        orr = _ORR[rechallenge_type] * (1.25 if combination else 1.0)
        responder = rng.random() < orr
        factor = 1.15 if combination else 1.0
        median = _NON_RESPONDER_PFS_MEDIAN_DAYS[rechallenge_type] * factor
        non_responder_scale = _scale(median, _NON_RESPONDER_PFS_SHAPE)
        responder_scale = _scale(_RESPONDER_PFS_EXTRA_MEDIAN_DAYS * factor, 1.0)
        if responder:
            progression = _RESPONDER_PROGRESSION_FREE_DAYS + rng.expovariate(1.0) * responder_scale
        else:
            progression = 1 + rng.expovariate(1.0) ** (1 / _NON_RESPONDER_PFS_SHAPE) * non_responder_scale

        def survival(days: float) -> float:
            """The baseline mixture's probability of being progression-free at ``days``."""
            free = 1.0 if days <= 1 else math.exp(-(((days - 1) / non_responder_scale) ** _NON_RESPONDER_PFS_SHAPE))
            if days > _RESPONDER_PROGRESSION_FREE_DAYS:
                return (1 - orr) * free + orr * math.exp(-(days - _RESPONDER_PROGRESSION_FREE_DAYS) / responder_scale)
            return (1 - orr) * free + orr

        progression = proportional_hazards_time(progression, hazards.progression, survival)
        after_progression = _weibull(
            rng, _POST_PROGRESSION_MEDIAN_DAYS[rechallenge_type] * factor / hazards.after_progression, 1.0
        )
        without_progression = _weibull(rng, _DEATH_WITHOUT_PROGRESSION_MEDIAN_DAYS / hazards.death, 1.0)
        death = min(progression + 1 + after_progression, 1 + without_progression)
        censor = self.cut - start
        lost = rng.random() < _LOST_TO_FOLLOW_UP
        if lost:
            censor = _between(rng, min(30, censor), censor)
        return _Latent(responder=responder, progression=int(progression), death=int(death), censor=censor, lost=lost)

    def responses(
        self,
        start: int,
        latent: _Latent,
        end: int,
        irecist: bool,
        progressed: bool,
        confirmation: int | None,
    ) -> list[DemoResponse]:
        """Scans every ~8 weeks until progression or the last contact; PD (or iUPD→iCPD) on progression.

        Progression may be found between planned scans (symptoms, an unscheduled scan), so its
        assessment is dated on the progression day itself.
        """
        rng = self.rng
        criteria = "irecist" if irecist else "recist_1_1"
        limit = latent.progression if progressed else end
        scans: list[tuple[int, str]] = []
        day = _SCAN_INTERVAL_DAYS + _between(rng, -5, 7)
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
            interval = _SCAN_INTERVAL_DAYS if day < _FIRST_YEAR_DAYS else _LATER_SCAN_INTERVAL_DAYS
            day += interval + _between(rng, -5, 7)
        if irecist and len(scans) >= 3 and not latent.responder and rng.random() < 0.12:
            # Pseudoprogression: an unconfirmed iUPD that the next scan does not confirm.
            at = _below(rng, len(scans) - 1)
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
            records.append(DemoResponse(assessment_date=_date(start + day), criteria=criteria, category=category))
        return records

    def follow_ups(
        self,
        start: int,
        latent: _Latent,
        end: int,
        progression_seen: bool,
        stop_at: int | None,
        stop_reason: str,
        continues: bool,
    ) -> list[DemoFollowUp]:
        """Visits every 3 months, then every 6, and a last one: death, last known alive, or lost to follow-up."""
        rng = self.rng
        died = latent.death <= latent.censor and not continues
        last = latent.death if died else end
        progression = start + latent.progression if progression_seen else None

        def visit(day: int) -> DemoFollowUp:
            on = start + day
            stopped = stop_at is not None and stop_at <= day
            return DemoFollowUp(
                follow_up_date=_date(on),
                vital_status="alive",
                progression_date=_date(progression) if progression is not None and progression <= on else None,
                rechallenge_stopped_date=_date(start + stop_at) if stopped and stop_at is not None else None,
                rechallenge_stop_reason=stop_reason if stopped else "",
                death_date=None,
                last_known_alive_date=_date(on),
            )

        visits = []
        day = _VISIT_INTERVAL_DAYS + _between(rng, -10, 10)
        while day < last:
            visits.append(visit(day))
            interval = _VISIT_INTERVAL_DAYS if day < _FIRST_YEAR_DAYS else _LATER_VISIT_INTERVAL_DAYS
            day += interval + _between(rng, -10, 14)
        final = visit(last)
        if died:
            reported = min(self.cut, start + last + _between(rng, 0, 30))
            final.follow_up_date = _date(reported)
            final.vital_status, final.death_date = "dead", _date(start + last)
            final.last_known_alive_date = visits[-1].last_known_alive_date if visits else None
        elif latent.lost:
            # Contact lost: the last attempt is later than the last date known alive.
            final.follow_up_date = _date(min(self.cut, start + last + _between(rng, 30, 120)))
            final.vital_status = "unknown"
        visits.append(final)
        return visits


@dataclass(slots=True)
class _Irae:
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
            imputed = _mid_month(self.onset)
            upper = stop - 1 if self.led_to_discontinuation else stop
            if start <= imputed <= upper and (self.resolution is None or imputed <= self.resolution):
                self.onset, self.onset_precision = imputed, "month"
        if self.resolution is not None and rng.random() < 0.1:
            imputed = _mid_month(self.resolution)
            upper = rechallenge_start - 1 if self.resolution < rechallenge_start else rechallenge_start + 3650
            if self.onset <= imputed <= upper:
                self.resolution, self.resolution_precision = imputed, "month"

    def record(self) -> DemoAdverseEvent:
        term = v.CTCAE_TERMS.get(self.term)
        return DemoAdverseEvent(
            ctcae_version="6.0" if self.term == "diabetes_mellitus" else v.CTCAE_DEFAULT_VERSION,
            ctcae_term=self.term,
            meddra_code=term.meddra_code,
            organ_category=term.organ_category,
            grade=self.grade,
            onset_date=_date(self.onset),
            onset_date_precision=self.onset_precision,
            resolution_date=_date(self.resolution) if self.resolution is not None else None,
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


#: A next rechallenge: its start (ordinal), its type, and the prognostic effects its preceding course gives.
_NextPlan = tuple[int, str, tuple[str, ...]]


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


def _irae_history(rng: random.Random, recorded: bool) -> str:
    """The CRF's "irAEs during this course?": "yes" when irAEs are recorded, never "no" with irAEs."""
    return "yes" if recorded else _IRAE_HISTORY_WITHOUT_IRAES.pick(rng)


def _safe_grade(term: str, grade: int) -> int:
    """Keep ordinary draws out of the contraindicated zone (G3–4 pneumonitis, G4 non-endocrine)."""
    if term == "pneumonitis":
        return min(grade, 2)
    if grade >= 4 and term not in _ENDOCRINE:
        return 3
    return grade


def _progression_status(progression: int, confirmation: int | None, end: int) -> tuple[bool, bool]:
    """Whether progression counts by the last contact ``end``, and whether an iUPD still awaits confirmation."""
    if progression >= end:
        return False, False
    if confirmation is not None and confirmation >= end:
        return False, True
    return True, False


def _rechallenge_type(stop_reason: str, progressed: bool) -> str:
    """The rechallenge type follows why the preceding course stopped."""
    if stop_reason == "progression":
        return "after_progression"
    if stop_reason == "toxicity":
        return "after_toxicity"
    if stop_reason == "other" and progressed:
        return "after_progression"
    return "after_planned_stop"


def demo_site_codes(count: int) -> list[str]:
    """The codes the generator gives ``count`` sites (DEMO01…), known before any generation."""
    width = 2 if count < 100 else 3
    return [f"DEMO{index + 1:0{width}d}" for index in range(count)]


@dataclass(slots=True)
class CohortStream:
    """The sites, and the patients as an iterator, so a large cohort can be written chunk by chunk."""

    seed: int
    data_cut: dt.date
    sites: list[DemoSite]
    patients: Iterator[DemoPatient]


def stream_cohort(
    *,
    sites: int,
    patients: int,
    seed: int,
    data_cut: dt.date = DATA_CUT,
    taken_registry_ids: Collection[str] = (),
    taken_local_identifiers: Collection[tuple[str, str]] = (),
) -> CohortStream:
    """A synthetic multi-site cohort, patient by patient; the same arguments always give the same cohort.

    ``taken_*`` are identifiers already in the database (local identifiers as ``(site code, MRN)``),
    so a second run into a non-empty registry draws around them instead of colliding.
    """
    if sites < 1:
        raise ValueError("a cohort needs at least one site")
    if patients < 0:
        raise ValueError("the number of patients cannot be negative")
    builder = _CohortBuilder(
        seed=seed,
        data_cut=data_cut,
        taken_registry_ids=taken_registry_ids,
        taken_local_identifiers=taken_local_identifiers,
    )
    demo_sites = builder.sites(sites)
    # Sites differ in size, as real centers do.
    site_sizes = _Weighted([(site.code, builder.rng.uniform(0.4, 2.0)) for site in demo_sites])
    stream = (builder.patient(site_sizes.pick(builder.rng)) for _ in range(patients))
    return CohortStream(seed=seed, data_cut=data_cut, sites=demo_sites, patients=stream)


def generate_cohort(
    *,
    sites: int,
    patients: int,
    seed: int,
    data_cut: dt.date = DATA_CUT,
    taken_registry_ids: Collection[str] = (),
    taken_local_identifiers: Collection[tuple[str, str]] = (),
) -> DemoCohort:
    """The whole cohort in memory (see :func:`stream_cohort`)."""
    stream = stream_cohort(
        sites=sites,
        patients=patients,
        seed=seed,
        data_cut=data_cut,
        taken_registry_ids=taken_registry_ids,
        taken_local_identifiers=taken_local_identifiers,
    )
    return DemoCohort(seed=seed, data_cut=data_cut, sites=stream.sites, patients=list(stream.patients))

"""Reference mixes of the synthetic cohort: who is treated with what, how courses stop, how outcomes fall.

Weights and shares follow rechallenge practice (lung, melanoma and kidney dominate) and the
published figures in VOCABULARIES.md; the outcome baselines are calibrated with the prognostic
effects (:mod:`registry.synthetic.effects`) so the whole cohort still shows the published medians.
Only data here: the builder (:mod:`registry.synthetic.builder`) draws from it.
"""

from __future__ import annotations

import datetime as dt

from registry import vocabularies as v

from .draws import Weighted

#: Fixed data cut, so a seed gives the same cohort whatever day it is generated on.
DATA_CUT = dt.date(2026, 10, 31)
#: Earliest rechallenge start; accrual grows towards the data cut.
FIRST_RECHALLENGE = dt.date(2018, 1, 1)
#: Share of patients given a second rechallenge (a third is out of scope for demo data).
SECOND_RECHALLENGE_SHARE = 0.10

#: Demo centers (name, country); beyond these, names repeat with a number.
SITES = (
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
TUMOURS = Weighted(
    [
        ("NSCLC", 11), ("LUAD", 18), ("LUSC", 8), ("SCLC", 1.5), ("MEL", 9), ("SKCM", 6), ("ACRM", 0.6),
        ("UM", 0.5), ("RCC", 6), ("CCRCC", 5), ("BLCA", 5), ("UTUC", 1), ("HNSC", 5), ("NPC", 1),
        ("HCC", 3), ("CHOL", 0.5), ("STAD", 1.5), ("EGC", 1), ("ESCC", 2), ("COADREAD", 1.5),
        ("MCC", 0.7), ("CSCC", 1.2), ("CESC", 0.8), ("UCEC", 1.2), ("BRCA", 0.8), ("PLMESO", 1.3), ("CUP", 0.5),
    ]
)  # fmt: skip

MALE_SHARE = {
    "NSCLC": 0.6, "LUAD": 0.55, "LUSC": 0.72, "SCLC": 0.6, "MEL": 0.58, "SKCM": 0.58, "ACRM": 0.5, "UM": 0.52,
    "RCC": 0.68, "CCRCC": 0.68, "BLCA": 0.76, "UTUC": 0.65, "HNSC": 0.75, "NPC": 0.72, "HCC": 0.8,
    "CHOL": 0.55, "STAD": 0.68, "EGC": 0.75, "ESCC": 0.75, "COADREAD": 0.55, "MCC": 0.65, "CSCC": 0.75,
    "CESC": 0.0, "UCEC": 0.0, "BRCA": 0.01, "PLMESO": 0.78, "CUP": 0.5,
}  # fmt: skip

HISTOLOGY = {
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

LUNG = frozenset({"NSCLC", "LUAD", "LUSC", "SCLC"})
MELANOMA = frozenset({"MEL", "SKCM", "ACRM", "UM"})
CPS_TUMOURS = frozenset({"HNSC", "STAD", "EGC", "ESCC", "CESC", "BLCA", "UTUC", "BRCA"})

# ICI-1 regimens by tumour group: (primary agent, second ICI, regimen type, weight).
Regimen = tuple[str, str, str]
REGIMENS: dict[str, Weighted[Regimen]] = {}
_REGIMEN_GROUPS: dict[tuple[str, ...], list[tuple[Regimen, float]]] = {
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
        REGIMENS[_code] = Weighted(_pairs)

# Agents to pick within a class (weights follow market share, roughly).
_ANTI_PD1_SHARES = [("pembrolizumab", 45), ("nivolumab", 35), ("cemiplimab", 5), ("tislelizumab", 5)]
_ANTI_PD1_SHARES += [("sintilimab", 4), ("toripalimab", 3), ("camrelizumab", 3)]
CLASS_AGENTS: dict[str, Weighted[str]] = {
    "anti_pd1": Weighted(_ANTI_PD1_SHARES),
    "anti_pdl1": Weighted([("atezolizumab", 55), ("durvalumab", 35), ("avelumab", 10)]),
    "anti_ctla4": Weighted([("ipilimumab", 85), ("tremelimumab", 15)]),
}


def drug_class(agent: str) -> str:
    """The ICI class of an agent (anti-PD-1, anti-PD-L1, anti-CTLA-4, ...)."""
    return v.ICI_AGENTS.get(agent).drug_class


# Why ICI-1 stopped: progression 40%, toxicity 35%, planned completion 15%, patient choice/other 10%.
STOP_REASONS = Weighted(
    [("progression", 40), ("toxicity", 35), ("planned_completion", 15), ("patient_choice", 6), ("other", 4)]
)
#: Among toxicity stops, the share with a contraindicated irAE (≈1.5% of all patients).
CONTRAINDICATED_SHARE_OF_TOXICITY = 0.043

ICI1_BEST_RESPONSE = {
    "progression": Weighted([("CR", 2), ("PR", 20), ("SD", 30), ("PD", 45), ("NE", 3)]),
    "toxicity": Weighted([("CR", 8), ("PR", 35), ("SD", 35), ("PD", 12), ("NE", 10)]),
    "planned_completion": Weighted([("CR", 25), ("PR", 50), ("SD", 25)]),
    "patient_choice": Weighted([("CR", 10), ("PR", 35), ("SD", 40), ("PD", 5), ("NE", 10)]),
    "other": Weighted([("CR", 5), ("PR", 30), ("SD", 40), ("PD", 10), ("NE", 15)]),
}

# irAE terms. Ordinary ones for any irAE; a heavier mix for the irAE that stopped ICI-1.
ENDOCRINE = frozenset(t.code for t in v.CTCAE_TERMS if t.organ_category == "endocrine")
ANY_IRAE = Weighted(
    [
        ("colitis", 9), ("diarrhea", 10), ("hepatitis", 4), ("alt_increased", 4), ("ast_increased", 2),
        ("blood_bilirubin_increased", 1), ("pneumonitis", 6), ("hypothyroidism", 14), ("hyperthyroidism", 6),
        ("adrenal_insufficiency", 2.5), ("hypophysitis", 2.5), ("hyperglycemia", 1), ("diabetes_mellitus", 0.8),
        ("rash_maculo_papular", 12), ("pruritus", 8), ("arthritis", 3), ("arthralgia", 4), ("myalgia", 2),
        ("myositis", 0.8), ("heart_failure", 0.2), ("creatinine_increased", 2), ("acute_kidney_injury", 1.5),
        ("infusion_related_reaction", 1.5), ("uveitis", 0.5), ("pancreatitis", 0.5),
    ]
)  # fmt: skip
DISCONTINUING_IRAE = Weighted(
    [
        ("colitis", 20), ("diarrhea", 6), ("hepatitis", 12), ("alt_increased", 5), ("pneumonitis", 14),
        ("hypophysitis", 4), ("adrenal_insufficiency", 3), ("diabetes_mellitus", 1.5), ("hypothyroidism", 2),
        ("rash_maculo_papular", 6), ("arthritis", 4), ("myositis", 1.5), ("acute_kidney_injury", 3),
        ("creatinine_increased", 1), ("uveitis", 1), ("pancreatitis", 1), ("heart_failure", 0.3),
    ]
)  # fmt: skip
CONTRAINDICATED_IRAE = Weighted(
    [
        ("myocarditis", 35), ("pneumonitis", 35), ("myasthenia_gravis", 8), ("guillain_barre_syndrome", 4),
        ("encephalitis", 3), ("colitis", 15),
    ]
)  # fmt: skip
RECHALLENGE_NEW_IRAE = Weighted(
    [
        ("colitis", 9), ("diarrhea", 9), ("hepatitis", 5), ("alt_increased", 4), ("pneumonitis", 7),
        ("hypothyroidism", 8), ("hyperthyroidism", 3), ("adrenal_insufficiency", 2), ("hypophysitis", 1.5),
        ("rash_maculo_papular", 11), ("pruritus", 7), ("arthritis", 4), ("arthralgia", 4), ("myalgia", 2),
        ("myositis", 0.8), ("myocarditis", 0.5), ("creatinine_increased", 2), ("acute_kidney_injury", 1.5),
        ("myasthenia_gravis", 0.2), ("encephalitis", 0.1), ("uveitis", 0.4), ("pancreatitis", 0.4),
    ]
)  # fmt: skip

SECOND_LINE = {
    "colitis": Weighted([("infliximab", 70), ("vedolizumab", 30)]),
    "diarrhea": Weighted([("infliximab", 70), ("vedolizumab", 30)]),
    "hepatitis": Weighted([("mycophenolate_mofetil", 1)]),
    "alt_increased": Weighted([("mycophenolate_mofetil", 1)]),
    "ast_increased": Weighted([("mycophenolate_mofetil", 1)]),
    "blood_bilirubin_increased": Weighted([("mycophenolate_mofetil", 1)]),
    "pneumonitis": Weighted([("mycophenolate_mofetil", 60), ("infliximab", 40)]),
    "myocarditis": Weighted([("abatacept", 50), ("ruxolitinib", 30), ("anti_thymocyte_globulin", 20)]),
    "myositis": Weighted([("ivig", 60), ("abatacept", 40)]),
    "myasthenia_gravis": Weighted([("ivig", 60), ("plasma_exchange", 40)]),
    "guillain_barre_syndrome": Weighted([("ivig", 70), ("plasma_exchange", 30)]),
    "encephalitis": Weighted([("ivig", 60), ("plasma_exchange", 40)]),
    "arthritis": Weighted([("methotrexate", 1)]),
    "acute_kidney_injury": Weighted([("mycophenolate_mofetil", 1)]),
    "creatinine_increased": Weighted([("mycophenolate_mofetil", 1)]),
}
OTHER_SECOND_LINE = Weighted([("other", 1)])

EXTRA_IRAES = Weighted([(0, 58), (1, 30), (2, 10), (3, 2)])
EXTRA_IRAES_AFTER_TOXICITY = Weighted([(0, 60), (1, 30), (2, 10)])
SETTLED_BEFORE_RESTART = Weighted([(0, 55), (1, 38), (2, 7)])
RESOLVED_TO = Weighted([(0, 60), (1, 35), (2, 5)])
LINE_OF_THERAPY = Weighted([(1, 65), (2, 28), (3, 7)])
ECOG_AT_ICI1 = Weighted([(0, 40), (1, 50), (2, 10)])
GRADE_ORDINARY = Weighted([(1, 45), (2, 42), (3, 13)])
GRADE_DISCONTINUING = Weighted([(2, 45), (3, 45), (4, 10)])
GRADE_RECHALLENGE = Weighted([(1, 30), (2, 37), (3, 26), (4, 6), (5, 1)])

# Rechallenge strategy. The type follows why the preceding course stopped.
AGENT_RELATIONS = {
    "after_toxicity": Weighted([("same_agent", 72), ("same_class", 15), ("class_switch", 13)]),
    "after_progression": Weighted([("same_agent", 45), ("same_class", 25), ("class_switch", 30)]),
    "after_planned_stop": Weighted([("same_agent", 82), ("same_class", 13), ("class_switch", 5)]),
}
RECHALLENGE_REGIMENS = {
    "after_toxicity": Weighted([("monotherapy", 84), ("ici_chemotherapy", 6), ("ici_antiangiogenic", 4),
                                 ("ici_radiotherapy", 4), ("ici_other", 2)]),
    "after_progression": Weighted([("monotherapy", 50), ("ici_chemotherapy", 22), ("ici_antiangiogenic", 12),
                                    ("ici_radiotherapy", 12), ("ici_other", 4)]),
    "after_planned_stop": Weighted([("monotherapy", 76), ("ici_chemotherapy", 10), ("ici_antiangiogenic", 5),
                                     ("ici_radiotherapy", 7), ("ici_other", 2)]),
}  # fmt: skip
ECOG_AT_RECHALLENGE = {
    "after_progression": Weighted([(0, 25), (1, 50), (2, 20), (3, 5)]),
    "after_toxicity": Weighted([(0, 38), (1, 47), (2, 12), (3, 3)]),
    "after_planned_stop": Weighted([(0, 45), (1, 44), (2, 9), (3, 2)]),
}
INTERVENING = {
    "after_progression": Weighted([("none", 28), ("chemotherapy", 52), ("targeted", 6), ("radiotherapy", 10),
                                    ("surgery", 2), ("other", 2)]),
    "after_toxicity": Weighted([("none", 85), ("chemotherapy", 6), ("radiotherapy", 5), ("surgery", 3),
                                 ("other", 1)]),
    "after_planned_stop": Weighted([("none", 68), ("chemotherapy", 15), ("radiotherapy", 10), ("surgery", 5),
                                     ("targeted", 2)]),
}  # fmt: skip
SYSTEMIC = frozenset({"chemotherapy", "targeted", "other"})

# Outcome calibration (VOCABULARIES.md, published figures):
#   median PFS after rechallenge 5.1 mo after a toxicity stop vs 2.9 mo after progression (Lu & Xie);
#   ORR 11–46% by stop reason (Xu 2022; Zhao 2021); OS median ≈ 13 mo (Feng 2023);
#   irAE recurrence 20–60%, ≈ 34% any grade, ≈ 12% high grade, ≈ 70% the same irAE (Zhao; Allouchery).
# The baseline times below are those of the reference patient (ECOG 0–1, PFS1 ≥ 6 months, TFI ≥ 6 months,
# no grade ≥ 3 prior irAE); the prognostic effects (PROGNOSTIC_EFFECTS) scale their hazards, and the
# baselines are set so the cohort as a whole still shows the published medians.
ORR = {"after_progression": 0.17, "after_toxicity": 0.31, "after_planned_stop": 0.37}
NON_RESPONDER_PFS_MEDIAN_DAYS = {"after_progression": 128.0, "after_toxicity": 198.0, "after_planned_stop": 155.0}
RESPONDER_PFS_EXTRA_MEDIAN_DAYS = 270.0
NON_RESPONDER_PFS_SHAPE = 1.15
#: Responders cannot progress before their confirmed response (two scans and a fortnight).
RESPONDER_PROGRESSION_FREE_DAYS = 2 * 56 + 14
POST_PROGRESSION_MEDIAN_DAYS = {"after_progression": 278.0, "after_toxicity": 410.0, "after_planned_stop": 297.0}
DEATH_WITHOUT_PROGRESSION_MEDIAN_DAYS = 2200.0
IRAE_ON_RECHALLENGE = {
    # (prior irAE in the preceding course?, rechallenge type) -> chance of ≥1 irAE during the rechallenge
    (True, "after_toxicity"): 0.52,
    (True, "after_progression"): 0.44,
    (True, "after_planned_stop"): 0.48,
    (False, "after_toxicity"): 0.20,
    (False, "after_progression"): 0.18,
    (False, "after_planned_stop"): 0.21,
}
SAME_TERM_SHARE = 0.92
#: Chance of a second rechallenge once the first has stopped for a reason that allows one.
SECOND_RECHALLENGE_CHANCE = 0.17
NEXT_RECHALLENGE_TYPE = {
    "progression": "after_progression",
    "toxicity": "after_toxicity",
    "planned_completion": "after_planned_stop",
}
LOST_TO_FOLLOW_UP = 0.04
# Missing answers on the CRF (item 4 of issue 7: missing stays missing). A course without recorded
# irAEs is mostly answered "no"; a few forms leave the question blank or answer "unknown".
IRAE_HISTORY_WITHOUT_IRAES = Weighted([("no", 94), ("", 4), ("unknown", 2)])
PREDNISONE_NOT_RECORDED = 0.03
UNKNOWN_HOSPITALISED = 0.05
UNKNOWN_STEROID_REFRACTORY = 0.04
UNKNOWN_LED_TO_DISCONTINUATION = 0.03
IRECIST_SHARE = 0.15
# Scans every 8 weeks in the first year, then every 12; visits every 3 months, then every 6.
SCAN_INTERVAL_DAYS = 56
LATER_SCAN_INTERVAL_DAYS = 84
VISIT_INTERVAL_DAYS = 91
LATER_VISIT_INTERVAL_DAYS = 182
FIRST_YEAR_DAYS = 365

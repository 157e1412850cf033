"""Controlled vocabularies of the case report form, each with its source and version.

This module is the one place a coded value is defined: model choices, form pickers, API enums,
codebooks and exports all read from here. Codes are stable lowercase slugs (or the source's own
code, e.g. OncoTree) so that a label can be corrected without touching stored data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar


@dataclass(frozen=True, slots=True)
class Term:
    """One coded value of a vocabulary."""

    code: str
    label: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class CtcaeTerm(Term):
    """A CTCAE adverse-event term relevant to immune-related toxicity."""

    meddra_code: str = ""
    organ_category: str = ""
    source_verified: bool = True


@dataclass(frozen=True, slots=True)
class Agent(Term):
    """An immune checkpoint inhibitor and its drug class."""

    drug_class: str = ""


@dataclass(frozen=True, slots=True)
class Grade(Term):
    """A CTCAE grade with its NCIt concept code."""

    ncit_code: str = ""


@dataclass(frozen=True, slots=True)
class EcogStatus(Term):
    """An ECOG performance status with its SNOMED CT concept."""

    snomed_code: str = ""


@dataclass(frozen=True, slots=True)
class TumourType(Term):
    """An OncoTree tumour type."""

    tissue: str = ""


T = TypeVar("T", bound=Term)


@dataclass(frozen=True)
class Vocabulary(Generic[T]):
    """An ordered, versioned list of terms; codes are unique."""

    name: str
    source: str
    version: str
    terms: tuple[T, ...]
    _by_code: dict[str, T] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_code = {term.code: term for term in self.terms}
        if len(by_code) != len(self.terms):
            raise ValueError(f"vocabulary {self.name} has duplicate codes")
        object.__setattr__(self, "_by_code", by_code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[T]:
        return iter(self.terms)

    def __len__(self) -> int:
        return len(self.terms)

    def get(self, code: str) -> T:
        """The term for ``code``; ``KeyError`` names the vocabulary when the code is unknown."""
        try:
            return self._by_code[code]
        except KeyError:
            raise KeyError(f"{code!r} is not a code of {self.name}") from None

    def codes(self) -> tuple[str, ...]:
        return tuple(self._by_code)

    def choices(self) -> list[tuple[str, str]]:
        """(code, label) pairs in vocabulary order, as Django's ``choices`` expects."""
        return [(term.code, term.label) for term in self.terms]

    def label(self, code: str) -> str:
        return self.get(code).label

    def choices_with_codes(self) -> list[tuple[str, str]]:
        """(code, "label (code)") pairs, for pickers where people know the source's codes (OncoTree's NSCLC)."""
        return [(term.code, f"{term.label} ({term.code})") for term in self.terms]


def _simple(name: str, source: str, version: str, *pairs: tuple[str, str]) -> Vocabulary[Term]:
    return Vocabulary(name, source, version, tuple(Term(code, label) for code, label in pairs))


REGISTRY_CRF = "ICI Rechallenge Registry case report form"
CRF_VERSION = "1.0"

# --- CTCAE ---------------------------------------------------------------------------------------

CTCAE_DEFAULT_VERSION = "5.0"
CTCAE_VERSIONS = _simple(
    "CTCAE version",
    "NCI Common Terminology Criteria for Adverse Events",
    "2025",
    ("5.0", "CTCAE v5.0 (27 Nov 2017)"),
    ("6.0", "CTCAE v6.0 (2025, MedDRA 28.0)"),
)

CTCAE_GRADES: Vocabulary[Grade] = Vocabulary(
    "CTCAE grade",
    "NCI CTCAE",
    "5.0",
    (
        Grade("1", "Grade 1", "Mild; asymptomatic or mild symptoms; observation only", "C41338"),
        Grade(
            "2", "Grade 2", "Moderate; minimal, local or non-invasive intervention; limits instrumental ADL", "C41339"
        ),
        Grade("3", "Grade 3", "Severe or medically significant; hospitalisation; limits self-care ADL", "C41340"),
        Grade("4", "Grade 4", "Life-threatening; urgent intervention indicated", "C41337"),
        Grade("5", "Grade 5", "Death related to the adverse event", "C48275"),
    ),
)

#: "Grade the irAE resolved to": grade 0 (fully resolved) and the CTCAE grades an irAE can resolve to
#: (a grade-5 irAE does not resolve). The one list the form, the API and the import offer.
RESOLVED_GRADES: Vocabulary[Term] = Vocabulary(
    "Grade the irAE resolved to",
    "NCI CTCAE",
    "5.0",
    (Term("0", "Grade 0 – fully resolved"), *(Term(grade.code, grade.label) for grade in CTCAE_GRADES.terms[:4])),
)

ORGAN_CATEGORIES = _simple(
    "irAE organ category",
    REGISTRY_CRF,
    CRF_VERSION,
    ("gastrointestinal", "Gastrointestinal"),
    ("hepatic", "Hepatic"),
    ("pulmonary", "Pulmonary"),
    ("endocrine", "Endocrine"),
    ("skin", "Skin"),
    ("musculoskeletal", "Musculoskeletal"),
    ("cardiac", "Cardiac"),
    ("renal", "Renal"),
    ("neurological", "Neurological"),
    ("ocular", "Ocular"),
    ("pancreatic", "Pancreatic"),
    ("haematological", "Haematological"),
    ("other", "Other"),
)


def _ae(code: str, label: str, meddra: str, organ: str, verified: bool = True) -> CtcaeTerm:
    return CtcaeTerm(code, label, "", meddra, organ, verified)


#: The CTCAE term of an irAE outside the list: the term itself is kept as free text beside it.
CTCAE_OTHER_TERM = "other"

CTCAE_TERMS: Vocabulary[CtcaeTerm] = Vocabulary(
    "CTCAE irAE term",
    "NCI CTCAE v5.0 terms with MedDRA lowest-level-term codes; source_verified=False marks codes "
    "still to be checked against the official MedDRA release",
    "5.0",
    (
        _ae("colitis", "Colitis", "10009887", "gastrointestinal"),
        _ae("diarrhea", "Diarrhea", "10012727", "gastrointestinal"),
        _ae("alt_increased", "Alanine aminotransferase increased", "10001551", "hepatic"),
        _ae("ast_increased", "Aspartate aminotransferase increased", "10003481", "hepatic"),
        _ae("blood_bilirubin_increased", "Blood bilirubin increased", "10005364", "hepatic"),
        _ae("hepatitis", "Hepatitis (immune-mediated)", "10078962", "hepatic", verified=False),
        _ae("pneumonitis", "Pneumonitis", "10035742", "pulmonary"),
        _ae("hypothyroidism", "Hypothyroidism", "10021114", "endocrine"),
        _ae("hyperthyroidism", "Hyperthyroidism", "10020850", "endocrine"),
        _ae("adrenal_insufficiency", "Adrenal insufficiency", "10001367", "endocrine"),
        _ae("hypophysitis", "Hypophysitis", "10062767", "endocrine"),
        _ae("hyperglycemia", "Hyperglycemia", "10020639", "endocrine"),
        _ae("diabetes_mellitus", "Diabetes mellitus (CTCAE v6 term)", "10012601", "endocrine"),
        _ae("rash_maculo_papular", "Rash maculo-papular", "10037868", "skin"),
        _ae("pruritus", "Pruritus", "10037087", "skin"),
        _ae("arthritis", "Arthritis", "10003246", "musculoskeletal"),
        _ae("arthralgia", "Arthralgia", "10003239", "musculoskeletal"),
        _ae("myalgia", "Myalgia", "10028411", "musculoskeletal"),
        _ae("myositis", "Myositis", "10028653", "musculoskeletal"),
        _ae("myocarditis", "Myocarditis", "10028606", "cardiac"),
        _ae("heart_failure", "Heart failure", "10019279", "cardiac"),
        _ae("creatinine_increased", "Creatinine increased", "10011368", "renal"),
        _ae("acute_kidney_injury", "Acute kidney injury", "10069339", "renal"),
        _ae("infusion_related_reaction", "Infusion related reaction", "10051792", "other"),
        _ae("guillain_barre_syndrome", "Guillain-Barre syndrome", "10018767", "neurological", verified=False),
        _ae("myasthenia_gravis", "Myasthenia gravis", "10028417", "neurological", verified=False),
        _ae("encephalitis", "Encephalitis", "10014581", "neurological", verified=False),
        _ae("uveitis", "Uveitis", "10046851", "ocular", verified=False),
        _ae("pancreatitis", "Pancreatitis", "10033645", "pancreatic", verified=False),
        # Added for decision model 1.1 (guideline contraindications). Verified codes were checked against
        # a CTCAE data dictionary (terms and MedDRA codes unchanged from v4.03 to v5.0); nephritis and
        # DRESS are not CTCAE v5.0 terms, so their MedDRA codes still need the official release.
        _ae("nephritis", "Nephritis (immune-mediated)", "10029117", "renal", verified=False),
        _ae("myelitis", "Myelitis (incl. transverse myelitis)", "10028524", "neurological"),
        _ae("stevens_johnson_syndrome", "Stevens-Johnson syndrome", "10042033", "skin"),
        _ae("toxic_epidermal_necrolysis", "Toxic epidermal necrolysis", "10044223", "skin"),
        _ae(
            "dress", "Drug reaction with eosinophilia and systemic symptoms (DRESS)", "10073508", "skin", verified=False
        ),
        _ae("hemolysis", "Hemolysis (immune hemolytic anemia)", "10019491", "haematological"),
        _ae(
            "immune_thrombocytopenia",
            "Immune thrombocytopenia (CTCAE: platelet count decreased)",
            "10035528",
            "haematological",
        ),
        # A term outside this list, named in the irAE's free text (``ctcae_term_other``, never exported). It
        # has no MedDRA code (missing, not guessed) and the organ category "other"; it is never the "same
        # term" as another irAE (two unlisted terms are not known to be one).
        _ae(CTCAE_OTHER_TERM, "Other (specify)", "", "other"),
    ),
)

#: irAEs the decision model treats as severe neurological toxicity (any grade).
SEVERE_NEUROLOGICAL_TERMS = frozenset({"guillain_barre_syndrome", "myasthenia_gravis", "encephalitis"})

IRAE_MANAGEMENT = _simple(
    "irAE management",
    REGISTRY_CRF,
    CRF_VERSION,
    ("none", "None / observation"),
    ("corticosteroids", "Corticosteroids"),
    ("second_line", "Corticosteroids and a second-line immunosuppressant"),
    ("hormone_replacement", "Hormone replacement"),
)

IMMUNOSUPPRESSANTS = _simple(
    "Second-line immunosuppressant",
    "VOCABULARIES.md irAE management (ESMO/ASCO irAE guidance)",
    CRF_VERSION,
    ("infliximab", "Infliximab"),
    ("vedolizumab", "Vedolizumab"),
    ("mycophenolate_mofetil", "Mycophenolate mofetil"),
    ("ivig", "Intravenous immunoglobulin (IVIG)"),
    ("abatacept", "Abatacept"),
    ("anti_thymocyte_globulin", "Anti-thymocyte globulin"),
    ("ruxolitinib", "Ruxolitinib"),
    ("methotrexate", "Methotrexate"),
    ("plasma_exchange", "Plasma exchange"),
    ("other", "Other"),
)

RECURRENCE_STATUS = _simple(
    "irAE during rechallenge",
    REGISTRY_CRF,
    CRF_VERSION,
    ("recurrence", "Recurrence of a prior irAE (same term)"),
    ("new", "New irAE"),
)

# --- Response --------------------------------------------------------------------------------------

RESPONSE_CRITERIA = _simple(
    "Response criteria",
    "Eisenhauer et al. 2009 (RECIST 1.1); Seymour et al. 2017 (iRECIST)",
    "1.1",
    ("recist_1_1", "RECIST 1.1"),
    ("irecist", "iRECIST"),
)

RECIST_CATEGORIES = _simple(
    "RECIST 1.1 response",
    "RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009)",
    "1.1",
    ("CR", "Complete response"),
    ("PR", "Partial response"),
    ("SD", "Stable disease"),
    ("PD", "Progressive disease"),
    ("NE", "Not evaluable"),
)

IRECIST_CATEGORIES = _simple(
    "iRECIST response",
    "iRECIST (Seymour et al., Lancet Oncol 2017)",
    "2017",
    ("iCR", "Immune complete response"),
    ("iPR", "Immune partial response"),
    ("iSD", "Immune stable disease"),
    ("iUPD", "Immune unconfirmed progressive disease"),
    ("iCPD", "Immune confirmed progressive disease"),
    ("NE", "Not evaluable"),
)

# --- Performance status ----------------------------------------------------------------------------

ECOG: Vocabulary[EcogStatus] = Vocabulary(
    "ECOG performance status",
    "ECOG-ACRIN (Oken et al. 1982), SNOMED CT concepts",
    "1982",
    (
        EcogStatus("0", "0 – Fully active", "Fully active, no restriction", "425389002"),
        EcogStatus("1", "1 – Restricted in strenuous activity", "Ambulatory, light work possible", "422512005"),
        EcogStatus("2", "2 – Ambulatory, no work", "Self-care, up more than 50% of waking hours", "422894000"),
        EcogStatus("3", "3 – Limited self-care", "In bed or chair more than 50% of waking hours", "423053003"),
        EcogStatus("4", "4 – Completely disabled", "No self-care, confined to bed or chair", "423237006"),
        EcogStatus("5", "5 – Dead", "Dead", "423409001"),
    ),
)

# --- Treatment -------------------------------------------------------------------------------------

ICI_CLASSES = _simple(
    "ICI class",
    REGISTRY_CRF,
    CRF_VERSION,
    ("anti_pd1", "Anti-PD-1"),
    ("anti_pdl1", "Anti-PD-L1"),
    ("anti_ctla4", "Anti-CTLA-4"),
    ("anti_lag3", "Anti-LAG-3"),
)

ICI_AGENTS: Vocabulary[Agent] = Vocabulary(
    "ICI agent",
    "INN names; classes per product labels (toripalimab, retifanlimab, sintilimab, camrelizumab: unverified)",
    "2026",
    (
        Agent("pembrolizumab", "Pembrolizumab", "", "anti_pd1"),
        Agent("nivolumab", "Nivolumab", "", "anti_pd1"),
        Agent("cemiplimab", "Cemiplimab", "", "anti_pd1"),
        Agent("dostarlimab", "Dostarlimab", "", "anti_pd1"),
        Agent("tislelizumab", "Tislelizumab", "", "anti_pd1"),
        Agent("toripalimab", "Toripalimab", "", "anti_pd1"),
        Agent("retifanlimab", "Retifanlimab", "", "anti_pd1"),
        Agent("sintilimab", "Sintilimab", "", "anti_pd1"),
        Agent("camrelizumab", "Camrelizumab", "", "anti_pd1"),
        Agent("atezolizumab", "Atezolizumab", "", "anti_pdl1"),
        Agent("durvalumab", "Durvalumab", "", "anti_pdl1"),
        Agent("avelumab", "Avelumab", "", "anti_pdl1"),
        Agent("ipilimumab", "Ipilimumab", "", "anti_ctla4"),
        Agent("tremelimumab", "Tremelimumab", "", "anti_ctla4"),
        Agent("relatlimab", "Relatlimab", "", "anti_lag3"),
    ),
)

REGIMEN_TYPES = _simple(
    "Regimen type",
    "VOCABULARIES.md regimen types",
    CRF_VERSION,
    ("monotherapy", "ICI monotherapy"),
    ("ici_ici", "ICI + ICI"),
    ("ici_chemotherapy", "ICI + chemotherapy"),
    ("ici_antiangiogenic", "ICI + anti-angiogenic"),
    ("ici_radiotherapy", "ICI + radiotherapy"),
    ("ici_other", "ICI + other"),
)

#: Regimens the decision model counts as a "combination" strategy (chemo / anti-angiogenic / RT).
COMBINATION_REGIMENS = frozenset({"ici_chemotherapy", "ici_antiangiogenic", "ici_radiotherapy"})

AGENT_RELATIONS = _simple(
    "Rechallenge agent relative to the preceding course",
    REGISTRY_CRF,
    CRF_VERSION,
    ("same_agent", "Same agent"),
    ("same_class", "Different agent, same class"),
    ("class_switch", "Class switch"),
)

STOP_REASONS = _simple(
    "Reason the ICI course stopped",
    REGISTRY_CRF,
    CRF_VERSION,
    ("progression", "Progression"),
    ("toxicity", "irAE / toxicity"),
    ("planned_completion", "Planned completion"),
    ("patient_choice", "Patient choice"),
    ("other", "Other"),
)

RECHALLENGE_TYPES = _simple(
    "Rechallenge type",
    REGISTRY_CRF,
    CRF_VERSION,
    ("after_progression", "After progression"),
    ("after_toxicity", "After toxicity (resumption)"),
    ("after_planned_stop", "After a planned stop"),
)

INTERVENING_THERAPIES = _simple(
    "Therapy between the preceding ICI course and rechallenge",
    REGISTRY_CRF,
    CRF_VERSION,
    ("none", "None"),
    ("chemotherapy", "Chemotherapy"),
    ("targeted", "Targeted therapy"),
    ("radiotherapy", "Radiotherapy"),
    ("surgery", "Surgery"),
    ("other", "Other"),
)

# --- Patient ---------------------------------------------------------------------------------------

SEX = _simple(
    "Sex",
    REGISTRY_CRF,
    CRF_VERSION,
    ("female", "Female"),
    ("male", "Male"),
    ("other", "Other"),
    ("unknown", "Unknown"),
)

CONSENT_STATUS = _simple(
    "Consent status",
    REGISTRY_CRF,
    CRF_VERSION,
    ("consented", "Consented"),
    ("waived", "Waived by ethics committee"),
    ("withdrawn", "Withdrawn"),
)

MSI_STATUS = _simple(
    "Microsatellite instability status",
    REGISTRY_CRF,
    CRF_VERSION,
    ("msi_high", "MSI-high / dMMR"),
    ("mss", "MSS / pMMR"),
    ("unknown", "Unknown / not tested"),
)

VITAL_STATUS = _simple(
    "Vital status",
    REGISTRY_CRF,
    CRF_VERSION,
    ("alive", "Alive"),
    ("dead", "Dead"),
    ("unknown", "Unknown / lost to follow-up"),
)

RECHALLENGE_STOP_REASONS = STOP_REASONS

# --- Missing-data codes (REDCap's missing-data codes) ----------------------------------------------

#: The answer a site gives for a field it could not fill: an answer, not a blank. It satisfies the
#: ``required_missing`` rule, is shown as such on the page, and stays distinct from a value in exports.
MISSING_DATA_CODES = _simple(
    "Missing-data codes",
    REGISTRY_CRF,
    CRF_VERSION,
    ("not_done", "Not done"),
    ("unknown", "Unknown"),
    ("not_applicable", "Not applicable"),
)

_ONCOTREE = (
    ("NSCLC", "Non-small cell lung cancer", "Lung"),
    ("LUAD", "Lung adenocarcinoma", "Lung"),
    ("LUSC", "Lung squamous cell carcinoma", "Lung"),
    ("SCLC", "Small cell lung cancer", "Lung"),
    ("MEL", "Melanoma", "Skin"),
    ("SKCM", "Cutaneous melanoma", "Skin"),
    ("ACRM", "Acral melanoma", "Skin"),
    ("UM", "Uveal melanoma", "Eye"),
    ("RCC", "Renal cell carcinoma", "Kidney"),
    ("CCRCC", "Renal clear cell carcinoma", "Kidney"),
    ("BLCA", "Bladder urothelial carcinoma", "Bladder/Urinary tract"),
    ("UTUC", "Upper tract urothelial carcinoma", "Bladder/Urinary tract"),
    ("HNSC", "Head and neck squamous cell carcinoma", "Head and neck"),
    ("NPC", "Nasopharyngeal carcinoma", "Head and neck"),
    ("HCC", "Hepatocellular carcinoma", "Liver"),
    ("CHOL", "Cholangiocarcinoma", "Biliary tract"),
    ("STAD", "Stomach adenocarcinoma", "Esophagus/Stomach"),
    ("EGC", "Esophagogastric adenocarcinoma", "Esophagus/Stomach"),
    ("ESCC", "Esophageal squamous cell carcinoma", "Esophagus/Stomach"),
    ("COADREAD", "Colorectal adenocarcinoma", "Bowel"),
    ("MCC", "Merkel cell carcinoma", "Skin"),
    ("CSCC", "Cutaneous squamous cell carcinoma", "Skin"),
    ("CESC", "Cervical squamous cell carcinoma", "Cervix"),
    ("UCEC", "Endometrial carcinoma", "Uterus"),
    ("BRCA", "Invasive breast carcinoma", "Breast"),
    ("PLMESO", "Pleural mesothelioma", "Pleura"),
    ("CUP", "Cancer of unknown primary", "Other"),
)

TUMOUR_TYPES: Vocabulary[TumourType] = Vocabulary(
    "Tumour type",
    "OncoTree (Memorial Sloan Kettering), CC BY 4.0",
    "oncotree_latest_stable",
    tuple(TumourType(code, label, "", tissue) for code, label, tissue in _ONCOTREE),
)

ALL_VOCABULARIES: tuple[Vocabulary, ...] = (
    CTCAE_VERSIONS,
    CTCAE_GRADES,
    ORGAN_CATEGORIES,
    CTCAE_TERMS,
    IRAE_MANAGEMENT,
    IMMUNOSUPPRESSANTS,
    RECURRENCE_STATUS,
    RESPONSE_CRITERIA,
    RECIST_CATEGORIES,
    IRECIST_CATEGORIES,
    ECOG,
    ICI_CLASSES,
    ICI_AGENTS,
    REGIMEN_TYPES,
    AGENT_RELATIONS,
    STOP_REASONS,
    RECHALLENGE_TYPES,
    INTERVENING_THERAPIES,
    SEX,
    CONSENT_STATUS,
    MSI_STATUS,
    VITAL_STATUS,
    TUMOUR_TYPES,
)


def response_categories(criteria: str) -> Vocabulary[Term]:
    """The response categories valid under ``criteria`` (``recist_1_1`` or ``irecist``)."""
    return {"recist_1_1": RECIST_CATEGORIES, "irecist": IRECIST_CATEGORIES}[RESPONSE_CRITERIA.get(criteria).code]


# --- Answers of the case report form ---------------------------------------------------------------

#: "Were there irAEs during this course?" An empty answer means the question was not answered, which
#: is not "no": the decision model reads an unanswered irAE history as not recorded.
IRAE_HISTORY = _simple(
    "irAEs during the course",
    REGISTRY_CRF,
    CRF_VERSION,
    ("yes", "Yes"),
    ("no", "No irAEs during this course"),
    ("unknown", "Unknown"),
)

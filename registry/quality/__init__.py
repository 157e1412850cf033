"""Data-quality rules, declared once (DESIGN §7): ids, severities, messages, the fields they point at.

Pure definitions, no Django. The clinical services refuse a save that breaks an ``error`` rule (field-level
message, nothing written); a ``warning`` lets the save through and opens a query. The nightly sweep
(``apps.quality``) runs every rule set-wise over the whole registry with the checks of
:mod:`registry.quality.checks`. Forms mark required fields from :data:`REQUIRED_FIELDS` before anyone
saves, the codebook and exports read the same declarations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    #: Refuses the save, with a message on the field.
    ERROR = "error"
    #: Lets the save through and raises a query for the site.
    WARNING = "warning"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    #: What the site reads; ``{placeholders}`` are filled from the violation's details.
    message: str
    #: Record types (``registry.crf`` record names) and fields the rule points at.
    fields: tuple[tuple[str, str], ...]
    #: Whether a site may close the question by confirming the value as entered.
    confirmable: bool = False
    #: Rules the on-save check runs; the others (time-based, cross-patient) only run in the sweep.
    on_save: bool = True


RULES: tuple[Rule, ...] = (
    Rule(
        "required_missing",
        Severity.WARNING,
        "Required field not answered",
        "{label} is required: enter it, or answer 'not done', 'unknown' or 'not applicable'.",
        (),
    ),
    Rule(
        "implausible_value",
        Severity.WARNING,
        "Implausible value",
        "{label} {value} {unit} is outside the plausible range {low}–{high}{hint}. Correct it, or confirm it as "
        "entered.",
        (
            ("episode", "albumin_g_per_l"),
            ("episode", "ldh_u_per_l"),
            ("episode", "neutrophil_lymphocyte_ratio"),
            ("episode", "current_prednisone_mg_per_day"),
            ("adverse_event", "peak_prednisone_mg_per_day"),
            ("patient", "pdl1_tps_percent"),
            ("patient", "pdl1_cps"),
            ("patient", "tmb_mut_per_mb"),
        ),
        confirmable=True,
    ),
    Rule(
        "date_order",
        Severity.ERROR,
        "Dates out of order",
        "{label} ({value}) must not be before {other_label} ({other_value}).",
        (
            ("initial_course", "stop_date"),
            ("episode", "start_date"),
            ("response", "assessment_date"),
            ("follow_up", "follow_up_date"),
        ),
    ),
    Rule(
        "after_death",
        Severity.ERROR,
        "Dated after death",
        "{label} ({value}) is after the recorded date of death ({death}).",
        (
            ("response", "assessment_date"),
            ("follow_up", "follow_up_date"),
            ("adverse_event", "onset_date"),
        ),
    ),
    Rule(
        "toxicity_stop_without_irae",
        Severity.WARNING,
        "Stopped for toxicity, no irAE that led to discontinuation",
        "{course} stopped for toxicity, but no irAE of that course is recorded as having led to discontinuation.",
        (("initial_course", "stop_reason"), ("follow_up", "rechallenge_stop_reason")),
    ),
    Rule(
        "grade5_without_death",
        Severity.WARNING,
        "Grade-5 irAE without a recorded death",
        "A grade-5 (fatal) irAE is recorded, but no follow-up records the patient's death.",
        (("adverse_event", "grade"),),
    ),
    Rule(
        "contraindicated_without_justification",
        Severity.WARNING,
        "Clinical justification missing",
        "State the clinical justification for this rechallenge.",
        (("episode", "clinical_justification"),),
        on_save=False,
    ),
    Rule(
        "follow_up_overdue",
        Severity.WARNING,
        "Follow-up overdue",
        "No follow-up has been recorded for {days} days (the registry asks for one every {interval} days).",
        (("episode", ""),),
        on_save=False,
    ),
    Rule(
        "outcome_missing",
        Severity.WARNING,
        "Outcome missing",
        "Six months after the rechallenge started there is no response assessment and no progression status.",
        (("episode", ""),),
        on_save=False,
    ),
    Rule(
        "duplicate_patient",
        Severity.WARNING,
        "Probable duplicate patient",
        "This patient may be a duplicate of {other}: same sex, year of birth, tumour type and ICI-1 start.",
        (("patient", ""),),
        on_save=False,
    ),
)

RULES_BY_ID: Mapping[str, Rule] = {rule.id: rule for rule in RULES}


def rule(rule_id: str) -> Rule:
    return RULES_BY_ID[rule_id]


# --- Required fields ---------------------------------------------------------------------------------

Values = Mapping[str, Any]


@dataclass(frozen=True)
class Required:
    """A field the registry needs answered (a value or a missing-data code), perhaps only when ``when`` holds."""

    field: str
    #: ``when(values)`` over the record's field values; None means always.
    when: Callable[[Values], bool] | None = None
    #: Shown beside the mark on the form ("when the course stopped").
    condition: str = ""

    def applies(self, values: Values) -> bool:
        return self.when is None or bool(self.when(values))


@dataclass(frozen=True)
class Given:
    """The condition "``name`` holds a value"; a dataclass, so the set-wise checks read it as a column mask."""

    name: str

    def __call__(self, values: Values) -> bool:
        return values.get(self.name) not in (None, "")


@dataclass(frozen=True)
class Equals:
    """The condition "``name`` holds one of ``codes``" (read set-wise like :class:`Given`)."""

    name: str
    codes: tuple[Any, ...]

    def __call__(self, values: Values) -> bool:
        return values.get(self.name) in self.codes


def _given(name: str) -> Callable[[Values], bool]:
    return Given(name)


def _equals(name: str, *codes: Any) -> Callable[[Values], bool]:
    return Equals(name, codes)


#: Fields the model lets a site leave empty but the registry needs answered, per record type. Fields the
#: database itself requires (not null, not blank) are refused by the form already and are not repeated here.
REQUIRED_FIELDS: Mapping[str, tuple[Required, ...]] = {
    "patient": (
        Required("pdl1_tps_percent", _equals("tumour_type", "NSCLC", "LUAD", "LUSC"), "for non-small-cell lung cancer"),
    ),
    "initial_course": (
        Required("stop_date"),
        Required("stop_reason", _given("stop_date"), "when the course stopped"),
        Required("progression_date", _equals("stop_reason", "progression"), "when it stopped for progression"),
        Required("best_overall_response"),
        Required("iraes_during_course"),
    ),
    "episode": (
        Required("ldh_above_uln"),
        Required("neutrophil_lymphocyte_ratio"),
        Required("albumin_g_per_l"),
        Required("brain_metastases"),
        Required("liver_metastases"),
        Required("current_prednisone_mg_per_day"),
        Required("iraes_during_rechallenge"),
    ),
    "adverse_event": (
        Required("resolved_to_grade", _given("resolution_date"), "when a resolution date is given"),
        Required("resolution_date", _given("resolved_to_grade"), "when the irAE resolved"),
        Required(
            "peak_prednisone_mg_per_day",
            _equals("management", "corticosteroids", "second_line"),
            "when treated with corticosteroids",
        ),
        Required("led_to_discontinuation"),
        Required("hospitalised"),
    ),
    "response": (),
    "follow_up": (
        Required("death_date", _equals("vital_status", "dead"), "when the patient died"),
        Required("last_known_alive_date", _equals("vital_status", "alive", "unknown"), "while alive or unknown"),
        Required("rechallenge_stop_reason", _given("rechallenge_stopped_date"), "when the rechallenge stopped"),
    ),
}


def required_unanswered(record: str, values: Values, missing_answers: Mapping[str, str]) -> list[str]:
    """The required fields of one record that hold neither a value nor a missing-data code."""
    return [
        item.field
        for item in REQUIRED_FIELDS.get(record, ())
        if item.applies(values) and values.get(item.field) in (None, "") and not missing_answers.get(item.field)
    ]


# --- Plausible ranges (unit slips) -------------------------------------------------------------------


@dataclass(frozen=True)
class PlausibleRange:
    low: float
    high: float
    unit: str
    #: What a value outside the range usually is ("a g/dL value?").
    hint: str = ""
    #: Inferred by the registry's clinicians from reference ranges, not taken from the review.
    source: str = "inferred: adult reference ranges and common unit slips"


PLAUSIBLE_RANGES: Mapping[tuple[str, str], PlausibleRange] = {
    ("episode", "albumin_g_per_l"): PlausibleRange(15, 60, "g/L", " (a value under 10 is probably in g/dL)"),
    ("episode", "ldh_u_per_l"): PlausibleRange(80, 5000, "U/L", " (a value under 10 is probably in µkat/L)"),
    ("episode", "neutrophil_lymphocyte_ratio"): PlausibleRange(0.3, 50, ""),
    ("episode", "current_prednisone_mg_per_day"): PlausibleRange(
        0, 200, "mg/day", " (methylprednisolone pulses are recorded as the prednisone equivalent)"
    ),
    ("adverse_event", "peak_prednisone_mg_per_day"): PlausibleRange(0, 2000, "mg/day"),
    ("patient", "pdl1_tps_percent"): PlausibleRange(0, 100, "%"),
    ("patient", "pdl1_cps"): PlausibleRange(0, 100, "", " (CPS is capped at 100)"),
    ("patient", "tmb_mut_per_mb"): PlausibleRange(0, 500, "mut/Mb"),
}

#: Days without a follow-up after which an episode still on follow-up is overdue (a setting can override).
FOLLOW_UP_INTERVAL_DAYS = 90
#: Months after the rechallenge start by which a response or a progression status is expected.
OUTCOME_DUE_MONTHS = 6

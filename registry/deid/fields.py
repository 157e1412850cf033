"""What an export knows about each column: :class:`FieldMeta`, and adapters from the registry's own metadata.

A de-identified export releases only columns it has metadata for; the metadata says what a column
*is* (type, unit, allowed values, missing-data codes, how it was derived) and what it *means for
privacy* (an identifier, free text, the patient key, the year of birth, the rechallenge start, a
quasi-identifier). The profiles of :mod:`registry.deid.profiles` act on those flags, never on column
names, and the codebook is printed from the same objects.

The adapters build metadata from what the forms and the import already declare:
:data:`registry.csv_import.COLUMNS` (columns, kinds, vocabularies), :mod:`registry.crf`
(identifier and free-text fields), :mod:`registry.derive_frames` (derived columns; the "how derived"
text is written here) and :mod:`registry.decision.spec` (the locked assessment). The Django side
passes its model fields' labels and help texts through ``labels`` / ``descriptions``, or builds
:class:`FieldMeta` objects of its own in the same shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from registry import crf
from registry import csv_import as ci
from registry import vocabularies as v
from registry.dates import DatePrecision
from registry.decision.spec import CATEGORIES, CATEGORY_LABELS, FACTOR_LABELS, FACTOR_NAMES, LEVELS
from registry.derive import EVENT_CODES, RECURRENCE_KINDS
from registry.quality import REQUIRED_FIELDS


class FieldKind(StrEnum):
    """How a column's values are typed."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    CODE = "code"
    INTEGER_CODE = "integer_code"


#: How each kind is described in the codebook.
KIND_DESCRIPTIONS: dict[FieldKind, str] = {
    FieldKind.TEXT: "text",
    FieldKind.INTEGER: "whole number",
    FieldKind.DECIMAL: "number",
    FieldKind.BOOLEAN: "yes/no (true/false)",
    FieldKind.DATE: "date (YYYY-MM-DD)",
    FieldKind.DATETIME: "date and time (UTC)",
    FieldKind.CODE: "code (one of the listed values)",
    FieldKind.INTEGER_CODE: "numeric code (one of the listed values)",
}


class Role(StrEnum):
    """What the de-identification does with a column besides the profile's drop rules."""

    DATA = "data"
    #: The patient's key (registry ID or database id): replaced by the keyed-hash pseudonym.
    PATIENT_KEY = "patient_key"
    #: An episode's key: links long tables to their episode, then replaced by the episode sequence number.
    EPISODE_KEY = "episode_key"
    #: The episode's sequence number within its patient (1, 2, …): released, and added to long tables.
    EPISODE_SEQUENCE = "episode_sequence"
    #: Year of birth: read to compute the age band, never released.
    BIRTH_YEAR = "birth_year"
    #: The rechallenge start date: the patient's earliest one is day 0 of the relative-days rule.
    ANCHOR_DATE = "anchor_date"


class QI(StrEnum):
    """Quasi-identifiers checked for k-anonymity; the value is the released column of the age band."""

    AGE_BAND = "age_band"
    SEX = "sex"
    SITE = "site"
    TUMOUR_TYPE = "tumour_type"


class Flag(StrEnum):
    """Privacy flags a profile can drop a column for."""

    IDENTIFIER = "identifier"
    FREE_TEXT = "free_text"


Values = tuple[tuple[str, str], ...]

NOT_RECORDED: Values = (("", "Not recorded"),)
UNKNOWN: Values = (("", "Unknown or not recorded"),)
NOT_COMPUTABLE: Values = (("", "Not computable (see how derived)"),)


@dataclass(frozen=True, slots=True)
class FieldMeta:
    """One column: what it holds, how it is coded, and what it means for privacy."""

    name: str
    label: str
    kind: FieldKind
    unit: str = ""
    #: Allowed values as (code, label), in display order; empty for non-coded kinds.
    choices: Values = ()
    #: Missing-data codes as (code, meaning); ``""`` is an empty cell.
    missing: Values = NOT_RECORDED
    #: How a derived column is computed; empty for a value entered on the form.
    derivation: str = ""
    description: str = ""
    #: The case-report-form record (``registry.crf`` record names), or "derived" / "assessment".
    record: str = ""
    identifier: bool = False
    #: ``None``: free text when the kind is TEXT (fail closed); set False for system-generated text.
    free_text: bool | None = None
    role: Role = Role.DATA
    qi: QI | None = None
    #: For a ``*_missing`` column: the name of the column whose missing-data code it holds.
    missing_of: str = ""
    #: For a ``*_precision`` column: the name of the date column it qualifies.
    precision_of: str = ""
    #: A name of at most :data:`STATA_NAME_LENGTH` characters for Stata and SPSS, when ``name`` is longer.
    short_name: str = ""
    #: What the de-identification did to the column (set on released metadata only).
    deid_note: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or not self.name.isascii():
            raise ValueError(f"{self.name!r} is not a valid column name")
        if self.short_name and len(self.short_name) > STATA_NAME_LENGTH:
            raise ValueError(f"short name of {self.name} is longer than {STATA_NAME_LENGTH} characters")

    @property
    def is_free_text(self) -> bool:
        if self.free_text is not None:
            return self.free_text
        return self.kind is FieldKind.TEXT and not self.choices

    @property
    def flags(self) -> frozenset[Flag]:
        flags = set()
        if self.identifier:
            flags.add(Flag.IDENTIFIER)
        if self.is_free_text:
            flags.add(Flag.FREE_TEXT)
        return frozenset(flags)

    @property
    def is_date(self) -> bool:
        return self.kind in (FieldKind.DATE, FieldKind.DATETIME)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(code for code, _ in self.choices)


#: Stata allows 32 characters; pyreadstat names a variable's value-label set after it plus a counter of
#: up to three digits, which must fit in 32 too.
STATA_NAME_LENGTH = 29


def vocabulary_values(vocabulary: v.Vocabulary) -> Values:
    return tuple((term.code, term.label) for term in vocabulary)


# --- labels and units ------------------------------------------------------------------------------

_WORDS = {
    "ecog": "ECOG",
    "ldh": "LDH",
    "uln": "ULN",
    "pdl1": "PD-L1",
    "tps": "TPS",
    "cps": "CPS",
    "tmb": "TMB",
    "msi": "MSI",
    "ici": "ICI",
    "ici1": "ICI-1",
    "irae": "irAE",
    "iraes": "irAEs",
    "ctcae": "CTCAE",
    "meddra": "MedDRA",
    "pfs1": "PFS1",
    "pfs2": "PFS2",
    "os": "OS",
    "tfi": "TFI",
}

#: Units read off a field name's ending.
_UNITS: tuple[tuple[str, str], ...] = (
    ("_percent", "%"),
    ("_mg_per_day", "mg/day, prednisone equivalent"),
    ("_u_per_l", "U/L"),
    ("_g_per_l", "g/L"),
    ("_mut_per_mb", "mutations/Mb"),
    ("_months", "months"),
)
_UNIT_SUFFIXES = tuple(suffix for suffix, _ in _UNITS)


def humanise(name: str) -> str:
    """A readable label from a field name (``ldh_u_per_l`` → "LDH"); the Django side passes real labels."""
    for suffix in _UNIT_SUFFIXES:
        if name.endswith(suffix) and name != suffix.lstrip("_"):
            name = name[: -len(suffix)]
            break
    words = [_WORDS.get(word, word) for word in name.split("_") if word]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def unit_of(name: str) -> str:
    return next((unit for suffix, unit in _UNITS if name.endswith(suffix)), "")


# --- from the import's column declarations ---------------------------------------------------------

_KINDS: dict[ci.Kind, FieldKind] = {
    ci.Kind.TEXT: FieldKind.TEXT,
    ci.Kind.INTEGER: FieldKind.INTEGER,
    ci.Kind.DECIMAL: FieldKind.DECIMAL,
    ci.Kind.DATE: FieldKind.DATE,
    ci.Kind.PARTIAL_DATE: FieldKind.DATE,
    ci.Kind.BOOLEAN: FieldKind.BOOLEAN,
    ci.Kind.CODE: FieldKind.CODE,
    ci.Kind.INTEGER_CODE: FieldKind.INTEGER_CODE,
}

#: What some case-report-form fields mean to the de-identification (beyond ``registry.crf``'s flags).
ROLES: dict[tuple[str, str], Role] = {
    ("patient", "year_of_birth"): Role.BIRTH_YEAR,
    ("episode", "start_date"): Role.ANCHOR_DATE,
    ("episode", "sequence_number"): Role.EPISODE_SEQUENCE,
}

#: Case-report-form fields that are quasi-identifiers (the site is not a form field: see ``site_field``).
QUASI_IDENTIFIERS: dict[tuple[str, str], QI] = {
    ("patient", "sex"): QI.SEX,
    ("patient", "tumour_type"): QI.TUMOUR_TYPE,
}

PRECISION_VALUES: Values = (
    (DatePrecision.DAY.value, "Exact day"),
    (DatePrecision.MONTH.value, "Month only (day imputed to the 15th)"),
)


def crf_field(
    record: str,
    field: str,
    *,
    name: str,
    kind: FieldKind,
    label: str = "",
    vocabulary: v.Vocabulary | None = None,
    description: str = "",
    missing: Values = NOT_RECORDED,
    **extra: object,
) -> FieldMeta:
    """Metadata of one case-report-form field, its flags read from :mod:`registry.crf` and the tables above."""
    return FieldMeta(
        name=name,
        label=label or humanise(field),
        kind=kind,
        unit=unit_of(field),
        choices=vocabulary_values(vocabulary) if vocabulary is not None else (),
        missing=UNKNOWN if kind is FieldKind.BOOLEAN else missing,
        description=description,
        record=record,
        identifier=crf.is_identifier(record, field),
        free_text=True if field in crf.FREE_TEXT_FIELDS.get(_QUALITY_RECORD.get(record, record), frozenset()) else None,
        role=ROLES.get((record, field), Role.DATA),
        qi=QUASI_IDENTIFIERS.get((record, field)),
        **extra,  # type: ignore[arg-type]
    )


def fields_from_import_columns(
    columns: Iterable[ci.Column],
    *,
    naming: str = "column",
    labels: Mapping[tuple[str, str], str] | None = None,
    descriptions: Mapping[tuple[str, str], str] | None = None,
) -> tuple[FieldMeta, ...]:
    """Metadata for import columns, in their order; a partial date is followed by its ``*_precision`` column.

    ``naming="column"`` names a column as the import file does (``ici1_start_date``: the flat
    one-row-per-episode analysis table); ``"field"`` by its model field (``onset_date``: a long table).
    ``labels`` and ``descriptions`` are keyed by (record, model field), as the Django model gives them.
    """
    if naming not in ("column", "field"):
        raise ValueError("naming is 'column' or 'field'")
    labels, descriptions = labels or {}, descriptions or {}
    prefix = {
        ci.Record.INITIAL_COURSE: "ICI-1: ",
        ci.Record.EPISODE: "Rechallenge: ",
    }
    result: list[FieldMeta] = []
    for column in columns:
        record = str(column.record)
        key = (record, column.field)
        name = column.name if naming == "column" else column.field
        label = labels.get(key) or humanise(column.field)
        if naming == "column":
            label = prefix.get(column.record, "") + label
        meta = crf_field(
            record,
            column.field,
            name=name,
            kind=_KINDS[column.kind],
            label=label,
            vocabulary=column.vocabulary,
            description=descriptions.get(key, ""),
        )
        takes_code = takes_missing_code(record, column.field)
        if takes_code:
            meta = replace(
                meta,
                missing=tuple(
                    (code, f"{meaning}; when answered with a missing-data code, see {name}{MISSING_SUFFIX}")
                    for code, meaning in meta.missing
                ),
            )
        result.append(meta)
        if column.kind is ci.Kind.PARTIAL_DATE:
            result.append(
                FieldMeta(
                    name=f"{name}_precision",
                    label=f"{label} – precision",
                    kind=FieldKind.CODE,
                    choices=PRECISION_VALUES,
                    record=record,
                    precision_of=name,
                    description="Whether the date is exact or known only to the month.",
                )
            )
        if takes_code:
            result.append(missing_code_field(meta))
    return tuple(result)


#: The import's record names that ``registry.quality.REQUIRED_FIELDS`` (the case-report form's) names otherwise.
_QUALITY_RECORD = {ci.Record.PRIOR_IRAE.value: "adverse_event"}
MISSING_SUFFIX = "_missing"
MISSING_CODE_VALUES: Values = vocabulary_values(v.MISSING_DATA_CODES)


def takes_missing_code(record: str, field: str) -> bool:
    """Whether a site may answer the field with a missing-data code (it is one of the required fields)."""
    required = REQUIRED_FIELDS.get(_QUALITY_RECORD.get(record, record), ())
    return any(item.field == field for item in required)


def missing_code_field(meta: FieldMeta) -> FieldMeta:
    """The ``<column>_missing`` column beside a column that can take a missing-data code: the code, kept apart
    from the value (empty when the site entered a value or left the field empty)."""
    return FieldMeta(
        name=f"{meta.name}{MISSING_SUFFIX}",
        label=f"{meta.label} – missing-data code",
        kind=FieldKind.CODE,
        choices=MISSING_CODE_VALUES,
        missing=(("", "No missing-data code (see the value column)"),),
        record=meta.record,
        missing_of=meta.name,
        free_text=False,
        description=f"Why {meta.name} is empty, when the site answered with a missing-data code instead of a value.",
    )


def _import_columns(*records: ci.Record, group: int | None = None) -> tuple[ci.Column, ...]:
    """The import's columns of a record's fields (not those about the import itself, such as a reason for change)."""
    return tuple(column for column in ci.COLUMNS if column.record in records and column.group == group and column.field)


# --- derived columns (registry.derive_frames.derive_episodes) ----------------------------------------

_MONTHS = "months"
_PFS1 = (
    "Progression-free survival on the preceding course, in calendar months. First rechallenge: ICI-1 start "
    "to the first progression after ICI-1 start, else censored at the later of ICI-1 stop and the first "
    "rechallenge start. Later rechallenge: the previous rechallenge's PFS2. (registry.derive."
    "progression_free_survival_1)"
)
_RECURRENCE = {
    "any_grade": "any irAE during this rechallenge",
    "same_term": "an irAE during this rechallenge with a CTCAE term of the preceding course",
    "same_organ": "an irAE during this rechallenge in an organ category of the preceding course",
    "grade3_or_higher": "an irAE of grade 3 or higher during this rechallenge",
}
_RECURRENCE_SHORT = {"grade3_or_higher": "g3plus"}
_EVENT_CODE_VALUES: Values = tuple(
    (str(code), {"censored": "Censored at last contact", "irae": "irAE", "death": "Death (competing event)"}[name])
    for name, code in sorted(EVENT_CODES.items(), key=lambda item: item[1])
)


def _derived(name: str, label: str, kind: FieldKind, derivation: str, **extra: object) -> FieldMeta:
    extra.setdefault("missing", NOT_COMPUTABLE)
    return FieldMeta(name=name, label=label, kind=kind, derivation=derivation, record="derived", **extra)  # type: ignore[arg-type]


def derived_fields() -> tuple[FieldMeta, ...]:
    """The columns of :func:`registry.derive_frames.derive_episodes`, with how each is derived.

    ``patient_id`` and ``episode_id`` are the keys (the analysis table takes them from the episode).
    """
    recist = vocabulary_values(ci.RESPONSE_CATEGORIES)
    fields = [
        *_keys(record="derived"),
        FieldMeta(
            "sequence_number",
            "Rechallenge number",
            FieldKind.INTEGER,
            record="derived",
            role=Role.EPISODE_SEQUENCE,
            missing=(),
        ),
        _derived(
            "preceding_course",
            "Preceding course",
            FieldKind.TEXT,
            "The course whose stop this rechallenge follows: 'ICI-1' for a first rechallenge, "
            "'rechallenge N' for a later one.",
            free_text=False,
        ),
        _derived("pfs1_months", "PFS1", FieldKind.DECIMAL, _PFS1, unit=_MONTHS),
        _derived(
            "pfs1_event",
            "PFS1 event",
            FieldKind.BOOLEAN,
            "True if PFS1 ended in progression (ICI-1) or in progression or death (previous rechallenge); "
            "false if censored.",
        ),
        _derived(
            "pfs1_imputed",
            "PFS1 uses a month-only date",
            FieldKind.BOOLEAN,
            "True if a date feeding PFS1 was known only to the month (imputed to the 15th).",
            missing=(),
        ),
        _derived(
            "tfi_months",
            "Treatment-free interval",
            FieldKind.DECIMAL,
            "Calendar months from the preceding course's stop (ICI-1 stop, or the previous rechallenge's "
            "stop) to this rechallenge's start. (registry.derive.treatment_free_interval_months)",
            unit=_MONTHS,
        ),
        _derived(
            "tfi_imputed",
            "TFI uses a month-only date",
            FieldKind.BOOLEAN,
            "True if the preceding stop date was known only to the month.",
            missing=(),
        ),
        _derived(
            "worst_prior_grade",
            "Worst irAE grade of the preceding course",
            FieldKind.INTEGER,
            "Highest CTCAE grade among the preceding course's irAEs; 0 when there were none.",
            missing=(),
        ),
        _derived(
            "all_prior_resolved",
            "All prior irAEs resolved to grade ≤ 1",
            FieldKind.BOOLEAN,
            "True if every irAE of the preceding course is back to grade ≤ 1 (or had none); false if one is "
            "known to remain above grade 1 or was fatal; empty if a resolution is unknown.",
            missing=(("", "Unknown: a resolution is not recorded"),),
        ),
        _derived(
            "best_overall_response",
            "Best overall response of the rechallenge",
            FieldKind.CODE,
            "RECIST 1.1 BOR or iRECIST iBOR from the assessments up to the first progression; CR/PR need "
            "confirmation ≥ 28 days later, SD ≥ 42 days after the start. (registry.derive.best_overall_response)",
            choices=recist,
            missing=(("", "No response assessment"),),
        ),
        _derived(
            "objective_response",
            "Objective response",
            FieldKind.BOOLEAN,
            "Confirmed CR or PR (iCR/iPR); NE or no assessment counts as no response.",
            missing=(),
        ),
        _derived(
            "disease_control",
            "Disease control",
            FieldKind.BOOLEAN,
            "CR, PR or SD (iCR/iPR/iSD); NE or no assessment counts as no control.",
            missing=(),
        ),
        _derived(
            "response_evaluable",
            "Response evaluable",
            FieldKind.BOOLEAN,
            "A best overall response other than NE (the denominator of the evaluable-only ORR/DCR).",
            missing=(),
        ),
        _derived(
            "pfs2_months",
            "PFS2",
            FieldKind.DECIMAL,
            "Rechallenge start to the first progression (follow-up or response assessments) or death, else "
            "censored at the last adequate tumour assessment (at the start when there is none); elapsed days / "
            "30.4375. (registry.derive.progression_free_survival_2)",
            unit=_MONTHS,
        ),
        _derived("pfs2_event", "PFS2 event", FieldKind.BOOLEAN, "True if PFS2 ended in progression or death."),
        _derived(
            "pfs2_last_contact_months",
            "PFS2 censored at last contact",
            FieldKind.DECIMAL,
            "Sensitivity variant of PFS2: censored at the last contact instead of the last adequate assessment.",
            unit=_MONTHS,
        ),
        _derived(
            "pfs2_last_contact_event",
            "PFS2 (last contact) event",
            FieldKind.BOOLEAN,
            "True if progression or death ended the last-contact variant of PFS2.",
        ),
        _derived(
            "os_months",
            "Overall survival from rechallenge",
            FieldKind.DECIMAL,
            "Rechallenge start to death, else censored at the last date known alive; elapsed days / 30.4375. "
            "(registry.derive.overall_survival_from_rechallenge)",
            unit=_MONTHS,
        ),
        _derived("os_event", "OS event", FieldKind.BOOLEAN, "True if the patient died."),
    ]
    for kind in RECURRENCE_KINDS:
        what = _RECURRENCE[kind]
        stem = f"recurrence_{kind}"

        def short_name(suffix: str, kind: str = kind) -> str:
            return f"rec_{_RECURRENCE_SHORT.get(kind, kind)}{suffix}"

        fields += [
            _derived(
                stem,
                f"irAE on rechallenge: {kind.replace('_', ' ')}",
                FieldKind.BOOLEAN,
                f"True if there was {what}. (registry.derive.irae_recurrence)",
                missing=(),
                short_name=short_name(""),
            ),
            _derived(
                f"{stem}_months",
                f"Time to {kind.replace('_', ' ')} irAE",
                FieldKind.DECIMAL,
                f"Rechallenge start to the earliest onset of {what}; if death came first, to death (competing "
                "event); else censored at last contact. Elapsed days / 30.4375; empty if an onset is missing.",
                unit=_MONTHS,
                short_name=short_name("_months"),
            ),
            _derived(
                f"{stem}_event_code",
                f"Time to {kind.replace('_', ' ')} irAE: event",
                FieldKind.INTEGER_CODE,
                "What ended the time to irAE (AalenJohansenFitter event codes).",
                choices=_EVENT_CODE_VALUES,
                short_name=short_name("_event_code"),
            ),
            _derived(
                f"{stem}_imputed",
                f"Time to {kind.replace('_', ' ')} irAE uses a month-only date",
                FieldKind.BOOLEAN,
                "True if the irAE onset ending the time was known only to the month.",
                missing=(),
                short_name=short_name("_imputed"),
            ),
        ]
    fields.append(
        _derived(
            "imputed",
            "Derived values using a month-only date",
            FieldKind.TEXT,
            "The names of the derived values above fed by a date known only to the month, separated by ';'.",
            free_text=False,
            missing=(("", "None"),),
        )
    )
    return tuple(fields)


# --- the locked assessment -------------------------------------------------------------------------


def assessment_fields(model_versions: Sequence[str] = ()) -> tuple[FieldMeta, ...]:
    """The locked decision-model assessment of an episode, as the analysis table carries it."""
    level_values = tuple((level, level.replace("_", " ").capitalize()) for level in LEVELS)
    fields = [
        FieldMeta(
            "assessment_model_version",
            "Decision model version",
            FieldKind.CODE,
            choices=tuple((version, f"Model {version}") for version in model_versions),
            record="assessment",
            missing=(("", "Not assessed"),),
            free_text=False,
        ),
        FieldMeta(
            "assessment_category",
            "Decision model category",
            FieldKind.CODE,
            choices=tuple((category, CATEGORY_LABELS[category]) for category in CATEGORIES),
            record="assessment",
            missing=(("", "Not assessed"),),
        ),
        FieldMeta("assessment_score", "Decision model score", FieldKind.INTEGER, record="assessment"),
        FieldMeta(
            "assessment_retrospective",
            "Assessed after outcomes could be known",
            FieldKind.BOOLEAN,
            record="assessment",
        ),
        FieldMeta("assessed_at", "When the assessment was locked", FieldKind.DATETIME, record="assessment"),
        FieldMeta(
            "assessment_reason",
            "Reason for a re-assessment",
            FieldKind.TEXT,
            record="assessment",
            free_text=True,
        ),
    ]
    fields += [
        FieldMeta(
            f"assessment_factor_{name}",
            f"Factor level: {FACTOR_LABELS[name]}",
            FieldKind.CODE,
            choices=level_values,
            record="assessment",
            missing=(("", "Not assessed"),),
        )
        for name in FACTOR_NAMES
    ]
    return tuple(fields)


# --- the default tables -----------------------------------------------------------------------------

ANALYSIS = "analysis"
IRAES = "iraes"
RESPONSES = "responses"
FOLLOW_UPS = "follow_ups"
TABLE_TITLES: dict[str, str] = {
    ANALYSIS: "Analysis table: one row per rechallenge episode",
    IRAES: "Immune-related adverse events (of ICI-1 and of rechallenges)",
    RESPONSES: "Tumour response assessments of the rechallenges",
    FOLLOW_UPS: "Follow-ups of the rechallenges",
}


def site_field(sites: Mapping[str, str] | None = None) -> FieldMeta:
    """The patient's site (center): a quasi-identifier, generalised to its country when rare."""
    return FieldMeta(
        "site",
        "Site (center)",
        FieldKind.CODE,
        choices=tuple(sorted((sites or {}).items())),
        record="patient",
        qi=QI.SITE,
        free_text=False,
    )


def registry_id_field() -> FieldMeta:
    identifier = crf.is_identifier("patient", "registry_id")
    return FieldMeta("registry_id", "Registry ID", FieldKind.TEXT, record="patient", identifier=identifier)


def _keys(*, patient: bool = True, episode: bool = True, record: str = "") -> list[FieldMeta]:
    """The database keys of a table: read to link rows, never released."""
    keys = []
    if patient:
        keys.append(
            FieldMeta(
                "patient_id", "Patient key", FieldKind.INTEGER, record=record, identifier=True, role=Role.PATIENT_KEY
            )
        )
    if episode:
        keys.append(
            FieldMeta(
                "episode_id", "Episode key", FieldKind.INTEGER, record=record, identifier=True, role=Role.EPISODE_KEY
            )
        )
    return keys


def _irae_extras() -> list[FieldMeta]:
    return [
        FieldMeta(
            "ctcae_term_other",
            "Other CTCAE term",
            FieldKind.TEXT,
            record="prior_irae",
            free_text="ctcae_term_other" in crf.FREE_TEXT_FIELDS["adverse_event"],
            description=f"The term typed for the CTCAE term {v.CTCAE_OTHER_TERM!r} (Other (specify)).",
        ),
        FieldMeta(
            "meddra_code",
            "MedDRA code",
            FieldKind.CODE,
            choices=tuple((term.meddra_code, term.label) for term in v.CTCAE_TERMS if term.meddra_code),
            missing=(("", f"No MedDRA code: the CTCAE term is {v.CTCAE_OTHER_TERM!r} (a term outside the list)"),),
            record="prior_irae",
            description="Filled from the CTCAE term.",
        ),
        FieldMeta(
            "organ_category",
            "Organ category",
            FieldKind.CODE,
            choices=vocabulary_values(v.ORGAN_CATEGORIES),
            record="prior_irae",
            description="Filled from the CTCAE term.",
        ),
        FieldMeta(
            "recurrence_status",
            "Recurrence of a prior irAE?",
            FieldKind.CODE,
            choices=vocabulary_values(v.RECURRENCE_STATUS),
            record="prior_irae",
            missing=(("", "Not applicable (irAE of ICI-1)"),),
        ),
    ]


def default_field_meta(
    *,
    sites: Mapping[str, str] | None = None,
    model_versions: Sequence[str] = (),
    labels: Mapping[tuple[str, str], str] | None = None,
    descriptions: Mapping[tuple[str, str], str] | None = None,
) -> dict[str, tuple[FieldMeta, ...]]:
    """The four tables of an export and their columns, from the import's declarations and the derivations.

    ``analysis`` (one row per episode): patient and site, ICI-1, the episode's baseline, the locked
    assessment and the derived endpoints. ``iraes``, ``responses``, ``follow_ups``: long tables keyed by
    ``patient_id`` / ``episode_id``. ``sites`` maps site codes to names (values of the ``site`` column).
    """
    registry_id = registry_id_field()
    import_fields = tuple(
        meta
        for meta in fields_from_import_columns(
            _import_columns(ci.Record.PATIENT, ci.Record.INITIAL_COURSE, ci.Record.EPISODE),
            labels=labels,
            descriptions=descriptions,
        )
        # The import may name a patient to update by registry ID: the same column, declared once.
        if meta.name != registry_id.name
    )
    derived = tuple(f for f in derived_fields() if f.role is Role.DATA)

    def long(record: ci.Record) -> tuple[FieldMeta, ...]:
        return fields_from_import_columns(
            _import_columns(record, group=1), naming="field", labels=labels, descriptions=descriptions
        )

    irae_id = FieldMeta("id", "irAE key", FieldKind.INTEGER, identifier=True)
    assessment = assessment_fields(model_versions)
    return {
        ANALYSIS: (*_keys(), registry_id, site_field(sites), *import_fields, *assessment, *derived),
        IRAES: _declared_once((*_keys(), irae_id, *long(ci.Record.PRIOR_IRAE), *_irae_extras())),
        RESPONSES: (*_keys(patient=False), *long(ci.Record.RESPONSE)),
        FOLLOW_UPS: (*_keys(patient=False), *long(ci.Record.FOLLOW_UP)),
    }


def _declared_once(fields: Iterable[FieldMeta]) -> tuple[FieldMeta, ...]:
    """The columns in order, a column the import declares too (the other CTCAE term) kept at its first place."""
    first: dict[str, FieldMeta] = {}
    for meta in fields:
        first.setdefault(meta.name, meta)
    return tuple(first.values())


def with_flags(meta: FieldMeta, **changes: object) -> FieldMeta:
    """A copy of ``meta`` with some attributes changed (for callers adding or overriding metadata)."""
    return replace(meta, **changes)  # type: ignore[arg-type]

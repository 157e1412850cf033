"""Evaluate the rechallenge decision model: per-factor levels with reasons, a score and a category.

The rules here are generic; every cut-point, weight and sentence comes from a versioned
:class:`~registry.decision.spec.ModelSpec`, so the result of an enrolment can be locked together
with the version and hash that produced it.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from registry.decision.spec import (
    CATEGORY_LABELS,
    DEFAULT_VERSION,
    FACTOR_LABELS,
    FACTOR_NAMES,
    SOURCE_NOT_RECORDED,
    ModelSpec,
    get_spec,
)
from registry.vocabularies import CTCAE_TERMS, REGIMEN_TYPES, STOP_REASONS, Vocabulary

#: Worst first. "missing" ranks just below "contraindicated": an unknown irAE outcome may hide a
#: contraindication, so it must not be averaged away by a better-known one.
_SEVERITY = ("contraindicated", "missing", "unfavourable", "intermediate", "favourable")
_RANK = {level: rank for rank, level in enumerate(_SEVERITY)}


class InvalidInput(ValueError):
    """Inputs the model must not score; ``errors`` maps each offending field to a message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors: dict[str, str] = dict(errors)
        detail = "; ".join(f"{name}: {message}" for name, message in self.errors.items())
        super().__init__(f"invalid decision inputs: {detail}")


@dataclass(frozen=True, slots=True)
class PriorIraeInput:
    """One irAE of the preceding course: worst grade, grade now (None = not recorded) and course.

    ``steroid_refractory=None`` means not recorded: a spec with a ``not_recorded`` rule for it (1.1) may
    leave the factor missing; a spec without one (1.0) reads it as the 1.0 form read an unticked box.
    """

    ctcae_term: str
    grade: int
    resolved_to_grade: int | None
    steroid_refractory: bool | None = False
    controlled_on_replacement: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "ctcae_term": self.ctcae_term,
            "grade": self.grade,
            "resolved_to_grade": self.resolved_to_grade,
            "steroid_refractory": self.steroid_refractory,
            "controlled_on_replacement": self.controlled_on_replacement,
        }


@dataclass(frozen=True, slots=True)
class DecisionInputs:
    """Everything the model reads. ``prior_iraes=None`` means not recorded; ``()`` means none.

    ``pfs1_event`` says how ``pfs1_months`` ended: True = progression observed, False = censored (no
    progression seen, so the value is a lower bound), None = not recorded. Specs without a ``censored``
    rule for PFS1 (1.0) ignore it and read every value as observed, as 1.0 always did.
    """

    pfs1_months: float | None
    tfi_months: float | None
    progressed_on_ici1: bool | None
    ecog: int | None
    prior_iraes: tuple[PriorIraeInput, ...] | None
    current_prednisone_mg_per_day: float | None = None
    stop_reason: str | None = None
    strategy: str | None = None
    pfs1_event: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy, for locking the inputs next to the assessment."""
        return {
            "pfs1_months": self.pfs1_months,
            "pfs1_event": self.pfs1_event,
            "tfi_months": self.tfi_months,
            "progressed_on_ici1": self.progressed_on_ici1,
            "ecog": self.ecog,
            "prior_iraes": None if self.prior_iraes is None else [irae.as_dict() for irae in self.prior_iraes],
            "current_prednisone_mg_per_day": self.current_prednisone_mg_per_day,
            "stop_reason": self.stop_reason,
            "strategy": self.strategy,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecisionInputs:
        """Rebuild inputs from :meth:`as_dict` output; unknown keys raise ``InvalidInput``."""
        fields = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - fields)
        if unknown:
            raise InvalidInput(dict.fromkeys(unknown, "is not a decision input"))
        values = dict(data)
        iraes = values.get("prior_iraes")
        if iraes is not None:
            try:
                values["prior_iraes"] = tuple(PriorIraeInput(**irae) for irae in iraes)
            except TypeError as exc:
                raise InvalidInput({"prior_iraes": f"malformed irAE record ({exc})"}) from None
        try:
            return cls(**values)
        except TypeError as exc:
            raise InvalidInput({"inputs": str(exc)}) from None


@dataclass(frozen=True, slots=True)
class FactorResult:
    """The level one factor reached, the points it adds, the sentence explaining why, and the
    provenance of the rule(s) that fired (``review``, ``guideline: …``, ``inferred``; "not recorded"
    when the spec records no provenance, as in 1.0)."""

    factor: str
    level: str
    reason: str
    points: int
    source: str = SOURCE_NOT_RECORDED

    @property
    def label(self) -> str:
        """The factor's name for people."""
        return FACTOR_LABELS.get(self.factor, self.factor)

    def as_dict(self) -> dict[str, Any]:
        return {
            "factor": self.factor,
            "level": self.level,
            "reason": self.reason,
            "points": self.points,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """The model's output, tagged with the exact model version and hash that produced it.

    ``review_criteria_met`` answers "are all four favourable criteria of the review met?" beside the
    category: True, False, or None when it cannot be decided (or the spec has no ``review_criteria``).
    """

    category: str
    score: int
    factors: tuple[FactorResult, ...]
    model_version: str
    model_hash: str
    review_criteria_met: bool | None = None

    @property
    def category_label(self) -> str:
        """The category's name for people ("Insufficient data")."""
        return CATEGORY_LABELS[self.category]

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "score": self.score,
            "factors": [factor.as_dict() for factor in self.factors],
            "review_criteria_met": self.review_criteria_met,
            "model": {"version": self.model_version, "hash": self.model_hash},
        }

    def factor(self, name: str) -> FactorResult:
        """The result of factor ``name`` (``KeyError`` if the model has no such factor)."""
        for result in self.factors:
            if result.factor == name:
                return result
        raise KeyError(f"{name!r} is not a factor of the decision model")


# --- validation ------------------------------------------------------------------------------------


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_code(value: object, vocabulary: Vocabulary) -> bool:
    return isinstance(value, str) and value in vocabulary


def _check_months(errors: dict[str, str], name: str, value: object) -> None:
    if value is None:
        return
    if not _is_number(value):
        errors[name] = "must be a number of months"
    elif value < 0:
        errors[name] = "must not be negative"


def validate(inputs: DecisionInputs) -> dict[str, str]:
    """Field → message for every input the model must refuse; empty when the inputs are usable."""
    errors: dict[str, str] = {}
    _check_months(errors, "pfs1_months", inputs.pfs1_months)
    _check_months(errors, "tfi_months", inputs.tfi_months)
    for flag in ("progressed_on_ici1", "pfs1_event"):
        value = getattr(inputs, flag)
        if value is not None and not isinstance(value, bool):
            errors[flag] = "must be true, false or not recorded"

    ecog = inputs.ecog
    if ecog is not None:
        if not _is_int(ecog):
            errors["ecog"] = "must be a whole number from 0 to 4"
        elif ecog == 5:
            errors["ecog"] = "ECOG 5 means the patient has died; rechallenge cannot be assessed"
        elif not 0 <= ecog <= 4:
            errors["ecog"] = f"ECOG {ecog} does not exist; use 0 to 4"

    dose = inputs.current_prednisone_mg_per_day
    if dose is not None:
        if not _is_number(dose):
            errors["current_prednisone_mg_per_day"] = "must be a dose in mg/day"
        elif dose < 0:
            errors["current_prednisone_mg_per_day"] = "must not be negative"

    if inputs.stop_reason is not None and not _is_code(inputs.stop_reason, STOP_REASONS):
        errors["stop_reason"] = f"{inputs.stop_reason!r} is not a code of {STOP_REASONS.name}"
    if inputs.strategy is not None and not _is_code(inputs.strategy, REGIMEN_TYPES):
        errors["strategy"] = f"{inputs.strategy!r} is not a code of {REGIMEN_TYPES.name}"

    iraes = inputs.prior_iraes
    if iraes is not None:
        if not isinstance(iraes, Sequence) or isinstance(iraes, str):
            errors["prior_iraes"] = "must be a sequence of prior irAEs (empty for none)"
        else:
            for index, irae in enumerate(iraes):
                errors.update(_validate_irae(f"prior_iraes[{index}]", irae))
    return errors


def _validate_irae(prefix: str, irae: object) -> dict[str, str]:
    if not isinstance(irae, PriorIraeInput):
        return {prefix: "must be a PriorIraeInput"}
    errors: dict[str, str] = {}
    known_term = _is_code(irae.ctcae_term, CTCAE_TERMS)
    if not known_term:
        errors[f"{prefix}.ctcae_term"] = f"{irae.ctcae_term!r} is not a code of {CTCAE_TERMS.name}"
    grade_ok = _is_int(irae.grade) and 1 <= irae.grade <= 5
    if not grade_ok:
        errors[f"{prefix}.grade"] = "CTCAE grade must be a whole number from 1 to 5"
    resolved = irae.resolved_to_grade
    if resolved is not None:
        if not _is_int(resolved) or not 0 <= resolved <= 5:
            errors[f"{prefix}.resolved_to_grade"] = "grade now must be a whole number from 0 to 5"
        elif grade_ok and resolved > irae.grade:
            errors[f"{prefix}.resolved_to_grade"] = (
                f"grade now ({resolved}) cannot exceed the worst grade ({irae.grade})"
            )
    if irae.steroid_refractory is not None and not isinstance(irae.steroid_refractory, bool):
        errors[f"{prefix}.steroid_refractory"] = "must be true, false or not recorded"
    if not isinstance(irae.controlled_on_replacement, bool):
        errors[f"{prefix}.controlled_on_replacement"] = "must be true or false"
    if (
        irae.controlled_on_replacement is True
        and known_term
        and CTCAE_TERMS.get(irae.ctcae_term).organ_category != "endocrine"
    ):
        errors[f"{prefix}.controlled_on_replacement"] = (
            "only an endocrine irAE can be controlled on hormone replacement"
        )
    return errors


# --- evaluation --------------------------------------------------------------------------------------------


def evaluate(inputs: DecisionInputs, spec: ModelSpec | None = None) -> DecisionResult:
    """Score ``inputs`` under ``spec`` (default version); raises ``InvalidInput`` on bad inputs."""
    if spec is None:
        spec = get_spec(DEFAULT_VERSION)
    errors = validate(inputs)
    factors = spec.factors
    for name, code in (("stop_reason", inputs.stop_reason), ("strategy", inputs.strategy)):
        if code is not None and name not in errors and code not in factors[name]["levels_by_code"]:
            errors[name] = f"{code!r} is not scored by decision model version {spec.version}"
    if errors:
        raise InvalidInput(errors)

    results = {
        "pfs1": _pfs1(factors["pfs1"], inputs.pfs1_months, inputs.pfs1_event),
        "tfi": _tfi(factors["tfi"], inputs.tfi_months, inputs.progressed_on_ici1),
        "ecog": _numeric("ecog", factors["ecog"], inputs.ecog),
        "prior_irae": _prior_irae(factors["prior_irae"], inputs.prior_iraes, inputs.current_prednisone_mg_per_day),
        "stop_reason": _coded("stop_reason", factors["stop_reason"], inputs.stop_reason, STOP_REASONS.label),
        "strategy": _coded("strategy", factors["strategy"], inputs.strategy, REGIMEN_TYPES.label),
    }
    ordered = tuple(results[name] for name in FACTOR_NAMES)
    score = sum(result.points for result in ordered)
    return DecisionResult(
        category=_category(spec, ordered, score),
        score=score,
        factors=ordered,
        model_version=spec.version,
        model_hash=spec.hash,
        review_criteria_met=review_criteria_met(inputs, spec),
    )


def _category(spec: ModelSpec, results: tuple[FactorResult, ...], score: int) -> str:
    if any(result.level == "contraindicated" for result in results):
        return "contraindicated"
    keys = set(spec.key_factors)
    if any(result.level == "missing" and result.factor in keys for result in results):
        return "insufficient_data"
    thresholds = spec.data["category_thresholds"]
    if score >= thresholds["favourable"]:
        return "favourable"
    if score >= thresholds["intermediate"]:
        return "intermediate"
    return "unfavourable"


def format_number(value: float, cut_points: Sequence[float] = (), min_decimals: int = 1) -> str:
    """Shortest readable text for ``value`` that never rounds it across a cut-point (5.99 ≠ "6.0")."""
    for decimals in range(min_decimals, 3):
        text = f"{value:.{decimals}f}"
        if float(text) == value:
            return text
    band = bisect_right(cut_points, value)
    for decimals in range(max(min_decimals, 1), 10):
        text = f"{value:.{decimals}f}"
        if bisect_right(cut_points, float(text)) == band:
            return text
    return repr(float(value))


def _source(rule: Mapping[str, Any], key: str = "source") -> str:
    """The provenance a spec records for ``rule`` (format 1.0 records none)."""
    return rule.get(key, SOURCE_NOT_RECORDED)


def _missing(name: str, factor: Mapping[str, Any], reason_key: str = "missing_reason", value: str = "") -> FactorResult:
    source_key = reason_key.replace("_reason", "_source")
    reason = factor[reason_key].format(value=value) if value else factor[reason_key]
    return FactorResult(name, "missing", reason, 0, _source(factor, source_key))


def _outcome(name: str, outcome: Mapping[str, Any], reason: str) -> FactorResult:
    return FactorResult(name, outcome["level"], reason, outcome["points"], _source(outcome))


def _numeric(name: str, factor: Mapping[str, Any], value: float | None) -> FactorResult:
    if value is None:
        return _missing(name, factor)
    cuts = factor["cut_points"]
    band = factor["bands"][bisect_right(cuts, value)]
    text = format_number(value, cuts, factor["min_decimals"])
    return _outcome(name, band, band["reason"].format(value=text))


def _pfs1(factor: Mapping[str, Any], months: float | None, event: bool | None) -> FactorResult:
    """A censored (or not-known-to-be-observed) PFS is a lower bound when the spec says how to read one.

    At or above a cut-point the band holds either way; below the lowest cut the spec's "not yet known"
    outcome applies. Without a ``censored`` section (1.0) every value is read as observed.
    """
    censored = factor.get("censored")
    if months is None or censored is None or event is True:
        return _numeric("pfs1", factor, months)
    cuts = factor["cut_points"]
    text = format_number(months, cuts, factor["min_decimals"])
    index = bisect_right(cuts, months)
    if index == 0:
        key = "below_lowest_cut" if event is False else "event_not_recorded_below_lowest_cut"
        outcome = censored[key]
        return _outcome("pfs1", outcome, outcome["reason"].format(value=text))
    band = factor["bands"][index]
    note = censored["at_or_above_cut_note" if event is False else "event_not_recorded_note"]
    return _outcome("pfs1", band, f"{band['reason'].format(value=text)}; {note.format(value=text)}")


def _tfi(factor: Mapping[str, Any], months: float | None, progressed: bool | None) -> FactorResult:
    """Progression while on treatment overrides the interval; unknown progression leaves TFI missing."""
    if months is None:
        return _missing("tfi", factor)
    if progressed:
        outcome = factor["progressed_on_ici1"]
        return _outcome("tfi", outcome, outcome["reason"])
    if progressed is None:
        text = format_number(months, factor["cut_points"], factor["min_decimals"])
        return _missing("tfi", factor, "progression_missing_reason", text)
    return _numeric("tfi", factor, months)


def _coded(name: str, factor: Mapping[str, Any], code: str | None, label: Any) -> FactorResult:
    if code is None:
        return _missing(name, factor)
    level = factor["levels_by_code"][code]
    source = factor["level_sources"][code] if "level_sources" in factor else SOURCE_NOT_RECORDED
    return FactorResult(
        name, level, factor["reasons"][level].format(label=label(code)), factor["points"][level], source
    )


#: One part of the prior-irAE factor: (level, reason, source).
_Item = tuple[str, str, str]


def _irae_items(factor: Mapping[str, Any], irae: PriorIraeInput) -> list[_Item]:
    """The items one prior irAE contributes, checking contraindications first.

    Usually one item; a grade ≥ 3 irAE whose steroid-refractoriness is not recorded (1.1) adds a
    missing item beside its grade-based one, so a known penalty still counts.
    """
    term = CTCAE_TERMS.get(irae.ctcae_term)
    resolved = irae.resolved_to_grade
    fields = {
        "grade": irae.grade,
        "term": term.label,
        "resolved": "unknown" if resolved is None else resolved,
    }
    endocrine = term.organ_category in factor["endocrine_organ_categories"]
    contra = factor["contraindications"]
    refractory = contra["steroid_refractory"]

    def item(rule: Mapping[str, Any], level: str | None = None) -> _Item:
        return (level or rule["level"], rule["reason"].format(**fields), _source(rule))

    if irae.steroid_refractory:
        return [item(refractory, "contraindicated")]
    term_rule = contra["terms"].get(irae.ctcae_term)
    if term_rule is not None and irae.grade >= term_rule["min_grade"]:
        return [item(term_rule, "contraindicated")]
    if irae.grade >= contra["fatal"]["min_grade"]:
        return [item(contra["fatal"], "contraindicated")]
    if not endocrine and irae.grade >= contra["non_endocrine"]["min_grade"]:
        return [item(contra["non_endocrine"], "contraindicated")]

    items: list[_Item] = []
    unknown_refractory = refractory.get("not_recorded")
    if (
        irae.steroid_refractory is None
        and unknown_refractory is not None
        and irae.grade >= unknown_refractory["min_grade"]
        and (unknown_refractory["applies_to_endocrine"] or not endocrine)
    ):
        items.append(item(unknown_refractory))

    rules = factor["rules"]
    controlled = endocrine and irae.controlled_on_replacement
    if controlled and (resolved is not None or rules["controlled_on_replacement"].get("applies_without_current_grade")):
        key = "controlled_on_replacement"
    elif resolved is None:
        low_grade = "not_recorded_low_grade" in rules and irae.grade <= factor["resolved_max_grade"]
        key = "not_recorded_low_grade" if low_grade else "not_recorded"
    elif resolved > factor["resolved_max_grade"]:
        key = "unresolved"
    elif irae.grade >= 4 and endocrine:
        key = "grade4_endocrine_resolved"
    elif irae.grade >= 3:
        vital = term.organ_category in factor["vital_organ_categories"]
        key = "grade3_vital_resolved" if vital else "grade3_non_vital_resolved"
    else:
        key = "resolved"
    items.append(item(rules[key]))
    return items


def _prior_irae(
    factor: Mapping[str, Any], iraes: tuple[PriorIraeInput, ...] | None, dose: float | None
) -> FactorResult:
    """Worst of every prior irAE and the current prednisone dose.

    A missing part scores no more than 0, but known penalties still count: otherwise recording
    one more (unknown) irAE could raise the score.
    """
    items: list[_Item] = []
    if iraes is None:
        items.append(("missing", factor["missing_reason"], _source(factor, "missing_source")))
    elif not iraes:
        items.append(("favourable", factor["none_reason"], _source(factor, "none_source")))
    else:
        for irae in iraes:
            items.extend(_irae_items(factor, irae))

    threshold = factor["prednisone_threshold_mg_per_day"]
    prednisone = factor["prednisone"]
    if dose is None:
        rule = prednisone["not_recorded"]
        dose_item = (rule["level"], rule["reason"], _source(rule))
    else:
        rule = prednisone["at_or_above" if dose >= threshold else "below"]
        texts = {"dose": format_number(dose, (threshold,), 0), "threshold": format_number(threshold, (), 0)}
        dose_item = (rule["level"], rule["reason"].format(**texts), _source(rule))
    items.append(dose_item)

    level = min((item[0] for item in items), key=_RANK.__getitem__)
    shown = [item for item in items if item[0] == level]
    points = factor["points"]
    if level == "contraindicated":
        score = points["contraindicated"]
    elif level == "missing":
        known = [item[0] for item in items if item[0] != "missing"]
        worst_known = min(known, key=_RANK.__getitem__) if known else None
        score = min(0, points[worst_known]) if worst_known else 0
        if score < 0:
            shown.extend(item for item in items if item[0] == worst_known)
    else:
        score = points[level]
    if dose is None and level != "contraindicated" and all(item[1] != dose_item[1] for item in shown):
        shown.append(dose_item)
    reasons = [item[1] for item in shown]
    sources = "; ".join(dict.fromkeys(part for item in shown for part in item[2].split("; ")))
    return FactorResult("prior_irae", level, _sentence(reasons), score, sources)


def _sentence(parts: list[str]) -> str:
    """Join clauses into one sentence: first letter capitalised, the following ones not."""
    clauses = [
        part[:1].upper() + part[1:] if index == 0 else part[:1].lower() + part[1:] for index, part in enumerate(parts)
    ]
    return "; ".join(clauses)


# --- the review's four criteria -------------------------------------------------------------------


def _all(answers: Sequence[bool | None]) -> bool | None:
    """Three-valued AND: one known failure decides; otherwise an unknown leaves it undecided."""
    if any(answer is False for answer in answers):
        return False
    if any(answer is None for answer in answers):
        return None
    return True


def _irae_meets(irae: PriorIraeInput, max_grade: int) -> bool | None:
    if irae.resolved_to_grade is not None:
        return irae.resolved_to_grade <= max_grade
    if irae.grade <= max_grade:
        return True  # its current grade cannot exceed its worst grade
    if irae.controlled_on_replacement:
        return False  # still needs hormone replacement: CTCAE grade 2
    return None


def review_criteria_met(inputs: DecisionInputs, spec: ModelSpec) -> bool | None:
    """Whether all four favourable criteria of the review hold (None: undecided, or no criteria in spec).

    PFS1 ≥ 6 months (a censored value counts once it reaches the cut), TFI ≥ 6 months, ECOG ≤ 1,
    and every prior irAE at grade ≤ 1 now (none at all meets it).
    """
    criteria = spec.data.get("review_criteria")
    if criteria is None:
        return None
    pfs1 = inputs.pfs1_months
    if pfs1 is None:
        pfs1_met = None
    elif pfs1 >= criteria["pfs1_min_months"]:
        pfs1_met = True
    else:
        pfs1_met = False if inputs.pfs1_event is True else None
    tfi = inputs.tfi_months
    tfi_met = None if tfi is None else tfi >= criteria["tfi_min_months"]
    ecog_met = None if inputs.ecog is None else inputs.ecog <= criteria["ecog_max"]
    iraes = inputs.prior_iraes
    if iraes is None:
        irae_met = None
    else:
        irae_met = _all([_irae_meets(irae, criteria["irae_resolved_max_grade"]) for irae in iraes])
    return _all([pfs1_met, tfi_met, ecog_met, irae_met])


def locked_review_criteria_met(inputs: Mapping[str, Any], version: str) -> bool | None:
    """The review criteria of a locked assessment, read from its stored inputs under its model version.

    None when that version does not assess them (1.0), is not shipped, or the stored inputs cannot be
    read back; the locked assessment itself is never changed.
    """
    try:
        spec = get_spec(version)
        return review_criteria_met(DecisionInputs.from_dict(inputs), spec)
    except (KeyError, TypeError, ValueError):
        return None

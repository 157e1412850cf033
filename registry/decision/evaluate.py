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
from typing import Any

from registry.decision.spec import DEFAULT_VERSION, FACTOR_LABELS, FACTOR_NAMES, ModelSpec, get_spec
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
    """One irAE of the preceding course: worst grade, grade now (None = not recorded) and course."""

    ctcae_term: str
    grade: int
    resolved_to_grade: int | None
    steroid_refractory: bool = False
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
    """Everything the model reads. ``prior_iraes=None`` means not recorded; ``()`` means none."""

    pfs1_months: float | None
    tfi_months: float | None
    progressed_on_ici1: bool | None
    ecog: int | None
    prior_iraes: tuple[PriorIraeInput, ...] | None
    current_prednisone_mg_per_day: float | None = None
    stop_reason: str | None = None
    strategy: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy, for locking the inputs next to the assessment."""
        return {
            "pfs1_months": self.pfs1_months,
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
    """The level one factor reached, the points it adds and the sentence explaining why."""

    factor: str
    level: str
    reason: str
    points: int

    @property
    def label(self) -> str:
        """The factor's name for people."""
        return FACTOR_LABELS.get(self.factor, self.factor)

    def as_dict(self) -> dict[str, Any]:
        return {"factor": self.factor, "level": self.level, "reason": self.reason, "points": self.points}


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """The model's output, tagged with the exact model version and hash that produced it."""

    category: str
    score: int
    factors: tuple[FactorResult, ...]
    model_version: str
    model_hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "score": self.score,
            "factors": [factor.as_dict() for factor in self.factors],
            "model": {"version": self.model_version, "hash": self.model_hash},
        }

    def factor(self, name: str) -> FactorResult:
        """The result of factor ``name`` (``KeyError`` if the model has no such factor)."""
        for result in self.factors:
            if result.factor == name:
                return result
        raise KeyError(f"{name!r} is not a factor of the decision model")


# --- validation ------------------------------------------------------------------------------------


def _is_number(value: object) -> bool:
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
    if inputs.progressed_on_ici1 is not None and not isinstance(inputs.progressed_on_ici1, bool):
        errors["progressed_on_ici1"] = "must be true, false or not recorded"

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
    for flag in ("steroid_refractory", "controlled_on_replacement"):
        if not isinstance(getattr(irae, flag), bool):
            errors[f"{prefix}.{flag}"] = "must be true or false"
    if (
        irae.controlled_on_replacement is True
        and known_term
        and CTCAE_TERMS.get(irae.ctcae_term).organ_category != "endocrine"
    ):
        errors[f"{prefix}.controlled_on_replacement"] = (
            "only an endocrine irAE can be controlled on hormone replacement"
        )
    return errors


# --- evaluation ------------------------------------------------------------------------------------


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
        "pfs1": _numeric("pfs1", factors["pfs1"], inputs.pfs1_months),
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


def _numeric(name: str, factor: Mapping[str, Any], value: float | None) -> FactorResult:
    if value is None:
        return FactorResult(name, "missing", factor["missing_reason"], 0)
    cuts = factor["cut_points"]
    band = factor["bands"][bisect_right(cuts, value)]
    text = format_number(value, cuts, factor["min_decimals"])
    return FactorResult(name, band["level"], band["reason"].format(value=text), band["points"])


def _tfi(factor: Mapping[str, Any], months: float | None, progressed: bool | None) -> FactorResult:
    """Progression while on treatment overrides the interval; unknown progression leaves TFI missing."""
    if months is None:
        return FactorResult("tfi", "missing", factor["missing_reason"], 0)
    if progressed:
        outcome = factor["progressed_on_ici1"]
        return FactorResult("tfi", outcome["level"], outcome["reason"], outcome["points"])
    if progressed is None:
        text = format_number(months, factor["cut_points"], factor["min_decimals"])
        return FactorResult("tfi", "missing", factor["progression_missing_reason"].format(value=text), 0)
    return _numeric("tfi", factor, months)


def _coded(name: str, factor: Mapping[str, Any], code: str | None, label: Any) -> FactorResult:
    if code is None:
        return FactorResult(name, "missing", factor["missing_reason"], 0)
    level = factor["levels_by_code"][code]
    return FactorResult(name, level, factor["reasons"][level].format(label=label(code)), factor["points"][level])


def _irae_item(factor: Mapping[str, Any], irae: PriorIraeInput) -> tuple[str, str]:
    """(level, reason) of one prior irAE, checking contraindications first."""
    term = CTCAE_TERMS.get(irae.ctcae_term)
    resolved = irae.resolved_to_grade
    fields = {
        "grade": irae.grade,
        "term": term.label,
        "resolved": "unknown" if resolved is None else resolved,
    }
    endocrine = term.organ_category in factor["endocrine_organ_categories"]
    contra = factor["contraindications"]

    if irae.steroid_refractory:
        return "contraindicated", contra["steroid_refractory"]["reason"].format(**fields)
    term_rule = contra["terms"].get(irae.ctcae_term)
    if term_rule is not None and irae.grade >= term_rule["min_grade"]:
        return "contraindicated", term_rule["reason"].format(**fields)
    if irae.grade >= contra["fatal"]["min_grade"]:
        return "contraindicated", contra["fatal"]["reason"].format(**fields)
    if not endocrine and irae.grade >= contra["non_endocrine"]["min_grade"]:
        return "contraindicated", contra["non_endocrine"]["reason"].format(**fields)

    rules = factor["rules"]
    if resolved is None:
        key = "not_recorded"
    elif endocrine and irae.controlled_on_replacement:
        key = "controlled_on_replacement"
    elif resolved > factor["resolved_max_grade"]:
        key = "unresolved"
    elif irae.grade >= 4 and endocrine:
        key = "grade4_endocrine_resolved"
    elif irae.grade >= 3:
        vital = term.organ_category in factor["vital_organ_categories"]
        key = "grade3_vital_resolved" if vital else "grade3_non_vital_resolved"
    else:
        key = "resolved"
    return rules[key]["level"], rules[key]["reason"].format(**fields)


def _prior_irae(
    factor: Mapping[str, Any], iraes: tuple[PriorIraeInput, ...] | None, dose: float | None
) -> FactorResult:
    """Worst of every prior irAE and the current prednisone dose.

    A missing part scores no more than 0, but known penalties still count: otherwise recording
    one more (unknown) irAE could raise the score.
    """
    items: list[tuple[str, str]] = []
    if iraes is None:
        items.append(("missing", factor["missing_reason"]))
    elif not iraes:
        items.append(("favourable", factor["none_reason"]))
    else:
        items.extend(_irae_item(factor, irae) for irae in iraes)

    threshold = factor["prednisone_threshold_mg_per_day"]
    prednisone = factor["prednisone"]
    if dose is None:
        rule = prednisone["not_recorded"]
        dose_item = (rule["level"], rule["reason"])
    else:
        rule = prednisone["at_or_above" if dose >= threshold else "below"]
        texts = {"dose": format_number(dose, (threshold,), 0), "threshold": format_number(threshold, (), 0)}
        dose_item = (rule["level"], rule["reason"].format(**texts))
    items.append(dose_item)

    level = min((item_level for item_level, _ in items), key=_RANK.__getitem__)
    reasons = [reason for item_level, reason in items if item_level == level]
    points = factor["points"]
    if level == "contraindicated":
        score = points["contraindicated"]
    elif level == "missing":
        known = [item_level for item_level, _ in items if item_level != "missing"]
        worst_known = min(known, key=_RANK.__getitem__)
        score = min(0, points[worst_known])
        if score < 0:
            reasons.extend(reason for item_level, reason in items if item_level == worst_known)
    else:
        score = points[level]
    if dose is None and level != "contraindicated" and dose_item[1] not in reasons:
        reasons.append(dose_item[1])
    return FactorResult("prior_irae", level, _sentence(reasons), score)


def _sentence(parts: list[str]) -> str:
    """Join clauses into one sentence: first letter capitalised, the following ones not."""
    clauses = [
        part[:1].upper() + part[1:] if index == 0 else part[:1].lower() + part[1:] for index, part in enumerate(parts)
    ]
    return "; ".join(clauses)

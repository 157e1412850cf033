"""Versioned specifications of the decision model, stored as JSON data with a content hash.

Cut-points, weights, thresholds and reason texts live in ``specs/*.json`` rather than in code, so
that an assessment locked under one version can always be traced to the exact rules that produced
it (the hash), and a new version can be added beside the old ones without rewriting them.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
import math
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any, NoReturn

from registry.vocabularies import CTCAE_TERMS, ORGAN_CATEGORIES, REGIMEN_TYPES, STOP_REASONS, Vocabulary

DEFAULT_VERSION = "1.0"

#: Factors of the model, in the order results list them.
FACTOR_NAMES: tuple[str, ...] = ("pfs1", "tfi", "ecog", "prior_irae", "stop_reason", "strategy")
#: How each factor is named to people (pages, codebooks); codes stay stable in stored assessments.
FACTOR_LABELS: dict[str, str] = {
    "pfs1": "PFS on the preceding course",
    "tfi": "Treatment-free interval",
    "ecog": "ECOG performance status",
    "prior_irae": "Prior irAEs and steroids",
    "stop_reason": "Why the preceding course stopped",
    "strategy": "Planned strategy",
}

#: Levels a factor can take.
LEVELS: tuple[str, ...] = ("favourable", "intermediate", "unfavourable", "contraindicated", "missing")

#: Overall categories of a decision.
CATEGORIES: tuple[str, ...] = (
    "favourable",
    "intermediate",
    "unfavourable",
    "contraindicated",
    "insufficient_data",
)

_SCORED_LEVELS = ("favourable", "intermediate", "unfavourable")
#: Worst first: used to check that a spec's points never reward a worse level.
_LEVEL_RANK = {"contraindicated": 0, "unfavourable": 1, "intermediate": 2, "favourable": 3}
_NUMERIC_FACTORS = ("pfs1", "tfi", "ecog")
_CODED_FACTORS: dict[str, Vocabulary] = {"stop_reason": STOP_REASONS, "strategy": REGIMEN_TYPES}
_IRAE_FIELDS = frozenset({"grade", "term", "resolved"})
_IRAE_RULES = (
    "not_recorded",
    "controlled_on_replacement",
    "unresolved",
    "grade4_endocrine_resolved",
    "grade3_vital_resolved",
    "grade3_non_vital_resolved",
    "resolved",
)


def canonical_json(data: Mapping[str, Any]) -> str:
    """The one serialisation the content hash is computed over (sorted keys, no whitespace)."""
    return json.dumps(_thaw(data), sort_keys=True, separators=(",", ":"))


def content_hash(data: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of the canonical JSON of ``data``."""
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One validated version of the model; ``data`` is a read-only view of the JSON document."""

    version: str
    hash: str
    data: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """Validate ``data`` and freeze a copy of it, so later edits to ``data`` cannot leak in."""
        validate_spec(data)
        plain = copy.deepcopy(_thaw(data))
        return cls(version=plain["version"], hash=content_hash(plain), data=_freeze(plain))

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"model spec is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """A fresh, mutable copy of the specification (e.g. to derive a new version from it)."""
        return _thaw(self.data)

    @property
    def factors(self) -> Mapping[str, Any]:
        return self.data["factors"]

    @property
    def key_factors(self) -> tuple[str, ...]:
        return tuple(self.data["key_factors"])


def available_versions() -> tuple[str, ...]:
    """Versions shipped in ``specs/``, oldest first."""
    return tuple(_shipped_specs())


def get_spec(version: str = DEFAULT_VERSION) -> ModelSpec:
    """The shipped specification ``version``; ``KeyError`` lists the versions that exist."""
    specs = _shipped_specs()
    try:
        return specs[version]
    except KeyError:
        known = ", ".join(specs) or "none"
        raise KeyError(f"decision model version {version!r} does not exist (available: {known})") from None


@functools.cache
def _shipped_specs() -> dict[str, ModelSpec]:
    found: dict[str, ModelSpec] = {}
    folder = resources.files(__package__).joinpath("specs")
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if not entry.name.endswith(".json"):
            continue
        try:
            spec = ModelSpec.from_json(entry.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{entry.name}: {exc}") from None
        if spec.version in found:
            raise ValueError(f"{entry.name}: decision model version {spec.version!r} is defined twice")
        found[spec.version] = spec
    return dict(sorted(found.items(), key=lambda item: _version_key(item[0])))


def _version_key(version: str) -> tuple[int | str, ...]:
    return tuple(int(part) if part.isdigit() else part for part in version.split("."))


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(item) for item in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(item) for item in value]
    return value


# --- structural validation -------------------------------------------------------------------------


class _Checker:
    """Walks a spec document and raises ``ValueError`` naming the offending path."""

    def __init__(self, version: str) -> None:
        self.version = version

    def fail(self, path: str, message: str) -> NoReturn:
        raise ValueError(f"model spec {self.version!r}: {path}: {message}")

    def mapping(self, value: Any, path: str, required: Iterable[str], optional: Iterable[str] = ()) -> Mapping:
        if not isinstance(value, Mapping):
            self.fail(path, "must be an object")
        required = tuple(required)
        missing = [key for key in required if key not in value]
        if missing:
            self.fail(path, f"missing key(s) {', '.join(missing)}")
        unknown = sorted(set(value) - set(required) - set(optional))
        if unknown:
            self.fail(path, f"unknown key(s) {', '.join(map(str, unknown))}")
        return value

    def integer(self, value: Any, path: str, low: int | None = None, high: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, "must be an integer")
        if (low is not None and value < low) or (high is not None and value > high):
            self.fail(path, f"must be between {low} and {high}")
        return value

    def number(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(path, "must be a finite number")
        return value

    def level(self, value: Any, path: str, allowed: Iterable[str] = _SCORED_LEVELS) -> str:
        allowed = tuple(allowed)
        if value not in allowed:
            self.fail(path, f"level must be one of {', '.join(allowed)}, not {value!r}")
        return value

    def template(self, value: Any, path: str, fields: Iterable[str] = ()) -> str:
        """Reason templates may only use the named placeholders, with no attribute or index access."""
        if not isinstance(value, str) or not value.strip():
            self.fail(path, "must be a non-empty string")
        fields = frozenset(fields)
        try:
            parsed = list(string.Formatter().parse(value))
        except ValueError as exc:
            self.fail(path, f"is not a valid template ({exc})")
        for _literal, name, spec, conversion in parsed:
            if name is None:
                continue
            if name not in fields or spec or conversion:
                allowed = ", ".join(f"{{{item}}}" for item in sorted(fields)) or "no placeholders"
                self.fail(path, f"placeholder {{{name}}} is not allowed here (allowed: {allowed})")
        return value

    def points(self, value: Any, path: str, levels: tuple[str, ...]) -> Mapping[str, int]:
        self.mapping(value, path, levels)
        for level in levels:
            self.integer(value[level], f"{path}.{level}")
        ordered = sorted(levels, key=_LEVEL_RANK.__getitem__)
        for worse, better in itertools.pairwise(ordered):
            if value[worse] > value[better]:
                self.fail(path, f"{worse} must not score more than {better}")
        return value


def validate_spec(data: Any) -> None:
    """Raise ``ValueError`` unless ``data`` is a well-formed, internally consistent model spec."""
    if not isinstance(data, Mapping):
        raise ValueError("model spec must be a JSON object")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise ValueError("model spec: version must be a non-empty string")
    check = _Checker(version)
    check.mapping(data, "spec", ("version", "category_thresholds", "key_factors", "factors"), ("title", "source"))

    thresholds = check.mapping(data["category_thresholds"], "category_thresholds", ("favourable", "intermediate"))
    favourable = check.integer(thresholds["favourable"], "category_thresholds.favourable")
    intermediate = check.integer(thresholds["intermediate"], "category_thresholds.intermediate")
    if favourable <= intermediate:
        check.fail("category_thresholds", "favourable must be above intermediate")

    keys = data["key_factors"]
    if not isinstance(keys, list | tuple) or not keys or len(set(keys)) != len(keys):
        check.fail("key_factors", "must be a non-empty list of distinct factor names")
    for name in keys:
        if name not in FACTOR_NAMES:
            check.fail("key_factors", f"{name!r} is not a factor")

    factors = check.mapping(data["factors"], "factors", FACTOR_NAMES)
    for name in _NUMERIC_FACTORS:
        _check_numeric(check, name, factors[name])
    _check_prior_irae(check, factors["prior_irae"])
    for name, vocabulary in _CODED_FACTORS.items():
        _check_coded(check, name, factors[name], vocabulary)


def _check_outcome(check: _Checker, value: Any, path: str, fields: Iterable[str] = ()) -> None:
    check.mapping(value, path, ("level", "points", "reason"))
    check.level(value["level"], f"{path}.level")
    check.integer(value["points"], f"{path}.points")
    check.template(value["reason"], f"{path}.reason", fields)


def _check_numeric(check: _Checker, name: str, factor: Any) -> None:
    path = f"factors.{name}"
    optional = ("progressed_on_ici1", "progression_missing_reason") if name == "tfi" else ()
    check.mapping(factor, path, ("direction", "min_decimals", "cut_points", "bands", "missing_reason"), optional)
    if factor["direction"] not in ("higher_is_better", "lower_is_better"):
        check.fail(f"{path}.direction", "must be higher_is_better or lower_is_better")
    check.integer(factor["min_decimals"], f"{path}.min_decimals", 0, 3)
    cuts = factor["cut_points"]
    if not isinstance(cuts, list | tuple) or not cuts:
        check.fail(f"{path}.cut_points", "must be a non-empty list")
    for index, cut in enumerate(cuts):
        check.number(cut, f"{path}.cut_points[{index}]")
    if any(low >= high for low, high in itertools.pairwise(cuts)):
        check.fail(f"{path}.cut_points", "must be strictly increasing")
    bands = factor["bands"]
    if not isinstance(bands, list | tuple) or len(bands) != len(cuts) + 1:
        check.fail(f"{path}.bands", f"must list {len(cuts) + 1} bands, one per interval between cut-points")
    for index, band in enumerate(bands):
        _check_outcome(check, band, f"{path}.bands[{index}]", ("value",))
    best_last = bands if factor["direction"] == "higher_is_better" else list(reversed(bands))
    for worse, better in itertools.pairwise(best_last):
        if _LEVEL_RANK[worse["level"]] > _LEVEL_RANK[better["level"]] or worse["points"] > better["points"]:
            check.fail(f"{path}.bands", f"a better value must never get a worse level or fewer points ({name})")
    check.template(factor["missing_reason"], f"{path}.missing_reason")
    if name == "tfi":
        if "progressed_on_ici1" not in factor or "progression_missing_reason" not in factor:
            check.fail(path, "tfi needs progressed_on_ici1 and progression_missing_reason")
        progressed = factor["progressed_on_ici1"]
        _check_outcome(check, progressed, f"{path}.progressed_on_ici1")
        worst = min(bands, key=lambda band: band["points"])
        if progressed["points"] > worst["points"] or _LEVEL_RANK[progressed["level"]] > _LEVEL_RANK[worst["level"]]:
            check.fail(f"{path}.progressed_on_ici1", "progression on treatment must not beat the worst band")
        check.template(factor["progression_missing_reason"], f"{path}.progression_missing_reason", ("value",))


def _check_prior_irae(check: _Checker, factor: Any) -> None:
    path = "factors.prior_irae"
    check.mapping(
        factor,
        path,
        (
            "points",
            "resolved_max_grade",
            "prednisone_threshold_mg_per_day",
            "endocrine_organ_categories",
            "vital_organ_categories",
            "contraindications",
            "rules",
            "prednisone",
            "none_reason",
            "missing_reason",
        ),
    )
    check.points(factor["points"], f"{path}.points", (*_SCORED_LEVELS, "contraindicated"))
    check.integer(factor["resolved_max_grade"], f"{path}.resolved_max_grade", 0, 4)
    if check.number(factor["prednisone_threshold_mg_per_day"], f"{path}.prednisone_threshold_mg_per_day") <= 0:
        check.fail(f"{path}.prednisone_threshold_mg_per_day", "must be positive")
    for key in ("endocrine_organ_categories", "vital_organ_categories"):
        organs = factor[key]
        if not isinstance(organs, list | tuple) or not organs:
            check.fail(f"{path}.{key}", "must be a non-empty list")
        for organ in organs:
            if organ not in ORGAN_CATEGORIES:
                check.fail(f"{path}.{key}", f"{organ!r} is not an organ category")

    contra_path = f"{path}.contraindications"
    contra = check.mapping(
        factor["contraindications"], contra_path, ("steroid_refractory", "terms", "fatal", "non_endocrine")
    )
    check.mapping(contra["steroid_refractory"], f"{contra_path}.steroid_refractory", ("reason",))
    check.template(contra["steroid_refractory"]["reason"], f"{contra_path}.steroid_refractory.reason", _IRAE_FIELDS)
    terms = contra["terms"]
    if not isinstance(terms, Mapping):
        check.fail(f"{contra_path}.terms", "must be an object")
    for code, rule in terms.items():
        if code not in CTCAE_TERMS:
            check.fail(f"{contra_path}.terms", f"{code!r} is not a CTCAE term code")
        _check_grade_rule(check, rule, f"{contra_path}.terms.{code}")
    for key in ("fatal", "non_endocrine"):
        _check_grade_rule(check, contra[key], f"{contra_path}.{key}")

    rules = check.mapping(factor["rules"], f"{path}.rules", _IRAE_RULES)
    for key in _IRAE_RULES:
        rule = check.mapping(rules[key], f"{path}.rules.{key}", ("level", "reason"))
        allowed = ("missing",) if key == "not_recorded" else _SCORED_LEVELS
        check.level(rule["level"], f"{path}.rules.{key}.level", allowed)
        check.template(rule["reason"], f"{path}.rules.{key}.reason", _IRAE_FIELDS)

    prednisone = check.mapping(factor["prednisone"], f"{path}.prednisone", ("at_or_above", "below", "not_recorded"))
    for key in ("at_or_above", "below", "not_recorded"):
        rule = check.mapping(prednisone[key], f"{path}.prednisone.{key}", ("level", "reason"))
        check.level(rule["level"], f"{path}.prednisone.{key}.level")
        fields = () if key == "not_recorded" else ("dose", "threshold")
        check.template(rule["reason"], f"{path}.prednisone.{key}.reason", fields)
    if _LEVEL_RANK[prednisone["at_or_above"]["level"]] > _LEVEL_RANK[prednisone["below"]["level"]]:
        check.fail(f"{path}.prednisone", "a dose at or above the threshold must not beat a lower dose")
    check.template(factor["none_reason"], f"{path}.none_reason")
    check.template(factor["missing_reason"], f"{path}.missing_reason")


def _check_grade_rule(check: _Checker, rule: Any, path: str) -> None:
    check.mapping(rule, path, ("min_grade", "reason"))
    check.integer(rule["min_grade"], f"{path}.min_grade", 1, 5)
    check.template(rule["reason"], f"{path}.reason", _IRAE_FIELDS)


def _check_coded(check: _Checker, name: str, factor: Any, vocabulary: Vocabulary) -> None:
    path = f"factors.{name}"
    check.mapping(factor, path, ("points", "levels_by_code", "reasons", "missing_reason"))
    check.points(factor["points"], f"{path}.points", _SCORED_LEVELS)
    by_code = factor["levels_by_code"]
    if not isinstance(by_code, Mapping) or not by_code:
        check.fail(f"{path}.levels_by_code", "must be a non-empty object")
    for code, level in by_code.items():
        if code not in vocabulary:
            check.fail(f"{path}.levels_by_code", f"{code!r} is not a code of {vocabulary.name}")
        check.level(level, f"{path}.levels_by_code.{code}")
    reasons = check.mapping(factor["reasons"], f"{path}.reasons", _SCORED_LEVELS)
    for level in _SCORED_LEVELS:
        check.template(reasons[level], f"{path}.reasons.{level}", ("label",))
    check.template(factor["missing_reason"], f"{path}.missing_reason")

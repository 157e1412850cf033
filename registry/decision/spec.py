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

DEFAULT_VERSION = "1.1"

#: Formats a specification document can declare with its top-level ``"format"`` key. A document without
#: the key is format 1.0 (``v1.json``, whose bytes are locked by stored assessments). Format 1.1 adds the
#: provenance of every rule, the input reading (``"inputs"``), censored PFS, the review criteria and the
#: missing-data rules; every new behaviour of the evaluator is gated on one of these sections.
SPEC_FORMATS: tuple[str, ...] = ("1.0", "1.1")

#: What a rule's provenance reads as when its specification records none (format 1.0).
SOURCE_NOT_RECORDED = "not recorded"

#: How a format-1.0 specification reads its inputs: months of 30.4375 days, and the legacy defaults
#: (prednisone not recorded = 0 mg/day, irAE history not answered = no irAEs).
LEGACY_INPUTS: Mapping[str, str] = MappingProxyType({"months": "days", "missing": "legacy"})
INPUT_MONTHS = ("calendar", "days")
INPUT_MISSING = ("missing", "legacy")

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

#: Overall categories of a decision: the three scored ones first, in prognostic order (validation compares them).
CATEGORIES: tuple[str, ...] = (
    "favourable",
    "intermediate",
    "unfavourable",
    "contraindicated",
    "insufficient_data",
)
#: How each category is named to people (pages, codebooks, exports).
CATEGORY_LABELS: dict[str, str] = {
    "favourable": "Favourable",
    "intermediate": "Intermediate",
    "unfavourable": "Unfavourable",
    "contraindicated": "Contraindicated",
    "insufficient_data": "Insufficient data",
}

_SCORED_LEVELS = CATEGORIES[:3]
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

    @property
    def format(self) -> str:
        """The document format (``"1.0"`` when the document does not declare one)."""
        return self.data.get("format", "1.0")

    @property
    def inputs(self) -> Mapping[str, str]:
        """How inputs are read for this version: ``months`` (``calendar``, or ``days``: days / 30.4375) and
        ``missing`` (``missing``: not recorded stays None; ``legacy``: the 1.0 defaults)."""
        return self.data.get("inputs", LEGACY_INPUTS)

    @property
    def has_provenance(self) -> bool:
        """Whether every rule of this version records its source (format 1.1 and later)."""
        return "sources" in self.data


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

_GUIDELINE_PREFIX = "guideline: "


class _Checker:
    """Walks a spec document and raises ``ValueError`` naming the offending path.

    ``sources`` is the document's provenance glossary (format 1.1): when it is set, every rule must
    carry a ``source`` naming entries of it, and ``prov(...)`` turns provenance keys into required keys.
    """

    def __init__(self, version: str, sources: frozenset[str] | None = None) -> None:
        self.version = version
        self.sources = sources

    def fail(self, path: str, message: str) -> NoReturn:
        raise ValueError(f"model spec {self.version!r}: {path}: {message}")

    def prov(self, *keys: str) -> tuple[str, ...]:
        """``keys`` when the document records provenance, else nothing."""
        return keys if self.sources is not None else ()

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

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, "must be a non-empty string")
        return value

    def template(self, value: Any, path: str, fields: Iterable[str] = ()) -> str:
        """Reason templates may only use the named placeholders, with no attribute or index access."""
        self.text(value, path)
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

    def source(self, value: Any, path: str) -> str:
        """A provenance: one or more glossary entries joined by "; " (e.g. ``guideline: ASCO 2021``)."""
        self.text(value, path)
        for part in value.split("; "):
            if self.sources is None or part not in self.sources:
                known = ", ".join(sorted(self.sources or ())) or "none"
                self.fail(path, f"source {part!r} is not in the spec's sources (known: {known})")
        return value

    def sources_of(self, value: Mapping[str, Any], path: str, *keys: str) -> None:
        """Check the provenance keys present in ``value`` (their presence is checked by ``mapping``)."""
        for key in keys:
            if key in value:
                self.source(value[key], f"{path}.{key}")
        if "note" in value:
            self.text(value["note"], f"{path}.note")

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
    spec_format = data.get("format", "1.0")
    if "format" in data and spec_format not in SPEC_FORMATS[1:]:
        raise ValueError(
            f"model spec {version!r}: format must be one of {', '.join(SPEC_FORMATS[1:])} (or absent for 1.0)"
        )
    provenance = spec_format != "1.0"
    check = _Checker(version)
    if provenance:
        check.sources = _check_glossary(check, data.get("sources"))
    check.mapping(
        data,
        "spec",
        ("version", "category_thresholds", "key_factors", "factors", *check.prov("format", "sources", "inputs")),
        ("title", "source", *check.prov("note", "review_criteria")),
    )
    if provenance:
        _check_inputs(check, data["inputs"])
        if "review_criteria" in data:
            _check_review_criteria(check, data["review_criteria"])

    thresholds = check.mapping(
        data["category_thresholds"], "category_thresholds", ("favourable", "intermediate", *check.prov("source"))
    )
    favourable = check.integer(thresholds["favourable"], "category_thresholds.favourable")
    intermediate = check.integer(thresholds["intermediate"], "category_thresholds.intermediate")
    if favourable <= intermediate:
        check.fail("category_thresholds", "favourable must be above intermediate")
    check.sources_of(thresholds, "category_thresholds", "source")

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


def _check_glossary(check: _Checker, glossary: Any) -> frozenset[str]:
    """The provenance glossary: ``review``, ``inferred`` and ``guideline: <name>`` entries, each explained."""
    if not isinstance(glossary, Mapping) or not glossary:
        check.fail("sources", "must be an object naming each source (review, inferred, guideline: …)")
    for required in ("review", "inferred"):
        if required not in glossary:
            check.fail("sources", f"missing key(s) {required}")
    for key, text in glossary.items():
        if key not in ("review", "inferred") and not (
            isinstance(key, str) and key.startswith(_GUIDELINE_PREFIX) and key[len(_GUIDELINE_PREFIX) :].strip()
        ):
            check.fail("sources", f"{key!r} is not review, inferred or 'guideline: <name>'")
        check.text(text, f"sources.{key}")
    return frozenset(glossary)


def _check_inputs(check: _Checker, inputs: Any) -> None:
    check.mapping(inputs, "inputs", ("months", "missing"), ("note",))
    if inputs["months"] not in INPUT_MONTHS:
        check.fail("inputs.months", f"must be one of {', '.join(INPUT_MONTHS)}")
    if inputs["missing"] not in INPUT_MISSING:
        check.fail("inputs.missing", f"must be one of {', '.join(INPUT_MISSING)}")
    check.sources_of(inputs, "inputs")


def _check_review_criteria(check: _Checker, criteria: Any) -> None:
    path = "review_criteria"
    keys = ("pfs1_min_months", "tfi_min_months", "ecog_max", "irae_resolved_max_grade", "source")
    check.mapping(criteria, path, keys, ("note",))
    for key in ("pfs1_min_months", "tfi_min_months"):
        if check.number(criteria[key], f"{path}.{key}") <= 0:
            check.fail(f"{path}.{key}", "must be positive")
    check.integer(criteria["ecog_max"], f"{path}.ecog_max", 0, 4)
    check.integer(criteria["irae_resolved_max_grade"], f"{path}.irae_resolved_max_grade", 0, 4)
    check.sources_of(criteria, path, "source")


_OUTCOME_KEYS = ("level", "points", "reason")


def _check_outcome(
    check: _Checker, value: Any, path: str, fields: Iterable[str] = (), levels: Iterable[str] = _SCORED_LEVELS
) -> None:
    check.mapping(value, path, (*_OUTCOME_KEYS, *check.prov("source", "points_source")), check.prov("note"))
    level = check.level(value["level"], f"{path}.level", levels)
    check.integer(value["points"], f"{path}.points")
    if level == "missing" and value["points"] != 0:
        check.fail(f"{path}.points", "a missing outcome scores 0")
    check.template(value["reason"], f"{path}.reason", fields)
    check.sources_of(value, path, "source", "points_source")


def _check_numeric(check: _Checker, name: str, factor: Any) -> None:
    path = f"factors.{name}"
    optional = ("progressed_on_ici1", "progression_missing_reason") if name == "tfi" else ()
    provenance = check.prov("cut_point_sources", "missing_source")
    if name == "tfi":
        provenance += check.prov("progression_missing_source")
    censoring = check.prov("censored") if name == "pfs1" else ()
    check.mapping(
        factor,
        path,
        ("direction", "min_decimals", "cut_points", "bands", "missing_reason", *provenance),
        (*optional, *censoring),
    )
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
    if "cut_point_sources" in factor:
        sources = factor["cut_point_sources"]
        if not isinstance(sources, list | tuple) or len(sources) != len(cuts):
            check.fail(f"{path}.cut_point_sources", "must give one source per cut-point")
        for index, source in enumerate(sources):
            check.source(source, f"{path}.cut_point_sources[{index}]")
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
    check.sources_of(factor, path, "missing_source", "progression_missing_source")
    if name == "tfi":
        if "progressed_on_ici1" not in factor or "progression_missing_reason" not in factor:
            check.fail(path, "tfi needs progressed_on_ici1 and progression_missing_reason")
        progressed = factor["progressed_on_ici1"]
        _check_outcome(check, progressed, f"{path}.progressed_on_ici1")
        worst = min(bands, key=lambda band: band["points"])
        if progressed["points"] > worst["points"] or _LEVEL_RANK[progressed["level"]] > _LEVEL_RANK[worst["level"]]:
            check.fail(f"{path}.progressed_on_ici1", "progression on treatment must not beat the worst band")
        check.template(factor["progression_missing_reason"], f"{path}.progression_missing_reason", ("value",))
    if "censored" in factor:
        _check_censored(check, factor, f"{path}.censored")


def _check_censored(check: _Checker, factor: Mapping[str, Any], path: str) -> None:
    """A censored value is a lower bound: below the lowest cut it may score no less than an observed
    value there (no progression was seen) and no more than the next band (the cut is not reached)."""
    if factor["direction"] != "higher_is_better":
        check.fail(path, "censoring is a lower bound and needs direction higher_is_better")
    keys = ("below_lowest_cut", "event_not_recorded_below_lowest_cut")
    notes = ("at_or_above_cut_note", "event_not_recorded_note")
    censored = check.mapping(factor["censored"], path, (*keys, *notes), ("note",))
    lowest, above = factor["bands"][0], factor["bands"][1]
    for key in keys:
        outcome = censored[key]
        _check_outcome(check, outcome, f"{path}.{key}", ("value",), (*_SCORED_LEVELS, "missing"))
        if outcome["level"] == "missing":
            continue
        rank, points = _LEVEL_RANK[outcome["level"]], outcome["points"]
        if not (_LEVEL_RANK[lowest["level"]] <= rank <= _LEVEL_RANK[above["level"]]):
            check.fail(f"{path}.{key}", "must rank between the lowest band and the band above it")
        if not lowest["points"] <= points <= above["points"]:
            check.fail(f"{path}.{key}", "must score between the lowest band and the band above it")
    for key in notes:
        check.template(censored[key], f"{path}.{key}", ("value",))
    check.sources_of(censored, path)


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
            *check.prov(
                "points_source",
                "resolved_max_grade_source",
                "prednisone_threshold_source",
                "organ_categories_source",
                "none_source",
                "missing_source",
            ),
        ),
        check.prov("prednisone_threshold_note"),
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
    check.sources_of(
        factor,
        path,
        "points_source",
        "resolved_max_grade_source",
        "prednisone_threshold_source",
        "organ_categories_source",
        "none_source",
        "missing_source",
    )
    if "prednisone_threshold_note" in factor:
        check.text(factor["prednisone_threshold_note"], f"{path}.prednisone_threshold_note")

    contra_path = f"{path}.contraindications"
    contra = check.mapping(
        factor["contraindications"], contra_path, ("steroid_refractory", "terms", "fatal", "non_endocrine")
    )
    refractory_path = f"{contra_path}.steroid_refractory"
    refractory = check.mapping(
        contra["steroid_refractory"],
        refractory_path,
        ("reason", *check.prov("source")),
        check.prov("note", "not_recorded"),
    )
    check.template(refractory["reason"], f"{refractory_path}.reason", _IRAE_FIELDS)
    check.sources_of(refractory, refractory_path, "source")
    if "not_recorded" in refractory:
        _check_refractory_not_recorded(check, refractory["not_recorded"], f"{refractory_path}.not_recorded")
    terms = contra["terms"]
    if not isinstance(terms, Mapping):
        check.fail(f"{contra_path}.terms", "must be an object")
    for code, rule in terms.items():
        if code not in CTCAE_TERMS:
            check.fail(f"{contra_path}.terms", f"{code!r} is not a CTCAE term code")
        _check_grade_rule(check, rule, f"{contra_path}.terms.{code}")
    for key in ("fatal", "non_endocrine"):
        _check_grade_rule(check, contra[key], f"{contra_path}.{key}")

    rule_keys = (*_IRAE_RULES, *check.prov("not_recorded_low_grade"))
    rules = check.mapping(factor["rules"], f"{path}.rules", rule_keys)
    for key in rule_keys:
        rule_path = f"{path}.rules.{key}"
        optional = check.prov("note")
        if key == "controlled_on_replacement":
            optional += check.prov("applies_without_current_grade")
        rule = check.mapping(rules[key], rule_path, ("level", "reason", *check.prov("source")), optional)
        allowed: tuple[str, ...] = ("missing",) if key == "not_recorded" else _SCORED_LEVELS
        check.level(rule["level"], f"{rule_path}.level", allowed)
        check.template(rule["reason"], f"{rule_path}.reason", _IRAE_FIELDS)
        check.sources_of(rule, rule_path, "source")
        if "applies_without_current_grade" in rule and not isinstance(rule["applies_without_current_grade"], bool):
            check.fail(f"{rule_path}.applies_without_current_grade", "must be true or false")

    prednisone = check.mapping(factor["prednisone"], f"{path}.prednisone", ("at_or_above", "below", "not_recorded"))
    for key in ("at_or_above", "below", "not_recorded"):
        rule_path = f"{path}.prednisone.{key}"
        rule = check.mapping(prednisone[key], rule_path, ("level", "reason", *check.prov("source")), check.prov("note"))
        # Not recorded may be "missing" (1.1: not recorded is not 0 mg/day) or a scored level (1.0).
        allowed = (*_SCORED_LEVELS, "missing") if key == "not_recorded" else _SCORED_LEVELS
        check.level(rule["level"], f"{rule_path}.level", allowed)
        fields = () if key == "not_recorded" else ("dose", "threshold")
        check.template(rule["reason"], f"{rule_path}.reason", fields)
        check.sources_of(rule, rule_path, "source")
    if _LEVEL_RANK[prednisone["at_or_above"]["level"]] > _LEVEL_RANK[prednisone["below"]["level"]]:
        check.fail(f"{path}.prednisone", "a dose at or above the threshold must not beat a lower dose")
    check.template(factor["none_reason"], f"{path}.none_reason")
    check.template(factor["missing_reason"], f"{path}.missing_reason")


def _check_refractory_not_recorded(check: _Checker, rule: Any, path: str) -> None:
    """Unknown steroid-refractoriness: a missing item for irAEs from ``min_grade`` on."""
    check.mapping(rule, path, ("min_grade", "applies_to_endocrine", "level", "reason", "source"), ("note",))
    check.integer(rule["min_grade"], f"{path}.min_grade", 1, 5)
    if not isinstance(rule["applies_to_endocrine"], bool):
        check.fail(f"{path}.applies_to_endocrine", "must be true or false")
    check.level(rule["level"], f"{path}.level", ("missing",))
    check.template(rule["reason"], f"{path}.reason", _IRAE_FIELDS)
    check.sources_of(rule, path, "source")


def _check_grade_rule(check: _Checker, rule: Any, path: str) -> None:
    check.mapping(rule, path, ("min_grade", "reason", *check.prov("source")), check.prov("note"))
    check.integer(rule["min_grade"], f"{path}.min_grade", 1, 5)
    check.template(rule["reason"], f"{path}.reason", _IRAE_FIELDS)
    check.sources_of(rule, path, "source")


def _check_coded(check: _Checker, name: str, factor: Any, vocabulary: Vocabulary) -> None:
    path = f"factors.{name}"
    check.mapping(
        factor,
        path,
        (
            "points",
            "levels_by_code",
            "reasons",
            "missing_reason",
            *check.prov("points_source", "level_sources", "missing_source"),
        ),
    )
    check.points(factor["points"], f"{path}.points", _SCORED_LEVELS)
    by_code = factor["levels_by_code"]
    if not isinstance(by_code, Mapping) or not by_code:
        check.fail(f"{path}.levels_by_code", "must be a non-empty object")
    for code, level in by_code.items():
        if code not in vocabulary:
            check.fail(f"{path}.levels_by_code", f"{code!r} is not a code of {vocabulary.name}")
        check.level(level, f"{path}.levels_by_code.{code}")
    if "level_sources" in factor:
        check.mapping(factor["level_sources"], f"{path}.level_sources", tuple(by_code))
        for code in by_code:
            check.source(factor["level_sources"][code], f"{path}.level_sources.{code}")
    reasons = check.mapping(factor["reasons"], f"{path}.reasons", _SCORED_LEVELS)
    for level in _SCORED_LEVELS:
        check.template(reasons[level], f"{path}.reasons.{level}", ("label",))
    check.template(factor["missing_reason"], f"{path}.missing_reason")
    check.sources_of(factor, path, "points_source", "missing_source")

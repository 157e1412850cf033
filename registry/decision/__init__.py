"""The ICI rechallenge decision model: versioned specifications and their evaluation.

Pure Python on purpose: the same function scores a case in the web app, in a Celery task and in
the validation statistics, and none of them can make it depend on a framework.
"""

from registry.decision.evaluate import (
    DecisionInputs,
    DecisionResult,
    FactorResult,
    InvalidInput,
    PriorIraeInput,
    evaluate,
    format_number,
    locked_review_criteria_met,
    review_criteria_met,
    validate,
)
from registry.decision.spec import (
    CATEGORIES,
    CATEGORY_LABELS,
    DEFAULT_VERSION,
    FACTOR_LABELS,
    FACTOR_NAMES,
    LEGACY_INPUTS,
    LEVELS,
    SOURCE_NOT_RECORDED,
    SPEC_FORMATS,
    ModelSpec,
    available_versions,
    canonical_json,
    content_hash,
    get_spec,
    validate_spec,
)

__all__ = [
    "CATEGORIES",
    "CATEGORY_LABELS",
    "DEFAULT_VERSION",
    "FACTOR_LABELS",
    "FACTOR_NAMES",
    "LEGACY_INPUTS",
    "LEVELS",
    "SOURCE_NOT_RECORDED",
    "SPEC_FORMATS",
    "DecisionInputs",
    "DecisionResult",
    "FactorResult",
    "InvalidInput",
    "ModelSpec",
    "PriorIraeInput",
    "available_versions",
    "canonical_json",
    "content_hash",
    "evaluate",
    "format_number",
    "get_spec",
    "locked_review_criteria_met",
    "review_criteria_met",
    "validate",
    "validate_spec",
]

"""How the decision model's provenance and review criteria read on pages (calculator, assessment card)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from registry.decision import SOURCE_NOT_RECORDED, get_spec, locked_review_criteria_met


def review_criteria_assessed(version: str) -> bool:
    """Whether model ``version`` states the review's four criteria (1.0 does not)."""
    try:
        return "review_criteria" in get_spec(version).data
    except KeyError:
        return False


def review_criteria_text(met: bool | None, version: str) -> str:
    """ "yes" / "no" / "unknown", or why the question does not apply to this model version."""
    if not review_criteria_assessed(version):
        return f"not assessed by model {version}"
    return {True: "yes", False: "no", None: "unknown"}[met]


def factor_source(factor: Mapping[str, Any]) -> str:
    """The provenance a (possibly locked) factor records; 1.0 assessments stored none."""
    source = factor.get("source")
    return source if isinstance(source, str) and source else SOURCE_NOT_RECORDED


def locked_review_criteria_text(inputs: Any, version: str) -> str:
    """The review criteria of a locked assessment, read from its stored inputs under its own version."""
    met = locked_review_criteria_met(inputs, version) if isinstance(inputs, Mapping) else None
    return review_criteria_text(met, version)

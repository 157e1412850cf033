"""How the decision model's provenance and review criteria read on pages (calculator, assessment card)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def assessment_kind(assessment: Any, *, enrollment_lock: Any) -> str:
    """How a locked assessment came to be, as the assessment card names it.

    ``enrollment_lock`` is the episode's lock made at enrollment (its first assessment that is not a
    re-assessment). Locking at enrollment when outcomes were already recorded and evaluating a newer
    model version later are both retrospective, but they are different things.
    """
    if assessment.is_reassessment:
        return "Re-assessment after a data correction"
    if enrollment_lock is not None and assessment.pk == enrollment_lock.pk:
        if assessment.is_retrospective:
            return "Locked at enrollment after outcome data were recorded (retrospective)"
        return "Locked at enrollment"
    if assessment.is_retrospective:
        return f"Retrospective evaluation of model {assessment.model_version}, made after outcomes could be known"
    return "Locked assessment"


def enrollment_lock_of(assessments: Sequence[Any]) -> Any:
    """The episode's lock made at enrollment, among its assessments: the earliest that is not a re-assessment."""
    originals = [a for a in assessments if not a.is_reassessment]
    return min(originals, key=lambda a: (a.assessed_at, a.pk)) if originals else None

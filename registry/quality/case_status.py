"""A patient's case status (draft → complete → signed) and the meanings a site PI's signature may carry.

Pure functions, no Django. The status is computed, never stored: a case is *signed* once its site PI has
signed it (21 CFR Part 11 §11.50: the signer's name, the time and the meaning are kept with it), *complete*
when every record of the case is marked complete, and a *draft* otherwise — including a patient with
nothing recorded beyond their own record, which is not a case anyone could sign.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class CaseStatus(StrEnum):
    DRAFT = "draft"
    COMPLETE = "complete"
    SIGNED = "signed"

    @property
    def label(self) -> str:
        return {"draft": "Draft", "complete": "Complete, not signed", "signed": "Signed"}[self.value]


#: What the site PI's signature means, the first being the default (§11.50(a)(3): the meaning is part of the
#: signature manifestation, shown with the signer's name and the time).
DEFAULT_SIGNATURE_MEANING = (
    "I have reviewed this case and confirm that the data are complete and accurate to the best of my knowledge."
)
SIGNATURE_MEANINGS: tuple[str, ...] = (
    DEFAULT_SIGNATURE_MEANING,
    "As principal investigator of this site, I approve this case's data for analysis.",
)


@dataclass(frozen=True)
class RecordState:
    """One record of a case: how it is named in messages and whether it is marked complete."""

    description: str
    is_complete: bool


def case_status(*, signed: bool, patient_complete: bool, records: Iterable[RecordState]) -> CaseStatus:
    """The case's status from its patient record and every other record of the case."""
    if signed:
        return CaseStatus.SIGNED
    others = list(records)
    if others and patient_complete and all(record.is_complete for record in others):
        return CaseStatus.COMPLETE
    return CaseStatus.DRAFT


def incomplete_descriptions(*, patient_complete: bool, records: Iterable[RecordState]) -> list[str]:
    """How messages name the records not marked complete, patient record first, in the given order."""
    named = ["the patient record"] if not patient_complete else []
    return named + [record.description for record in records if not record.is_complete]


def sign_refusals(*, status: CaseStatus, incomplete: list[str], has_records: bool, open_queries: int) -> list[str]:
    """Why a case cannot be signed now, one sentence each (empty when it can)."""
    if status is CaseStatus.SIGNED:
        return ["This case is already signed; a coordinator must unlock it before it is signed again."]
    refusals = []
    if not has_records:
        refusals.append("Nothing is recorded beyond the patient record yet: there is no case to sign.")
    if incomplete:
        shown = ", ".join(incomplete[:8]) + (f" and {len(incomplete) - 8} more" if len(incomplete) > 8 else "")
        which = "is" if len(incomplete) == 1 else "are"
        refusals.append(f"Every record must be marked complete first: {shown} {which} not.")
    if open_queries:
        noun = "query is" if open_queries == 1 else "queries are"
        refusals.append(
            f"{open_queries} data {noun} still open or awaiting a coordinator's review: "
            "they must be closed before the case is signed."
        )
    return refusals

"""Reactions of higher apps to clinical writes, registered by those apps: clinical imports none of them.

A correction to the data of a patient with an enrolled rechallenge may change the decision model's
inputs of that episode, and then ``apps.assessments`` stores a re-assessment. Clinical cannot import
assessments (it sits above clinical), so assessments registers its reaction here from its
``AppConfig.ready()``, and the clinical services call :func:`enrolled_patient_changed` inside the
transaction of the write: the reaction is part of the same transaction and audit as the change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class EnrolledPatientReaction(Protocol):
    def __call__(self, *, patient_id: int, user: Any, reason: str) -> Any: ...


_reactions: list[EnrolledPatientReaction] = []


def on_enrolled_patient_change(reaction: EnrolledPatientReaction) -> EnrolledPatientReaction:
    """Register ``reaction(patient_id=, user=, reason=)``, run after every clinical write to a patient
    who has an enrolled episode; registering the same reaction twice runs it once."""
    if reaction not in _reactions:
        _reactions.append(reaction)
    return reaction


def enrolled_patient_changed(*, patient_id: int, user: Any, reason: str) -> None:
    """Run the registered reactions; called by the clinical services inside the write's transaction."""
    for reaction in _reactions:
        reaction(patient_id=patient_id, user=user, reason=reason)


def registered_reactions() -> tuple[Callable[..., Any], ...]:
    """The reactions registered so far (for the system check that assessments has registered its own)."""
    return tuple(_reactions)

"""Reactions of higher apps to clinical writes, registered by those apps: clinical imports none of them.

Two hooks: the re-assessment of enrolled patients (below), and :func:`records_written`, which tells the
apps above clinical (data quality: on-save queries, source-verification marks) of every record written.

A correction to the data of a patient with an enrolled rechallenge may change the decision model's
inputs of that episode, and then ``apps.assessments`` stores a re-assessment. Clinical cannot import
assessments (it sits above clinical), so assessments registers its reaction here from its
``AppConfig.ready()``, and the clinical services call :func:`enrolled_patient_changed` inside the
transaction of the write: the reaction is part of the same transaction and audit as the change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


# --- Every clinical write -------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordWrite:
    """One record created, changed or deleted by a clinical service (after its validation and audit)."""

    action: str  # "create" | "update" | "delete" (``apps.core.models.AuditAction`` values)
    record_type: str  # the record type's slug (``apps.core.records``)
    record_id: int
    patient_id: int | None
    site_id: int | None
    #: The fields whose stored value changed (every field for a create or a delete).
    fields: frozenset[str]


class RecordsWrittenReaction(Protocol):
    def __call__(self, *, writes: Sequence[RecordWrite], user: Any, channel: str) -> Any: ...


_written_reactions: list[RecordsWrittenReaction] = []


def on_records_written(reaction: RecordsWrittenReaction) -> RecordsWrittenReaction:
    """Register ``reaction(writes=, user=, channel=)``, run inside the transaction of every clinical write
    (a bulk import calls it once for its whole batch); registering the same reaction twice runs it once.
    A reaction that raises rolls the write back."""
    if reaction not in _written_reactions:
        _written_reactions.append(reaction)
    return reaction


def records_written(*, writes: Sequence[RecordWrite], user: Any, channel: str) -> None:
    """Run the registered reactions to ``writes``; called by the clinical services."""
    if not writes:
        return
    for reaction in _written_reactions:
        reaction(writes=writes, user=user, channel=channel)

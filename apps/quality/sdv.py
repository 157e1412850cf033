"""A change after source-data verification clears it: the reaction to every clinical write.

Registered from ``QualityConfig.ready()`` on ``apps.clinical.hooks.on_records_written`` and run inside the
write's transaction, so a mark never outlives the value that was checked:

- a change clears the marks of the changed fields and the record's whole-record mark (a change of the
  missing-data answers clears every mark of the record: which field's answer changed is not known here);
  a change of bookkeeping only (``is_complete``) clears nothing;
- a deletion clears every mark of each removed record;
- a transfer (the patient's ``site``) moves the patient's marks to the new site and clears nothing: the
  source data did not change;
- a new record has no mark: nothing to do (and no query, so imports cost what they did).

One statement per batch of writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Q

from apps.clinical.hooks import RecordWrite

from .models import SourceVerification
from .signoff_selectors import NOT_SOURCE_DATA

#: A change of these clears every mark of the record.
WHOLE_RECORD_FIELDS = frozenset({"missing_answers"})


def _cleared(write: RecordWrite) -> Q | None:
    """The marks ``write`` clears (None: none)."""
    record = Q(record_type=write.record_type, record_id=write.record_id)
    if write.action == "delete":
        return record
    if write.action != "update":
        return None
    fields = set(write.fields) - {"site"} if write.record_type == "patient" else set(write.fields)
    if fields & WHOLE_RECORD_FIELDS:
        return record
    data = fields - NOT_SOURCE_DATA
    if not data:
        return None
    return record & (Q(field="") | Q(field__in=sorted(data)))


def source_verification_clear(*, writes: Sequence[RecordWrite], user: Any, channel: str) -> None:
    """Clear the marks the writes made stale, and follow a transferred patient to their new site."""
    cleared: Q | None = None
    for write in writes:
        condition = _cleared(write)
        if condition is not None:
            cleared = condition if cleared is None else cleared | condition
    if cleared is not None:
        SourceVerification.objects.filter(cleared).delete()
    for write in writes:
        if write.record_type == "patient" and write.action == "update" and "site" in write.fields:
            SourceVerification.objects.filter(patient_id=write.record_id).update(site_id=write.site_id)

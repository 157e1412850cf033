"""The Data Resolution Workflow: a query is raised, answered by the site, closed or re-opened by a coordinator.

States: ``open`` → ``answered`` (center staff of the query's site, with a comment; for a rule whose value may be
confirmed as entered, such as ``implausible_value``, the answer may say so) → ``closed`` (a coordinator, with a
resolution) or back to ``open`` (a coordinator re-opens it with a comment; ``reopened_count`` counts it). A
coordinator may also close an open query (the problem was settled another way) and re-open a closed one.
Everyone who sees a query may comment on it.

Each step locks the query's row (``select_for_update``), checks the actor's role and the query's state (a refusal
is an :class:`~apps.core.errors.ApplicationError` with a field-level message: 403 for the role, 409 for the state,
400 for the input), writes who and when on the query, adds a step to its thread (:class:`QueryComment`) and an
entry to the audit trail in the query's site chain — in one transaction. Queries are not clinical data, but the
trail then shows every step beside the changes they led to.

Automatic queries (opened and closed by the rules: the nightly sweep and the on-save check) are written by
``apps.quality.sweep``; these are the steps people take.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.selectors import access_for_user
from apps.clinical.presenters import display_value
from apps.core.audit import audit_entries_append, audit_entry_build
from apps.core.errors import ApplicationError
from apps.core.models import AuditAction, AuditChannel
from apps.core.records import record_type_by_slug

from .models import DataQuery, QueryComment
from .panels import open_query_counts_refresh
from .selectors import is_confirmable, queryable_fields, record_for_query, record_type_named

Status = DataQuery.Status
Resolution = DataQuery.Resolution
Action = QueryComment.Action

ONLY_COORDINATORS_RAISE = "Only coordinators raise queries."
ONLY_COORDINATORS_DECIDE = "Only coordinators close or re-open queries."
ONLY_SITE_STAFF_ANSWER = "Queries are answered by the staff of the query's site."
NOT_YOURS = "You cannot see this query."
MAX_TEXT = 4000

#: Resolutions a coordinator may choose when closing (``record_deleted`` is the sweep's).
CLOSING_RESOLUTIONS = (Resolution.RESOLVED, Resolution.FIXED, Resolution.CONFIRMED)


def _text(value: Any, *, field: str, required: bool, what: str) -> str:
    text = (value or "").strip() if isinstance(value, str) or value is None else str(value).strip()
    if required and not text:
        raise ApplicationError(f"{what} is required.", field_errors={field: [f"{what} is required."]})
    if len(text) > MAX_TEXT:
        raise ApplicationError(
            f"{what} is too long.", field_errors={field: [f"Keep it under {MAX_TEXT} characters ({len(text)} now)."]}
        )
    return text


def _wrong_state(query: DataQuery, doing: str) -> ApplicationError:
    message = f"This query is {query.get_status_display().lower()}: it cannot be {doing}."
    return ApplicationError(message, field_errors={"status": [message]}, status=409)


def _locked(query: DataQuery) -> DataQuery:
    # ``of=("self",)``: only the query's row is locked (PostgreSQL locks no row of an outer join's nullable side).
    return DataQuery.objects.select_for_update(of=("self",)).select_related("site", "patient").get(pk=query.pk)


def _record_step(
    query: DataQuery,
    *,
    user,
    action: str,
    text: str,
    channel: str,
    changes: dict[str, list[Any]],
    audit_action: str = AuditAction.UPDATE,
    when=None,
) -> QueryComment:
    """The thread's step and the audit entry (in the query's site chain) of one change of a query."""
    comment = QueryComment.objects.create(
        query=query, action=action, author=user, text=text, created_at=when or timezone.now()
    )
    if changes:
        entry = audit_entry_build(
            instance=query, action=audit_action, user=user, channel=channel, changes=changes, reason=text
        )
        entry.site_id = query.site_id  # a query belongs to its record's site
        audit_entries_append([entry])
        open_query_counts_refresh(patient_ids=[query.patient_id])  # the patient list's open-queries column
    return comment


def _may_see(query: DataQuery, user) -> bool:
    access = access_for_user(user)
    if access.is_coordinator:
        return True
    return query.site_id in access.site_ids and not query.coordinators_only


# --- raising ------------------------------------------------------------------------------------------------


def query_raise(
    *,
    user,
    record_type: str,
    record_id: Any,
    field: str = "",
    message: str,
    coordinators_only: bool = False,
    channel: str = AuditChannel.WEB,
) -> DataQuery:
    """A coordinator's question about one field of a record (``field`` empty: the whole record).

    The site and the patient come from the record. The value the field holds now is kept with the query
    (``value_seen``), except for a field hidden from coordinators, whose value they must not see.
    """
    if not access_for_user(user).is_coordinator:
        raise ApplicationError(ONLY_COORDINATORS_RAISE, status=403)
    errors: dict[str, list[str]] = {}
    declared = record_type_named(record_type)
    record = record_for_query(record_type=declared, record_id=record_id)
    if record is None:
        errors["record_id"] = [f"No {declared.noun} with this id."]
    field = (field or "").strip()
    if field and field not in {choice.name for choice in queryable_fields(declared)}:
        errors["field"] = [f"The {declared.noun} has no field {field!r} a query can point at."]
    try:
        text = _text(message, field="message", required=True, what="The question")
    except ApplicationError as error:
        errors.update(error.field_errors)
    if errors:
        raise ApplicationError("The query has errors.", field_errors=errors)
    assert record is not None
    site_id = declared.site_id_of(record)
    seen = ""
    if field and field not in declared.hidden_from_coordinators:
        seen = display_value(record, field)[:200]
    now = timezone.now()
    with transaction.atomic():
        query = DataQuery.objects.create(
            rule_id="",
            status=Status.OPEN,
            site_id=site_id,
            patient_id=declared.patient_id_of(record),
            record_type=declared.slug,
            record_id=record.pk,
            field=field,
            message=text,
            value_seen=seen,
            coordinators_only=coordinators_only,
            opened_at=now,
            opened_by=user,
        )
        changes = {
            "status": [None, Status.OPEN],
            "record": [None, f"{declared.slug}#{record.pk}"],
            "field": [None, field],
        }
        _record_step(
            query,
            user=user,
            action=Action.OPENED,
            text=text,
            channel=channel,
            changes=changes,
            audit_action=AuditAction.CREATE,
            when=now,
        )
    return query


# --- the site answers ---------------------------------------------------------------------------------------


def query_answer(
    *, query: DataQuery, user, text: str, confirmed: bool = False, channel: str = AuditChannel.WEB
) -> DataQuery:
    """Center staff of the query's site answer an open (or re-opened) query, with a comment.

    ``confirmed``: the value is right as entered (only for a rule that allows it); the coordinator then closes the
    query as confirmed. The site's proposal is kept in ``resolution`` while the query waits for the coordinator.
    """
    access = access_for_user(user)
    if query.site_id not in access.site_ids:
        raise ApplicationError(ONLY_SITE_STAFF_ANSWER, status=403)
    answer = _text(text, field="text", required=True, what="An answer")
    if confirmed and not is_confirmable(query):
        raise ApplicationError(
            "Only a value a rule finds implausible can be confirmed as entered.",
            field_errors={"confirmed": ["This query cannot be answered with 'confirmed as entered'."]},
        )
    with transaction.atomic():
        locked = _locked(query)
        if locked.coordinators_only:
            raise ApplicationError(NOT_YOURS, status=404)
        if locked.status != Status.OPEN:
            raise _wrong_state(locked, "answered")
        now = timezone.now()
        proposal = Resolution.CONFIRMED if confirmed else ""
        locked.status, locked.answered_at, locked.answered_by, locked.resolution = Status.ANSWERED, now, user, proposal
        locked.save(update_fields=["status", "answered_at", "answered_by", "resolution"])
        changes: dict[str, list[Any]] = {"status": [Status.OPEN, Status.ANSWERED]}
        if confirmed:
            changes["resolution"] = ["", Resolution.CONFIRMED]
        shown = f"Confirmed as entered. {answer}" if confirmed else answer
        _record_step(locked, user=user, action=Action.ANSWERED, text=shown, channel=channel, changes=changes, when=now)
    return locked


# --- the coordinator decides --------------------------------------------------------------------------------


def _require_coordinator(user) -> None:
    if not access_for_user(user).is_coordinator:
        raise ApplicationError(ONLY_COORDINATORS_DECIDE, status=403)


def query_close(
    *,
    query: DataQuery,
    user,
    resolution: str = Resolution.RESOLVED,
    text: str = "",
    channel: str = AuditChannel.WEB,
) -> DataQuery:
    """A coordinator closes an answered (or still open) query with a resolution and an optional comment.

    ``confirmed`` (the value is right as entered) only for a rule that allows it: the value the field holds now is
    kept as ``value_seen``, so the rule does not ask about the same value again.
    """
    _require_coordinator(user)
    resolution = resolution or Resolution.RESOLVED
    if resolution not in CLOSING_RESOLUTIONS:
        choices = ", ".join(CLOSING_RESOLUTIONS)
        raise ApplicationError("Unknown resolution.", field_errors={"resolution": [f"Choose one of {choices}."]})
    if resolution == Resolution.CONFIRMED and not is_confirmable(query):
        raise ApplicationError(
            "Only a value a rule finds implausible can be confirmed as entered.",
            field_errors={"resolution": ["This query cannot be closed as 'confirmed as entered'."]},
        )
    comment = _text(text, field="text", required=False, what="A comment")
    with transaction.atomic():
        locked = _locked(query)
        if locked.status == Status.CLOSED:
            raise _wrong_state(locked, "closed again")
        now = timezone.now()
        before = {"status": locked.status, "resolution": locked.resolution, "value_seen": locked.value_seen}
        locked.status, locked.resolution, locked.closed_at, locked.closed_by = Status.CLOSED, resolution, now, user
        fields = ["status", "resolution", "closed_at", "closed_by"]
        if resolution == Resolution.CONFIRMED:
            current = _current_value(locked)
            if current is not None:
                locked.value_seen = current
                fields.append("value_seen")
        locked.save(update_fields=fields)
        after = {"status": locked.status, "resolution": locked.resolution, "value_seen": locked.value_seen}
        changes = {name: [before[name], after[name]] for name in after if before[name] != after[name]}
        _record_step(locked, user=user, action=Action.CLOSED, text=comment, channel=channel, changes=changes, when=now)
    return locked


def _current_value(query: DataQuery) -> str | None:
    """What the query's field holds now, as kept in ``value_seen``; None if the record or field is gone."""
    try:
        declared = record_type_by_slug(query.record_type)
    except LookupError:
        return None
    if not query.field or query.field in declared.hidden_from_coordinators:
        return None
    record = record_for_query(record_type=declared, record_id=query.record_id)
    if record is None:
        return None
    return display_value(record, query.field)[:200]


def query_reopen(*, query: DataQuery, user, text: str, channel: str = AuditChannel.WEB) -> DataQuery:
    """A coordinator sends an answered or closed query back to the site, saying why."""
    _require_coordinator(user)
    why = _text(text, field="text", required=True, what="Why it is re-opened")
    with transaction.atomic():
        locked = _locked(query)
        if locked.status == Status.OPEN:
            raise _wrong_state(locked, "re-opened")
        before = {"status": locked.status, "resolution": locked.resolution}
        locked.status, locked.resolution = Status.OPEN, ""
        locked.closed_at = locked.closed_by = locked.answered_at = locked.answered_by = None
        locked.reopened_count += 1
        locked.save(
            update_fields=[
                "status",
                "resolution",
                "closed_at",
                "closed_by",
                "answered_at",
                "answered_by",
                "reopened_count",
            ]
        )
        changes = {
            "status": [before["status"], Status.OPEN],
            "reopened_count": [locked.reopened_count - 1, locked.reopened_count],
        }
        if before["resolution"]:
            changes["resolution"] = [before["resolution"], ""]
        _record_step(locked, user=user, action=Action.REOPENED, text=why, channel=channel, changes=changes)
    return locked


# --- the thread ---------------------------------------------------------------------------------------------


def query_comment(*, query: DataQuery, user, text: str, channel: str = AuditChannel.WEB) -> QueryComment:
    """A comment on the thread by anyone who sees the query; it changes no state."""
    if not _may_see(query, user):
        raise ApplicationError(NOT_YOURS, status=404)
    said = _text(text, field="text", required=True, what="A comment")
    with transaction.atomic():
        locked = _locked(query)
        return _record_step(locked, user=user, action=Action.COMMENTED, text=said, channel=channel, changes={})

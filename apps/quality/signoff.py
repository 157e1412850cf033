"""Sign-off and source-data verification (issue #10, item 5): the writes.

**Signing.** A case moves draft → complete → signed. Its site PI signs it by re-entering their password
(21 CFR Part 11 §11.200: a signature executed by a re-entered credential), with one of the declared meanings
(``registry.quality.case_status.SIGNATURE_MEANINGS``); the name, the time (UTC) and the meaning are stored on
the patient and shown with the case (§11.50). Only a complete case (every record marked complete) without
open queries the site sees is signed. A signed case accepts no change on any channel: the clinical services
refuse it (409) until a coordinator unlocks it with a reason. Signing and unlocking write the patient's
``signed_*`` fields directly (they are not editable data, and the clinical services would refuse the
change) under the patient's row lock — the same lock every clinical write of the case takes, so no change
slips in between the completeness check and the signature — and each leaves an audit entry on the patient.

**Source verification.** Coordinators mark a record (``field`` empty) or single fields as verified against
the source documents, and may remove a mark. A change to the record clears its marks
(``apps.quality.sdv``). Marks are not clinical data, but marking and unmarking are audited on the record's
site chain, so the trail shows who checked what and when.

A refusal is an :class:`~apps.core.errors.ApplicationError`: 403 for the role, 400 with a field-level message
for the input (a wrong password: ``password``), 409 for the case's state.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.selectors import access_for_user
from apps.clinical.models import Patient
from apps.clinical.summaries import patient_summaries_refresh
from apps.core.audit import audit_entries_append, audit_entry_build, audit_write
from apps.core.errors import ApplicationError
from apps.core.models import AuditAction, AuditChannel
from apps.core.records import site_of
from registry.quality.case_status import DEFAULT_SIGNATURE_MEANING, SIGNATURE_MEANINGS

from .models import SourceVerification
from .selectors import record_type_named
from .signoff_selectors import (
    case_summary,
    is_site_pi_of,
    record_for_verification,
    verifiable_fields,
)

ONLY_SITE_PI_SIGNS = "Only the site PI of the patient's site signs its cases."
ONLY_COORDINATORS_UNLOCK = "Only coordinators unlock signed cases."
ONLY_COORDINATORS_VERIFY = "Only coordinators mark records source-data-verified."
WRONG_PASSWORD = "The password is not correct. Nothing was signed."  # noqa: S105 (a message)
PASSWORD_REQUIRED = "Enter your password to sign."  # noqa: S105 (a message)
UNLOCK_REASON_REQUIRED = "Give the reason for unlocking; it is kept in the audit trail."
NOT_SIGNED = "This case is not signed: there is nothing to unlock."
MAX_REASON = 2000


def _locked_patient(patient: Patient) -> Patient:
    locked = Patient.objects.select_for_update(of=("self",)).select_related("site", "signed_by").filter(pk=patient.pk)
    found = locked.first()
    if found is None:
        raise ApplicationError("This patient was deleted by someone else since you opened the page.", status=409)
    return found


def _meaning(value: Any) -> str:
    meaning = (value or "").strip() if isinstance(value, str) or value is None else str(value)
    if not meaning:
        return DEFAULT_SIGNATURE_MEANING
    if meaning not in SIGNATURE_MEANINGS:
        choices = " / ".join(f"“{choice}”" for choice in SIGNATURE_MEANINGS)
        raise ApplicationError(
            "Choose the meaning of the signature.", field_errors={"meaning": [f"Choose one of: {choices}"]}
        )
    return meaning


@transaction.atomic
def case_sign(
    *, patient: Patient, user, password: str, meaning: str = "", channel: AuditChannel | str = AuditChannel.WEB
) -> Patient:
    """The site PI signs the patient's case: checks role, state, then the re-entered password (in that order).

    A wrong password signs nothing and says only that the password is wrong (the caller counts it as a
    failed sign-in, so repeated guesses lock the account out as at the sign-in page).
    """
    if user is None or not is_site_pi_of(user=user, site_id=patient.site_id):
        raise ApplicationError(ONLY_SITE_PI_SIGNS, status=403)
    chosen = _meaning(meaning)
    locked = _locked_patient(patient)
    summary = case_summary(patient=locked)
    if summary.refusals:
        raise ApplicationError(" ".join(summary.refusals), status=409)
    if not password:
        raise ApplicationError(PASSWORD_REQUIRED, field_errors={"password": [PASSWORD_REQUIRED]})
    if not user.check_password(password):
        raise ApplicationError(WRONG_PASSWORD, field_errors={"password": [WRONG_PASSWORD]})
    now = timezone.now()
    Patient.objects.filter(pk=locked.pk).update(signed_at=now, signed_by=user, signature_meaning=chosen)
    patient_summaries_refresh(patient_ids=[locked.pk])  # the patient list's case status
    locked.signed_at, locked.signed_by, locked.signature_meaning = now, user, chosen
    audit_write(
        instance=locked,
        action=AuditAction.UPDATE,
        user=user,
        channel=channel,
        changes={
            "signed_at": [None, now.isoformat()],
            "signed_by": [None, user.pk],
            "signature_meaning": ["", chosen],
        },
        reason=f"Signed: {chosen}",
    )
    return locked


@transaction.atomic
def case_unlock(*, patient: Patient, user, reason: str, channel: AuditChannel | str = AuditChannel.WEB) -> Patient:
    """A coordinator unlocks a signed case, with a reason: the signature is cleared (and kept in the audit
    trail), and the case accepts changes again until it is signed anew."""
    if user is None or not access_for_user(user).is_coordinator:
        raise ApplicationError(ONLY_COORDINATORS_UNLOCK, status=403)
    text = (reason or "").strip()
    if not text:
        raise ApplicationError(UNLOCK_REASON_REQUIRED, field_errors={"reason": [UNLOCK_REASON_REQUIRED]})
    if len(text) > MAX_REASON:
        message = f"Keep the reason under {MAX_REASON} characters ({len(text)} now)."
        raise ApplicationError(message, field_errors={"reason": [message]})
    locked = _locked_patient(patient)
    if locked.signed_at is None:
        raise ApplicationError(NOT_SIGNED, status=409)
    changes = {
        "signed_at": [locked.signed_at.isoformat(), None],
        "signed_by": [locked.signed_by_id, None],
        "signature_meaning": [locked.signature_meaning, ""],
    }
    Patient.objects.filter(pk=locked.pk).update(signed_at=None, signed_by=None, signature_meaning="")
    patient_summaries_refresh(patient_ids=[locked.pk])  # the patient list's case status
    locked.signed_at, locked.signed_by, locked.signature_meaning = None, None, ""
    audit_write(
        instance=locked,
        action=AuditAction.UPDATE,
        user=user,
        channel=channel,
        changes=changes,
        reason=f"Unlocked: {text}",
    )
    return locked


# --- Source-data verification ---------------------------------------------------------------------------------


def _audit_mark(mark: SourceVerification, *, action: str, user, channel: str, reason: str) -> None:
    values = {
        "record_type": mark.record_type,
        "record_id": mark.record_id,
        "field": mark.field,
        "verified_by": mark.verified_by_id,
        "verified_at": mark.verified_at.isoformat(),
    }
    changes = {name: [None, value] if action == AuditAction.CREATE else [value, None] for name, value in values.items()}
    entry = audit_entry_build(instance=mark, action=action, user=user, channel=channel, changes=changes, reason=reason)
    entry.site_id = mark.site_id  # a mark belongs to its record's site
    audit_entries_append([entry])


@transaction.atomic
def record_verify(
    *, user, record_type: str, record_id: Any, field: str = "", channel: AuditChannel | str = AuditChannel.WEB
) -> SourceVerification:
    """Mark a record (``field`` empty) or one of its fields source-data-verified by ``user`` now."""
    if user is None or not access_for_user(user).is_coordinator:
        raise ApplicationError(ONLY_COORDINATORS_VERIFY, status=403)
    declared = record_type_named(record_type)
    errors: dict[str, list[str]] = {}
    try:
        pk = int(record_id)
    except (TypeError, ValueError):
        pk = None
    record = record_for_verification(user=user, record_type_slug=declared.slug, record_id=pk) if pk else None
    if record is None:
        errors["record_id"] = [f"No {declared.noun} with this id."]
    field = (field or "").strip()
    if field and field not in {name for name, _ in verifiable_fields(declared.slug)}:
        errors["field"] = [f"The {declared.noun} has no field {field!r} that can be marked verified."]
    if errors:
        raise ApplicationError("The verification has errors.", field_errors=errors)
    existing = (
        SourceVerification.objects.select_related("verified_by")
        .filter(record_type=declared.slug, record_id=pk, field=field)
        .first()
    )
    if existing is not None:
        who = existing.verified_by.get_full_name() or existing.verified_by.username
        message = f"Already verified by {who} on {existing.verified_at:%Y-%m-%d}."
        raise ApplicationError(message, field_errors={"field" if field else "record_id": [message]}, status=409)
    mark = SourceVerification.objects.create(
        site_id=site_of(record),
        patient_id=declared.patient_id_of(record),
        record_type=declared.slug,
        record_id=pk,
        field=field,
        verified_by=user,
        verified_at=timezone.now(),
    )
    what = f"the field {field}" if field else "the whole record"
    _audit_mark(
        mark,
        action=AuditAction.CREATE,
        user=user,
        channel=str(channel),
        reason=f"Source-data verified: {what} of {declared.describe(record)}",
    )
    return mark


@transaction.atomic
def record_unverify(*, user, mark: SourceVerification, channel: AuditChannel | str = AuditChannel.WEB) -> None:
    """Remove a source-verification mark (a coordinator's correction of their own or another's check)."""
    if user is None or not access_for_user(user).is_coordinator:
        raise ApplicationError(ONLY_COORDINATORS_VERIFY, status=403)
    locked = SourceVerification.objects.select_for_update().filter(pk=mark.pk).first()
    if locked is None:
        return  # removed meanwhile (by a change to the record, or by another coordinator): nothing left to do
    what = f"the field {locked.field}" if locked.field else "the whole record"
    _audit_mark(
        locked,
        action=AuditAction.DELETE,
        user=user,
        channel=str(channel),
        reason=f"Source-data verification removed: {what} of {locked.record_type} #{locked.record_id}",
    )
    locked.delete()

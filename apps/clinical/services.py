"""Writes of clinical records: validate, save, audit — in one transaction, from every channel.

Web forms, the API, the admin, imports and tasks all call these functions, so every path gets the
same validation, the same site checks, the same optimistic locking and the same audit entry — and the
same date rules (month precision → the 15th, no date after today), which ``full_clean`` applies.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model, ProtectedError

from apps.accounts.models import Site
from apps.accounts.selectors import access_for_user
from apps.core.audit import audit_write, diff, site_of, snapshot
from apps.core.errors import ApplicationError, ConflictError
from apps.core.models import AuditAction, AuditChannel
from registry.identifiers import new_registry_id

from .models import CaseRecord, Patient

REASON_REQUIRED = "A reason is required to change a record that is marked complete."

M = TypeVar("M", bound=Model)


def _check_site_write(*, user, site_id: int | None) -> None:
    if user is None:  # system jobs (seed, tasks) run without a user
        return
    if not access_for_user(user).can_write_site(site_id):
        raise ApplicationError(
            "You cannot create or change records of this site.",
            field_errors={"site": ["You are not a member of this site."]},
            status=403,
        )


def _apply_date_rules(instance: Model) -> None:
    if isinstance(instance, CaseRecord):
        instance.apply_mid_month_rule()


def _validate(instance: Model, *, exclude: list[str] | None = None) -> None:
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as error:
        raise ApplicationError("Please correct the errors below.", field_errors=error.message_dict) from None


def _save(instance: Model, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            instance.save(**kwargs)
    except IntegrityError as error:
        raise ApplicationError(f"The record breaks a database rule: {error}") from None


@transaction.atomic
def record_create(*, model: type[M], data: dict[str, Any], user, channel: AuditChannel | str, reason: str = "") -> M:
    """Create a clinical record after validation and site checks, and audit it."""
    instance = model(**data)
    _check_site_write(user=user, site_id=site_of(instance))
    if isinstance(instance, Patient) and not instance.registry_id:
        instance.registry_id = _unique_registry_id(instance.site_id)
    _validate(instance)
    _save(instance)
    audit_write(
        instance=instance,
        action=AuditAction.CREATE,
        user=user,
        channel=channel,
        changes={name: [None, value] for name, value in snapshot(instance).items() if value not in (None, "")},
        reason=reason,
    )
    _reassess_enrolled_episodes(instance=instance, user=user, reason=reason)
    return instance


@transaction.atomic
def record_update(
    *,
    instance: M,
    data: dict[str, Any],
    user,
    channel: AuditChannel | str,
    reason: str = "",
    expected_version: int | None = None,
) -> M:
    """Apply ``data`` to a record: refuse stale versions, require a reason once complete, audit old→new."""
    locked = type(instance).objects.select_for_update().get(pk=instance.pk)
    if expected_version is not None and locked.version != expected_version:
        raise ConflictError()
    _check_site_write(user=user, site_id=site_of(locked))
    before = snapshot(locked)
    for name, value in data.items():
        setattr(locked, name, value)
    _apply_date_rules(locked)  # before the diff, so the audit shows the date that is stored
    _check_site_write(user=user, site_id=site_of(locked))  # moving a record into a foreign site
    changes = diff(before, snapshot(locked))
    if not changes:
        return locked
    if (before.get("is_complete") or (locked.is_complete and "is_complete" not in changes)) and not reason.strip():
        raise ApplicationError(REASON_REQUIRED, field_errors={"reason": [REASON_REQUIRED]})
    _validate(locked)
    locked.version += 1
    _save(locked)
    changes["version"] = [locked.version - 1, locked.version]
    audit_write(instance=locked, action=AuditAction.UPDATE, user=user, channel=channel, changes=changes, reason=reason)
    _reassess_enrolled_episodes(instance=locked, user=user, reason=reason)
    return locked


@transaction.atomic
def record_delete(
    *, instance: Model, user, channel: AuditChannel | str, reason: str = "", expected_version: int | None = None
) -> None:
    """Delete a record (and, by cascade, its dependants), auditing what was removed."""
    if expected_version is not None and instance.version != expected_version:
        raise ConflictError()
    _check_site_write(user=user, site_id=site_of(instance))
    if instance.is_complete and not reason.strip():
        raise ApplicationError(REASON_REQUIRED, field_errors={"reason": [REASON_REQUIRED]})
    audit_write(
        instance=instance,
        action=AuditAction.DELETE,
        user=user,
        channel=channel,
        changes={name: [value, None] for name, value in snapshot(instance).items() if value not in (None, "")},
        reason=reason,
    )
    try:
        with transaction.atomic():
            instance.delete()
    except ProtectedError:
        raise ApplicationError(
            "This record cannot be deleted: a locked decision-model assessment refers to it.", status=409
        ) from None
    _reassess_enrolled_episodes(instance=instance, user=user, reason=reason)  # a deleted patient has no pk left


def _patient_id_of(instance: Model) -> int | None:
    if isinstance(instance, Patient):
        return instance.pk
    if hasattr(instance, "patient_id"):
        return instance.patient_id
    episode = getattr(instance, "episode", None)
    return episode.patient_id if episode is not None else None


def _reassess_enrolled_episodes(*, instance: Model, user, reason: str) -> None:
    """A correction to data an enrolled episode's model inputs come from yields a re-assessment."""
    from apps.assessments.services import episodes_reassess_for_patient  # assessments builds on clinical

    patient_id = _patient_id_of(instance)
    if patient_id is not None:
        episodes_reassess_for_patient(patient_id=patient_id, user=user, reason=reason)


def _unique_registry_id(site_id: int) -> str:
    code = Site.objects.values_list("code", flat=True).get(pk=site_id)
    for _ in range(20):
        candidate = new_registry_id(code)
        if not Patient.objects.filter(registry_id=candidate).exists():
            return candidate
    raise ApplicationError("Could not generate a unique registry ID; try again.")

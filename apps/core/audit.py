"""The audit trail: every change to clinical data is written beside the change, in one transaction."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from django.db import models

from .models import AuditAction, AuditChannel, AuditEntry


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value.normalize()) if value == value.to_integral() else str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


def snapshot(instance: models.Model) -> dict[str, Any]:
    """The record's stored values, JSON-ready, keyed by field name (foreign keys by id)."""
    values = {}
    for field in instance._meta.concrete_fields:
        if field.name in {"created_at", "updated_at"}:
            continue
        values[field.name] = _plain(getattr(instance, field.attname))
    return values


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for the fields whose value changed."""
    return {name: [before.get(name), after.get(name)] for name in after if before.get(name) != after.get(name)}


def site_of(instance: models.Model) -> int | None:
    """The site a clinical record belongs to, for scoping audit entries."""
    for path in ("site_id", "patient.site_id", "episode.patient.site_id"):
        target: Any = instance
        try:
            for part in path.split("."):
                target = getattr(target, part)
        except AttributeError:
            continue
        return target
    return None


def audit_write(
    *,
    instance: models.Model,
    action: AuditAction | str,
    user: Any,
    channel: AuditChannel | str,
    changes: dict[str, list[Any]],
    reason: str = "",
) -> AuditEntry:
    """Record one change; call it inside the transaction that made the change."""
    return AuditEntry.objects.create(
        user=user if getattr(user, "is_authenticated", False) else None,
        channel=channel,
        action=action,
        model_label=instance._meta.label_lower,
        object_id=str(instance.pk),
        object_repr=str(instance)[:200],
        site_id=site_of(instance),
        changes=changes,
        reason=reason,
    )


def audit_history(instance: models.Model) -> models.QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(model_label=instance._meta.label_lower, object_id=str(instance.pk)).select_related(
        "user"
    )

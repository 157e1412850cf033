"""The audit trail: every change to clinical data is written beside the change, in one transaction."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence
from typing import Any

from django.db import models
from django.utils import timezone

from registry.audit_chain import CONTENT_FIELDS, GENESIS_HASH, chain_for_site, entry_hash

from .models import AuditAction, AuditChainHead, AuditChannel, AuditEntry
from .records import site_of


def _plain(value: Any) -> Any:
    """A stored value as JSON keeps it: dates in ISO form, numbers as a person writes them (``215``, ``1.5``).

    A decimal is written in fixed-point notation without trailing zeros: ``str()`` of a normalised
    ``Decimal("210")`` would read ``2.1E+2``, which older entries of the trail still hold (the history
    page reads those back as numbers; entries are never rewritten, their hashes cover them).
    """
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return f"{value.normalize():f}"
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
    entry = audit_entry_build(
        instance=instance, action=action, user=user, channel=channel, changes=changes, reason=reason
    )
    (entry,) = audit_entries_append([entry])
    return entry


def audit_entry_build(
    *,
    instance: models.Model,
    action: AuditAction | str,
    user: Any,
    channel: AuditChannel | str,
    changes: dict[str, list[Any]],
    reason: str = "",
) -> AuditEntry:
    """One unsaved entry, for :func:`audit_entries_append` to write with others in one go."""
    return AuditEntry(
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


def hashed_content(entry: AuditEntry) -> dict[str, Any]:
    """The values an entry's hash covers, exactly as they read back from the database."""
    values = {name: getattr(entry, name) for name in CONTENT_FIELDS}
    values["timestamp"] = entry.timestamp.astimezone(dt.UTC).isoformat()
    values["user_id"] = entry.user_id
    values["site_id"] = entry.site_id
    return values


def audit_entries_chain(entries: Sequence[AuditEntry]) -> list[AuditChainHead]:
    """Give unsaved entries, in order, their place and hash in their site's chain; returns the moved heads.

    Each chain's head row is locked (``SELECT … FOR UPDATE``) until the transaction ends, so two
    writers of one site append one after the other and the chain never forks. The caller inserts the
    entries (``save``, ``bulk_create`` or ``COPY``) and then saves the returned heads, in the same
    transaction: :func:`audit_entries_append` does both.
    """
    now = timezone.now()
    heads: dict[str, AuditChainHead] = {}
    for entry in entries:
        chain = chain_for_site(entry.site_id)
        if chain not in heads:
            heads[chain] = _locked_head(chain)
        head = heads[chain]
        entry.timestamp = (entry.timestamp or now).astimezone(dt.UTC)
        entry.chain, entry.sequence, entry.previous_hash = chain, head.sequence + 1, head.last_hash
        entry.entry_hash = entry_hash(
            chain=chain, sequence=entry.sequence, previous_hash=entry.previous_hash, content=hashed_content(entry)
        )
        head.sequence, head.last_hash = entry.sequence, entry.entry_hash
    return list(heads.values())


def _locked_head(chain: str) -> AuditChainHead:
    """The head row of ``chain``, locked; created first for a chain's very first entry."""
    head = AuditChainHead.objects.select_for_update().filter(chain=chain).first()
    if head is None:
        AuditChainHead.objects.get_or_create(chain=chain, defaults={"last_hash": GENESIS_HASH})
        head = AuditChainHead.objects.select_for_update().get(chain=chain)
    return head


def audit_entries_append(entries: Sequence[AuditEntry]) -> list[AuditEntry]:
    """Chain and insert unsaved entries, in order; call inside the transaction of the change."""
    if not entries:
        return []
    heads = audit_entries_chain(entries)
    if len(entries) == 1:
        entries[0].save(force_insert=True)
        saved = list(entries)
    else:
        saved = AuditEntry.objects.bulk_create(entries, batch_size=2000)
    AuditChainHead.objects.bulk_update(heads, ["sequence", "last_hash"])
    return saved


def audit_history(instance: models.Model) -> models.QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(model_label=instance._meta.label_lower, object_id=str(instance.pk)).select_related(
        "user"
    )

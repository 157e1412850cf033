"""Reads of the core app: verifying the audit trail's hash chains."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apps.core.models import AuditChainHead, AuditEntry
from registry.audit_chain import CONTENT_FIELDS, StoredEntry, verify_chain

_COLUMNS = ("id", "chain", "sequence", "previous_hash", "entry_hash", *CONTENT_FIELDS)


def _stored_entries(chain: str) -> Iterator[StoredEntry]:
    rows = AuditEntry.objects.filter(chain=chain).order_by("sequence").values_list(*_COLUMNS)
    for row in rows.iterator(chunk_size=5000):
        values = dict(zip(_COLUMNS, row, strict=True))
        content = {name: values[name] for name in CONTENT_FIELDS}
        content["timestamp"] = values["timestamp"].isoformat()
        yield StoredEntry(
            id=values["id"],
            chain=values["chain"],
            sequence=values["sequence"],
            previous_hash=values["previous_hash"],
            entry_hash=values["entry_hash"],
            content=content,
        )


def audit_chains_verify() -> dict[str, Any]:
    """Every chain checked from its first entry to its recorded head; ``broken`` lists the first break of each."""
    heads = {head.chain: head for head in AuditChainHead.objects.all()}
    chains = sorted(set(heads) | set(AuditEntry.objects.values_list("chain", flat=True).distinct()))
    report: dict[str, Any] = {"entries": 0, "chains": len(chains), "broken": [], "heads": {}}
    for chain in chains:
        head = heads.get(chain)
        count, broken = verify_chain(
            chain,
            _stored_entries(chain),
            head_sequence=head.sequence if head else 0,
            head_hash=head.last_hash if head else "",
        )
        report["entries"] += count
        report["heads"][chain] = {"sequence": head.sequence if head else 0, "hash": head.last_hash if head else None}
        if broken is not None:
            report["broken"].append(
                {"chain": chain, "entry_id": broken.entry_id, "sequence": broken.sequence, "problem": broken.problem}
            )
    return report

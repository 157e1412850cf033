"""A hash chain over the audit trail, so that a change made behind the application's back shows.

The application never updates or deletes an audit entry, and PostgreSQL triggers refuse it too, but
a database owner can still disable a trigger. Each entry therefore stores the SHA-256 of its own
canonical content together with its predecessor's hash: editing, deleting, inserting or reordering
an entry breaks the link to the next one, and deleting the newest entries breaks the link to the
chain's recorded head. Chains are kept **per site** (plus one ``global`` chain for entries without a
site, e.g. settings), so sites write without waiting for each other.

What it cannot do: someone who rewrites every entry after the change *and* the head consistently
goes unnoticed unless the head hashes printed by ``verify_audit`` were kept somewhere else (a
ticket, an e-mail to the sponsor); keep them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: The hash a chain's first entry points back at.
GENESIS_HASH = "0" * 64
GLOBAL_CHAIN = "global"

#: The fields an entry's hash covers, besides the chain position and the previous hash.
CONTENT_FIELDS: tuple[str, ...] = (
    "timestamp",
    "user_id",
    "channel",
    "action",
    "model_label",
    "object_id",
    "object_repr",
    "site_id",
    "changes",
    "reason",
)


def chain_for_site(site_id: int | None) -> str:
    """The chain an entry of ``site_id`` belongs to."""
    return GLOBAL_CHAIN if site_id is None else f"site:{site_id}"


def entry_hash(*, chain: str, sequence: int, previous_hash: str, content: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of an entry's canonical JSON (sorted keys, no whitespace, UTF-8)."""
    missing = [name for name in CONTENT_FIELDS if name not in content]
    if missing:
        raise ValueError(f"audit entry content lacks {', '.join(missing)}")
    document = {name: content[name] for name in CONTENT_FIELDS}
    document |= {"chain": chain, "sequence": sequence, "previous_hash": previous_hash}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One audit entry as read back from the database."""

    id: int
    chain: str
    sequence: int
    previous_hash: str
    entry_hash: str
    content: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class BrokenLink:
    """The first place a chain does not hold, in words a person can act on."""

    chain: str
    entry_id: int | None
    sequence: int | None
    problem: str


def verify_chain(
    chain: str, entries: Iterable[StoredEntry], *, head_sequence: int, head_hash: str
) -> tuple[int, BrokenLink | None]:
    """Check one chain, ``entries`` in sequence order; returns (entries read, first broken link or None)."""
    expected_previous = GENESIS_HASH
    expected_sequence = 1
    count = 0
    for entry in entries:
        count += 1
        if entry.sequence != expected_sequence:
            problem = (
                f"expected entry number {expected_sequence} of the chain, found number {entry.sequence}: "
                "an entry was deleted, inserted or renumbered"
            )
            return count, BrokenLink(chain, entry.id, entry.sequence, problem)
        if entry.previous_hash != expected_previous:
            problem = "its link to the previous entry does not match: an entry before it was changed or removed"
            return count, BrokenLink(chain, entry.id, entry.sequence, problem)
        recomputed = entry_hash(
            chain=chain, sequence=entry.sequence, previous_hash=entry.previous_hash, content=entry.content
        )
        if recomputed != entry.entry_hash:
            problem = "its content no longer matches its hash: the entry was edited"
            return count, BrokenLink(chain, entry.id, entry.sequence, problem)
        expected_previous = entry.entry_hash
        expected_sequence += 1
    last_sequence = expected_sequence - 1
    if last_sequence != head_sequence or expected_previous != (head_hash if head_sequence else GENESIS_HASH):
        problem = (
            f"the chain ends at entry {last_sequence} but its recorded head is entry {head_sequence}: "
            "the newest entries were removed or the head was changed"
        )
        return count, BrokenLink(chain, None, last_sequence, problem)
    return count, None

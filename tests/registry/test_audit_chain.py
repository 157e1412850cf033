"""The audit hash chain: each entry's SHA-256 covers its content and its predecessor's hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from registry.audit_chain import GENESIS_HASH, StoredEntry, chain_for_site, entry_hash, verify_chain


def _content(reason: str) -> dict:
    return {
        "timestamp": "2026-11-30T12:00:00+00:00",
        "user_id": 7,
        "channel": "web",
        "action": "update",
        "model_label": "clinical.patient",
        "object_id": "41",
        "object_repr": "AAA-000041",
        "site_id": 3,
        "changes": {"tumour_type": ["MEL", "SKCM"]},
        "reason": reason,
    }


def _chain(*reasons: str) -> list[StoredEntry]:
    entries, previous = [], GENESIS_HASH
    for number, reason in enumerate(reasons, start=1):
        digest = entry_hash(chain="site:3", sequence=number, previous_hash=previous, content=_content(reason))
        entries.append(StoredEntry(100 + number, "site:3", number, previous, digest, _content(reason)))
        previous = digest
    return entries


def test_the_hash_is_sha256_over_sorted_compact_json_of_content_position_and_previous_hash():
    document = {**_content("typo"), "chain": "site:3", "sequence": 1, "previous_hash": GENESIS_HASH}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256(text.encode()).hexdigest()
    assert entry_hash(chain="site:3", sequence=1, previous_hash=GENESIS_HASH, content=_content("typo")) == expected


def test_entries_without_a_site_share_the_global_chain_and_sites_each_have_their_own():
    assert (chain_for_site(None), chain_for_site(3), chain_for_site(12)) == ("global", "site:3", "site:12")


def test_an_intact_chain_verifies():
    entries = _chain("a", "b", "c")
    assert verify_chain("site:3", entries, head_sequence=3, head_hash=entries[-1].entry_hash) == (3, None)


def test_an_empty_chain_with_an_empty_head_verifies():
    assert verify_chain("global", [], head_sequence=0, head_hash="") == (0, None)


def test_an_edited_entry_is_named():
    entries = _chain("a", "b", "c")
    edited = dataclasses.replace(entries[1], content={**_content("b"), "reason": "rewritten"})
    _, broken = verify_chain(
        "site:3", [entries[0], edited, entries[2]], head_sequence=3, head_hash=entries[2].entry_hash
    )
    assert (broken.entry_id, broken.sequence) == (102, 2)
    assert "edited" in broken.problem


def test_a_deleted_entry_is_named_at_the_next_one():
    entries = _chain("a", "b", "c")
    _, broken = verify_chain("site:3", [entries[0], entries[2]], head_sequence=3, head_hash=entries[2].entry_hash)
    assert (broken.entry_id, broken.sequence) == (103, 3)


def test_two_entries_swapped_are_found():
    entries = _chain("a", "b", "c")
    swapped = [
        entries[0],
        StoredEntry(entries[2].id, "site:3", 2, entries[2].previous_hash, entries[2].entry_hash, entries[2].content),
        StoredEntry(entries[1].id, "site:3", 3, entries[1].previous_hash, entries[1].entry_hash, entries[1].content),
    ]
    _, broken = verify_chain("site:3", swapped, head_sequence=3, head_hash=entries[2].entry_hash)
    assert broken.entry_id == 103


def test_removing_the_newest_entries_is_found_against_the_head():
    entries = _chain("a", "b", "c")
    _, broken = verify_chain("site:3", entries[:2], head_sequence=3, head_hash=entries[2].entry_hash)
    assert broken.entry_id is None
    assert "head" in broken.problem


def test_content_missing_a_covered_field_is_refused():
    content = _content("a")
    del content["reason"]
    with pytest.raises(ValueError, match="reason"):
        entry_hash(chain="global", sequence=1, previous_hash=GENESIS_HASH, content=content)

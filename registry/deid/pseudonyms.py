"""Keyed-hash pseudonyms and per-patient date offsets (HMAC-SHA-256).

``HMAC(key, purpose ‖ project id ‖ patient key)``, each part length-prefixed so no two inputs share a
message. The key is bytes the application keeps outside the database (``var/`` or the environment);
without it a pseudonym cannot be recomputed from a registry ID, nor two projects' pseudonyms linked.
The same patient gets the same pseudonym in every export of one project and an unrelated one in any
other project. The date-shift offset comes from the same construction under another purpose, so it
too is stable within a project and unpredictable without the key.

A pseudonym is :data:`PREFIX` and :data:`LENGTH` Crockford base-32 characters (60 bits of the
digest). It shares nothing with the registry ID but the alphabet: a registry ID has three
dash-separated parts, a pseudonym two.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from registry.deid.errors import PseudonymCollisionError
from registry.identifiers import CROCKFORD

PREFIX = "P-"
LENGTH = 12
#: Keys shorter than this are refused (HMAC-SHA-256's block is 64 bytes; 32 random bytes is the floor).
MIN_KEY_BYTES = 32

_PSEUDONYM = b"registry.deid.pseudonym.v1"
_DATE_SHIFT = b"registry.deid.date-shift.v1"
#: SHA-256's block size in bytes (HMAC pads the key to it).
_BLOCK = 64


def _check(key: bytes, project_id: str) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the pseudonym key must be at least {MIN_KEY_BYTES} bytes")
    if not project_id:
        raise ValueError("a project id is needed: pseudonyms are per project")


def _part(data: bytes) -> bytes:
    return len(data).to_bytes(8, "big") + data


def _digest(key: bytes, purpose: bytes, project_id: str, patient_key: object) -> bytes:
    message = _part(purpose) + _part(project_id.encode()) + _part(str(patient_key).encode())
    return hmac.digest(bytes(key), message, "sha256")


def _offset(digest: bytes, window_days: int) -> int:
    draw = int.from_bytes(digest[:8], "big") % (2 * window_days)
    return draw - window_days if draw < window_days else draw - window_days + 1


def _encode(digest: bytes) -> str:
    number = int.from_bytes(digest[:8], "big") >> (64 - 5 * LENGTH)
    chars = [CROCKFORD[(number >> (5 * (LENGTH - 1 - i))) & 31] for i in range(LENGTH)]
    return PREFIX + "".join(chars)


def pseudonym(key: bytes, project_id: str, patient_key: object) -> str:
    """The patient's pseudonym in this project (``patient_key`` is compared as ``str``)."""
    _check(key, project_id)
    return _encode(_digest(key, _PSEUDONYM, project_id, patient_key))


def date_offset(key: bytes, project_id: str, patient_key: object, *, window_days: int) -> int:
    """Days to add to every date of the patient: in [-window, -1] ∪ [1, window], never 0."""
    _check(key, project_id)
    if window_days < 1:
        raise ValueError("the date-shift window must be at least one day")
    return _offset(_digest(key, _DATE_SHIFT, project_id, patient_key), window_days)


def _hmac_states(key: bytes, head: bytes) -> tuple[Any, Any]:
    """HMAC-SHA-256 (RFC 2104) of messages starting with ``head``, as two hash states to copy per message:
    the inner hash after ``key ⊕ ipad ‖ head`` and the outer after ``key ⊕ opad`` — the same digests as
    ``hmac.digest(key, head ‖ rest, "sha256")``, without setting the key up again for every patient."""
    block = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, bytes(1))
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in block))
    inner.update(head)
    return inner, hashlib.sha256(bytes(byte ^ 0x5C for byte in block))


def _encode_many(digests: bytes, count: int) -> list[str]:
    """:func:`_encode` of ``count`` concatenated 32-byte digests, column-wise (numpy), in order."""
    if not count:
        return []
    words = np.frombuffer(digests, dtype=">u8").reshape(count, 4)[:, 0].astype(np.uint64)
    number = words >> np.uint64(64 - 5 * LENGTH)
    alphabet = np.frombuffer(CROCKFORD.encode("ascii"), dtype=np.uint8)
    chars = np.empty((count, len(PREFIX) + LENGTH), dtype=np.uint8)
    chars[:, : len(PREFIX)] = np.frombuffer(PREFIX.encode("ascii"), dtype=np.uint8)
    for i in range(LENGTH):
        chars[:, len(PREFIX) + i] = alphabet[
            ((number >> np.uint64(5 * (LENGTH - 1 - i))) & np.uint64(31)).astype(np.intp)
        ]
    return chars.view(f"S{len(PREFIX) + LENGTH}").ravel().astype(str).tolist()


def pseudonyms(key: bytes, project_id: str, patient_keys: Iterable[object]) -> dict[str, str]:
    """Each distinct patient key (as ``str``) to its pseudonym; raises if two patients collide."""
    keys = list(dict.fromkeys(str(k) for k in patient_keys))
    return dict(zip(keys, pseudonym_list(key, project_id, keys), strict=True))


def pseudonym_list(key: bytes, project_id: str, keys: Sequence[str]) -> list[str]:
    """The pseudonyms of distinct patient keys (``str``), in their order; raises if two patients collide.

    The same values as :func:`pseudonym`, computed in bulk: the message's constant head is built once,
    one HMAC call per distinct key, and the digests are encoded column-wise.
    """
    _check(key, project_id)
    inner, outer = _hmac_states(bytes(key), _part(_PSEUDONYM) + _part(project_id.encode()))
    digests = []
    for patient_key in keys:
        text = patient_key.encode()
        message = inner.copy()
        message.update(len(text).to_bytes(8, "big") + text)
        result = outer.copy()
        result.update(message.digest())
        digests.append(result.digest())
    names = _encode_many(b"".join(digests), len(keys))
    if len(set(names)) != len(names):
        raise PseudonymCollisionError("two patients share a pseudonym; the export was not built")
    return names


def date_offsets(key: bytes, project_id: str, patient_keys: Iterable[object], *, window_days: int) -> dict[str, int]:
    """Each distinct patient key (as ``str``) to its date offset."""
    _check(key, project_id)
    if window_days < 1:
        raise ValueError("the date-shift window must be at least one day")
    return {
        patient_key: _offset(_digest(key, _DATE_SHIFT, project_id, patient_key), window_days)
        for patient_key in dict.fromkeys(str(k) for k in patient_keys)
    }

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

import hmac
from collections.abc import Iterable

from registry.deid.errors import PseudonymCollisionError
from registry.identifiers import CROCKFORD

PREFIX = "P-"
LENGTH = 12
#: Keys shorter than this are refused (HMAC-SHA-256's block is 64 bytes; 32 random bytes is the floor).
MIN_KEY_BYTES = 32

_PSEUDONYM = b"registry.deid.pseudonym.v1"
_DATE_SHIFT = b"registry.deid.date-shift.v1"


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


def pseudonyms(key: bytes, project_id: str, patient_keys: Iterable[object]) -> dict[str, str]:
    """Each distinct patient key (as ``str``) to its pseudonym; raises if two patients collide."""
    _check(key, project_id)
    result: dict[str, str] = {}
    seen: set[str] = set()
    for patient_key in dict.fromkeys(str(k) for k in patient_keys):
        name = _encode(_digest(key, _PSEUDONYM, project_id, patient_key))
        if name in seen:
            raise PseudonymCollisionError("two patients share a pseudonym; the export was not built")
        seen.add(name)
        result[patient_key] = name
    return result


def date_offsets(key: bytes, project_id: str, patient_keys: Iterable[object], *, window_days: int) -> dict[str, int]:
    """Each distinct patient key (as ``str``) to its date offset."""
    _check(key, project_id)
    if window_days < 1:
        raise ValueError("the date-shift window must be at least one day")
    return {
        patient_key: _offset(_digest(key, _DATE_SHIFT, project_id, patient_key), window_days)
        for patient_key in dict.fromkeys(str(k) for k in patient_keys)
    }

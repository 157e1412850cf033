"""Registry IDs (site-prefixed, random, with a check character, never derived from identifiers) and
the one normal form of a site's local identifiers."""

from __future__ import annotations

import secrets
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_LENGTH = 6


def check_character(body: str) -> str:
    """A weighted mod-32 check character that catches single-character typos and adjacent swaps."""
    total = sum((index + 1) * CROCKFORD.index(char) for index, char in enumerate(body))
    return CROCKFORD[total % 31]


def new_registry_id(site_code: str, choice: Callable[[str], str] = secrets.choice) -> str:
    """A fresh registry ID such as ``AMS1-7KQ2XD-M``; ``choice`` is injectable for seeded generators."""
    body = "".join(choice(CROCKFORD) for _ in range(RANDOM_LENGTH))
    return f"{site_code}-{body}-{check_character(body)}"


def is_valid_registry_id(value: str) -> bool:
    """Whether ``value`` has the registry-ID shape and a correct check character."""
    parts = value.split("-")
    if len(parts) != 3:
        return False
    _, body, check = parts
    return (
        len(body) == RANDOM_LENGTH
        and all(char in CROCKFORD for char in body)
        and len(check) == 1
        and check_character(body) == check
    )


# --- Local identifiers ----------------------------------------------------------------------------

#: Unicode categories dropped from a local identifier: control and format characters (NUL, U+200B
#: zero width space, U+200D, U+FEFF, U+00AD soft hyphen, bidi marks…) and every kind of space.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
#: Default-ignorable characters of other categories that render as nothing: the combining grapheme
#: joiner, Hangul fillers, Khmer inherent vowels, Mongolian free variation selectors and the
#: variation selectors.
_INVISIBLE = frozenset(
    {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x3164, 0xFFA0}
    | set(range(0xFE00, 0xFE10))
    | set(range(0xE0100, 0xE01F0))
)


def _shown(char: str) -> bool:
    return unicodedata.category(char) not in _DROPPED_CATEGORIES and ord(char) not in _INVISIBLE and not char.isspace()


def normalise_local_identifier(value: str) -> str:
    """The form a local identifier is stored, compared and searched in.

    Unicode NFKC (full-width ``Ｍ`` is ``M``, a ligature its letters), with every space, control and
    invisible format character removed (anywhere, not only at the ends: ``MRN 149`` is ``MRN149``),
    case-folded and written in upper case. So ``MRN1498824``, ``mrn1498824``, ``MRN1498824\u200b``
    and ``ＭＲＮ１４９８８２４`` are one identifier. Idempotent; an identifier of nothing but
    invisible characters becomes ``""`` (and is refused as empty).
    """
    text = unicodedata.normalize("NFKC", value)
    text = "".join(char for char in text if _shown(char))
    text = unicodedata.normalize("NFKC", text.casefold()).upper()
    # Upper-casing can decompose a letter (U+01F0 ǰ → J + U+030C); compose again so the form is stable.
    return unicodedata.normalize("NFKC", "".join(char for char in text if _shown(char)))


@dataclass(frozen=True)
class NormalisationPlan:
    """What normalising stored identifiers does: which change, and which would merge and so stay as stored."""

    #: record key → (identifier as stored, its normal form), for the records that change.
    changes: dict[Hashable, tuple[str, str]]
    #: (site, normal form, keys of its records): records of one site whose identifiers become one.
    collisions: list[tuple[Hashable, str, tuple[Hashable, ...]]]


def local_identifiers_plan(records: Iterable[tuple[Hashable, Hashable, str]]) -> NormalisationPlan:
    """Plan the normalisation of ``(record key, site, identifier as stored)``: each identifier not yet
    in its normal form changes, unless another identifier of its site has the same normal form: then
    none of that group changes (two records must never become one silently) and the group is reported."""
    groups: dict[tuple[Hashable, str], list[tuple[Hashable, str]]] = defaultdict(list)
    for key, site, identifier in records:
        groups[(site, normalise_local_identifier(identifier))].append((key, identifier))
    changes: dict[Hashable, tuple[str, str]] = {}
    collisions: list[tuple[Hashable, str, tuple[Hashable, ...]]] = []
    for (site, normal), members in groups.items():
        if len(members) > 1:
            collisions.append((site, normal, tuple(key for key, _ in members)))
            continue
        ((key, identifier),) = members
        if identifier != normal:
            changes[key] = (identifier, normal)
    return NormalisationPlan(changes=changes, collisions=collisions)

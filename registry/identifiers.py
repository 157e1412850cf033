"""Registry IDs: site-prefixed, random, with a check character, never derived from identifiers."""

from __future__ import annotations

import secrets
from collections.abc import Callable

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

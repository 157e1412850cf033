"""The one check for NUL characters in text that comes in: API bodies and URLs, web forms, import cells.

PostgreSQL text (and ``jsonb``) cannot hold NUL (0x00). Text holding one is refused where it enters,
with :data:`NUL_MESSAGE`, before it can reach a query or be stored in an error report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NUL = "\x00"
NUL_MESSAGE = "Text may not contain NUL (\\u0000) characters."
#: What a NUL is shown as when the refused text is repeated back (U+2400 SYMBOL FOR NULL).
NUL_SHOWN = "\u2400"


def contains_nul(value: Any) -> bool:
    """Whether ``value`` (text, or lists and mappings of it, keys included) holds a NUL character."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, Mapping):
        return any(contains_nul(key) or contains_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(contains_nul(item) for item in value)
    return False


def nul_shown(text: str) -> str:
    """``text`` with every NUL made visible, safe to store and to show in an error report."""
    return text.replace(NUL, NUL_SHOWN)

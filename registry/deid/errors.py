"""The errors of the de-identified exports: one base class the application catches and shows.

Messages name tables, columns and sites, never a cell's value (a value may be an identifier).
"""

from __future__ import annotations


class DeidError(ValueError):
    """The export cannot be built as asked; nothing is released."""


class KAnonymityError(DeidError):
    """The data cannot be made k-anonymous (a released table holds fewer than k patients)."""


class PseudonymCollisionError(DeidError):
    """Two patients of one export got the same pseudonym (never expected at 60 bits)."""


class WriterError(DeidError):
    """A table cannot be written in the format asked for."""

"""The codebook of an export, printed from the released :class:`~registry.deid.fields.FieldMeta`.

One entry per released column of every table: name (and the ≤ 32-character name used in Stata and
SPSS files), label, type, unit, allowed values with labels, the numbers coded values are stored as
in .dta/.sav, missing-data codes, how a derived value is computed, and what the de-identification did
to the column. The metadata are the ones :func:`registry.deid.transform.deidentify` returns, which
it built from the same declarations the forms and the import use — so the codebook cannot drift
from the data. :func:`numeric_codes` and :func:`stata_names` are used by the writers too.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from registry.deid.fields import KIND_DESCRIPTIONS, STATA_NAME_LENGTH, FieldKind, FieldMeta
from registry.deid.profiles import SUPPRESSED

#: The number the suppression code ``*`` is stored as in .dta/.sav (declared user-missing in .sav).
SUPPRESSED_NUMBER = -1
BOOLEAN_LABELS: dict[int, str] = {0: "No", 1: "Yes"}

CODEBOOK_COLUMNS: tuple[str, ...] = (
    "table",
    "column",
    "stata_spss_name",
    "label",
    "type",
    "unit",
    "values",
    "stata_spss_codes",
    "missing",
    "derivation",
    "description",
    "deidentification",
)


def is_coded(meta: FieldMeta) -> bool:
    return meta.kind in (FieldKind.CODE, FieldKind.INTEGER_CODE)


def numeric_codes(meta: FieldMeta) -> dict[str, int]:
    """How a coded column's values are numbered in .dta and .sav files (value labels carry the text).

    Integer codes (ECOG, grades, event codes) keep their number; other codes are numbered 1, 2, … in
    their declared order; the suppression code is :data:`SUPPRESSED_NUMBER`. Empty for other kinds.
    """
    if not is_coded(meta):
        return {}
    if meta.kind is FieldKind.INTEGER_CODE:
        numbers = {code: int(code) for code in meta.codes}
    else:
        numbers = {code: number for number, code in enumerate(meta.codes, start=1)}
    if any(code == SUPPRESSED for code, _ in meta.missing):
        numbers[SUPPRESSED] = SUPPRESSED_NUMBER
    return numbers


def value_labels(meta: FieldMeta) -> dict[int, str]:
    """Number → label for a coded or yes/no column in .dta and .sav files."""
    if meta.kind is FieldKind.BOOLEAN:
        return dict(BOOLEAN_LABELS)
    numbers = numeric_codes(meta)
    labels = dict(meta.choices) | {code: meaning for code, meaning in meta.missing if code}
    return {number: _label_text(code, labels.get(code, code)) for code, number in numbers.items()}


def _label_text(code: str, label: str) -> str:
    return label if label == code or code.isdigit() else f"{code}: {label}"


#: Word abbreviations tried, in order, on a name too long for Stata and SPSS.
ABBREVIATIONS: tuple[tuple[str, str], ...] = (
    ("precision", "prec"),
    ("recurrence", "rec"),
    ("grade3_or_higher", "g3plus"),
    ("progression", "prog"),
    ("assessment", "asmt"),
    ("intervening", "interv"),
    ("event_code", "evcode"),
    ("imputed", "imp"),
    ("months", "mo"),
)


def abbreviate(name: str, limit: int = STATA_NAME_LENGTH) -> str:
    """``name`` with :data:`ABBREVIATIONS` applied one by one until it fits (it may still not)."""
    for long, short in ABBREVIATIONS:
        if len(name) <= limit:
            break
        name = name.replace(long, short)
    return name


def stata_names(fields: Sequence[FieldMeta]) -> dict[str, str]:
    """Column name → a unique name of at most :data:`STATA_NAME_LENGTH` characters (Stata; SPSS uses the same)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for meta in fields:
        name = meta.name if len(meta.name) <= STATA_NAME_LENGTH else meta.short_name or abbreviate(meta.name)
        if len(name) > STATA_NAME_LENGTH or name in taken:
            digest = hashlib.sha256(meta.name.encode()).hexdigest()[:4]
            name = f"{meta.name[: STATA_NAME_LENGTH - 5]}_{digest}"
        if name in taken:
            raise ValueError(f"no unique short name for {meta.name}")
        taken.add(name)
        names[meta.name] = name
    return names


def booleans(meta: FieldMeta) -> list[list[Any]]:
    return [[label, number] for number, label in BOOLEAN_LABELS.items()] if meta.kind is FieldKind.BOOLEAN else []


def _pairs(pairs: Sequence[tuple[Any, str]]) -> str:
    return "; ".join(f"{code if code != '' else '(empty)'} = {label}" for code, label in pairs)


def codebook_entries(fields: Mapping[str, Sequence[FieldMeta]]) -> list[dict[str, Any]]:
    """One entry per released column of each table, in table and column order."""
    entries = []
    for table, metas in fields.items():
        short = stata_names(metas)
        for meta in metas:
            numbers = numeric_codes(meta)
            kind = KIND_DESCRIPTIONS[meta.kind]
            entries.append(
                {
                    "table": table,
                    "column": meta.name,
                    "stata_spss_name": short[meta.name],
                    "label": meta.label,
                    "type": kind,
                    "unit": meta.unit,
                    "values": [list(pair) for pair in meta.choices],
                    "stata_spss_codes": [[code, number] for code, number in numbers.items()]
                    or (
                        [[label, number] for number, label in BOOLEAN_LABELS.items()]
                        if meta.kind is FieldKind.BOOLEAN
                        else []
                    ),
                    "missing": [list(pair) for pair in meta.missing],
                    "derivation": meta.derivation,
                    "description": meta.description,
                    "deidentification": meta.deid_note,
                }
            )
    return entries


def codebook_csv(fields: Mapping[str, Sequence[FieldMeta]]) -> bytes:
    """The codebook as CSV (UTF-8, one row per column; lists as ``code = label; …``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CODEBOOK_COLUMNS)
    for entry in codebook_entries(fields):
        row = dict(entry)
        row["values"] = _pairs(entry["values"])
        row["stata_spss_codes"] = "; ".join(f"{number} = {code}" for code, number in entry["stata_spss_codes"])
        row["missing"] = _pairs(entry["missing"])
        writer.writerow([row[column] for column in CODEBOOK_COLUMNS])
    return buffer.getvalue().encode("utf-8")


def codebook_json(fields: Mapping[str, Sequence[FieldMeta]], *, tables: Mapping[str, str] | None = None) -> bytes:
    """The codebook as JSON: ``{"tables": {name: {"title": …, "columns": [entry, …]}}}``."""
    entries = codebook_entries(fields)
    document = {
        "tables": {
            table: {
                "title": (tables or {}).get(table, table),
                "columns": [{k: v for k, v in e.items() if k != "table"} for e in entries if e["table"] == table],
            }
            for table in fields
        }
    }
    return (json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")

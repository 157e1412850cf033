"""The manifest and README of an export bundle.

:func:`build_manifest` records who asked for the export and who approved it, the data cut, the
filters and model versions, the profile (name, version, fingerprint, rules), what the
de-identification did (rows, dropped columns, generalised and suppressed cells) and the SHA-256 of
every file. It holds no time of building, so the same request on an unchanged data cut gives the
same manifest. :func:`readme_text` explains the bundle and carries the terms of use.

Bundle order (see :func:`bundle_files`): data files and codebook, then ``README.txt``, then
``manifest.json`` (which hashes everything before it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

from registry.deid.fields import TABLE_TITLES
from registry.deid.transform import PSEUDONYM_COLUMN, DeidResult

MANIFEST_NAME = "manifest.json"
README_NAME = "README.txt"
MANIFEST_FORMAT = "1"
#: Libraries whose versions decide the exact bytes of the data files.
WRITER_LIBRARIES = ("pandas", "numpy", "pyarrow", "pyreadstat", "openpyxl")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _iso(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    if when.tzinfo is None:
        raise ValueError("manifest times must be timezone-aware")
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def library_versions() -> dict[str, str]:
    versions = {}
    for name in WRITER_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover - all are requirements
            versions[name] = "not installed"
    return versions


def build_manifest(
    *,
    export_id: str,
    project: Mapping[str, Any],
    requester: str,
    approver: str | None,
    data_cut: dt.datetime,
    filters: Mapping[str, Any],
    model_versions: Sequence[str],
    formats: Sequence[str],
    result: DeidResult,
    files: Mapping[str, bytes],
    requested_at: dt.datetime | None = None,
    approved_at: dt.datetime | None = None,
    software: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The manifest as plain data (``project`` e.g. ``{"id", "title", "approval_reference"}``).

    ``files`` are every file of the bundle except the manifest itself, in bundle order.
    """
    profile = result.profile
    counts = result.counts.as_dict()
    return {
        "manifest_format": MANIFEST_FORMAT,
        "export_id": export_id,
        "project": dict(project),
        "requester": requester,
        "approver": approver,
        "requested_at": _iso(requested_at),
        "approved_at": _iso(approved_at),
        "data_cut": _iso(data_cut),
        "filters": dict(filters),
        "model_versions": list(model_versions),
        "formats": list(formats),
        "profile": {
            "name": profile.name,
            "version": profile.version,
            "fingerprint": profile.fingerprint(),
            "rules": profile.rules(),
        },
        "pseudonyms": {
            "column": PSEUDONYM_COLUMN,
            "method": "HMAC-SHA-256 over the project id and the patient key; key held outside the registry database",
            "scope": "stable within this project, unrelated across projects",
            "project_id": result.project_id,
        },
        "tables": {
            name: {
                "title": TABLE_TITLES.get(name, name),
                "rows": len(frame),
                "columns": [meta.name for meta in result.fields[name]],
            }
            for name, frame in result.tables.items()
        },
        "deidentification": counts,
        "files": [{"name": name, "bytes": len(data), "sha256": sha256(data)} for name, data in files.items()],
        "software": dict(software if software is not None else library_versions()),
    }


def manifest_json(manifest: Mapping[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, two-space indent, UTF-8, final newline)."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode("utf-8")


DEFAULT_TERMS: tuple[str, ...] = (
    "Use these data only for the approved project named above, and only by its approved members.",
    "Do not attempt to identify any patient or to link these data with other data in a way that could identify "
    "a patient, including linking pseudonyms across projects. If you think you have recognised a patient, stop, "
    "do not record or disclose it, and tell the registry coordinators at once.",
    "Do not share, publish or pass on the data files. Publish aggregate results only, and do not publish tables "
    "whose cells describe fewer than k patients (k is given below) where the cell could point to a person.",
    "Keep the files on encrypted, access-controlled storage; do not copy them to personal or public cloud storage. "
    "Delete them when the project ends or its approval lapses, and confirm deletion to the coordinators.",
    "Acknowledge the ICI Rechallenge Registry and its participating sites in any publication.",
    "The data are provided as recorded by the sites, without warranty; the codebook says how each value was "
    "entered or derived. Report suspected errors to the coordinators.",
)


def readme_text(
    *,
    export_id: str,
    project: Mapping[str, Any],
    data_cut: dt.datetime,
    result: DeidResult,
    file_names: Sequence[str],
    terms: Sequence[str] = DEFAULT_TERMS,
) -> str:
    """The bundle's README: contents, de-identification rules and counts, how to join tables, terms of use."""
    profile, counts = result.profile, result.counts
    lines = [
        "ICI Rechallenge Registry – de-identified export",
        "=" * 46,
        "",
        f"Export: {export_id}",
        f"Project: {project.get('title', project.get('id', ''))}"
        + (f" (approval {project['approval_reference']})" if project.get("approval_reference") else ""),
        f"Data cut: {_iso(data_cut)}",
        f"De-identification profile: {profile.name} {profile.version} ({profile.title})",
        "",
        "Files",
        "-----",
    ]
    for name in file_names:
        table = name.rsplit(".", 1)[0]
        lines.append(f"  {name}" + (f" – {TABLE_TITLES[table]}" if table in TABLE_TITLES else ""))
    lines += [
        f"  {README_NAME} – this file",
        f"  {MANIFEST_NAME} – who, when, filters, counts and the SHA-256 of every file",
        "",
        "Tables hold the same data in every format. codebook.csv / codebook.json describe every column: label, type,",
        "unit, allowed values, the numbers codes are stored as in .dta and .sav, missing-data codes, how derived",
        "values are computed and what the de-identification did. In .dta and .sav files, coded values are numbers",
        "with value labels and names longer than 29 characters are shortened (see stata_spss_name). In Parquet",
        "files coded values are dictionary-encoded text: pandas, R and polars read them as categorical (factor)",
        "columns.",
        "",
        f"Join the long tables to the analysis table on {PSEUDONYM_COLUMN} and the rechallenge number",
        "(episode_sequence); an irAE of the initial course (ICI-1) has no rechallenge number.",
        "",
        "De-identification",
        "-----------------",
        profile.purpose,
        *[f"- {line}" for line in profile.describe()],
        "",
        f"Patients: {counts.patients}. Rows: "
        + ", ".join(f"{name} {rows}" for name, rows in sorted(counts.rows.items()))
        + ".",
        f"Generalised cells: {sum(counts.generalised_cells.values())}"
        + (
            " (" + "; ".join(f"{rule}: {n}" for rule, n in sorted(counts.generalised_cells.items())) + ")"
            if counts.generalised_cells
            else ""
        )
        + f". Suppressed cells: {counts.suppressed_cells} ({counts.suppressed_patients} patients, "
        f"{counts.fully_suppressed_patients} with every quasi-identifier suppressed).",
        "",
        "Terms of use",
        "------------",
        f"By using these files you agree to the following (k = {profile.k}):",
        *[f"{number}. {term}" for number, term in enumerate(terms, start=1)],
        "",
    ]
    return "\n".join(lines)


def bundle_files(
    data_files: Mapping[str, bytes],
    *,
    export_id: str,
    project: Mapping[str, Any],
    requester: str,
    approver: str | None,
    data_cut: dt.datetime,
    filters: Mapping[str, Any],
    model_versions: Sequence[str],
    formats: Sequence[str],
    result: DeidResult,
    requested_at: dt.datetime | None = None,
    approved_at: dt.datetime | None = None,
    terms: Sequence[str] = DEFAULT_TERMS,
) -> dict[str, bytes]:
    """Data files and codebook, the README and the manifest, in bundle order (ready for ``zip_bundle``)."""
    files = dict(data_files)
    files[README_NAME] = readme_text(
        export_id=export_id,
        project=project,
        data_cut=data_cut,
        result=result,
        file_names=list(data_files),
        terms=terms,
    ).encode("utf-8")
    manifest = build_manifest(
        export_id=export_id,
        project=project,
        requester=requester,
        approver=approver,
        data_cut=data_cut,
        filters=filters,
        model_versions=model_versions,
        formats=formats,
        result=result,
        files=files,
        requested_at=requested_at,
        approved_at=approved_at,
    )
    files[MANIFEST_NAME] = manifest_json(manifest)
    return files

"""Manifest, README and codebook of a bundle."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest

from registry.deid.codebook import codebook_csv, codebook_entries
from registry.deid.fields import ANALYSIS
from registry.deid.manifest import MANIFEST_NAME, README_NAME, bundle_files
from registry.deid.profiles import SAFE_HARBOR
from registry.deid.transform import deidentify
from registry.deid.writers import export_files
from tests.registry.deid.helpers import DATA_CUT, KEY, PROJECT, demo_countries, demo_meta, demo_tables

PROJECT_INFO = {"id": PROJECT, "title": "Rechallenge after colitis", "approval_reference": "EC-2026-17"}


def make_bundle(formats=("csv", "parquet")):
    result = deidentify(
        demo_tables(),
        profile=SAFE_HARBOR.with_k(4),
        key=KEY,
        project_id=PROJECT,
        field_meta=demo_meta(),
        site_countries=demo_countries(),
    )
    data = export_files(result.tables, result.fields, formats=formats, timestamp=DATA_CUT)
    files = bundle_files(
        data,
        export_id="EXP-0042",
        project=PROJECT_INFO,
        requester="ines.investigator",
        approver="carl.coordinator",
        data_cut=DATA_CUT,
        filters={"tumour_types": ["LUAD", "MEL"], "sites": []},
        model_versions=["1.1"],
        formats=formats,
        result=result,
    )
    return result, files


@pytest.fixture(scope="module")
def bundle():
    return make_bundle()


def test_the_manifest_records_who_what_when_and_the_profile(bundle):
    result, files = bundle
    manifest = json.loads(files[MANIFEST_NAME])
    assert manifest["export_id"] == "EXP-0042"
    assert manifest["project"] == PROJECT_INFO
    assert (manifest["requester"], manifest["approver"]) == ("ines.investigator", "carl.coordinator")
    assert manifest["data_cut"] == "2026-01-31T18:00:00Z"
    assert manifest["filters"]["tumour_types"] == ["LUAD", "MEL"]
    assert manifest["model_versions"] == ["1.1"]
    assert manifest["profile"]["name"] == "safe_harbor" and manifest["profile"]["version"] == "1.0"
    assert manifest["profile"]["rules"]["k"] == 4
    assert manifest["profile"]["fingerprint"] == result.profile.fingerprint()
    assert manifest["tables"][ANALYSIS]["rows"] == len(result.tables[ANALYSIS])
    assert manifest["deidentification"] == json.loads(json.dumps(result.counts.as_dict()))
    assert set(manifest["software"]) == {"pandas", "numpy", "pyarrow", "pyreadstat", "openpyxl"}


def test_the_manifest_hashes_every_other_file(bundle):
    _, files = bundle
    manifest = json.loads(files[MANIFEST_NAME])
    listed = {entry["name"]: entry["sha256"] for entry in manifest["files"]}
    assert set(listed) == set(files) - {MANIFEST_NAME}
    for name, digest in listed.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest


def test_the_same_request_gives_the_same_bundle():
    _, first = make_bundle()
    _, second = make_bundle()
    assert first == second


def test_the_readme_states_the_rules_the_counts_and_the_terms(bundle):
    result, files = bundle
    readme = files[README_NAME].decode()
    assert "EXP-0042" in readme and "EC-2026-17" in readme and "safe_harbor 1.0" in readme
    assert "k = 4" in readme and "90+" in readme and "Terms of use" in readme
    assert "Do not attempt to identify any patient" in readme
    assert f"Suppressed cells: {result.counts.suppressed_cells}" in readme
    assert "analysis.parquet – Analysis table" in readme


def test_the_codebook_lists_every_released_column_with_its_metadata(bundle):
    result, files = bundle
    rows = list(csv.DictReader(io.StringIO(files["codebook.csv"].decode())))
    released = [(table, column) for table, frame in result.tables.items() for column in frame.columns]
    assert [(row["table"], row["column"]) for row in rows] == released
    by_column = {(row["table"], row["column"]): row for row in rows}
    pfs2 = by_column[(ANALYSIS, "pfs2_months")]
    assert pfs2["unit"] == "months" and "last adequate tumour assessment" in pfs2["derivation"]
    sex = by_column[(ANALYSIS, "sex")]
    assert "female = Female" in sex["values"] and "* = Suppressed for k-anonymity" in sex["missing"]
    assert "1 = female" in sex["stata_spss_codes"]
    start = by_column[(ANALYSIS, "episode_start_day")]
    assert "first rechallenge start" in start["unit"] and start["deidentification"]
    assert by_column[(ANALYSIS, "recurrence_grade3_or_higher_months")]["stata_spss_name"] == "rec_g3plus_months"
    document = json.loads(files["codebook.json"])
    assert [c["column"] for c in document["tables"][ANALYSIS]["columns"]] == list(result.tables[ANALYSIS].columns)


def test_the_codebook_comes_from_the_metadata_alone(bundle):
    result, _ = bundle
    assert codebook_csv(result.fields) == bundle[1]["codebook.csv"]
    assert len(codebook_entries(result.fields)) == sum(len(f) for f in result.fields.values())

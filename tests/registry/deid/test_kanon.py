"""k-anonymity: generalisation in the stated order first, cell suppression only for what stays rare."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd

from registry.deid.fields import QI, FieldKind, FieldMeta, Role
from registry.deid.profiles import SAFE_HARBOR, SUPPRESSED
from registry.deid.transform import PSEUDONYM_COLUMN, deidentify
from tests.registry.deid.helpers import KEY, PROJECT, SITES, distinct_patients_per_group, small_meta

QI_COLUMNS = ["age_band", "sex", "site", "tumour_type"]
TUMOUR_RULE = "tumour_type: OncoTree code to tissue"
SITE_RULE = "site: site to country"


def cohort(*groups: tuple[int, dict]) -> dict[str, pd.DataFrame]:
    """Patients in groups: (count, quasi-identifier values); one episode each."""
    rows, number = [], 0
    for count, values in groups:
        for _ in range(count):
            number += 1
            row = {"patient_id": number, "episode_id": number, "episode_sequence": 1, "year_of_birth": 1955}
            row |= {"sex": "female", "site": "S1", "tumour_type": "LUAD", "start_date": dt.date(2021, 6, 1)}
            row |= {"progression_date": None, "note": ""}
            rows.append(row | values)
    events = pd.DataFrame(columns=["patient_id", "episode_id", "onset_date", "grade"])
    return {"analysis": pd.DataFrame(rows), "events": events}


def run(tables, meta=None, profile=SAFE_HARBOR):
    return deidentify(
        tables, profile=profile, key=KEY, project_id=PROJECT, field_meta=meta or small_meta(), site_countries=SITES
    )


def released(result, table="analysis"):
    frame = result.tables[table]
    return frame[[c for c in [PSEUDONYM_COLUMN, *QI_COLUMNS] if c in frame.columns]]


def test_common_combinations_keep_their_detail_and_rare_ones_go_to_the_tissue():
    result = run(cohort((5, {}), (3, {"tumour_type": "LUSC"}), (2, {"tumour_type": "NSCLC"})))
    counts = released(result)["tumour_type"].value_counts().to_dict()
    assert counts == {"LUAD": 5, "tissue:Lung": 5}
    assert result.counts.generalised_patients == {TUMOUR_RULE: 5}
    assert result.counts.suppressed_cells == 0


def test_site_goes_to_its_country_after_the_tumour_type():
    result = run(cohort((3, {"tumour_type": "MEL"}), (2, {"tumour_type": "MEL", "site": "S2"}), (5, {})))
    rows = released(result)
    lumped = rows[rows["site"] == "country:NL"]
    assert len(lumped) == 5 and set(lumped["tumour_type"]) == {"tissue:Skin"}
    assert rows[rows["tumour_type"] == "LUAD"]["site"].eq("S1").all()
    assert result.counts.generalised_patients == {TUMOUR_RULE: 5, SITE_RULE: 5}


def test_age_bands_are_widened_after_site_and_tumour():
    result = run(cohort((3, {"year_of_birth": 1955}), (2, {"year_of_birth": 1945}), (5, {"sex": "male"})))
    rows = released(result)
    assert set(rows.loc[rows["sex"] == "female", "age_band"]) == {"60-79"}
    assert set(rows.loc[rows["sex"] == "male", "age_band"]) == {"60-69"}


def test_a_patient_still_unique_is_suppressed_cell_by_cell_and_the_suppressed_group_filled_to_k():
    result = run(cohort((10, {}), (1, {"sex": "male", "tumour_type": "RCC", "site": "S4", "year_of_birth": 1990})))
    rows = released(result)
    fully = rows[(rows[QI_COLUMNS] == SUPPRESSED).all(axis=1)]
    assert len(fully) == 5
    assert result.counts.suppressed_to_fill == 4
    assert result.counts.fully_suppressed_patients == 5
    assert result.counts.suppressed_cells == 5 * 4
    groups = distinct_patients_per_group(result.tables["analysis"], QI_COLUMNS, PSEUDONYM_COLUMN)
    assert min(groups.values()) >= 5


def test_filling_the_suppressed_group_never_leaves_a_group_below_k():
    result = run(cohort((6, {}), (1, {"sex": "male"})))
    groups = distinct_patients_per_group(result.tables["analysis"], QI_COLUMNS, PSEUDONYM_COLUMN)
    assert min(groups.values()) >= 5
    assert groups == {(SUPPRESSED,) * 4: 7}


def test_suppression_goes_one_quasi_identifier_at_a_time():
    # Five patients differ only by site (two countries): suppressing the site is enough.
    result = run(cohort((5, {}), (2, {"site": "S3", "sex": "male"}), (3, {"site": "S4", "sex": "male"})))
    rows = released(result)
    males = rows[rows["sex"] == "male"]
    assert males["site"].eq(SUPPRESSED).all()
    assert males[["age_band", "sex"]].ne(SUPPRESSED).all().all()
    assert result.counts.suppressed_cells_by_column == {"site": 5}


def test_every_released_table_with_quasi_identifiers_is_checked():
    meta = small_meta()
    meta["events"] = (
        *meta["events"],
        FieldMeta("sex", "Sex at event", FieldKind.CODE, choices=(("female", "F"), ("male", "M")), qi=QI.SEX),
    )
    tables = cohort((6, {}), (6, {"sex": "male"}))
    # Only two of the men and three of the women have events: those groups are rare in the events table.
    tables["events"] = pd.DataFrame(
        [{"patient_id": p, "episode_id": p, "onset_date": dt.date(2021, 7, 1), "grade": 2, "sex": s}
         for p, s in [(1, "female"), (2, "female"), (3, "female"), (7, "male"), (8, "male")]]
    )  # fmt: skip
    result = run(tables, meta)
    for table, columns in (("analysis", QI_COLUMNS), ("events", ["sex"])):
        groups = distinct_patients_per_group(result.tables[table], columns, PSEUDONYM_COLUMN)
        assert min(groups.values()) >= 5, table
    # The events table's values are the patient's values in the analysis table.
    joined = result.tables["events"].merge(result.tables["analysis"], on=PSEUDONYM_COLUMN, suffixes=("", "_a"))
    assert (joined["sex"] == joined["sex_a"]).all()


def test_higher_k_generalises_more():
    tables = cohort((5, {}), (3, {"tumour_type": "LUSC"}), (2, {"tumour_type": "NSCLC"}))
    strict = run(tables, profile=SAFE_HARBOR.with_k(10))
    assert set(released(strict)["tumour_type"]) == {"tissue:Lung"}
    generalised = dataclasses.replace(SAFE_HARBOR, generalisation=(), k=5)
    assert run(tables, profile=generalised).counts.generalised_cells == {}


def test_missing_quasi_identifier_values_are_a_value_of_their_own():
    result = run(cohort((5, {}), (5, {"year_of_birth": None})))
    rows = released(result)
    assert rows["age_band"].isna().sum() == 5
    assert result.counts.suppressed_cells == 0


def test_the_birth_year_role_is_what_makes_the_age_band():
    assert any(m.role is Role.BIRTH_YEAR for m in small_meta()["analysis"])

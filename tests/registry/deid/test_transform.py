"""deidentify: what is dropped, replaced, converted and refused, on hand-made tables."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from registry.deid.errors import DeidError, KAnonymityError
from registry.deid.profiles import LIMITED_DATASET, SAFE_HARBOR
from registry.deid.pseudonyms import date_offset, pseudonym
from registry.deid.transform import PSEUDONYM_COLUMN, deidentify
from tests.registry.deid.helpers import KEY, PROJECT, SITES, small_meta

START = dt.date(2021, 3, 17)


def patients(count: int = 6, **overrides) -> dict[str, pd.DataFrame]:
    """``count`` alike patients (one QI group), two episodes each, one event each."""
    analysis, events = [], []
    for n in range(count):
        for sequence in (1, 2):
            row = {
                "patient_id": 1000 + n,
                "episode_id": 10 * n + sequence,
                "episode_sequence": sequence,
                "year_of_birth": 1950,
                "sex": "female",
                "site": "S1",
                "tumour_type": "LUAD",
                "start_date": START + dt.timedelta(days=n + 200 * (sequence - 1)),
                "progression_date": START + dt.timedelta(days=n + 100) if sequence == 1 else None,
                "note": f"Called Mrs Jones on 0612345{n}",
            }
            analysis.append(row | overrides)
        events.append({"patient_id": 1000 + n, "episode_id": 10 * n + 2, "onset_date": START, "grade": 3})
    return {"analysis": pd.DataFrame(analysis), "events": pd.DataFrame(events)}


def run(tables, profile=SAFE_HARBOR, **kwargs):
    kwargs.setdefault("site_countries", SITES)
    return deidentify(tables, profile=profile, key=KEY, project_id=PROJECT, field_meta=small_meta(), **kwargs)


def test_identifiers_keys_and_free_text_are_dropped_and_patients_pseudonymised():
    result = run(patients())
    analysis = result.tables["analysis"]
    assert list(analysis.columns) == [
        PSEUDONYM_COLUMN, "episode_sequence", "age_band", "sex", "site", "tumour_type", "start_day", "progression_day"
    ]  # fmt: skip
    assert set(analysis[PSEUDONYM_COLUMN]) == {pseudonym(KEY, PROJECT, 1000 + n) for n in range(6)}
    dropped = result.counts.dropped_columns["analysis"]
    assert set(dropped) == {"patient_id", "episode_id", "year_of_birth", "note"}
    assert dropped["note"] == "free text"
    assert list(result.tables["events"].columns) == [PSEUDONYM_COLUMN, "episode_sequence", "onset_day", "grade"]


def test_dates_become_days_from_the_first_rechallenge_start():
    result = run(patients())
    analysis = result.tables["analysis"]
    assert (analysis.loc[analysis["episode_sequence"] == 1, "start_day"] == 0).all()
    assert (analysis.loc[analysis["episode_sequence"] == 2, "start_day"] == 200).all()
    assert analysis["progression_day"].dropna().eq(100).all()
    events = result.tables["events"]
    assert events["episode_sequence"].eq(2).all()
    assert sorted(events["onset_day"]) == [-n for n in range(6)][::-1]


def test_limited_dataset_shifts_each_patients_dates_by_one_offset():
    result = run(patients(), profile=LIMITED_DATASET)
    analysis = result.tables["analysis"]
    for n in range(6):
        offset = date_offset(KEY, PROJECT, 1000 + n, window_days=180)
        rows = analysis[analysis[PSEUDONYM_COLUMN] == pseudonym(KEY, PROJECT, 1000 + n)]
        assert set(rows["start_date"]) == {
            START + dt.timedelta(days=n + offset),
            START + dt.timedelta(days=n + 200 + offset),
        }


def test_ages_over_89_are_released_as_90_plus():
    result = run(patients(year_of_birth=1925))
    assert set(result.tables["analysis"]["age_band"]) == {"90+"}
    assert "year_of_birth" not in result.tables["analysis"]


def test_a_column_without_metadata_is_refused_by_name():
    tables = patients()
    tables["analysis"]["nhs_number"] = "943 476 5919"
    with pytest.raises(DeidError, match="nhs_number") as error:
        run(tables)
    assert "943" not in str(error.value)


def test_free_text_in_a_code_column_stops_the_export_without_echoing_it():
    tables = patients()
    tables["analysis"].loc[0, "sex"] = "Mrs Jane Jones"
    with pytest.raises(DeidError, match="sex") as error:
        run(tables)
    assert "Jones" not in str(error.value)


@pytest.mark.parametrize("column", ["start_date", "progression_date"])
def test_text_in_a_date_column_stops_the_export(column):
    tables = patients()
    tables["analysis"][column] = tables["analysis"][column].astype(object)
    tables["analysis"].loc[1, column] = "call 0612345678"
    with pytest.raises(DeidError, match=column) as error:
        run(tables)
    assert "0612345678" not in str(error.value)


def test_the_same_tables_in_any_row_or_column_order_give_identical_output():
    tables = patients(8)
    shuffled = {
        name: frame.sample(frac=1, random_state=3)[list(reversed(frame.columns))] for name, frame in tables.items()
    }
    first, second = run(tables), run(shuffled)
    for name in first.tables:
        pd.testing.assert_frame_equal(first.tables[name], second.tables[name])
    assert first.counts == second.counts


def test_rows_of_patients_or_episodes_outside_the_analysis_table_are_dropped_and_counted():
    tables = patients()
    extra = pd.DataFrame(
        [
            {"patient_id": 99, "episode_id": None, "onset_date": START, "grade": 1},  # unknown patient
            {"patient_id": 1000, "episode_id": 999, "onset_date": START, "grade": 1},  # unknown episode
            {"patient_id": 1001, "episode_id": 2, "onset_date": START, "grade": 1},  # another patient's episode
            {"patient_id": 1001, "episode_id": None, "onset_date": START, "grade": 1},  # ICI-1 irAE: kept
        ]
    )
    tables["events"] = pd.concat([tables["events"], extra], ignore_index=True)
    tables["events"]["episode_id"] = tables["events"]["episode_id"].astype("Int64")
    result = run(tables)
    assert result.counts.unlinked_rows_dropped["events"] == 3
    assert len(result.tables["events"]) == 7
    assert result.tables["events"]["episode_sequence"].isna().sum() == 1


def test_a_quasi_identifier_that_differs_between_a_patients_rows_is_refused():
    tables = patients()
    tables["analysis"].loc[1, "tumour_type"] = "LUSC"  # patient 1000's second episode
    with pytest.raises(DeidError, match="differs between rows of one patient"):
        run(tables)


def test_a_site_without_a_country_is_refused():
    with pytest.raises(DeidError, match="S1"):
        run(patients(), site_countries={"S2": "NL"})


def test_fewer_than_k_patients_cannot_be_released():
    with pytest.raises(KAnonymityError, match="fewer than k = 5"):
        run(patients(4))


def test_the_anchor_is_read_even_when_only_a_long_table_is_released():
    result = run(patients(), release=["events"])
    assert list(result.tables) == ["events"]
    assert set(result.tables["events"]["onset_day"]) <= {0, -1, -2, -3, -4, -5}


def test_the_released_metadata_describe_the_released_columns():
    result = run(patients())
    for name, frame in result.tables.items():
        assert [meta.name for meta in result.fields[name]] == list(frame.columns)
    start = {m.name: m for m in result.fields["analysis"]}["start_day"]
    assert start.unit == "days from the patient's first rechallenge start" and start.deid_note
    site = {m.name: m for m in result.fields["analysis"]}["site"]
    assert "country:NL" in site.codes and ("*", "Suppressed for k-anonymity") in site.missing


def test_date_times_are_read_as_utc_dates():
    from registry.deid.fields import FieldKind, FieldMeta

    meta = small_meta()
    meta["analysis"] = (*meta["analysis"], FieldMeta("assessed_at", "Assessed", FieldKind.DATETIME))
    tables = patients()
    late_evening = pd.Timestamp("2021-03-17T23:30:00-05:00")  # already 18 March in UTC
    tables["analysis"]["assessed_at"] = late_evening
    result = deidentify(tables, profile=SAFE_HARBOR, key=KEY, project_id=PROJECT, field_meta=meta, site_countries=SITES)
    analysis = result.tables["analysis"]
    first = analysis[analysis["episode_sequence"] == 1]
    assert sorted(first["assessed_day"]) == sorted(1 - n for n in range(6))

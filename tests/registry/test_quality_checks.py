"""The set-wise data-quality checks, each on small hand-made frames with the violations worked out by hand."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from registry.quality import RULES
from registry.quality.checks import (
    CHECKS,
    FRAMES_READ,
    VIOLATION_COLUMNS,
    CheckSettings,
    Frames,
    frames_read,
    run_checks,
)

TODAY = dt.date(2026, 6, 30)
SETTINGS = CheckSettings(today=TODAY, labels={("episode", "albumin_g_per_l"): "Albumin (g/L)"})


def d(text: str | None):
    return None if text is None else dt.date.fromisoformat(text)


def patients(*rows: dict) -> pd.DataFrame:
    base = {"site_id": 1, "sex": "female", "year_of_birth": 1960, "tumour_type": "MEL", "consent_status": "consented"}
    return pd.DataFrame(
        [{**base, "registry_id": f"R{row['id']}", "local_identifier": f"L{row['id']}", **row} for row in rows]
    )


def keys(found: pd.DataFrame) -> set[tuple]:
    return {(row.rule_id, row.record_type, row.record_id, row.field) for row in found.itertuples()}


def test_every_rule_has_a_check_and_declares_the_frames_it_reads():
    assert list(CHECKS) == [rule.id for rule in RULES]
    assert set(FRAMES_READ) == set(CHECKS)
    assert frames_read(["grade5_without_death"]) == {"patients", "adverse_events", "follow_ups"}


def test_no_violation_on_empty_frames():
    found = run_checks(Frames.of(), SETTINGS)
    assert found.empty
    assert list(found.columns) == list(VIOLATION_COLUMNS)


# --- required_missing -------------------------------------------------------------------------------


def test_required_missing_finds_blank_required_fields_and_accepts_a_missing_data_code():
    frames = Frames.of(
        patients=patients(
            {"id": 1, "tumour_type": "LUAD", "pdl1_tps_percent": None},  # lung: TPS required, blank
            {
                "id": 2,
                "tumour_type": "LUAD",
                "pdl1_tps_percent": None,
                "missing_answers": '{"pdl1_tps_percent": "not_done"}',
            },
            {"id": 3, "tumour_type": "MEL", "pdl1_tps_percent": None},  # melanoma: not required
            {"id": 4, "tumour_type": "NSCLC", "pdl1_tps_percent": 50},
        ),
        courses=pd.DataFrame(
            [
                # complete
                {
                    "id": 10,
                    "patient_id": 3,
                    "stop_date": d("2023-05-01"),
                    "stop_reason": "toxicity",
                    "best_overall_response": "PR",
                    "iraes_during_course": "yes",
                    "missing_answers": {},
                },
                # no stop date: stop_date missing, stop_reason not yet required; BOR answered "unknown"
                {
                    "id": 11,
                    "patient_id": 4,
                    "stop_date": None,
                    "stop_reason": "",
                    "best_overall_response": "",
                    "iraes_during_course": "no",
                    "missing_answers": {"best_overall_response": "unknown"},
                },
                # stopped for progression without a progression date
                {
                    "id": 12,
                    "patient_id": 1,
                    "stop_date": d("2023-05-01"),
                    "stop_reason": "progression",
                    "progression_date": None,
                    "best_overall_response": "SD",
                    "iraes_during_course": "",
                    "missing_answers": None,
                },
            ]
        ),
    )
    found = run_checks(frames, SETTINGS, ["required_missing"])
    assert keys(found) == {
        ("required_missing", "patient", 1, "pdl1_tps_percent"),
        ("required_missing", "initial_course", 11, "stop_date"),
        ("required_missing", "initial_course", 12, "progression_date"),
        ("required_missing", "initial_course", 12, "iraes_during_course"),
    }
    row = found[found["record_id"] == 1].iloc[0]
    assert row["message"] == (
        "Pdl1 tps percent is required: enter it, or answer 'not done', 'unknown' or 'not applicable'."
    )
    assert (row["patient_id"], row["site_id"], row["value_seen"]) == (1, 1, "")


def test_required_missing_reads_conditions_on_follow_ups_and_adverse_events():
    frames = Frames.of(
        patients=patients({"id": 1}),
        episodes=pd.DataFrame(
            [
                {
                    "id": 5,
                    "patient_id": 1,
                    "sequence_number": 1,
                    "start_date": d("2024-01-01"),
                    "ldh_above_uln": False,
                    "neutrophil_lymphocyte_ratio": 3,
                    "albumin_g_per_l": 40,
                    "brain_metastases": False,
                    "liver_metastases": True,
                    "current_prednisone_mg_per_day": 0,
                    "iraes_during_rechallenge": "no",
                }
            ]
        ),
        follow_ups=pd.DataFrame(
            [
                {
                    "id": 20,
                    "episode_id": 5,
                    "follow_up_date": d("2024-06-01"),
                    "vital_status": "dead",
                    "death_date": None,
                    "last_known_alive_date": None,
                },  # death date required
                {
                    "id": 21,
                    "episode_id": 5,
                    "follow_up_date": d("2024-03-01"),
                    "vital_status": "alive",
                    "last_known_alive_date": d("2024-03-01"),
                    "rechallenge_stopped_date": d("2024-02-01"),
                    "rechallenge_stop_reason": "",
                },  # stop reason required
            ]
        ),
        adverse_events=pd.DataFrame(
            [
                {
                    "id": 30,
                    "patient_id": 1,
                    "episode_id": None,
                    "grade": 2,
                    "management": "corticosteroids",
                    "peak_prednisone_mg_per_day": None,
                    "led_to_discontinuation": True,
                    "hospitalised": False,
                    "resolution_date": None,
                    "resolved_to_grade": None,
                }
            ]
        ),
    )
    found = run_checks(frames, SETTINGS, ["required_missing"])
    assert keys(found) == {
        ("required_missing", "follow_up", 20, "death_date"),
        ("required_missing", "follow_up", 21, "rechallenge_stop_reason"),
        ("required_missing", "adverse_event", 30, "peak_prednisone_mg_per_day"),
    }
    assert set(found["patient_id"]) == {1}


# --- implausible_value ------------------------------------------------------------------------------


def test_implausible_value_flags_a_g_per_dl_albumin_and_keeps_the_value_seen():
    frames = Frames.of(
        patients=patients({"id": 1, "pdl1_cps": 120}, {"id": 2, "pdl1_cps": 100}),
        episodes=pd.DataFrame(
            [
                {"id": 5, "patient_id": 1, "albumin_g_per_l": 3.9, "ldh_u_per_l": 250},
                {"id": 6, "patient_id": 2, "albumin_g_per_l": 39, "ldh_u_per_l": None},
            ]
        ),
    )
    found = run_checks(frames, SETTINGS, ["implausible_value"])
    assert keys(found) == {
        ("implausible_value", "episode", 5, "albumin_g_per_l"),
        ("implausible_value", "patient", 1, "pdl1_cps"),
    }
    albumin = found[found["field"] == "albumin_g_per_l"].iloc[0]
    assert albumin["value_seen"] == "3.9"
    assert albumin["message"] == (
        "Albumin (g/L) 3.9 g/L is outside the plausible range 15–60 (a value under 10 is probably in g/dL). "
        "Correct it, or confirm it as entered."
    )
    cps = found[found["field"] == "pdl1_cps"].iloc[0]
    assert cps["message"].startswith("Pdl1 cps 120 is outside the plausible range 0–100 (CPS is capped at 100).")


# --- date_order and after_death ---------------------------------------------------------------------


def _timeline() -> dict:
    """Patient 1: ICI-1 2023-01-10 → 2023-06-01, rechallenge 2023-05-01 (before the stop), a scan before it,
    a follow-up and an irAE before it. Patient 2: all in order."""
    return {
        "patients": patients({"id": 1}, {"id": 2}),
        "courses": pd.DataFrame(
            [
                {"id": 10, "patient_id": 1, "start_date": d("2023-01-10"), "stop_date": d("2023-06-01")},
                {"id": 11, "patient_id": 2, "start_date": d("2023-01-10"), "stop_date": d("2023-02-01")},
            ]
        ),
        "episodes": pd.DataFrame(
            [
                {"id": 5, "patient_id": 1, "sequence_number": 1, "start_date": d("2023-05-01")},
                {"id": 6, "patient_id": 2, "sequence_number": 1, "start_date": d("2023-03-01")},
            ]
        ),
        "responses": pd.DataFrame(
            [
                {"id": 40, "episode_id": 5, "assessment_date": d("2023-04-20")},
                {"id": 41, "episode_id": 6, "assessment_date": d("2023-05-01")},
                {"id": 42, "episode_id": 6, "assessment_date": d("2023-09-01")},  # after patient 2's death
            ]
        ),
        "follow_ups": pd.DataFrame(
            [
                {"id": 50, "episode_id": 5, "follow_up_date": d("2023-04-30"), "vital_status": "alive"},
                {
                    "id": 51,
                    "episode_id": 6,
                    "follow_up_date": d("2023-08-01"),
                    "vital_status": "dead",
                    "death_date": d("2023-07-20"),
                },
                {"id": 52, "episode_id": 6, "follow_up_date": d("2023-10-01"), "vital_status": "alive"},
                {
                    "id": 53,
                    "episode_id": 6,
                    "follow_up_date": d("2023-11-01"),
                    "vital_status": "dead",
                    "death_date": d("2023-07-20"),
                },  # confirms the death: not "after death"
            ]
        ),
        "adverse_events": pd.DataFrame(
            [
                {"id": 30, "patient_id": 1, "episode_id": 5, "onset_date": d("2023-04-01"), "grade": 2},
                {"id": 31, "patient_id": 2, "episode_id": None, "onset_date": d("2023-07-21"), "grade": 2},
                {"id": 32, "patient_id": 2, "episode_id": 6, "onset_date": d("2023-07-20"), "grade": 2},
            ]
        ),
    }


def test_date_order_points_at_the_later_record():
    found = run_checks(Frames.of(**_timeline()), SETTINGS, ["date_order"])
    assert keys(found) == {
        ("date_order", "episode", 5, "start_date"),
        ("date_order", "response", 40, "assessment_date"),
        ("date_order", "follow_up", 50, "follow_up_date"),
        ("date_order", "adverse_event", 30, "onset_date"),
    }
    episode = found[found["record_type"] == "episode"].iloc[0]
    assert episode["message"] == "Start date (2023-05-01) must not be before the ICI-1 stop (2023-06-01)."
    assert episode["value_seen"] == "2023-05-01"


def test_date_order_finds_an_ici1_stop_before_its_start():
    frames = Frames.of(
        patients=patients({"id": 1}),
        courses=pd.DataFrame(
            [{"id": 10, "patient_id": 1, "start_date": d("2023-03-01"), "stop_date": d("2023-02-01")}]
        ),
    )
    assert keys(run_checks(frames, SETTINGS, ["date_order"])) == {("date_order", "initial_course", 10, "stop_date")}


def test_after_death_finds_scans_follow_ups_and_iraes_after_the_death_date():
    found = run_checks(Frames.of(**_timeline()), SETTINGS, ["after_death"])
    assert keys(found) == {
        ("after_death", "response", 42, "assessment_date"),
        ("after_death", "follow_up", 52, "follow_up_date"),
        ("after_death", "adverse_event", 31, "onset_date"),
    }
    scan = found[found["record_type"] == "response"].iloc[0]
    assert scan["message"] == "Assessment date (2023-09-01) is after the recorded date of death (2023-07-20)."
    assert scan["patient_id"] == 2


# --- toxicity_stop_without_irae and grade5_without_death --------------------------------------------


def test_toxicity_stop_needs_an_irae_of_that_course_that_led_to_discontinuation():
    frames = Frames.of(
        patients=patients({"id": 1}, {"id": 2}, {"id": 3}),
        courses=pd.DataFrame(
            [
                {"id": 10, "patient_id": 1, "stop_reason": "toxicity"},  # its irAE did not lead to stopping
                {"id": 11, "patient_id": 2, "stop_reason": "toxicity"},  # has one that did
                {"id": 12, "patient_id": 3, "stop_reason": "progression"},
            ]
        ),
        episodes=pd.DataFrame(
            [
                {"id": 5, "patient_id": 2, "sequence_number": 1},
                {"id": 6, "patient_id": 2, "sequence_number": 2},
            ]
        ),
        adverse_events=pd.DataFrame(
            [
                {"id": 30, "patient_id": 1, "episode_id": None, "led_to_discontinuation": False},
                {"id": 31, "patient_id": 2, "episode_id": None, "led_to_discontinuation": True},
                {"id": 32, "patient_id": 2, "episode_id": 6, "led_to_discontinuation": True},
                {"id": 33, "patient_id": 1, "episode_id": 5, "led_to_discontinuation": None},
            ]
        ),
        follow_ups=pd.DataFrame(
            [
                {"id": 50, "episode_id": 5, "rechallenge_stop_reason": "toxicity"},  # rechallenge 1: none led
                {"id": 51, "episode_id": 6, "rechallenge_stop_reason": "toxicity"},  # rechallenge 2: irAE 32
            ]
        ),
    )
    found = run_checks(frames, SETTINGS, ["toxicity_stop_without_irae"])
    assert keys(found) == {
        ("toxicity_stop_without_irae", "initial_course", 10, "stop_reason"),
        ("toxicity_stop_without_irae", "follow_up", 50, "rechallenge_stop_reason"),
    }
    assert found.set_index("record_type").loc["follow_up", "message"] == (
        "Rechallenge 1 stopped for toxicity, but no irAE of that course is recorded as having led to discontinuation."
    )
    assert found.set_index("record_type").loc["initial_course", "message"].startswith("ICI-1 stopped for toxicity")


def test_grade5_irae_without_a_recorded_death():
    timeline = _timeline()
    timeline["adverse_events"] = pd.DataFrame(
        [
            {"id": 30, "patient_id": 1, "episode_id": 5, "grade": 5},  # patient 1 is not recorded dead
            {"id": 31, "patient_id": 2, "episode_id": 6, "grade": 5},  # patient 2 is
            {"id": 32, "patient_id": 1, "episode_id": None, "grade": 4},
        ]
    )
    found = run_checks(Frames.of(**timeline), SETTINGS, ["grade5_without_death"])
    assert keys(found) == {("grade5_without_death", "adverse_event", 30, "grade")}
    assert found.iloc[0]["value_seen"] == "5"


# --- contraindicated_without_justification -----------------------------------------------------------


@pytest.mark.parametrize("blinded", [False, True])
def test_an_enrolled_contraindicated_episode_needs_a_justification_for_coordinators_only_while_blinded(blinded):
    enrolled = pd.Timestamp("2024-01-01", tz="UTC")
    frames = Frames.of(
        patients=patients({"id": 1}),
        episodes=pd.DataFrame(
            [
                {"id": 5, "patient_id": 1, "enrolled_at": enrolled, "clinical_justification": "  "},
                {"id": 6, "patient_id": 1, "enrolled_at": enrolled, "clinical_justification": "Tumour board"},
                {"id": 7, "patient_id": 1, "enrolled_at": enrolled, "clinical_justification": ""},  # favourable
                {"id": 8, "patient_id": 1, "enrolled_at": None, "clinical_justification": ""},  # not enrolled
            ]
        ),
        categories=pd.DataFrame(
            [
                {"episode_id": 5, "category": "contraindicated"},
                {"episode_id": 6, "category": "contraindicated"},
                {"episode_id": 7, "category": "favourable"},
                {"episode_id": 8, "category": "contraindicated"},
            ]
        ),
    )
    settings = CheckSettings(today=TODAY, blinded=blinded)
    found = run_checks(frames, settings, ["contraindicated_without_justification"])
    assert keys(found) == {("contraindicated_without_justification", "episode", 5, "clinical_justification")}
    assert bool(found.iloc[0]["coordinators_only"]) is blinded


# --- follow_up_overdue and outcome_missing ----------------------------------------------------------


def test_follow_up_overdue_counts_from_the_last_follow_up_of_the_latest_rechallenge():
    frames = Frames.of(
        patients=patients({"id": 1}, {"id": 2}, {"id": 3}, {"id": 4, "consent_status": "withdrawn"}, {"id": 5}),
        episodes=pd.DataFrame(
            [
                {"id": 10, "patient_id": 1, "sequence_number": 1, "start_date": d("2025-01-01")},
                {"id": 11, "patient_id": 1, "sequence_number": 2, "start_date": d("2026-01-01")},  # followed on this
                {"id": 20, "patient_id": 2, "sequence_number": 1, "start_date": d("2026-05-01")},  # 60 days, no FU
                {"id": 30, "patient_id": 3, "sequence_number": 1, "start_date": d("2025-01-01")},  # dead
                {"id": 40, "patient_id": 4, "sequence_number": 1, "start_date": d("2025-01-01")},  # withdrew
                {"id": 50, "patient_id": 5, "sequence_number": 1, "start_date": d("2025-01-01")},  # no FU at all
            ]
        ),
        follow_ups=pd.DataFrame(
            [
                {"id": 100, "episode_id": 11, "follow_up_date": d("2026-02-01"), "vital_status": "alive"},
                {"id": 101, "episode_id": 11, "follow_up_date": d("2026-03-31"), "vital_status": "alive"},
                {
                    "id": 102,
                    "episode_id": 30,
                    "follow_up_date": d("2025-02-01"),
                    "vital_status": "dead",
                    "death_date": d("2025-01-30"),
                },
            ]
        ),
    )
    found = run_checks(frames, SETTINGS, ["follow_up_overdue"])
    # 2026-03-31 → 2026-06-30 is 91 days; 2025-01-01 → 2026-06-30 is 545 days.
    assert keys(found) == {("follow_up_overdue", "episode", 11, ""), ("follow_up_overdue", "episode", 50, "")}
    by_episode = found.set_index("record_id")
    assert by_episode.loc[11, "message"] == (
        "No follow-up has been recorded for 91 days (the registry asks for one every 90 days)."
    )
    assert by_episode.loc[11, "value_seen"] == "2026-03-31"
    assert by_episode.loc[50, "message"].startswith("No follow-up has been recorded for 545 days")
    longer = CheckSettings(today=TODAY, follow_up_interval_days=91)
    assert keys(run_checks(frames, longer, ["follow_up_overdue"])) == {("follow_up_overdue", "episode", 50, "")}


def test_outcome_missing_six_months_after_the_rechallenge_start():
    episodes = pd.DataFrame(
        [
            {"id": e, "patient_id": 1, "sequence_number": n, "start_date": d(start)}
            for n, (e, start) in enumerate(
                [
                    (1, "2025-12-30"),  # due exactly today, nothing recorded → missing
                    (2, "2026-01-01"),  # not yet due
                    (3, "2025-01-01"),  # has a scan
                    (4, "2025-01-01"),  # follow-up recording progression
                    (5, "2025-01-01"),  # follow-up 7 months on, no progression: progression-free
                    (6, "2025-01-01"),  # follow-up 7 months on, progression answered 'unknown' → missing
                    (7, "2025-01-01"),  # only a follow-up 2 months on → missing
                    (8, "2025-01-01"),  # died
                ],
                start=1,
            )
        ]
    )
    frames = Frames.of(
        patients=patients({"id": 1}),
        episodes=episodes,
        responses=pd.DataFrame([{"id": 30, "episode_id": 3, "assessment_date": d("2025-03-01")}]),
        follow_ups=pd.DataFrame(
            [
                {
                    "id": 40,
                    "episode_id": 4,
                    "follow_up_date": d("2025-03-01"),
                    "vital_status": "alive",
                    "progression_date": d("2025-02-20"),
                },
                {"id": 50, "episode_id": 5, "follow_up_date": d("2025-08-01"), "vital_status": "alive"},
                {
                    "id": 60,
                    "episode_id": 6,
                    "follow_up_date": d("2025-08-01"),
                    "vital_status": "alive",
                    "missing_answers": {"progression_date": "unknown"},
                },
                {"id": 70, "episode_id": 7, "follow_up_date": d("2025-03-01"), "vital_status": "alive"},
                {
                    "id": 80,
                    "episode_id": 8,
                    "follow_up_date": d("2025-03-01"),
                    "vital_status": "dead",
                    "death_date": d("2025-02-28"),
                },
            ]
        ),
    )
    found = run_checks(frames, SETTINGS, ["outcome_missing"])
    assert keys(found) == {("outcome_missing", "episode", e, "") for e in (1, 6, 7)}


# --- duplicate_patient ------------------------------------------------------------------------------


def test_duplicate_patients_name_each_other_by_registry_id_only():
    frames = Frames.of(
        patients=patients(
            {"id": 1, "registry_id": "S1-A"},
            {"id": 2, "registry_id": "S1-B"},
            {"id": 3, "registry_id": "S1-C"},
            {"id": 4, "registry_id": "S1-D", "year_of_birth": 1961},  # another year of birth
            {"id": 5, "registry_id": "S2-E", "site_id": 2},  # another site
            {"id": 6, "registry_id": "S1-F"},  # another ICI-1 start
        ),
        courses=pd.DataFrame(
            [{"id": 10 + p, "patient_id": p, "start_date": d("2023-01-10")} for p in (1, 2, 3, 4, 5)]
            + [{"id": 16, "patient_id": 6, "start_date": d("2023-01-11")}]
        ),
    )
    found = run_checks(frames, SETTINGS, ["duplicate_patient"])
    assert keys(found) == {("duplicate_patient", "patient", p, "") for p in (1, 2, 3)}
    by_patient = found.set_index("record_id")
    assert by_patient.loc[2, "message"] == (
        "This patient may be a duplicate of S1-A, S1-C: same sex, year of birth, tumour type and ICI-1 start."
    )
    assert by_patient.loc[1, "value_seen"] == "S1-B, S1-C"
    assert not found["message"].str.contains("L1|L2|L3").any()  # no local identifier in a message


def test_run_checks_refuses_an_unknown_rule():
    with pytest.raises(KeyError):
        run_checks(Frames.of(), SETTINGS, ["no_such_rule"])

"""Rows of bulk-import files for tests: a complete valid row, and a 3-row file of two patients."""

from __future__ import annotations

import csv
import io

from registry.csv_import import HEADER

#: One complete, valid row: a patient with ICI-1 (month-precision dates), one prior irAE and a first rechallenge.
VALID_ROW = {
    "local_identifier": "MRN-1",
    "sex": "female",
    "year_of_birth": "1958",
    "tumour_type": "LUAD",
    "consent_status": "consented",
    "consent_date": "2024-01-10",
    "pdl1_tps_percent": "55,5",
    "ici1_agent": "pembrolizumab",
    "ici1_regimen": "monotherapy",
    "ici1_line": "1",
    "ici1_start_date": "2022-03",
    "ici1_stop_date": "2022-11",
    "ici1_ecog": "1",
    "ici1_best_response": "PR",
    "ici1_stop_reason": "toxicity",
    "irae1_term": "colitis",
    "irae1_grade": "3",
    "irae1_onset": "2022-10",
    "irae1_resolution": "2022-12-01",
    "irae1_resolved_to_grade": "0",
    "irae1_management": "corticosteroids",
    "irae1_peak_prednisone": "60",
    "irae1_hospitalised": "yes",
    "episode_start_date": "2023-04-02",
    "episode_type": "after_toxicity",
    "episode_agent_relation": "same_agent",
    "episode_agent": "pembrolizumab",
    "episode_regimen": "monotherapy",
    "episode_ecog": "1",
    "episode_ldh": "250",
    "episode_prednisone": "0",
    "response1_date": "2023-06-01",
    "response1_criteria": "recist_1_1",
    "response1_category": "PR",
    "followup1_date": "2023-12-01",
    "followup1_vital_status": "alive",
    "followup1_last_alive_date": "2023-12-01",
}


def row(**changes: str) -> dict[str, str]:
    return {**VALID_ROW, **changes}


def three_rows() -> list[dict[str, str]]:
    """Patient MRN-1 with two rechallenges (rows 2 and 3) and patient MRN-2 with one (row 4)."""
    return [
        row(),
        row(
            episode_sequence="2",
            episode_start_date="2023-10-01",
            response1_date="2023-12-01",
            followup1_date="2024-02-01",
            followup1_last_alive_date="2024-02-01",
        ),
        row(
            local_identifier="MRN-2",
            sex="male",
            tumour_type="MEL",
            ici1_agent="nivolumab",
            ici1_stop_reason="progression",
            ici1_progression_date="2022-10-20",
            irae1_term="",
            irae1_grade="",
            irae1_onset="",
            irae1_resolution="",
            irae1_resolved_to_grade="",
            irae1_management="",
            irae1_peak_prednisone="",
            irae1_hospitalised="",
            episode_type="after_progression",
            episode_agent="ipilimumab",
            episode_second_agent="nivolumab",
            episode_regimen="ici_ici",
            episode_agent_relation="class_switch",
        ),
    ]


def csv_bytes(rows: list[dict[str, str]], *, header: tuple[str, ...] = HEADER, delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(header), delimiter=delimiter, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()

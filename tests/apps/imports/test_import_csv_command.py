"""``manage.py import_csv``: the same import for operators, printing the preview or the result as JSON."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from apps.clinical.models import InitialCourse, Patient
from apps.core.models import AuditEntry
from apps.imports.models import ImportJob

from .data import csv_bytes, row, three_rows


def command(path, *options: str) -> tuple[dict, ImportJob]:
    out = io.StringIO()
    call_command("import_csv", str(path), *options, stdout=out)
    printed = json.loads(out.getvalue())
    return printed, ImportJob.objects.get(pk=printed["job"])


@pytest.fixture
def csv_file(tmp_path):
    def write(rows) -> str:
        path = tmp_path / "episodes.csv"
        path.write_bytes(csv_bytes(rows))
        return path

    return write


def test_a_dry_run_prints_the_preview_and_writes_nothing(site_a, data_entry_a, csv_file):
    printed, job = command(csv_file(three_rows()), "--site", "AAA", "--user", "entry_a", "--dry-run")

    assert (printed["status"], printed["dry_run"], printed["rows"], printed["errors"]) == ("succeeded", True, 3, [])
    assert printed["message"].startswith("Checked 3 rows; nothing is written yet.")
    assert [entry["row"] for entry in printed["preview"]] == [2, 3, 4]
    assert printed["preview"][0]["records"][0] == {"record": "patient", "group": None, "action": "create"}
    assert printed["created_registry_ids"] == []
    assert not Patient.objects.exists() and not AuditEntry.objects.exists()
    assert job.dry_run


def test_an_import_prints_the_created_registry_ids_and_audits_on_the_import_channel(site_a, data_entry_a, csv_file):
    printed, _ = command(csv_file(three_rows()), "--site", "AAA", "--user", "entry_a")

    assert printed["status"] == "succeeded"
    assert sorted(printed["created_registry_ids"]) == sorted(Patient.objects.values_list("registry_id", flat=True))
    assert len(printed["created_registry_ids"]) == 2
    assert printed["created_counts"]["episode"] == 3
    assert set(AuditEntry.objects.values_list("channel", "user")) == {("import", data_entry_a.pk)}


def test_an_update_by_command_prints_the_change_old_to_new(site_a, data_entry_a, csv_file):
    command(csv_file(three_rows()), "--site", "AAA", "--user", "entry_a")

    printed, _ = command(csv_file([row(ici1_best_response="CR")]), "--site", "AAA", "--user", "entry_a")

    course = next(r for r in printed["preview"][0]["records"] if r["record"] == "initial_course")
    assert course == {
        "record": "initial_course",
        "group": None,
        "action": "change",
        "changes": {"ici1_best_response": ["PR", "CR"]},
    }
    assert InitialCourse.objects.get(patient__local_identifier="MRN-1").best_overall_response == "CR"


def test_a_failed_import_prints_its_errors_and_exits_non_zero(site_a, data_entry_a, csv_file):
    out = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command("import_csv", str(csv_file([row(episode_ecog="7")])), "--site=AAA", "--user=entry_a", stdout=out)

    printed = json.loads(out.getvalue())
    assert error.value.returncode == 1
    assert printed["status"] == "failed"
    assert [(e["row"], e["column"]) for e in printed["errors"]] == [(2, "episode_ecog")]
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--site", "ZZZ", "--user", "entry_a"), "No site with code 'ZZZ'."),
        (("--site", "AAA", "--user", "nobody"), "No active user 'nobody'."),
    ],
    ids=["unknown site", "unknown user"],
)
def test_an_unknown_site_or_user_is_a_clear_command_error(site_a, data_entry_a, csv_file, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("import_csv", str(csv_file(three_rows())), *options)
    assert not ImportJob.objects.exists()


def test_a_user_who_is_not_on_the_sites_staff_is_refused(site_a, site_b, data_entry_b, csv_file):
    with pytest.raises(CommandError, match="only the staff of the site"):
        call_command("import_csv", str(csv_file(three_rows())), "--site", "AAA", "--user", "entry_b")
    assert not ImportJob.objects.exists()

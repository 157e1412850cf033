"""A lock that outlasts its timeout is a 503 with Retry-After, never a 500; SQLite options hold however chosen."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import OperationalError, connection

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("variable", ["SQLITE_PATH", "DATABASE_URL"])
def test_sqlite_gets_immediate_transactions_and_a_lock_timeout_however_it_is_chosen(variable, tmp_path):
    path = tmp_path / "chosen.sqlite3"
    chosen = {variable: str(path) if variable == "SQLITE_PATH" else f"sqlite:///{path}"}
    inherited = {name: value for name, value in os.environ.items() if name not in {"DATABASE_URL", "SQLITE_PATH"}}
    env = {**inherited, "REGISTRY_VAR_DIR": str(tmp_path), **chosen}
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['default']['OPTIONS']))"
    )
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    output = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    options = json.loads(output)
    assert (options["transaction_mode"], options["timeout"]) == ("IMMEDIATE", 20)
    assert "journal_mode=WAL" in options["init_command"]


@pytest.mark.django_db(transaction=True)
def test_a_request_that_cannot_get_the_write_lock_in_time_answers_503_with_retry_after(client, data_entry_a):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's database-wide write lock; PostgreSQL locks rows (error mapping tested below)")
    client.force_login(data_entry_a)
    connection.close()
    original = connection.settings_dict["OPTIONS"]["timeout"]
    connection.settings_dict["OPTIONS"]["timeout"] = 0.2
    holder = sqlite3.connect(connection.settings_dict["NAME"])
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        page = client.get("/")
        api = client.get("/api/v1/patients/")
    finally:
        holder.rollback()
        holder.close()
        connection.close()
        connection.settings_dict["OPTIONS"]["timeout"] = original
    assert (page.status_code, page["Retry-After"]) == (503, "5")
    assert "Nothing was saved" in page.content.decode() and 'class="topbar"' in page.content.decode()
    assert (api.status_code, api["Retry-After"]) == (503, "5")
    assert "try again" in api.json()["detail"]


@pytest.mark.parametrize(
    ("message", "busy"),
    [
        ("database is locked", True),
        ("canceling statement due to lock timeout\nERROR: could not obtain lock on row", True),
        ("deadlock detected", True),
        ("no such table: clinical_patient", False),
    ],
)
def test_only_lock_timeouts_count_as_busy(message, busy):
    from apps.core.middleware import is_busy_error

    assert is_busy_error(OperationalError(message)) is busy
    assert is_busy_error(ValueError("database is locked")) is False

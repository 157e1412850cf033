"""A backup restores into an empty database with every row and an intact audit chain."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from apps.clinical.models import Patient
from apps.clinical.services import record_create, record_update

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[3]


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def _row_counts_here() -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    return counts


@pytest.fixture
def recorded_changes(site_a, site_b, data_entry_a, data_entry_b):
    base = {"sex": "male", "year_of_birth": 1950, "tumour_type": "LUAD", "consent_status": "consented"}
    for number, (site, user) in enumerate([(site_a, data_entry_a), (site_b, data_entry_b), (site_a, data_entry_a)]):
        patient = record_create(
            model=Patient,
            data={**base, "site": site, "local_identifier": f"MRN{number}", "consent_date": "2024-03-01"},
            user=user,
            channel="web",
        )
        record_update(instance=patient, data={"tumour_type": "LUSC"}, user=user, channel="api")


@pytest.fixture
def empty_target(tmp_path):
    """Settings of a new, empty database of the same engine, as environment variables for manage.py."""
    env = {**os.environ, "REGISTRY_VAR_DIR": str(tmp_path / "var")}
    env.pop("DATABASE_URL", None)
    if connection.vendor == "sqlite":
        target = tmp_path / "restored.sqlite3"
        yield {**env, "SQLITE_PATH": str(target)}, lambda: sqlite3.connect(target)
        return
    db = settings.DATABASES["default"]
    name = f"restore_target_{os.getpid()}"
    admin = {"host": db["HOST"], "port": db["PORT"] or 5432, "user": db["USER"], "password": db.get("PASSWORD") or None}
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}"')
        server.execute(f'CREATE DATABASE "{name}"')
    url = f"postgres://{db['USER']}@{admin['host']}:{admin['port']}/{name}"
    yield {**env, "DATABASE_URL": url}, lambda: psycopg.connect(dbname=name, **admin)
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_backup_restored_into_an_empty_database_has_every_row_and_verifies(
    recorded_changes, empty_target, tmp_path, capsys
):
    target_env, connect_target = empty_target
    backup_file = tmp_path / "registry.backup"
    call_command("backup", output=backup_file)
    made = json.loads(capsys.readouterr().out)
    assert made["path"] == str(backup_file)
    assert made["bytes"] == backup_file.stat().st_size > 0

    restored = _manage("restore", str(backup_file), env=target_env)
    assert restored.returncode == 0, restored.stderr

    source_counts = _row_counts_here()
    with connect_target() as target:
        target_counts = {}
        for table in source_counts:
            target_counts[table] = target.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
    assert target_counts == source_counts
    assert source_counts["core_auditentry"] == 6

    verified = _manage("verify_audit", env=target_env)
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    call_command("verify_audit")
    assert report["heads"] == json.loads(capsys.readouterr().out)["heads"]
    assert report["entries"] == 6


def test_a_restore_refuses_a_database_that_already_has_tables(recorded_changes, tmp_path, capsys):
    backup_file = tmp_path / "registry.backup"
    call_command("backup", output=backup_file)
    with pytest.raises(CommandError, match="not empty"):
        call_command("restore", str(backup_file))


def test_a_backup_never_overwrites_an_existing_file(db, tmp_path):
    existing = tmp_path / "kept.backup"
    existing.write_text("an older backup")
    with pytest.raises(CommandError, match="already exists"):
        call_command("backup", output=existing)
    assert existing.read_text() == "an older backup"

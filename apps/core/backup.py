"""Consistent backups of the whole database, and restoring one into an empty database.

SQLite (the embedded default) is copied with its online backup API, which gives a consistent
snapshot while the web and worker keep writing. PostgreSQL is dumped with ``pg_dump`` in custom
format (one consistent snapshot, compressed) and restored with ``pg_restore`` in one transaction.
A restore refuses a database that already has tables, so it can never mix two registries.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections

from apps.core.errors import ApplicationError


@dataclass(frozen=True)
class BackupResult:
    path: Path
    engine: str
    bytes: int
    sha256: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "engine": self.engine,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "seconds": round(self.seconds, 3),
        }


def _engine(alias: str) -> str:
    vendor = connections[alias].vendor
    if vendor not in {"sqlite", "postgresql"}:
        raise ApplicationError(f"Backups support SQLite and PostgreSQL, not {vendor}.")
    return vendor


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pg_environment(alias: str) -> tuple[list[str], dict[str, str]]:
    """Connection flags and environment for pg_dump / pg_restore (the password never on the command line)."""
    db = settings.DATABASES[alias]
    flags = ["--host", db.get("HOST") or "127.0.0.1", "--port", str(db.get("PORT") or 5432)]
    if db.get("USER"):
        flags += ["--username", db["USER"]]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return flags, env


def default_backup_path(alias: str = "default") -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    suffix = "sqlite3" if _engine(alias) == "sqlite" else "dump"
    return Path(settings.VAR_DIR) / "backups" / f"registry-{stamp}.{suffix}"


def database_backup(*, path: Path | None = None, alias: str = "default") -> BackupResult:
    """Write a consistent copy of the database to ``path`` (never over an existing file)."""
    engine = _engine(alias)
    path = Path(path or default_backup_path(alias))
    if path.exists():
        raise ApplicationError(f"{path} already exists; choose a new file name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    connection = connections[alias]
    if engine == "sqlite":
        connection.ensure_connection()
        target = sqlite3.connect(path)
        try:
            connection.connection.backup(target)
        finally:
            target.close()
    else:
        flags, env = _pg_environment(alias)
        name = settings.DATABASES[alias]["NAME"]
        command = ["pg_dump", *flags, "--format=custom", "--no-owner", "--no-privileges", "--file", str(path), name]
        _run(command, env)
    return BackupResult(path, engine, path.stat().st_size, _sha256(path), time.perf_counter() - started)


def database_restore(*, path: Path, alias: str = "default") -> float:
    """Load a backup into the (empty) database ``alias``; returns the seconds it took."""
    engine = _engine(alias)
    path = Path(path)
    if not path.is_file():
        raise ApplicationError(f"{path} is not a backup file.")
    connection = connections[alias]
    if connection.introspection.table_names():
        raise ApplicationError(
            "The target database is not empty: restore only into a new, empty database "
            "(create one and point DATABASE_URL or SQLITE_PATH at it)."
        )
    started = time.perf_counter()
    if engine == "sqlite":
        connection.ensure_connection()
        source = sqlite3.connect(path)
        try:
            source.backup(connection.connection)
        finally:
            source.close()
    else:
        flags, env = _pg_environment(alias)
        name = settings.DATABASES[alias]["NAME"]
        command = ["pg_restore", *flags, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
        _run([*command, "--dbname", name, str(path)], env)
    return time.perf_counter() - started


def _run(command: list[str], env: dict[str, str]) -> None:
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if completed.returncode != 0:
        raise ApplicationError(f"{command[0]} failed: {completed.stderr.strip()[:2000]}")

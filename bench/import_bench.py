"""Benchmark: a 10,000-row CSV import on PostgreSQL, against a plain ``COPY`` of the same rows in the same run.

Why: center staff import whole registries of rechallenges at once, and the issue's budget is a
10,000-row file in under 60 s. The import validates every record (the same rules as the web forms),
writes them in bulk with one audit entry each, and runs the on-save hooks; ``COPY`` of the rows it
wrote is what the database can ingest at best, so a regression shows up as a ratio.

    createdb -h 127.0.0.1 -U postgres registry_bench_import
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench_import
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/import_bench.py [--rows 10000] [--seed 1]

The file is seeded: each row is one rechallenge episode with its patient, ICI-1 course, 0–3 prior
irAEs (rows of one patient repeat those), 0–2 responses, 0–2 follow-ups and sometimes an irAE during
the rechallenge; a patient has 1–3 rows. Every run registers new patients at site ``BNCH`` (their
local identifiers carry the run's time), so it can run again on the same database. The job runs as
the worker runs it (``import_job_run``); validation and writing are timed apart.

Baseline: the rows the import wrote (clinical records and audit entries) are read back (not timed)
and copied with ``COPY … FROM STDIN`` into temp tables shaped like the real ones (defaults, no
indexes), as ``seed_demo_bench.py`` does. A second, small file (``--one-by-one-rows``) is then written a
record at a time, the path every import took before (and the fallback that finds a row the database
refuses), for its cost a row. Exits 1 when the import takes 60 s or more at 10,000 rows.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django

django.setup()

from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.db import connection  # noqa: E402

from apps.accounts.models import Membership, Role, Site, User  # noqa: E402
from apps.clinical.models import (  # noqa: E402
    AdverseEvent,
    FollowUp,
    InitialCourse,
    Patient,
    RechallengeEpisode,
    ResponseAssessment,
)
from apps.clinical.services import BulkWriteFailed  # noqa: E402
from apps.core.models import AuditEntry  # noqa: E402
from apps.imports import services  # noqa: E402
from apps.imports.models import ImportJob  # noqa: E402
from registry.csv_import import HEADER  # noqa: E402
from registry.identifiers import normalise_local_identifier  # noqa: E402

BUDGET_SECONDS = 60.0
BUDGET_ROWS = 10_000
TERMS = ("colitis", "diarrhea", "hepatitis", "pneumonitis", "hypothyroidism", "arthritis")
TUMOURS = ("LUAD", "LUSC", "MEL", "RCC", "BLCA")
AGENTS = ("pembrolizumab", "nivolumab")


def _month(year: int, month: int) -> str:
    return f"{year}-{month:02d}"


def _day(year: int, month: int, day: int) -> str:
    return f"{year}-{month:02d}-{day:02d}"


def patient_rows(rng: random.Random, identifier: str) -> list[dict[str, str]]:
    """The rows of one patient: 1–3 rechallenges after an ICI-1 course stopped for toxicity, dates in order."""
    agent = rng.choice(AGENTS)
    base = {
        "local_identifier": identifier,
        "sex": rng.choice(("female", "male")),
        "year_of_birth": str(rng.randint(1940, 1975)),
        "tumour_type": rng.choice(TUMOURS),
        "consent_status": "consented",
        "consent_date": _day(2020, 12, rng.randint(1, 28)),
        "pdl1_tps_percent": str(rng.randint(0, 100)),
        "ici1_agent": agent,
        "ici1_regimen": "monotherapy",
        "ici1_line": str(rng.randint(1, 2)),
        "ici1_start_date": _month(2021, rng.randint(1, 3)),
        "ici1_stop_date": _month(2021, rng.randint(8, 10)),
        "ici1_ecog": str(rng.randint(0, 2)),
        "ici1_best_response": rng.choice(("CR", "PR", "SD")),
        "ici1_stop_reason": "toxicity",
    }
    for n in range(1, rng.choice((0, 1, 1, 2, 3)) + 1):
        base |= {
            f"irae{n}_term": rng.choice(TERMS),
            f"irae{n}_grade": str(rng.randint(2, 4)),
            f"irae{n}_onset": _month(2021, 4 + n),
            f"irae{n}_resolution": _day(2021, 11, rng.randint(1, 28)),
            f"irae{n}_resolved_to_grade": "0",
            f"irae{n}_management": "corticosteroids",
            f"irae{n}_peak_prednisone": str(rng.choice((40, 60, 80))),
            f"irae{n}_hospitalised": rng.choice(("yes", "no")),
        }
    if any(name.startswith("irae1_") for name in base):
        base["ici1_iraes"] = "yes"
    rows = []
    episodes = rng.choice((1, 1, 1, 2, 2, 3))
    for number in range(1, episodes + 1):
        year = 2021 + number  # each rechallenge in its own year: starts, responses and follow-ups in order
        row = dict(base)
        row |= {
            "episode_start_date": _day(year, 2, rng.randint(1, 28)),
            "episode_type": "after_toxicity",
            "episode_agent_relation": "same_agent",
            "episode_agent": agent,
            "episode_regimen": "monotherapy",
            "episode_ecog": str(rng.randint(0, 2)),
            "episode_ldh": str(rng.randint(150, 400)),
            "episode_prednisone": "0",
        }
        for n in range(1, rng.choice((0, 1, 2, 2)) + 1):
            row |= {
                f"response{n}_date": _day(year, 3 + 2 * n, rng.randint(1, 28)),
                f"response{n}_criteria": "recist_1_1",
                f"response{n}_category": rng.choice(("CR", "PR", "SD", "PD")),
            }
        if rng.random() < 0.2:
            row |= {
                "rirae1_term": rng.choice(TERMS),
                "rirae1_grade": str(rng.randint(1, 3)),
                "rirae1_onset": _month(year, 4),
                "rirae1_management": "corticosteroids",
                "rirae1_recurrence": rng.choice(("recurrence", "new")),
            }
        last_row = number == episodes
        for n in range(1, rng.choice((0, 1, 2)) + 1):
            follow_up = _day(year, 9 + n, rng.randint(1, 28))
            dead = last_row and n == 2 and rng.random() < 0.3
            row |= {
                f"followup{n}_date": follow_up,
                f"followup{n}_vital_status": "dead" if dead else "alive",
                f"followup{n}_death_date" if dead else f"followup{n}_last_alive_date": follow_up,
            }
        rows.append(row)
    return rows


def file_rows(count: int, seed: int, prefix: str) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    patient = 0
    while len(rows) < count:
        patient += 1
        rows.extend(patient_rows(rng, f"{prefix}-{patient:06d}"))
    return rows[:count]  # the last patient may lose a later rechallenge: still a valid file


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    columns = [name for name in HEADER if any(name in row for row in rows)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


class Timed:
    """Wraps a function of ``services`` and adds up the seconds spent in it."""

    def __init__(self, name: str) -> None:
        self.name, self.seconds = name, 0.0
        self.function: Callable = getattr(services, name)
        setattr(services, name, self)

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


def _copy_baseline(tables: dict[str, str]) -> tuple[float, int]:
    """Seconds to COPY the rows the import wrote (``table: WHERE clause``) into temp tables; and how many rows."""
    total, rows_copied = 0.0, 0
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        for table, where in tables.items():
            cursor.execute(f"SELECT * FROM {table} WHERE {where}")
            rows = cursor.fetchall()
            columns = ", ".join(f'"{column.name}"' for column in cursor.description)
            cursor.execute(f"CREATE TEMP TABLE bench_{table} (LIKE {table} INCLUDING DEFAULTS)")
            started = time.perf_counter()
            with cursor.copy(f"COPY bench_{table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            took = time.perf_counter() - started
            total += took
            rows_copied += len(rows)
            print(f"  COPY {table}: {len(rows):,} rows in {took:.2f} s")
            cursor.execute(f"DROP TABLE bench_{table}")
    return total, rows_copied


def _one_by_one(user, site, args, bulk_per_row: float) -> None:
    """The same kind of file written a record at a time (``records_create_batch``), as every import was before."""

    def refused(**kwargs):
        raise BulkWriteFailed("bench: write one by one")

    rows = file_rows(args.one_by_one_rows, args.seed + 1, f"O{args.seed}-{int(time.time())}")
    upload = SimpleUploadedFile("one-by-one.csv", csv_bytes(rows), content_type="text/csv")
    job = services.import_job_create(user=user, site=site, upload=upload, run_inline=False)
    bulk_write = services.records_create_bulk
    services.records_create_bulk = refused
    try:
        started = time.perf_counter()
        services.import_job_run(job_id=job.pk)
        elapsed = time.perf_counter() - started
    finally:
        services.records_create_bulk = bulk_write
    job.refresh_from_db()
    per_row = elapsed / len(rows)
    print(
        f"record at a time ({len(rows):,} rows, {job.status}): {elapsed:.1f} s, {per_row * 1000:.0f} ms a row "
        f"(bulk: {bulk_per_row * 1000:.1f} ms a row, {per_row / bulk_per_row:.1f}x faster)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=BUDGET_ROWS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--one-by-one-rows",
        type=int,
        default=300,
        help="also time the record-at-a-time write (the fallback, and the path before bulk) on this many rows; 0: skip",
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        parser.error("run on PostgreSQL (DATABASE_URL=postgres://…): the budget and the COPY baseline are PostgreSQL's")

    site, _ = Site.objects.get_or_create(code="BNCH", defaults={"name": "Bench", "country": "FR"})
    Site.objects.filter(pk=site.pk).update(active=True)
    user, _ = User.objects.get_or_create(username="import-bench")
    Membership.objects.get_or_create(user=user, site=site, role=Role.DATA_ENTRY)
    services._enqueue = lambda job_id: None  # the bench runs the job itself, as the worker would

    prefix = f"B{args.seed}-{int(time.time())}"
    rows = file_rows(args.rows, args.seed, prefix)
    data = csv_bytes(rows)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    print(
        f"import bench: {len(rows):,} rows, {len({r['local_identifier'] for r in rows}):,} patients, seed {args.seed}, "
        f"{len(data) / 2**20:.1f} MB, PostgreSQL {version}, load {os.getloadavg()[0]:.1f}"
    )

    validation, writing = Timed("_validate_rows"), Timed("_write_rows")
    upload = SimpleUploadedFile("bench.csv", data, content_type="text/csv")
    job = services.import_job_create(user=user, site=site, upload=upload, run_inline=False)
    started = time.perf_counter()
    services.import_job_run(job_id=job.pk)
    elapsed = time.perf_counter() - started
    job.refresh_from_db()
    if job.status != ImportJob.Status.SUCCEEDED:
        print(f"import FAILED: {job.message}")
        for error in job.errors[:10]:
            print(f"  {error}")
        return 1
    rest = elapsed - validation.seconds - writing.seconds
    print(f"import: {elapsed:.1f} s ({len(rows) / elapsed:,.0f} rows/s) — {job.message}")
    print(
        f"  validation (records as unsaved instances) {validation.seconds:.1f} s, "
        f"write (set-wise checks, bulk inserts, audit, hooks) {writing.seconds:.1f} s, "
        f"reading and parsing the file, planning, job {rest:.1f} s"
    )

    patients = f"local_identifier LIKE '{normalise_local_identifier(prefix)}-%'"
    ids = f"SELECT id FROM clinical_patient WHERE {patients}"
    episodes = f"SELECT id FROM clinical_rechallengeepisode WHERE patient_id IN ({ids})"
    tables = {
        Patient._meta.db_table: patients,
        InitialCourse._meta.db_table: f"patient_id IN ({ids})",
        RechallengeEpisode._meta.db_table: f"patient_id IN ({ids})",
        AdverseEvent._meta.db_table: f"patient_id IN ({ids})",
        ResponseAssessment._meta.db_table: f"episode_id IN ({episodes})",
        FollowUp._meta.db_table: f"episode_id IN ({episodes})",
        AuditEntry._meta.db_table: f"reason = 'Bulk import #{job.pk}'",
    }
    baseline, copied = _copy_baseline(tables)
    print(f"COPY baseline (the same {copied:,} rows into temp tables): {baseline:.2f} s")
    print(f"ratio import / COPY: {elapsed / baseline:.1f}x")
    if args.one_by_one_rows:
        _one_by_one(user, site, args, elapsed / len(rows))
    if args.rows >= BUDGET_ROWS:
        verdict = "PASS" if elapsed < BUDGET_SECONDS else "FAIL"
        print(f"budget {BUDGET_ROWS:,} rows < {BUDGET_SECONDS:.0f} s: {verdict}")
        return 0 if verdict == "PASS" else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

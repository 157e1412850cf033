"""Benchmark: the demo-cohort service at scale, against a plain PostgreSQL COPY of the same rows.

Why: ``make run`` and every demo depend on seeding being quick, and the budget is 100,000 patients
in under three minutes on PostgreSQL. The COPY baseline shows how far the service is from what
the database can ingest at best, so a regression shows up as a ratio, not just a number.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench \\
        .venv/bin/python bench/seed_demo_bench.py [--patients 100000] [--sites 20] [--seed 1]

Run it on a database of its own: it refuses a registry that already has patients unless
``--reset`` is given, which truncates the clinical tables and the audit trail first.
"""

from __future__ import annotations

import argparse
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

from django.db import connection  # noqa: E402

from apps.assessments.demo import demo_registry_seed  # noqa: E402
from apps.assessments.models import Assessment  # noqa: E402
from apps.clinical.models import (  # noqa: E402
    AdverseEvent,
    FollowUp,
    InitialCourse,
    Patient,
    RechallengeEpisode,
    ResponseAssessment,
)
from apps.core.models import AuditEntry  # noqa: E402

BUDGET_SECONDS = 180.0
BUDGET_PATIENTS = 100_000
TABLES = (
    Patient,
    InitialCourse,
    RechallengeEpisode,
    AdverseEvent,
    ResponseAssessment,
    FollowUp,
    AuditEntry,
    Assessment,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument(
        "--method",
        choices=("auto", "bulk_create", "copy"),
        default="auto",
        help="How leaf tables are written (auto: COPY on PostgreSQL, bulk_create elsewhere).",
    )
    parser.add_argument("--reset", action="store_true", help="Truncate clinical tables and the audit trail first.")
    parser.add_argument("--check", type=int, default=200, help="full_clean() this many random patients' records.")
    args = parser.parse_args()

    vendor = connection.vendor
    if args.reset:
        if vendor != "postgresql":
            parser.error("--reset is only offered on PostgreSQL")
        with connection.cursor() as cursor:
            names = ", ".join(model._meta.db_table for model in TABLES)
            cursor.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    if Patient.objects.exists():
        parser.error("the database already has patients: use an empty one, or --reset (PostgreSQL)")

    use_copy = {"auto": None, "bulk_create": False, "copy": True}[args.method]
    print(
        f"seed_demo bench: {args.patients:,} patients, {args.sites} sites, seed {args.seed}, "
        f"batch {args.batch_size}, method {args.method}, database {vendor} {_server_version()}"
    )
    started = time.perf_counter()
    counts = demo_registry_seed(
        sites=args.sites,
        patients=args.patients,
        seed=args.seed,
        batch_size=args.batch_size,
        use_copy=use_copy,
        progress=_progress(started),
    )
    elapsed = time.perf_counter() - started
    # Retrospective assessments are a subset of the assessments, not rows of their own.
    rows = sum(value for key, value in counts.items() if key not in ("sites", "retrospective_assessments"))
    rates = f"{rows / elapsed:,.0f} rows/s, {args.patients / elapsed:,.0f} patients/s"
    print(f"service: {elapsed:.1f} s for {rows:,} rows — {rates}")
    for key, value in counts.items():
        print(f"  {key}: {value:,}")

    if args.check:
        checked = _full_clean_sample(args.check, args.seed)
        print(f"full_clean() passed for every record of {checked} random patients")

    if vendor == "postgresql":
        baseline = _copy_baseline()
        print(f"COPY baseline (same rows into temp tables): {baseline:.1f} s — {rows / baseline:,.0f} rows/s")
        print(f"ratio service / COPY: {elapsed / baseline:.1f}x")
    if args.patients >= BUDGET_PATIENTS:
        scaled = elapsed * BUDGET_PATIENTS / args.patients
        verdict = "PASS" if scaled < BUDGET_SECONDS else "FAIL"
        print(f"budget {BUDGET_PATIENTS:,} patients < {BUDGET_SECONDS:.0f} s: {verdict}")
        return 0 if verdict == "PASS" else 1
    return 0


def _server_version() -> str:
    if connection.vendor != "postgresql":
        return ""
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


def _progress(started: float) -> Callable[[str, int, int], None]:
    def report(stage: str, done: int, total: int) -> None:
        if done == total or done % 20_000 == 0:
            print(f"  {stage}: {done:,}/{total:,} after {time.perf_counter() - started:.1f} s", flush=True)

    return report


def _full_clean_sample(count: int, seed: int) -> int:
    """Model validation (clean + field checks) of a random sample: the generator's rows are valid records."""
    ids = list(Patient.objects.values_list("id", flat=True))
    sample = random.Random(seed).sample(ids, min(count, len(ids)))
    for patient in Patient.objects.filter(id__in=sample).select_related("initial_course"):
        patient.full_clean()
        patient.initial_course.full_clean()
        for episode in patient.episodes.all():
            episode.full_clean(validate_unique=False)
            for record in [*episode.responses.all(), *episode.follow_ups.all()]:
                record.full_clean()
        for event in patient.adverse_events.select_related("episode"):
            event.full_clean()
    return len(sample)


def _copy_baseline() -> float:
    """Seconds to COPY the rows the service wrote into unindexed temp tables, from Python tuples.

    The rows are read back first (not timed), so the clock covers only what a COPY loader would do.
    """
    total = 0.0
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        for model in TABLES:
            table = model._meta.db_table
            cursor.execute(f"SELECT * FROM {table}")
            rows = cursor.fetchall()
            columns = ", ".join(f'"{column.name}"' for column in cursor.description)
            cursor.execute(f"CREATE TEMP TABLE bench_{table} (LIKE {table} INCLUDING DEFAULTS)")
            started = time.perf_counter()
            with cursor.copy(f"COPY bench_{table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            took = time.perf_counter() - started
            total += took
            print(f"  COPY {table}: {len(rows):,} rows in {took:.2f} s")
            cursor.execute(f"DROP TABLE bench_{table}")
    return total


if __name__ == "__main__":
    raise SystemExit(main())

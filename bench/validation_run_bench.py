"""Benchmark: a whole validation run on PostgreSQL, against plain lifelines on the same frame.

Why: the nightly validation of 1,000,000 episodes has a one-minute budget on 2 cores and must not be
slower than computing the same statistics with lifelines. ``validation_bench.py`` times the
statistics alone on a generated frame; this one times what the Celery task does
(``services.validation_run_execute``: claim, the frame read from the database with COPY, every
statistic, the figures, storing the run and its figures) on a registry seeded with the demo
generator, then times the lifelines baseline of ``validation_bench.py`` on the very frame the run
read, in the same process. Both are printed with their ratio.

    createdb -h 127.0.0.1 -U postgres registry_bench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/validation_run_bench.py --episodes 100000 [--sites 20] [--seed 1] [--reset]

Seeding: ``apps.assessments.demo.demo_registry_seed`` (patients, ICI-1 courses, irAEs, rechallenge
episodes, responses, follow-ups, audit entries, and the enrolled, locked decision-model assessments;
COPY on PostgreSQL), with as many patients as give about ``--episodes`` rechallenge episodes (the
generator gives 1.09 a patient); the episodes actually written are printed. ``--reuse`` times a
registry seeded before (by this script, same arguments) without seeding it again.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django

django.setup()

from django.db import connection  # noqa: E402

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
from apps.validation import plots, services  # noqa: E402
from apps.validation.models import ValidationRun, ValidationRunFigure  # noqa: E402
from bench.registry_seed import load_average, seed_or_reuse  # noqa: E402
from bench.validation_bench import _lifelines_population  # noqa: E402
from registry.validation import build_populations, potential_follow_up  # noqa: E402

#: Rechallenge episodes the demo generator writes per patient (5,466 for 5,000 patients, seed 1).
EPISODES_PER_PATIENT = 1.0932
TARGET_EPISODES = 1_000_000
BUDGET_SECONDS = 60.0
TABLES = (
    Patient,
    InitialCourse,
    RechallengeEpisode,
    AdverseEvent,
    ResponseAssessment,
    FollowUp,
    AuditEntry,
    Assessment,
    ValidationRunFigure,
    ValidationRun,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument(
        "--reset", action="store_true", help="Truncate the clinical, audit and validation tables first."
    )
    parser.add_argument("--reuse", action="store_true", help="Time the registry as it is, without seeding.")
    parser.add_argument(
        "--lifelines-cluster-max",
        type=int,
        default=100_000,
        help="Above this many analysed episodes, lifelines' cluster-robust Cox is timed on subsamples and projected.",
    )
    parser.add_argument("--skip-lifelines", action="store_true")
    args = parser.parse_args()

    if connection.vendor != "postgresql":
        parser.error("this benchmark reads the frame with PostgreSQL's COPY: set DATABASE_URL to a PostgreSQL database")
    if args.reset:
        with connection.cursor() as cursor:
            names = ", ".join(model._meta.db_table for model in TABLES)
            cursor.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    print(
        "validation run bench: "
        + (
            "the registry as seeded before, "
            if args.reuse
            else f"about {args.episodes:,} episodes, {args.sites} sites, seed {args.seed}, "
        )
        + f"PostgreSQL {server}, {os.cpu_count()} CPUs, load average {load_average()}"
    )
    patients = max(1, math.ceil(args.episodes / EPISODES_PER_PATIENT))
    seeding = seed_or_reuse(
        parser, reuse=args.reuse, sites=args.sites, patients=patients, seed=args.seed, batch_size=args.batch_size
    )
    if seeding is not None:
        counts, seeded = seeding
        print(
            f"seeded {counts['patients']:,} patients, {counts['episodes']:,} episodes in {seeded:.1f} s (COPY); "
            + ", ".join(f"{key} {value:,}" for key, value in counts.items() if key not in ("patients", "episodes"))
        )
    print(
        f"registry: {RechallengeEpisode.objects.count():,} episodes, "
        f"{Assessment.objects.count():,} locked assessments (an assessment is locked when it is written)"
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    # The run, as the Celery task runs it; its parts are timed by wrapping what the service calls.
    parts: dict[str, float] = {}
    kept: dict[str, Any] = {}
    originals = {name: getattr(services, name) for name in ("validation_frame", "validation_metrics", "_figures_drawn")}

    def timed(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            result = call(*args, **kwargs)
            parts[name] = time.perf_counter() - began
            if name == "validation_frame":
                kept["frame"] = result
            return result

        return wrapper

    for name, call in originals.items():
        setattr(services, name, timed(name, call))
    run = services.validation_run_create(trigger=ValidationRun.Trigger.COMMAND)
    started = time.perf_counter()
    run = services.validation_run_execute(run_id=run.pk)
    full = time.perf_counter() - started
    for name, call in originals.items():
        setattr(services, name, call)
    assert run is not None
    if run.status != ValidationRun.Status.SUCCEEDED:
        print(f"the run failed: {run.message}")
        return 1
    frame = kept["frame"]
    figures = list(run.figures.values_list("svg", flat=True))
    other = full - sum(parts.values())
    primary = run.metrics["populations"]["primary"]
    c_index = primary["c_index"]
    print(
        f"full run (services.validation_run_execute, as the Celery task): {full:.2f} s — "
        f"frame {parts['validation_frame']:.2f} s ({len(frame):,} rows), "
        f"statistics {parts['validation_metrics']:.2f} s, "
        f"figures {parts['_figures_drawn']:.2f} s ({len(figures)} SVG, {sum(map(len, figures)) / 1e6:.1f} MB), "
        f"claim, synthetic check and storing {other:.2f} s; run #{run.pk} recorded runtime {run.runtime_seconds:.2f} s"
    )
    print(
        f"  primary: n {primary['n']:,}, Harrell C {c_index['harrell']} {c_index['harrell_ci']}, "
        f"Uno C {c_index['uno']} {c_index['uno_ci']}, log-rank chi2 {primary['logrank']['chi2']}"
    )
    status = 0
    if len(frame) >= TARGET_EPISODES and full > BUDGET_SECONDS:
        print(f"  over the {BUDGET_SECONDS:.0f} s budget for {TARGET_EPISODES:,} episodes")
        status = 1
    if args.skip_lifelines:
        return status

    # The lifelines baseline of validation_bench.py, on the frame the run read.
    cut = run.data_cut
    rows = frame[frame["model_version"].astype(str) == run.model_version]
    # The database frame holds codes as categories; the baseline, as validation_bench.py, reads plain objects.
    rows = rows.astype({name: object for name, dtype in rows.dtypes.items() if dtype == "category"})
    total, projected, baseline = 0.0, False, {}
    for population in build_populations(rows, data_cut=cut).values():
        windows = {months: potential_follow_up(population.analysed, cut, months) for months in (6, 12)}
        timings = _lifelines_population(population.analysed, population.eligible, windows, args.lifelines_cluster_max)
        projected |= bool(timings.pop("_projected_cluster"))
        for name, seconds in timings.items():
            baseline[name] = baseline.get(name, 0.0) + seconds
        total += sum(timings.values())
    detail = ", ".join(f"{name} {seconds:.1f}" for name, seconds in baseline.items())
    label = " (projected)" if projected else ""
    print(f"plain lifelines, same statistics, same frame, both populations: {total:.2f} s{label}")
    print(f"  ({detail} s{'; cox_cluster projected from two subsamples' if projected else ''})")
    print(f"ratio lifelines / full run: {total / full:.1f}x")
    print(f"ratio lifelines / statistics of the run: {total / parts['validation_metrics']:.1f}x")
    print(f"load average at the end: {load_average()}; plot format {plots.PLOT_FORMAT}")
    if total < full:
        print("  the full run is slower than the lifelines baseline")
        status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())

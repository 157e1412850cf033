"""What the PostgreSQL-level benches share: seed a registry with the demo generator (COPY), or time one seeded
before (``--reuse``), and the machine's load printed beside every timing."""

from __future__ import annotations

import argparse
import os
import time


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages: timings on a busy machine are not comparable."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def seed_or_reuse(
    parser: argparse.ArgumentParser, *, reuse: bool, sites: int, patients: int, seed: int, batch_size: int
) -> tuple[dict[str, int], float] | None:
    """Seed ``patients`` at ``sites`` (COPY) into an empty registry and return the counts and seconds; with
    ``reuse``, check that a registry was seeded before and return None. Either way misuse is a parser error."""
    from apps.assessments.demo import demo_registry_seed
    from apps.clinical.models import Patient

    if reuse:
        if not Patient.objects.exists():
            parser.error("--reuse needs a seeded registry")
        return None
    if Patient.objects.exists():
        parser.error("the database already has patients: use an empty one, --reset, or --reuse")
    started = time.perf_counter()
    counts = demo_registry_seed(sites=sites, patients=patients, seed=seed, batch_size=batch_size, use_copy=True)
    return counts, time.perf_counter() - started

"""Benchmark: the set-wise derivation (registry/derive_frames.py) against the per-record loop it replaces.

Why: validation and exports derive every outcome for up to 1,000,000 episodes. The per-record
``derive_patient`` loop is the baseline, timed in the same run on the same seeded cohort, so the
ratio — not the absolute time on a noisy 2-core machine — is what to compare across runs. Building
the cohort and converting it to records and frames is not timed (in production the frames come
from one SQL query per table).

    .venv/bin/python bench/derive_frames_bench.py [--patients 20000] [--sites 20] [--seed 1] [--repeat 3]

No database needed.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd

from registry.cohort_records import cohort_frames, cohort_records
from registry.derive import derive_patient
from registry.derive_frames import derive_episodes
from registry.synthetic import generate_cohort

TARGET_EPISODES = 1_000_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="Best of this many runs of each.")
    args = parser.parse_args()

    started = time.perf_counter()
    cohort = generate_cohort(sites=args.sites, patients=args.patients, seed=args.seed)
    records = cohort_records(cohort.patients)
    frames = cohort_frames(cohort.patients)
    episodes = len(frames.episodes)
    print(
        f"derive_frames bench: {args.patients:,} patients, {episodes:,} episodes, {args.sites} sites, "
        f"seed {args.seed}, best of {args.repeat} (cohort and conversions {time.perf_counter() - started:.1f} s)"
    )

    def per_record() -> list[dict]:
        return [episode.as_row() for patient in records for episode in derive_patient(patient).episodes.values()]

    loop_seconds, rows = _best_of(args.repeat, per_record)
    frame_seconds, frame = _best_of(args.repeat, lambda: derive_episodes(frames))
    print(f"per-record derive_patient loop: {loop_seconds:.3f} s — {episodes / loop_seconds:,.0f} episodes/s")
    print(f"set-wise derive_episodes:       {frame_seconds:.3f} s — {episodes / frame_seconds:,.0f} episodes/s")
    print(f"ratio loop / set-wise: {loop_seconds / frame_seconds:.1f}x")
    print(
        f"projected for {TARGET_EPISODES:,} episodes: set-wise {frame_seconds * TARGET_EPISODES / episodes:.0f} s, "
        f"loop {loop_seconds * TARGET_EPISODES / episodes:.0f} s"
    )
    differing = _differing_episodes(rows, frame)
    print(f"episodes whose values differ between the two: {differing}")
    return 0 if differing == 0 else 1


def _best_of(repeat: int, run: Callable[[], object]) -> tuple[float, object]:
    best, result = math.inf, None
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def _differing_episodes(rows: list[dict], frame: pd.DataFrame) -> int:
    """How many episodes have a value that differs (floats within 1e-9) between the per-record rows and the frame."""
    by_episode = {row["episode_id"]: row for row in frame.to_dict("records")}

    def plain(value: object) -> object:
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return None
        return value.item() if hasattr(value, "item") else value

    def same(expected: object, actual: object) -> bool:
        if isinstance(expected, float) and isinstance(actual, float):
            return abs(expected - actual) <= 1e-9
        return expected == actual

    return sum(
        any(not same(value, plain(by_episode[row["episode_id"]][key])) for key, value in row.items()) for row in rows
    )


if __name__ == "__main__":
    raise SystemExit(main())

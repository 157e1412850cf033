"""Run every benchmark at a small, stated size on the configured database (``make bench``).

The full-size figures (100,000 patients on PostgreSQL) come from running the scripts directly,
as bench/README.md shows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PATIENTS = os.environ.get("BENCH_PATIENTS", "5000")


def main() -> int:
    on_postgresql = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    runs = [
        [sys.executable, str(HERE / "patient_list_latency.py"), "--patients", PATIENTS, "--requests", "60"],
        [sys.executable, str(HERE / "derive_frames_bench.py"), "--patients", PATIENTS, "--repeat", "1"],
        [sys.executable, str(HERE / "upload_limit_bench.py")],
        [sys.executable, str(HERE / "validation_bench.py"), "--episodes", PATIENTS],
    ]
    if on_postgresql:
        seed = [sys.executable, str(HERE / "seed_demo_bench.py"), "--patients", PATIENTS, "--reset", "--check", "20"]
        runs.insert(0, seed)
    else:
        print("seed_demo_bench.py needs PostgreSQL (its baseline is COPY); set DATABASE_URL to run it.")
    for command in runs:
        print("$", " ".join(command[1:]), flush=True)
        if subprocess.call(command) != 0:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``manage.py seed_demo``: fill the registry with a synthetic, deterministic multi-site cohort, enrolled.

It lives in ``apps.assessments`` because seeding enrolls the demo episodes (locked decision-model
assessments, ``apps.assessments.demo``), which ``apps.clinical`` may not know about.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.accounts.demo import demo_credentials_path, demo_credentials_table, demo_users_ensure
from apps.assessments.demo import demo_registry_seed
from apps.clinical.models import Patient
from registry.synthetic import demo_site_codes


class Command(BaseCommand):
    help = "Write a synthetic demo cohort (same seed, same data), enroll its episodes, and demo users for every role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sites", type=int, default=4, help="Number of demo sites (DEMO01…).")
        parser.add_argument("--patients", type=int, default=400, help="Number of patients to create.")
        parser.add_argument("--seed", type=int, default=1, help="Random seed; the same seed gives the same cohort.")
        parser.add_argument("--if-empty", action="store_true", help="Do nothing if any patient exists already.")
        parser.add_argument("--batch-size", type=int, default=5000, help="Rows per bulk insert.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["sites"] < 1 or options["patients"] < 0:
            self.stderr.write("--sites must be at least 1 and --patients cannot be negative.")
            raise SystemExit(2)
        if options["if_empty"] and Patient.objects.exists():
            self.stdout.write("The registry already has patients: demo data not seeded (--if-empty).")
            return

        def progress(stage: str, done: int, total: int) -> None:
            if options["verbosity"] >= 2 or (options["verbosity"] >= 1 and total >= 20_000):
                self.stdout.write(f"  {stage}: {done:,}/{total:,}")

        started = time.perf_counter()
        counts = demo_registry_seed(
            sites=options["sites"],
            patients=options["patients"],
            seed=options["seed"],
            batch_size=options["batch_size"],
            progress=progress,
        )
        elapsed = time.perf_counter() - started
        credentials = demo_users_ensure(sites=demo_site_codes(options["sites"]))

        self.stdout.write(self.style.SUCCESS(f"Seeded demo data (seed {options['seed']}) in {elapsed:.1f} s:"))
        for name, count in counts.items():
            self.stdout.write(f"  {name.replace('_', ' ')}: {count:,}")
        self.stdout.write(f"\nDemo users (also in {demo_credentials_path()}):\n")
        self.stdout.write(demo_credentials_table(credentials))

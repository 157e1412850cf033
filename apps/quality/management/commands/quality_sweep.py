"""``manage.py quality_sweep [--rule ID ...] [--patient ID ...]``: the data-quality sweep, here and now.

Prints exactly one JSON line, ``{"opened": n, "closed": n, "open_total": n, "seconds": s}`` (``open_total``:
every query not closed, open or answered).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.quality.sweep import quality_sweep
from registry.quality import RULES


class Command(BaseCommand):
    help = (
        "Run the data-quality rules over the registry set-wise, open a query per new problem and close those "
        "whose problem was fixed; print a JSON summary."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rule",
            action="append",
            dest="rules",
            choices=[rule.id for rule in RULES],
            help="Run only this rule (repeatable); default: every rule.",
        )
        parser.add_argument(
            "--patient",
            action="append",
            dest="patients",
            type=int,
            help="Check only this patient (database id; repeatable). Rules comparing patients are then skipped.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = quality_sweep(patient_ids=options["patients"], rule_ids=options["rules"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(json.dumps(summary))

"""``manage.py run_validation [--model-version V] [--data-cut ISO]``: one validation run, here and now.

The run is stored like a scheduled one (trigger ``command``) and its metrics JSON is printed to stdout
with the stored run's id added under ``"run"``; progress and errors go to stderr. Exit status 1 if the
run failed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from apps.core.errors import ApplicationError
from apps.validation import services
from apps.validation.models import ValidationRun


def _data_cut(value: str) -> dt.datetime:
    moment = parse_datetime(value)
    if moment is None:
        raise CommandError(f"--data-cut {value!r} is not an ISO 8601 date and time, e.g. 2026-10-31T23:59:59Z")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


class Command(BaseCommand):
    help = (
        "Run one validation of the decision model synchronously, store it, and print its metrics JSON. "
        "Without --model-version the active model version (DECISION_MODEL_VERSION) is validated."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model-version", help="The decision model version to validate (default: the active one).")
        parser.add_argument(
            "--data-cut",
            help="The data cut as an ISO 8601 moment (UTC if no offset is given); default: now. The same cut on "
            "unchanged data gives byte-identical metrics.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        cut = _data_cut(options["data_cut"]) if options["data_cut"] else None
        try:
            run = services.validation_run_command(model_version=options["model_version"], data_cut=cut)
        except ApplicationError as error:
            messages = [message for field in error.field_errors.values() for message in field]
            raise CommandError("; ".join(messages) or error.message) from None
        if run.status != ValidationRun.Status.SUCCEEDED:
            raise CommandError(f"Validation run #{run.pk} {run.get_status_display().lower()}: {run.message}")
        output = dict(run.metrics)
        output["run"] = {
            "id": run.pk,
            **output["run"],
            "status": run.status,
            "is_synthetic": run.is_synthetic,
            "runtime_seconds": run.runtime_seconds,
        }
        self.stderr.write(f"Validation run #{run.pk} stored: {run.message}")
        self.stdout.write(json.dumps(output, indent=2, sort_keys=True, ensure_ascii=False))

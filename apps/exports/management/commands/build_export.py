"""``manage.py build_export --dataset analysis --profile safe_harbor --formats csv,parquet --output PATH.zip``.

Builds one de-identified bundle here and now, for operators and tests, from the same code the Celery
task runs (``services.export_bundle``). Nothing is stored in the database; the pseudonyms belong to the
``--project`` scope (default ``operator``), unrelated to any project's. The same options on an unchanged
data cut (``--data-cut``) write a byte-identical file. Prints the manifest's row counts and the SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.exports import services
from apps.exports.selectors import DATASETS
from registry.deid import DEFAULT_PROFILE, FORMATS, PROFILES, DeidError


def _list(value: str, allowed, what: str) -> list[str]:
    chosen = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in allowed]
    if not chosen or unknown:
        raise CommandError(f"--{what}: choose from {', '.join(allowed)}")
    return chosen


class Command(BaseCommand):
    help = "Build one de-identified export bundle (zip) synchronously and write it to --output."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dataset", default="analysis", help=f"Comma-separated tables: {', '.join(DATASETS)} (default analysis)."
        )
        parser.add_argument("--profile", default=DEFAULT_PROFILE, choices=sorted(PROFILES))
        parser.add_argument("--formats", default="csv", help=f"Comma-separated: {', '.join(FORMATS)}.")
        parser.add_argument("--output", required=True, help="Path of the zip to write.")
        parser.add_argument("--k", type=int, default=5, help="k of the k-anonymity check (default 5).")
        parser.add_argument("--project", default="operator", help="Pseudonym scope (default: operator).")
        parser.add_argument("--data-cut", help="ISO 8601 moment (UTC if no offset); default: now.")
        parser.add_argument("--tumour-types", default="", help="Comma-separated OncoTree codes to keep.")
        parser.add_argument("--sites", default="", help="Comma-separated site codes to keep.")
        parser.add_argument("--model-version", default="", help="Keep episodes locked under this model version.")

    def handle(self, *args: Any, **options: Any) -> None:
        datasets = _list(options["dataset"], DATASETS, "dataset")
        formats = _list(options["formats"], tuple(FORMATS), "formats")
        if options["data_cut"]:
            cut = parse_datetime(options["data_cut"])
            if cut is None:
                raise CommandError("--data-cut is not an ISO 8601 moment, e.g. 2026-10-31T23:59:59Z")
            cut = cut if cut.tzinfo is not None else cut.replace(tzinfo=dt.UTC)
        else:
            cut = timezone.now()
        filters = {
            key: [part for part in options[option].split(",") if part]
            for key, option in (("tumour_types", "tumour_types"), ("sites", "sites"))
            if options[option]
        }
        if options["model_version"]:
            filters["model_version"] = options["model_version"]
        try:
            bundle, manifest = services.export_bundle(
                export_id=f"CLI-{cut.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}",
                project={"id": options["project"], "title": f"Operator export ({options['project']})"},
                project_scope=f"command-{options['project']}",
                requester=os.environ.get("USER", "operator"),
                approver=None,
                datasets=datasets,
                formats=formats,
                profile_name=options["profile"],
                k=options["k"],
                filters=filters,
                data_cut=cut.astimezone(dt.UTC),
                progress=lambda percent, what: self.stderr.write(f"{percent:3d}% {what}"),
            )
        except (DeidError, ValueError) as error:
            raise CommandError(str(error)) from None
        output = Path(options["output"])
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(bundle)
        rows = manifest["deidentification"]["rows"]
        self.stdout.write(
            f"{output}: {len(bundle):,} bytes, sha256 {hashlib.sha256(bundle).hexdigest()}; rows "
            + ", ".join(f"{name} {count:,}" for name, count in sorted(rows.items()))
        )

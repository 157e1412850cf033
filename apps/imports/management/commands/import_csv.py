"""``manage.py import_csv --site CODE --user USERNAME FILE [--dry-run]``: a bulk import for operators.

It runs the very import of the upload page (``services.import_job_create``): the same checks of the
user's right to import at the site, the same validation, the same all-or-nothing write audited under
the user's name on channel ``import`` — inline, not on a Celery worker. It prints the job as JSON on
stdout: the preview of a dry run, or the outcome of an import (with the registry IDs it created), and
exits with status 1 when the job failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import Site
from apps.core.errors import ApplicationError
from apps.imports import services
from apps.imports.models import ImportJob


def job_as_json(job: ImportJob) -> dict[str, Any]:
    """What the job page shows, as data (the operator sees the file: nothing is masked)."""
    return {
        "job": job.pk,
        "site": job.site.code,
        "dry_run": job.dry_run,
        "status": job.status,
        "message": job.message,
        "rows": job.total_rows,
        "error_count": job.error_count,
        "errors": job.errors,
        "created_counts": job.created_counts,
        "created_registry_ids": job.created_registry_ids,
        "preview": job.preview,
    }


class Command(BaseCommand):
    help = "Import a bulk-import CSV file for a site as a user (or only preview it with --dry-run); prints JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV file, in the format of the site's template.")
        parser.add_argument("--site", required=True, help="Code of the site the records belong to (e.g. DEMO01).")
        parser.add_argument("--user", required=True, help="Username of a staff member of the site; audited as them.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file and print what it would do; write nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        site = Site.objects.filter(code=options["site"]).first()
        if site is None:
            raise CommandError(f"No site with code {options['site']!r}.")
        user = get_user_model().objects.filter(username=options["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {options['user']!r}.")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No file {str(path)!r}.")
        with path.open("rb") as handle:
            try:
                job = services.import_job_create(
                    user=user,
                    site=site,
                    upload=File(handle, name=path.name),
                    run_inline=True,
                    dry_run=options["dry_run"],
                )
            except ApplicationError as error:
                raise CommandError(error.message) from None
        self.stdout.write(json.dumps(job_as_json(job), indent=2, ensure_ascii=False, default=str))
        if job.status != ImportJob.Status.SUCCEEDED:
            raise CommandError(f"Import #{job.pk} failed: {job.message}", returncode=1)

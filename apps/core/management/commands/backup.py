"""``manage.py backup [--output PATH]``: a consistent copy of the whole database, described as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.core.backup import database_backup
from apps.core.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Write a consistent backup: SQLite through its online backup API, PostgreSQL with pg_dump (custom format). "
        "Prints path, size, SHA-256 and time as JSON. Restore with `manage.py restore PATH` into an empty database."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", type=Path, help="File to write (default: var/backups/registry-<UTC time>.*).")

    def handle(self, *args, **options) -> None:
        try:
            result = database_backup(path=options["output"])
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(json.dumps(result.as_dict(), indent=2))

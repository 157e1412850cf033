"""``manage.py restore PATH``: load a backup made by ``manage.py backup`` into an empty database."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.core.backup import database_restore
from apps.core.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Restore a backup into the configured database, which must be empty (no tables). "
        "Run `manage.py verify_audit` afterwards to check the audit trail arrived intact."
    )

    # The target database is empty: checks that read tables would fail before there is anything to check.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="A file written by `manage.py backup`.")

    def handle(self, *args, **options) -> None:
        try:
            seconds = database_restore(path=options["path"])
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(json.dumps({"restored": str(options["path"]), "seconds": round(seconds, 3)}))

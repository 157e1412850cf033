"""``manage.py verify_audit``: recompute every audit hash chain and name the first broken link."""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from apps.core.selectors import audit_chains_verify


class Command(BaseCommand):
    help = (
        "Recompute the SHA-256 chain of every audit entry (per site, plus the global chain) and report the "
        "first broken link. Exit status 1 if any chain is broken. Keep the printed head hashes somewhere "
        "outside the database: they are what a later run is compared with."
    )

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        report = audit_chains_verify()
        report["seconds"] = round(time.perf_counter() - started, 3)
        self.stdout.write(json.dumps(report, indent=2))
        if report["broken"]:
            first = report["broken"][0]
            where = f"entry #{first['entry_id']}" if first["entry_id"] is not None else "the chain's end"
            raise CommandError(f"Audit chain {first['chain']} is broken at {where}: {first['problem']}")

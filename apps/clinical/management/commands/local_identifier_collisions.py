"""``manage.py local_identifier_collisions``: patients of one site whose identifiers are one when normalised."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.clinical.selectors import local_identifier_collisions


class Command(BaseCommand):
    help = (
        "List, by site code and registry ID, the patients of one site whose local identifiers are the same "
        "once normalised (case, spaces, invisible characters). The normalising migration left them as stored "
        "for the site's staff to resolve. Identifiers are not printed. Exit status 1 if there are any."
    )

    def handle(self, *args, **options) -> None:
        collisions = local_identifier_collisions()
        for site, registry_ids in collisions:
            self.stdout.write(f"site {site}: {', '.join(registry_ids)}")
        if collisions:
            raise CommandError(f"{len(collisions)} group(s) of patients share a local identifier once normalised.")
        self.stdout.write("No local identifiers collide once normalised.")

"""Demo accounts: the demo sites, and a user for every role with one published password.

A demo or benchmark registry needs someone to sign in as, in every role and at the demo sites; the
cohort itself is written by ``apps.clinical.demo``. Idempotent: running it again resets the demo
users' passwords and memberships instead of adding users.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction

from registry.synthetic import DemoSite

from .models import Membership, Role, Site, User

DEMO_PASSWORD = "registry-demo-2026"  # noqa: S105 - a published demo password, never for real data
CREDENTIALS_FILE_NAME = "demo-credentials.txt"

#: ``(username, role, site code or None, password)``.
DemoCredential = tuple[str, str, str | None, str]


def demo_sites_ensure(demo_sites: Sequence[DemoSite]) -> tuple[dict[str, int], int]:
    """Site ids by code, creating the demo sites that do not exist yet; and how many were created."""
    existing = dict(Site.objects.filter(code__in=[site.code for site in demo_sites]).values_list("code", "id"))
    missing = [
        Site(
            code=site.code,
            name=site.name,
            country=site.country,
            ethics_approval_reference=site.ethics_approval_reference,
            ethics_approval_date=site.ethics_approval_date,
        )
        for site in demo_sites
        if site.code not in existing
    ]
    for site in Site.objects.bulk_create(missing):
        existing[site.code] = site.pk
    return existing, len(missing)


def demo_users_ensure(*, sites: Sequence[str]) -> list[DemoCredential]:
    """Demo users for every role, created or reset idempotently; writes ``VAR_DIR/demo-credentials.txt``.

    ``sites`` are site codes; center staff (data entry, site PI) are made for the first two.
    Returns ``(username, role, site code or None, password)`` rows.
    """
    wanted: list[tuple[str, str, str | None]] = [
        ("admin", "admin", None),
        ("coordinator", Role.COORDINATOR, None),
        ("investigator", Role.INVESTIGATOR, None),
    ]
    for code in list(sites)[:2]:
        wanted.append((f"entry_{code.lower()}", Role.DATA_ENTRY, code))
        wanted.append((f"pi_{code.lower()}", Role.SITE_PI, code))
    site_by_code = {site.code: site for site in Site.objects.filter(code__in=[code for _, _, code in wanted if code])}
    # One hash for all: the password is shared anyway, and hashing is deliberately slow.
    password_hash = make_password(DEMO_PASSWORD)
    rows: list[DemoCredential] = []
    with transaction.atomic():
        for username, role, code in wanted:
            user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@demo.invalid"})
            user.password = password_hash
            user.is_active = True
            user.is_staff = user.is_superuser = role == "admin"
            user.save(update_fields=["password", "is_active", "is_staff", "is_superuser"])
            if role != "admin":
                site = site_by_code[code] if code else None
                Membership.objects.get_or_create(user=user, site=site, role=role)
            rows.append((username, str(role), code, DEMO_PASSWORD))
    _credentials_write(rows)
    return rows


def demo_credentials_path() -> Path:
    return Path(settings.VAR_DIR) / CREDENTIALS_FILE_NAME


def demo_credentials_table(rows: Sequence[DemoCredential]) -> str:
    """The demo users as a fixed-width table, for the terminal and the credentials file."""
    header = ("username", "role", "site", "password")
    lines = [header, *((u, r, c or "(all sites)", p) for u, r, c, p in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines]
    text.insert(1, "  ".join("-" * width for width in widths))
    if settings.REQUIRE_OTP_FOR_REGISTRY_WIDE_ROLES:
        text.append("")
        text.append("coordinator and investigator set up a TOTP authenticator app at their first sign-in.")
    return "\n".join(text) + "\n"


def _credentials_write(rows: Sequence[DemoCredential]) -> None:
    path = demo_credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "Demo users of the ICI rechallenge registry — synthetic data only, never real patients.\n\n"
    path.write_text(text + demo_credentials_table(rows), encoding="utf-8")
    os.chmod(path, 0o600)

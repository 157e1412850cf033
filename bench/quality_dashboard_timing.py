"""Server time of the data-quality dashboard (and the patient list's status columns) at the database's size.

Requests go through the whole Django stack in-process (middleware, authentication, scoping, templates) with
Django's test client. The dashboard keeps the clinical part of its figures per site in the cache: the first
view after a write (or after ``QUALITY_DASHBOARD_CACHE_SECONDS``) recomputes it, so the script reports that
*cold* time (``?refresh=1``) beside the p50/p95 of ordinary views.

Importable (``bench/quality_sweep_bench.py`` calls :func:`dashboard_timing` after its sweep)::

    from bench.quality_dashboard_timing import dashboard_timing
    dashboard_timing(coordinator_user, n=20)  # {"p50_ms": …, "p95_ms": …, "cold_ms": …}

and runnable on its own against an existing (seeded, migrated) database::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench_rules \\
        .venv/bin/python bench/quality_dashboard_timing.py --requests 20
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def signed_in_client(user):
    """A test client signed in as ``user``, with a verified second factor for registry-wide roles."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from apps.accounts.selectors import access_for_user

    client = Client()
    client.force_login(user)
    access = access_for_user(user)
    if access.is_coordinator or access.is_investigator:
        device, _ = TOTPDevice.objects.get_or_create(user=user, name="bench", defaults={"confirmed": True})
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def _test_environment() -> None:
    """The test client's host (``testserver``) allowed, once per process."""
    from django.test.utils import setup_test_environment

    with contextlib.suppress(RuntimeError):  # already set up (by the caller, or an earlier call)
        setup_test_environment()


def _client(client_or_user):
    _test_environment()
    return (
        client_or_user
        if hasattr(client_or_user, "get") and hasattr(client_or_user, "session")
        else signed_in_client(client_or_user)
    )


def _timed_get(client, url: str, params: dict[str, Any] | None = None) -> float:
    start = time.perf_counter()
    response = client.get(url, params or {})
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{url} {params} answered {response.status_code}")
    return elapsed


def page_timing(client_or_user, url: str, *, n: int = 20, params: dict[str, Any] | None = None) -> dict[str, float]:
    """p50/p95 server time (ms) of ``n`` GETs of ``url`` after one warm-up request."""
    client = _client(client_or_user)
    _timed_get(client, url, params)
    samples = [_timed_get(client, url, params) for _ in range(n)]
    return {"p50_ms": round(statistics.median(samples), 1), "p95_ms": round(percentile(samples, 0.95), 1)}


def dashboard_timing(client_or_user, n: int = 20) -> dict[str, float]:
    """The dashboard's server time: ``cold_ms`` recomputing every site's clinical figures (``?refresh=1``), then
    p50/p95 over ``n`` ordinary views."""
    from django.urls import reverse

    client = _client(client_or_user)
    url = reverse("quality:dashboard")
    cold = _timed_get(client, url, {"refresh": "1"})
    timing = page_timing(client, url, n=n)
    return {**timing, "cold_ms": round(cold, 1)}


def main() -> None:
    import django

    django.setup()
    from django.db import connection
    from django.urls import reverse

    from apps.accounts.demo import demo_users_ensure
    from apps.accounts.models import Membership, Role
    from apps.clinical.models import Patient

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()

    _test_environment()
    total = Patient.objects.count()
    site_codes = list(Patient.objects.order_by().values_list("site__code", flat=True).distinct()[:2])
    has_users = Membership.objects.filter(role=Role.COORDINATOR).exists()
    if not has_users or not Membership.objects.filter(role=Role.DATA_ENTRY).exists():
        demo_users_ensure(sites=site_codes)
    coordinator = Membership.objects.filter(role=Role.COORDINATOR).select_related("user").first().user
    staff = Membership.objects.filter(role=Role.DATA_ENTRY).select_related("user", "site").first()
    print(f"database: {connection.vendor}, patients: {total}; {args.requests} requests per line")

    for label, user in (("coordinator", coordinator), (f"site staff ({staff.site.code})", staff.user)):
        client = signed_in_client(user)
        timing = dashboard_timing(client, n=args.requests)
        print(
            f"dashboard /quality/ ({label}):".ljust(52)
            + f"p50={timing['p50_ms']:8.1f} ms  p95={timing['p95_ms']:8.1f} ms  "
            + f"cold (recompute)={timing['cold_ms']:8.1f} ms"
        )
        for sort in ("registry_id", "-last_follow_up", "-open_queries", "status", "-enrolled"):
            timing = page_timing(client, reverse("clinical:patient-list"), n=args.requests, params={"sort": sort})
            print(
                f"patient list ?sort={sort} ({label}):".ljust(52)
                + f"p50={timing['p50_ms']:8.1f} ms  p95={timing['p95_ms']:8.1f} ms"
            )
        code = staff.site.code
        # One site, and for the coordinator also every site at once (the drilldown without ?site=).
        scopes = [{"site": code}] + ([{}] if user == coordinator else [])
        for params in scopes:
            for metric in ("patients", "incomplete", "open-queries", "unverified"):
                timing = page_timing(
                    client, reverse("quality:drilldown", args=[metric]), n=max(3, args.requests // 4), params=params
                )
                scope = f"?site={code}" if params else "all sites"
                print(
                    f"drilldown {metric} {scope} ({label}):".ljust(52)
                    + f"p50={timing['p50_ms']:8.1f} ms  p95={timing['p95_ms']:8.1f} ms"
                )


if __name__ == "__main__":
    main()

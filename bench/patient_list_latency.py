"""p50/p95 latency of the patient list (API and page) at a seeded cohort size, with a SQL baseline.

Requests go through the whole Django stack in-process (middleware, authentication, scoping,
serialisation, templates) with Django's test client, as a coordinator (all sites) and as center
staff (one site), over a spread of pages and searches. The baseline is the bare SQL of one page of
the same rows on the same database, so the ratio says what the framework adds.

    python bench/patient_list_latency.py --patients 100000 --requests 200
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from apps.accounts.demo import demo_users_ensure  # noqa: E402
from apps.accounts.models import Membership, Role  # noqa: E402
from apps.clinical.demo import demo_cohort_seed  # noqa: E402
from apps.clinical.models import Patient  # noqa: E402


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(call, n: int) -> list[float]:
    samples = []
    for index in range(n):
        start = time.perf_counter()
        call(index)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def report(name: str, samples: list[float], baseline_p50: float | None = None) -> None:
    p50, p95 = statistics.median(samples), percentile(samples, 0.95)
    ratio = f"  ×{p50 / baseline_p50:.1f} of SQL baseline p50" if baseline_p50 else ""
    print(f"{name:<46} n={len(samples):>4}  p50={p50:7.2f} ms  p95={p95:7.2f} ms{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    existing = Patient.objects.count()
    if existing < args.patients:
        print(f"seeding {args.patients - existing} patients (seed {args.seed})…", flush=True)
        demo_cohort_seed(sites=args.sites, patients=args.patients - existing, seed=args.seed)
    total = Patient.objects.count()
    site_codes = list(Patient.objects.order_by().values_list("site__code", flat=True).distinct()[:2])
    demo_users_ensure(sites=site_codes)
    print(f"database: {connection.vendor}, patients: {total}, sites: {len(site_codes)}+")

    setup_test_environment()
    rng = random.Random(args.seed)
    coordinator = Membership.objects.filter(role=Role.COORDINATOR).select_related("user").first().user
    staff = Membership.objects.filter(role=Role.DATA_ENTRY).select_related("user", "site").first()
    device, _ = TOTPDevice.objects.get_or_create(user=coordinator, name="bench", defaults={"confirmed": True})
    registry_ids = list(Patient.objects.filter(site=staff.site).values_list("registry_id", flat=True)[:500])

    clients = {}
    for label, user in (("coordinator", coordinator), ("site staff", staff.user)):
        client = Client()
        client.force_login(user)
        if label == "coordinator":
            session = client.session
            session["otp_device_id"] = device.persistent_id
            session.save()
        clients[label] = client
    site_count = Patient.objects.filter(site=staff.site).count()
    pages = {"coordinator": max(1, total // 50), "site staff": max(1, site_count // 50)}

    def bare_sql(index: int) -> None:
        offset = 50 * rng.randrange(pages["coordinator"])
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT p.registry_id, s.code, p.tumour_type, p.sex, p.year_of_birth FROM clinical_patient p "
                "JOIN accounts_site s ON s.id = p.site_id ORDER BY p.registry_id LIMIT 50 OFFSET %s",
                [offset],
            )
            cursor.fetchall()

    baseline = timed(bare_sql, args.requests)
    report("baseline: bare SQL page of 50 (random offset)", baseline)
    base_p50 = statistics.median(baseline)

    for label, client in clients.items():

        def api_page(index: int, client=client, label=label, deep: bool = True) -> None:
            page = 1 + rng.randrange(pages[label] if deep else min(10, pages[label]))
            response = client.get("/api/v1/patients/", {"page": page})
            assert response.status_code == 200, response.status_code

        def web_page(index: int, client=client, label=label, deep: bool = True) -> None:
            page = 1 + rng.randrange(pages[label] if deep else min(10, pages[label]))
            response = client.get("/patients/", {"page": page})
            assert response.status_code == 200, response.status_code

        first_pages = args.requests // 2
        report(
            f"API  /api/v1/patients/ ({label}, pages 1-10)",
            timed(lambda i: api_page(i, deep=False), first_pages),
            base_p50,
        )
        report(
            f"page /patients/ ({label}, pages 1-10)", timed(lambda i: web_page(i, deep=False), first_pages), base_p50
        )

        def api_search(index: int, client=client) -> None:
            response = client.get("/api/v1/patients/", {"search": rng.choice(registry_ids)[:9]})
            assert response.status_code == 200, response.status_code

        report(f"API  /api/v1/patients/ ({label}, random page)", timed(api_page, args.requests), base_p50)
        report(f"page /patients/ ({label}, random page)", timed(web_page, args.requests), base_p50)
        report(f"API  search by registry ID ({label})", timed(api_search, args.requests // 2), base_p50)


if __name__ == "__main__":
    main()

"""p50/p95 latency of the patient list (page and API) at a seeded cohort size, with a SQL baseline.

Requests go through the whole Django stack in-process (middleware, authentication, scoping,
serialisation, templates) with Django's test client, as a coordinator (all sites) and as center
staff (one site): the first page and a deep page (a keyset cursor at a random patient) in every
order the list offers, prefix searches by registry ID and by local identifier, and the API's
pages (by number, and by cursor) and search. The baseline is the bare SQL of one page of the same
rows on the same database, so the ratio says what the framework adds.

    python bench/patient_list_latency.py --patients 100000 --requests 100
    python bench/patient_list_latency.py --reuse            # a registry seeded before (any size)
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
from apps.clinical.models import Patient  # noqa: E402
from apps.clinical.selectors import (  # noqa: E402
    patient_keyset_cursor,
    patient_list_cursor,
    patient_list_sorts,
)
from bench.registry_seed import load_average, seed_or_reuse  # noqa: E402

VACUUMED = (
    "clinical_patient",
    "clinical_patientsummary",
    "quality_dataquery",
    "quality_patientopenqueries",
    "quality_patientsiteopenqueries",
)

#: The budget of every list and search (issue #13): p95 at 100,000 patients on PostgreSQL.
BUDGET_MS = 100.0


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


RESULTS: list[tuple[str, float, float]] = []


def report(name: str, samples: list[float], baseline_p50: float | None = None) -> None:
    p50, p95 = statistics.median(samples), percentile(samples, 0.95)
    RESULTS.append((name, p50, p95))
    ratio = f"  ×{p50 / baseline_p50:4.1f} of SQL" if baseline_p50 else ""
    flag = "" if baseline_p50 is None or p95 < BUDGET_MS else "  OVER BUDGET"
    print(f"{name:<58} n={len(samples):>4}  p50={p50:7.2f} ms  p95={p95:7.2f} ms{ratio}{flag}", flush=True)


def get(client: Client, url: str, params: dict) -> None:
    response = client.get(url, params)
    assert response.status_code == 200, (url, params, response.status_code)


def bench_user(label: str, client: Client, user, *, samples, local_prefixes, pages: int, n: int, base: float) -> None:
    """Every scenario for one user: each order's first and a deep page, the searches, the API's pages."""
    rng = random.Random(len(label))
    print(f"-- {label}")
    for _ in range(3):  # warm: the session, the connection, the templates
        get(client, "/patients/", {})
        get(client, "/api/v1/patients/", {})
    for sort in patient_list_sorts(user=user):
        for key in (sort, f"-{sort}"):
            report(
                f"page /patients/ ?sort={key} first page ({label})",
                timed(lambda i, key=key: get(client, "/patients/", {"sort": key}), n // 2),
                base,
            )
            cursors = [patient_list_cursor(user=user, sort=key, patient=p) for p in samples[: n // 2]]
            report(
                f"page /patients/ ?sort={key} deep page, keyset ({label})",
                timed(
                    lambda i, key=key, cursors=cursors: get(client, "/patients/", {"sort": key, "after": cursors[i]}),
                    len(cursors),
                ),
                base,
            )
    ids = [p.registry_id for p in samples]
    report(
        f"page search: registry ID prefix of 9 ({label})",
        timed(lambda i: get(client, "/patients/", {"q": ids[i % len(ids)][:9].lower()}), n),
        base,
    )
    report(
        f"page search: site code prefix, thousands match ({label})",
        timed(lambda i: get(client, "/patients/", {"q": ids[i % len(ids)][:7]}), n // 2),
        base,
    )
    report(
        f"page search: prefix, sorted -last_follow_up ({label})",
        timed(lambda i: get(client, "/patients/", {"q": ids[i % len(ids)][:7], "sort": "-last_follow_up"}), n // 2),
        base,
    )
    if label == "site staff":
        report(
            f"page search: local identifier prefix of 5 ({label})",
            timed(lambda i: get(client, "/patients/", {"q": local_prefixes[i % len(local_prefixes)]}), n),
            base,
        )
    report(
        f"API  /api/v1/patients/ first pages 1-10 ({label})",
        timed(lambda i: get(client, "/api/v1/patients/", {"page": 1 + rng.randrange(10)}), n),
        base,
    )
    report(
        f"API  /api/v1/patients/ random ?page= (OFFSET) ({label})",
        timed(lambda i: get(client, "/api/v1/patients/", {"page": 1 + rng.randrange(pages)}), n),
        base,
    )
    report(
        f"API  /api/v1/patients/ last ?page= (OFFSET) ({label})",
        timed(lambda i: get(client, "/api/v1/patients/", {"page": pages}), n // 4),
        base,
    )
    report(
        f"API  /api/v1/patients/ ?cursor= first page ({label})",
        timed(lambda i: get(client, "/api/v1/patients/", {"cursor": ""}), n // 2),
        base,
    )
    report(
        f"API  /api/v1/patients/ ?cursor= deep page, keyset ({label})",
        timed(
            lambda i: get(
                client, "/api/v1/patients/", {"cursor": patient_keyset_cursor(registry_id=ids[i % len(ids)])}
            ),
            n,
        ),
        base,
    )
    report(
        f"API  search: registry ID prefix of 9 ({label})",
        timed(lambda i: get(client, "/api/v1/patients/", {"search": ids[i % len(ids)][:9]}), n),
        base,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=100, help="Requests per line.")
    parser.add_argument("--reuse", action="store_true", help="Time the registry seeded before, without seeding.")
    args = parser.parse_args()

    seeded = seed_or_reuse(
        parser,
        reuse=args.reuse,
        sites=args.sites,
        patients=args.patients,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    if seeded is not None:
        print(f"seeded {args.patients:,} patients in {seeded[1]:.1f} s (COPY)")
    if connection.vendor == "postgresql":
        # As autovacuum leaves them after a bulk load: statistics, and the visibility map index-only scans read.
        with connection.cursor() as cursor:
            for table in VACUUMED:
                cursor.execute(f"VACUUM ANALYZE {table}")
    total = Patient.objects.count()
    site_codes = list(Patient.objects.order_by().values_list("site__code", flat=True).distinct()[:2])
    if not Membership.objects.filter(role=Role.DATA_ENTRY).exists():
        demo_users_ensure(sites=site_codes)
    setup_test_environment()
    rng = random.Random(args.seed)
    coordinator = Membership.objects.filter(role=Role.COORDINATOR).select_related("user").first().user
    staff = Membership.objects.filter(role=Role.DATA_ENTRY).select_related("user", "site").first()
    device, _ = TOTPDevice.objects.get_or_create(user=coordinator, name="bench", defaults={"confirmed": True})
    site_count = Patient.objects.filter(site=staff.site).count()
    print(
        f"database: {connection.vendor}, patients: {total:,} (site staff's site {staff.site.code}: {site_count:,}); "
        f"load average {load_average()}; {args.requests} requests per line; budget p95 < {BUDGET_MS:.0f} ms"
    )

    clients: dict[str, tuple[Client, object]] = {}
    for label, user in (("coordinator", coordinator), ("site staff", staff.user)):
        client = Client()
        client.force_login(user)
        if label == "coordinator":
            session = client.session
            session["otp_device_id"] = device.persistent_id
            session.save()
        clients[label] = (client, user)
    samples = {
        "coordinator": list(Patient.objects.order_by("?")[:300]),
        "site staff": list(Patient.objects.filter(site=staff.site).order_by("?")[:300]),
    }
    local_prefixes = [p.local_identifier[:5] for p in samples["site staff"] if p.local_identifier]

    def bare_sql(index: int) -> None:
        offset = 50 * rng.randrange(max(1, total // 50))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT p.registry_id, s.code, p.tumour_type, p.sex, p.year_of_birth FROM clinical_patient p "
                "JOIN accounts_site s ON s.id = p.site_id ORDER BY p.registry_id LIMIT 50 OFFSET %s",
                [offset],
            )
            cursor.fetchall()

    baseline = timed(bare_sql, args.requests)
    report("baseline: bare SQL page of 50 (random OFFSET)", baseline)
    base = statistics.median(baseline)
    n = args.requests

    for label, (client, user) in clients.items():
        pages = max(1, (total if label == "coordinator" else site_count) // 50)
        bench_user(
            label, client, user, samples=samples[label], local_prefixes=local_prefixes, pages=pages, n=n, base=base
        )

    over = [name for name, _, p95 in RESULTS[1:] if p95 >= BUDGET_MS]
    print(
        f"budget: every list and search p95 < {BUDGET_MS:.0f} ms: {'PASS' if not over else 'FAIL: ' + ', '.join(over)}"
    )


if __name__ == "__main__":
    main()

"""Benchmark: the data-quality sweep over 100,000 patients on PostgreSQL, beside a plain SQL count of the same problems.

Why: issue #10 asks the nightly sweep to run every rule over the whole registry set-wise in under 60 s at
100,000 patients. This seeds the demo registry (``apps.assessments.demo.demo_registry_seed``, COPY), plants
problems of every rule on chosen records (below), clears the queries, then in the same run

1. times ``apps.quality.sweep.quality_sweep()`` as the nightly task runs it (reading the tables, every check,
   opening one query per problem with its "opened" note), and a second sweep (which must open nothing);
2. times hand-written SQL statements counting the same problems, one statement per rule (the baseline: what
   the database alone takes to *count* them, with nothing read out, checked or written);

and prints both times, their ratio, and per rule the queries the sweep opened beside the SQL count (they must
be equal). The seeded demo data has problems of its own (blank required fields, natural near-duplicates);
both sides count those too. ``--reuse`` runs on a registry seeded before (the plants are applied again:
they are idempotent).

    createdb -h 127.0.0.1 -U postgres registry_bench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/quality_sweep_bench.py --patients 100000 [--sites 20] [--seed 1] [--reuse | --reset]

Plants (``--plant`` records per rule, chosen with ``--seed``, each set disjoint from the others):
``required_missing`` albumin emptied; ``implausible_value`` albumin 3.9 (a g/dL value); ``date_order`` a
response assessment 10 days before its rechallenge start; ``after_death`` a response 5 days after the
death of a patient recorded dead; ``toxicity_stop_without_irae`` ICI-1 stopped for toxicity with its irAEs
marked as not having led to the stop; ``grade5_without_death`` an irAE of a living patient set to grade 5;
``contraindicated_without_justification`` the justification of enrolled contraindicated episodes cleared
(the others are given one); ``follow_up_overdue`` the follow-ups of a living patient's latest rechallenge
deleted; ``outcome_missing`` the scans and follow-ups of a rechallenge started over six months ago
deleted; ``duplicate_patient`` a patient made to share sex, year of birth, tumour type and ICI-1 start
with another of the same site (its whole ICI-1 course dates copied, so the course stays valid).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.assessments.models import Assessment  # noqa: E402
from apps.clinical.models import (  # noqa: E402
    AdverseEvent,
    FollowUp,
    InitialCourse,
    Patient,
    RechallengeEpisode,
    ResponseAssessment,
)
from apps.core.models import AuditEntry  # noqa: E402
from apps.quality.models import DataQuery, QueryComment  # noqa: E402
from apps.quality.sweep import follow_up_interval_days, quality_sweep  # noqa: E402
from bench.registry_seed import load_average, seed_or_reuse  # noqa: E402
from registry.quality import OUTCOME_DUE_MONTHS, PLAUSIBLE_RANGES, RULES  # noqa: E402

BUDGET_SECONDS = 60.0
BUDGET_PATIENTS = 100_000
CLINICAL_TABLES = (
    Patient,
    InitialCourse,
    RechallengeEpisode,
    AdverseEvent,
    ResponseAssessment,
    FollowUp,
    AuditEntry,
    Assessment,
)
QUALITY_TABLES = (QueryComment, DataQuery)

T = {
    "patient": Patient._meta.db_table,
    "course": InitialCourse._meta.db_table,
    "episode": RechallengeEpisode._meta.db_table,
    "ae": AdverseEvent._meta.db_table,
    "response": ResponseAssessment._meta.db_table,
    "fu": FollowUp._meta.db_table,
    "assessment": Assessment._meta.db_table,
}

# --- The baseline: one SQL statement per rule, counting what the check finds ------------------------------

_DEATHS = """deaths AS (
    SELECT e.patient_id, min(f.death_date) AS death FROM {fu} f JOIN {episode} e ON e.id = f.episode_id
    WHERE f.vital_status = 'dead' GROUP BY e.patient_id)"""

BASELINE_SQL: dict[str, str] = {
    # The planted field only (the other required fields are counted by neither side below).
    "required_missing": """SELECT count(*) FROM {episode}
        WHERE albumin_g_per_l IS NULL AND coalesce(missing_answers ->> 'albumin_g_per_l', '') = ''""",
    # Every field with a plausible range, as registry.quality declares them.
    "implausible_value": "SELECT "
    + " + ".join(
        f"(SELECT count(*) FROM {{{table}}} WHERE {name} < {bounds.low} OR {name} > {bounds.high})"
        for (record, name), bounds in PLAUSIBLE_RANGES.items()
        for table in [{"patient": "patient", "episode": "episode", "adverse_event": "ae"}[record]]
    ),
    "date_order": """SELECT
          (SELECT count(*) FROM {course} WHERE stop_date < start_date)
        + (SELECT count(*) FROM {episode} e JOIN {course} c ON c.patient_id = e.patient_id
           WHERE e.start_date < coalesce(c.stop_date, c.start_date))
        + (SELECT count(*) FROM {response} r JOIN {episode} e ON e.id = r.episode_id
           WHERE r.assessment_date < e.start_date)
        + (SELECT count(*) FROM {fu} f JOIN {episode} e ON e.id = f.episode_id WHERE f.follow_up_date < e.start_date)
        + (SELECT count(*) FROM {ae} a JOIN {episode} e ON e.id = a.episode_id WHERE a.onset_date < e.start_date)""",
    "after_death": """WITH """
    + _DEATHS
    + """ SELECT
          (SELECT count(*) FROM {response} r JOIN {episode} e ON e.id = r.episode_id
           JOIN deaths d ON d.patient_id = e.patient_id WHERE r.assessment_date > d.death)
        + (SELECT count(*) FROM {fu} f JOIN {episode} e ON e.id = f.episode_id
           JOIN deaths d ON d.patient_id = e.patient_id WHERE f.vital_status <> 'dead' AND f.follow_up_date > d.death)
        + (SELECT count(*) FROM {ae} a JOIN deaths d ON d.patient_id = a.patient_id WHERE a.onset_date > d.death)""",
    "toxicity_stop_without_irae": """SELECT
          (SELECT count(*) FROM {course} c WHERE c.stop_reason = 'toxicity' AND NOT EXISTS (
             SELECT 1 FROM {ae} a WHERE a.patient_id = c.patient_id AND a.episode_id IS NULL
             AND a.led_to_discontinuation))
        + (SELECT count(*) FROM {fu} f WHERE f.rechallenge_stop_reason = 'toxicity' AND NOT EXISTS (
             SELECT 1 FROM {ae} a WHERE a.episode_id = f.episode_id AND a.led_to_discontinuation))""",
    "grade5_without_death": """WITH """
    + _DEATHS
    + """ SELECT count(*) FROM {ae} a WHERE a.grade = 5
        AND NOT EXISTS (SELECT 1 FROM deaths d WHERE d.patient_id = a.patient_id)""",
    "contraindicated_without_justification": """WITH original AS (
            SELECT DISTINCT ON (episode_id) episode_id, id FROM {assessment} WHERE NOT is_reassessment
            ORDER BY episode_id, assessed_at, id),
        current AS (
            SELECT DISTINCT ON (a.episode_id) a.episode_id, a.category FROM {assessment} a
            JOIN original o ON o.episode_id = a.episode_id AND (a.id = o.id OR a.supersedes_id = o.id)
            ORDER BY a.episode_id, a.assessed_at DESC, a.id DESC)
        SELECT count(*) FROM {episode} e JOIN current c ON c.episode_id = e.id
        WHERE e.enrolled_at IS NOT NULL AND c.category = 'contraindicated' AND btrim(e.clinical_justification) = ''""",
    "follow_up_overdue": """WITH """
    + _DEATHS
    + """, latest AS (
            SELECT DISTINCT ON (patient_id) id, patient_id, start_date FROM {episode}
            ORDER BY patient_id, sequence_number DESC, id DESC)
        SELECT count(*) FROM latest l JOIN {patient} p ON p.id = l.patient_id
        WHERE p.consent_status <> 'withdrawn' AND NOT EXISTS (SELECT 1 FROM deaths d WHERE d.patient_id = l.patient_id)
        AND coalesce((SELECT max(f.follow_up_date) FROM {fu} f WHERE f.episode_id = l.id), l.start_date)
            < %(today)s::date - %(interval)s""",
    "outcome_missing": """SELECT count(*) FROM {episode} e
        WHERE e.start_date + make_interval(months => %(months)s) <= %(today)s::date
        AND NOT EXISTS (SELECT 1 FROM {response} r WHERE r.episode_id = e.id)
        AND NOT EXISTS (SELECT 1 FROM {fu} f WHERE f.episode_id = e.id AND (
            f.progression_date IS NOT NULL OR f.vital_status = 'dead'
            OR (f.follow_up_date >= e.start_date + make_interval(months => %(months)s)
                AND coalesce(f.missing_answers ->> 'progression_date', '') = '')))""",
    "duplicate_patient": """SELECT coalesce(sum(n), 0) FROM (
            SELECT count(*) AS n FROM {patient} p JOIN {course} c ON c.patient_id = p.id
            GROUP BY p.site_id, p.sex, p.year_of_birth, p.tumour_type, c.start_date
            HAVING count(DISTINCT p.local_identifier) > 1) groups""",
}
#: The sweep's queries counted against each statement (the required-field statement counts one field).
SWEEP_FIELDS = {"required_missing": "albumin_g_per_l"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--plant", type=int, default=200, help="Records planted per rule.")
    parser.add_argument("--reset", action="store_true", help="Truncate the clinical, audit and quality tables first.")
    parser.add_argument("--reuse", action="store_true", help="Use the registry as seeded before, without seeding.")
    args = parser.parse_args()

    if connection.vendor != "postgresql":
        parser.error("this benchmark runs on PostgreSQL: set DATABASE_URL to a PostgreSQL database")
    if args.reset:
        _truncate(CLINICAL_TABLES + QUALITY_TABLES)
    print(
        f"quality sweep bench: PostgreSQL {_scalar('SHOW server_version')}, {os.cpu_count()} CPUs, "
        f"load average {load_average()}"
    )
    seeded = seed_or_reuse(
        parser, reuse=args.reuse, sites=args.sites, patients=args.patients, seed=args.seed, batch_size=args.batch_size
    )
    if seeded is not None:
        counts, seconds = seeded
        print(
            f"seeded {args.patients:,} patients at {args.sites} sites, seed {args.seed}, in {seconds:.1f} s (COPY): "
            + ", ".join(f"{key} {value:,}" for key, value in counts.items())
        )

    planted = plant(args.plant, args.seed)
    print(
        f"registry: {Patient.objects.count():,} patients, {RechallengeEpisode.objects.count():,} episodes, "
        f"{AdverseEvent.objects.count():,} irAEs, {ResponseAssessment.objects.count():,} responses, "
        f"{FollowUp.objects.count():,} follow-ups; planted per rule: "
        + ", ".join(f"{rule} {n}" for rule, n in planted.items())
    )
    _truncate(QUALITY_TABLES)
    _analyze()

    results: dict[str, object] = {}
    for section in SECTIONS:
        section(results)
    return int(bool(results.get("failed")))


# --- Sections (each prints its lines; another can be appended to SECTIONS) -------------------------------


def sweep_section(results: dict) -> None:
    """The sweep as the nightly task runs it, then a second run (idempotent: opens nothing)."""
    first = quality_sweep()
    second = quality_sweep()
    results["sweep"] = first
    print(
        f"sweep (apps.quality.sweep.quality_sweep, as the nightly task): {first['seconds']:.2f} s — "
        f"opened {first['opened']:,}, closed {first['closed']:,}, open {first['open_total']:,}"
    )
    print(
        f"second sweep: {second['seconds']:.2f} s — opened {second['opened']:,}, closed {second['closed']:,} "
        f"(idempotent: {'yes' if second['opened'] == 0 and second['closed'] == 0 else 'NO'})"
    )
    if second["opened"] or second["closed"]:
        results["failed"] = True


def baseline_section(results: dict) -> None:
    """The plain SQL counts, timed, and compared rule by rule with the queries the sweep opened."""
    params = {
        "today": timezone.localdate().isoformat(),
        "interval": follow_up_interval_days(),
        "months": OUTCOME_DUE_MONTHS,
    }
    counts: dict[str, int] = {}
    total = 0.0
    for rule_id, sql in BASELINE_SQL.items():
        started = time.perf_counter()
        counts[rule_id] = int(_scalar(sql.format(**T), params))
        total += time.perf_counter() - started
    opened = dict(
        DataQuery.objects.exclude(rule_id="")
        .exclude(rule_id__in=SWEEP_FIELDS)
        .values_list("rule_id")
        .annotate(n=Count("id"))
        .values_list("rule_id", "n")
    )
    for rule_id, name in SWEEP_FIELDS.items():
        opened[rule_id] = DataQuery.objects.filter(rule_id=rule_id, field=name).count()
    print(f"plain SQL count of the same problems ({len(BASELINE_SQL)} statements, nothing written): {total:.2f} s")
    sweep_seconds = results["sweep"]["seconds"]  # type: ignore[index]
    print(f"ratio sweep / SQL count: {sweep_seconds / total:.1f}x")
    width = max(map(len, BASELINE_SQL))
    print(f"  {'rule':<{width}}  {'sweep':>7}  {'SQL':>7}")
    for rule in RULES:
        mark = "" if opened.get(rule.id, 0) == counts[rule.id] else "  MISMATCH"
        label = rule.id + (f" ({SWEEP_FIELDS[rule.id]})" if rule.id in SWEEP_FIELDS else "")
        print(f"  {label:<{width}}  {opened.get(rule.id, 0):>7,}  {counts[rule.id]:>7,}{mark}")
        if mark:
            results["failed"] = True
    other = DataQuery.objects.filter(rule_id="required_missing").exclude(field="albumin_g_per_l").count()
    print(f"  (and {other:,} queries about other required fields, not counted by the SQL side)")
    patients = Patient.objects.count()
    if patients >= BUDGET_PATIENTS:
        verdict = "PASS" if sweep_seconds < BUDGET_SECONDS else "FAIL"
        print(f"budget: sweep of {patients:,} patients < {BUDGET_SECONDS:.0f} s: {verdict}")
        if verdict == "FAIL":
            results["failed"] = True


def dashboard_section(results: dict) -> None:
    """The dashboard's server time p50/p95 (and its cold recompute) on the swept registry, as a coordinator
    and as one site's staff (``bench/quality_dashboard_timing.py``)."""
    from apps.accounts.demo import demo_users_ensure
    from apps.accounts.models import Membership, Role
    from bench.quality_dashboard_timing import _test_environment, dashboard_timing, signed_in_client

    _test_environment()
    if (
        not Membership.objects.filter(role=Role.COORDINATOR).exists()
        or not Membership.objects.filter(role=Role.DATA_ENTRY).exists()
    ):
        codes = list(Patient.objects.order_by().values_list("site__code", flat=True).distinct()[:2])
        demo_users_ensure(sites=codes)
    coordinator = Membership.objects.filter(role=Role.COORDINATOR).select_related("user").first().user
    staff = Membership.objects.filter(role=Role.DATA_ENTRY).select_related("user", "site").first()
    for label, user in (("coordinator, all sites", coordinator), (f"site staff ({staff.site.code})", staff.user)):
        timing = dashboard_timing(signed_in_client(user), n=20)
        print(
            f"dashboard /quality/ ({label}): p50 {timing['p50_ms']:.1f} ms, p95 {timing['p95_ms']:.1f} ms "
            f"(20 requests; cold recompute after a write {timing['cold_ms']:.1f} ms)"
        )


SECTIONS: list[Callable[[dict], None]] = [sweep_section, baseline_section, dashboard_section]


# --- Plants ------------------------------------------------------------------------------------------


def plant(n: int, seed: int) -> dict[str, int]:
    """Plant ``n`` problems per rule (see the module docstring), set-wise, on disjoint chosen records."""
    rng = random.Random(seed)
    used: set[int] = set()  # patients already planted on

    def choose(ids_patients: list[tuple[int, int]], k: int = n) -> list[int]:
        free = [(record, patient) for record, patient in ids_patients if patient not in used]
        picked = rng.sample(free, min(k, len(free)))
        used.update(patient for _, patient in picked)
        return [record for record, _ in picked]

    today = timezone.localdate()
    dead = set(FollowUp.objects.filter(vital_status="dead").values_list("episode__patient_id", flat=True).distinct())
    episodes = list(RechallengeEpisode.objects.order_by("pk").values_list("pk", "patient_id"))
    alive_episodes = [(e, p) for e, p in episodes if p not in dead]
    done: dict[str, int] = {}
    with transaction.atomic():
        ids = choose(alive_episodes)
        RechallengeEpisode.objects.filter(pk__in=ids).update(albumin_g_per_l=None, missing_answers={})
        done["required_missing"] = len(ids)
        ids = choose(alive_episodes)
        RechallengeEpisode.objects.filter(pk__in=ids).update(albumin_g_per_l=3.9)
        done["implausible_value"] = len(ids)
        responses = list(
            ResponseAssessment.objects.filter(episode__patient_id__in=[p for _, p in alive_episodes])
            .order_by("pk")
            .values_list("pk", "episode__patient_id")
        )
        ids = choose(responses)
        _execute(
            f"UPDATE {T['response']} r SET assessment_date = e.start_date - 10 FROM {T['episode']} e "
            "WHERE e.id = r.episode_id AND r.id = ANY(%s)",
            [ids],
        )
        done["date_order"] = len(ids)
        dead_responses = list(
            ResponseAssessment.objects.filter(episode__patient_id__in=dead)
            .order_by("pk")
            .values_list("pk", "episode__patient_id")
        )
        ids = choose(dead_responses)
        _execute(
            f"WITH {_DEATHS.format(**T)} UPDATE {T['response']} r SET assessment_date = d.death + 5 "
            f"FROM {T['episode']} e, deaths d WHERE e.id = r.episode_id AND d.patient_id = e.patient_id "
            "AND r.id = ANY(%s)",
            [ids],
        )
        done["after_death"] = len(ids)
        courses = list(InitialCourse.objects.order_by("pk").values_list("pk", "patient_id"))
        ids = choose(courses)
        InitialCourse.objects.filter(pk__in=ids).update(stop_reason="toxicity")
        AdverseEvent.objects.filter(patient__initial_course__in=ids, episode__isnull=True).update(
            led_to_discontinuation=False
        )
        done["toxicity_stop_without_irae"] = len(ids)
        living_iraes = list(
            AdverseEvent.objects.exclude(patient_id__in=dead).order_by("pk").values_list("pk", "patient_id")
        )
        ids = choose(living_iraes)
        AdverseEvent.objects.filter(pk__in=ids).update(grade=5, resolved_to_grade=None, resolution_date=None)
        done["grade5_without_death"] = len(ids)
        RechallengeEpisode.objects.filter(enrolled_at__isnull=False).update(
            clinical_justification="Discussed at the tumour board."
        )
        contraindicated = list(
            RechallengeEpisode.objects.filter(enrolled_at__isnull=False, assessments__category="contraindicated")
            .distinct()
            .order_by("pk")
            .values_list("pk", "patient_id")
        )
        ids = choose(contraindicated)
        RechallengeEpisode.objects.filter(pk__in=ids).update(clinical_justification="")
        done["contraindicated_without_justification"] = len(ids)
        latest = {p: e for e, p in episodes}  # ordered by pk: the last is the highest-numbered here
        living_latest = [(e, p) for p, e in latest.items() if p not in dead]
        ids = choose(living_latest)
        FollowUp.objects.filter(episode_id__in=ids).delete()
        done["follow_up_overdue"] = len(ids)
        due = today - dt.timedelta(days=31 * OUTCOME_DUE_MONTHS + 1)
        started_long_ago = set(RechallengeEpisode.objects.filter(start_date__lte=due).values_list("pk", flat=True))
        ids = choose([(e, p) for e, p in alive_episodes if e in started_long_ago])
        ResponseAssessment.objects.filter(episode_id__in=ids).delete()
        FollowUp.objects.filter(episode_id__in=ids).delete()
        done["outcome_missing"] = len(ids)
        pairs = _duplicate_pairs(rng, n // 2, used)
        for source, target in pairs:
            _execute(
                f"UPDATE {T['patient']} t SET sex = s.sex, year_of_birth = s.year_of_birth, "
                "tumour_type = s.tumour_type "
                f"FROM {T['patient']} s WHERE s.id = %s AND t.id = %s",
                [source, target],
            )
            _execute(
                f"UPDATE {T['course']} t SET start_date = s.start_date, stop_date = s.stop_date, "
                "progression_date = s.progression_date "
                f"FROM {T['course']} s "
                "WHERE s.patient_id = %s AND t.patient_id = %s",
                [source, target],
            )
        done["duplicate_patient"] = 2 * len(pairs)
    return done


def _duplicate_pairs(rng: random.Random, k: int, used: set[int]) -> list[tuple[int, int]]:
    by_site: dict[int, list[int]] = {}
    for pk, site in Patient.objects.filter(initial_course__isnull=False).order_by("pk").values_list("pk", "site_id"):
        if pk not in used:
            by_site.setdefault(site, []).append(pk)
    pairs = []
    sites = sorted(by_site)
    while len(pairs) < k and sites:
        site = sites[len(pairs) % len(sites)]
        if len(by_site[site]) < 2:
            sites.remove(site)
            continue
        source, target = rng.sample(by_site[site], 2)
        by_site[site] = [pk for pk in by_site[site] if pk not in (source, target)]
        used.update((source, target))
        pairs.append((source, target))
    return pairs


# --- Helpers -----------------------------------------------------------------------------------------


def _execute(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _scalar(sql: str, params: object = None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _truncate(models: tuple) -> None:
    _execute(f"TRUNCATE {', '.join(model._meta.db_table for model in models)} RESTART IDENTITY CASCADE")


def _analyze() -> None:
    _execute("ANALYZE")


if __name__ == "__main__":
    raise SystemExit(main())

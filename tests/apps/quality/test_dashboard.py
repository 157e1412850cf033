"""The data-quality dashboard on a small world of two sites whose every figure is worked out by hand.

Site AAA: patient A1 (LUAD, PD-L1 given) with ICI-1, an ICI-1 irAE, rechallenges 1 (enrolled January 2026, LDH
answered "not done") and 2 (enrolled February 2026), a response and a follow-up of rechallenge 1; patient A2
(melanoma, signed, nothing else). Site BBB: patient B1 (LUAD, no PD-L1) with ICI-1, rechallenge 1 (enrolled
February 2026) and its follow-up.

Required fields (``registry.quality.REQUIRED_FIELDS``), applicable / answered:

- A1: PD-L1 1/1; ICI-1 (stop date, reason, best response, irAEs during ICI-1 left empty) 4/3; each rechallenge
  7 fields, of which prednisone answered (and rechallenge 1's LDH by a missing-data code): 7/2 and 7/1; the irAE
  (resolved grade, resolution date, peak prednisone answered, discontinuation and hospitalisation empty) 5/3;
  the follow-up (last known alive) 1/1. A2: melanoma needs no PD-L1: 0/0. AAA: 25 / 11 = 44.0 %.
- B1: PD-L1 1/0; ICI-1 4/3; rechallenge 7/1; follow-up 1/1. BBB: 13 / 5 = 38.5 %. Registry: 38 / 16 = 42.1 %.

Days from event to entry: AAA response 10, follow-up 3, irAE 20 (median 10); BBB follow-up 7 (median 7);
registry 3, 7, 10, 20 (median 8.5). Records: AAA 8, BBB 4; whole-record SDV marks on A1 and its follow-up (a
field-level mark on rechallenge 1 does not count): AAA 25.0 %, BBB 0.0 %. Signed: A2 of AAA's two: 50.0 %.

Queries at AAA: follow_up_overdue open 10 days, a manual one answered 4 days ago, a closed one, and one kept
for coordinators open 30 days; at BBB: one open 2 days. Coordinators see AAA 3 open (median age 10), center
staff of AAA 2 (median 7); overdue 1.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.selectors import access_for_user
from apps.quality import charts
from apps.quality.dashboard import (
    DRILLDOWNS,
    dashboard_for_user,
    drilldown_rows,
    iter_rows,
    median_of,
)
from apps.quality.models import DataQuery, SourceVerification
from tests.apps.quality.queries_support import automatic_query, sign_in
from tests.factories import (
    AdverseEventFactory,
    FollowUpFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
    ResponseAssessmentFactory,
    SiteFactory,
)

UTC = dt.UTC


def _entered(record, clinical: dt.date, days: int) -> None:
    """Say the record was entered ``days`` after its clinical date."""
    entered = dt.datetime.combine(clinical + dt.timedelta(days=days), dt.time(12), tzinfo=UTC)
    type(record).objects.filter(pk=record.pk).update(created_at=entered)


def _opened(query: DataQuery, days_ago: int) -> DataQuery:
    DataQuery.objects.filter(pk=query.pk).update(opened_at=timezone.now() - dt.timedelta(days=days_ago))
    return query


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(site_a, site_b, coordinator):
    a1 = PatientFactory(site=site_a, registry_id="AAA-000001", tumour_type="LUAD", pdl1_tps_percent=50)
    a2 = PatientFactory(site=site_a, registry_id="AAA-000002", tumour_type="MEL", signed_at=timezone.now())
    InitialCourseFactory(patient=a1)
    e1 = RechallengeEpisodeFactory(
        patient=a1,
        sequence_number=1,
        enrolled_at=dt.datetime(2026, 1, 10, 9, tzinfo=UTC),
        missing_answers={"ldh_above_uln": "not_done"},
    )
    e2 = RechallengeEpisodeFactory(
        patient=a1, sequence_number=2, start_date=dt.date(2024, 9, 1), enrolled_at=dt.datetime(2026, 2, 20, tzinfo=UTC)
    )
    ae = AdverseEventFactory(patient=a1)
    response = ResponseAssessmentFactory(episode=e1)
    follow_up = FollowUpFactory(episode=e1)
    _entered(response, response.assessment_date, 10)
    _entered(follow_up, follow_up.follow_up_date, 3)
    _entered(ae, ae.onset_date, 20)

    b1 = PatientFactory(site=site_b, registry_id="BBB-000001", tumour_type="LUAD")
    InitialCourseFactory(patient=b1)
    eb = RechallengeEpisodeFactory(patient=b1, enrolled_at=dt.datetime(2026, 2, 3, tzinfo=UTC))
    follow_up_b = FollowUpFactory(episode=eb)
    _entered(follow_up_b, follow_up_b.follow_up_date, 7)

    now = timezone.now()
    for record_type, record, field in (
        ("patient", a1, ""),
        ("follow-up", follow_up, ""),
        ("episode", e1, "ldh_u_per_l"),
    ):
        SourceVerification.objects.create(
            site=site_a,
            patient=a1,
            record_type=record_type,
            record_id=record.pk,
            field=field,
            verified_by=coordinator,
            verified_at=now,
        )
    overdue = _opened(automatic_query(e1, rule_id="follow_up_overdue", field=""), 10)
    answered = _opened(automatic_query(e2, rule_id="", field="albumin_g_per_l", status="answered"), 4)
    closed = automatic_query(e2, rule_id="implausible_value", status="closed", closed_at=now)
    hidden = _opened(
        automatic_query(
            e1, rule_id="contraindicated_without_justification", field="clinical_justification", coordinators_only=True
        ),
        30,
    )
    query_b = _opened(automatic_query(eb, rule_id="required_missing", field="albumin_g_per_l"), 2)
    return {
        "a1": a1,
        "a2": a2,
        "b1": b1,
        "e1": e1,
        "e2": e2,
        "eb": eb,
        "queries": {"overdue": overdue, "answered": answered, "closed": closed, "hidden": hidden, "b": query_b},
    }


def _row(board, code):
    return next(row for row in board.rows if row.code == code)


# --- The figures ---------------------------------------------------------------------------------------------


def test_a_coordinator_sees_every_site_s_figures_as_worked_out_by_hand(world, coordinator):
    board = dashboard_for_user(user=coordinator)

    assert [row.code for row in board.rows] == ["AAA", "BBB"]
    a, b, total = _row(board, "AAA"), _row(board, "BBB"), board.total
    assert (a.patients, a.episodes, a.enrolled) == (2, 2, 2)
    assert (b.patients, b.episodes, b.enrolled) == (1, 1, 1)
    assert (total.patients, total.episodes, total.enrolled) == (3, 3, 3)
    assert (a.required_applicable, a.required_answered, round(a.completeness, 1)) == (25, 11, 44.0)
    assert (b.required_applicable, b.required_answered, round(b.completeness, 1)) == (13, 5, 38.5)
    assert (total.required_applicable, total.required_answered, round(total.completeness, 1)) == (38, 16, 42.1)
    assert (a.open_queries, a.open_query_age_median, a.overdue) == (3, 10, 1)
    assert (b.open_queries, b.open_query_age_median, b.overdue) == (1, 2, 0)
    assert (total.open_queries, total.open_query_age_median) == (4, 7)
    assert (a.entry_delay_median, b.entry_delay_median, total.entry_delay_median) == (10, 7, 8.5)
    assert (a.signed, a.signed_percent, b.signed_percent) == (1, 50.0, 0.0)
    assert (a.records, a.verified_records, a.sdv_percent) == (8, 2, 25.0)
    assert (b.records, b.sdv_percent) == (4, 0.0)
    assert a.last_entry.date() == timezone.now().date()
    assert total.enrollment == Counter({dt.date(2026, 1, 1): 1, dt.date(2026, 2, 1): 2})


def test_center_staff_see_their_own_site_only_and_not_the_queries_kept_for_coordinators(world, data_entry_a):
    board = dashboard_for_user(user=data_entry_a)

    assert [row.code for row in board.rows] == ["AAA"]
    assert (board.total.patients, board.total.open_queries, board.total.open_query_age_median) == (2, 2, 7)
    assert board.total.name == "Your sites"


def test_a_missing_data_code_counts_as_an_answer(world, coordinator):
    """Rechallenge 2's LDH answered "unknown" raises AAA's answered fields from 11 to 12."""
    e2 = world["e2"]
    type(e2).objects.filter(pk=e2.pk).update(missing_answers={"ldh_above_uln": "unknown"})

    board = dashboard_for_user(user=coordinator)

    assert _row(board, "AAA").required_answered == 12


def test_the_median_of_a_histogram_is_the_middle_value_or_the_mean_of_the_two():
    assert median_of({}) is None
    assert median_of({5: 1}) == 5
    assert median_of({3: 1, 10: 1, 20: 1}) == 10
    assert median_of({3: 1, 7: 1, 10: 1, 20: 1}) == 8.5
    assert median_of({0: 3, 9: 1}) == 0


def test_the_dashboard_costs_the_same_queries_for_two_sites_as_for_five(world, coordinator):
    access_for_user(coordinator)  # the user's roles, read once per request
    with CaptureQueriesContext(connection) as two:
        dashboard_for_user(user=coordinator, refresh=True)
    for code in ("CCC", "DDD", "EEE"):
        PatientFactory(site=SiteFactory(code=code, name=f"Site {code}"))
    with CaptureQueriesContext(connection) as five:
        board = dashboard_for_user(user=coordinator, refresh=True)

    assert len(board.rows) == 5
    # sites, six record tables, three entry-delay tables, enrollment by month, queries, signatures, SDV marks
    assert len(two) == len(five) == 14


def test_cached_figures_leave_one_query_per_view_until_refreshed(world, coordinator):
    access_for_user(coordinator)
    dashboard_for_user(user=coordinator)
    DataQuery.objects.filter(rule_id="follow_up_overdue").update(status="closed", closed_at=timezone.now())
    with CaptureQueriesContext(connection) as cached:
        board = dashboard_for_user(user=coordinator)

    assert len(cached) == 1  # the user's sites
    assert board.total.overdue == 1  # kept a minute
    assert board.quality_at <= timezone.now()
    assert dashboard_for_user(user=coordinator, refresh=True).total.overdue == 0


def test_figures_cached_per_site_are_forgotten_when_the_site_is_written(
    world, coordinator, django_capture_on_commit_callbacks
):
    from apps.clinical.hooks import RecordWrite
    from apps.quality.dashboard import dashboard_records_written

    assert _row(dashboard_for_user(user=coordinator), "AAA").patients == 2
    PatientFactory(site=world["a1"].site, tumour_type="MEL")
    assert _row(dashboard_for_user(user=coordinator), "AAA").patients == 2  # cached

    write = RecordWrite("create", "patient", 0, None, world["a1"].site_id, frozenset({"sex"}))
    with django_capture_on_commit_callbacks(execute=True):
        dashboard_records_written(writes=[write], user=coordinator, channel="web")

    board = dashboard_for_user(user=coordinator)
    assert (_row(board, "AAA").patients, _row(board, "BBB").patients) == (3, 1)


def test_the_warming_task_computes_only_the_sites_a_write_dropped_and_the_next_view_reads_the_cache(
    world, coordinator, django_capture_on_commit_callbacks
):
    from apps.clinical.hooks import RecordWrite
    from apps.quality.dashboard import dashboard_records_written, dashboard_warm
    from apps.quality.tasks import warm_dashboard

    site_ids = sorted({world["a1"].site_id, world["b1"].site_id})
    assert sorted(warm_dashboard()) == site_ids  # nothing cached yet: every site
    assert dashboard_warm() == []  # all cached: nothing computed
    # An entry is computed again before it can expire: cached ten minutes, warmed every five.
    assert dashboard_warm(now=timezone.now() + dt.timedelta(seconds=239)) == []
    assert sorted(dashboard_warm(now=timezone.now() + dt.timedelta(seconds=241))) == site_ids
    PatientFactory(site=world["a1"].site, tumour_type="MEL")
    write = RecordWrite("create", "patient", 0, None, world["a1"].site_id, frozenset({"sex"}))
    with django_capture_on_commit_callbacks(execute=True):
        dashboard_records_written(writes=[write], user=coordinator, channel="web")

    assert dashboard_warm() == [world["a1"].site_id]
    access_for_user(coordinator)
    dashboard_for_user(user=coordinator)  # the quality part, kept a minute
    with CaptureQueriesContext(connection) as warmed:
        board = dashboard_for_user(user=coordinator)
    assert len(warmed) == 1  # the user's sites: the clinical figures came from the cache
    assert (_row(board, "AAA").patients, _row(board, "BBB").patients) == (3, 1)


def test_a_committed_write_schedules_one_warming_ten_seconds_later_until_it_runs(
    world, coordinator, monkeypatch, django_capture_on_commit_callbacks
):
    from celery import current_app

    from apps.clinical.hooks import RecordWrite
    from apps.quality.dashboard import dashboard_records_written
    from apps.quality.tasks import warm_dashboard

    sent = []
    monkeypatch.setattr(current_app.tasks["quality.warm_dashboard"], "apply_async", lambda **kw: sent.append(kw))
    write = RecordWrite("create", "patient", 0, None, world["a1"].site_id, frozenset({"sex"}))
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            dashboard_records_written(writes=[write], user=coordinator, channel="web")
    assert sent == [{"countdown": 10}]  # three writes, one message

    warm_dashboard()  # the warming clears the mark as it starts: the next write schedules again
    with django_capture_on_commit_callbacks(execute=True):
        dashboard_records_written(writes=[write], user=coordinator, channel="web")
    assert sent == [{"countdown": 10}, {"countdown": 10}]


# --- Drilldowns: exactly the records behind each figure ---------------------------------------------------------


def _drill(user, metric, *sites):
    ids = [site.pk for site in sites]
    return list(iter_rows(drilldown_rows(user=user, metric=metric, site_ids=ids)))


def test_each_drilldown_lists_exactly_the_records_behind_its_figure(world, coordinator, site_a):
    a1, a2 = world["a1"].registry_id, world["a2"].registry_id
    board = dashboard_for_user(user=coordinator)
    a = _row(board, "AAA")

    patients = _drill(coordinator, "patients", site_a)
    assert [row.registry_id for row in patients] == [a1, a2]
    enrolled = _drill(coordinator, "enrolled", site_a)
    assert [(row.record, row.date) for row in enrolled] == [
        ("Rechallenge: rechallenge 1", dt.date(2026, 1, 10)),
        ("Rechallenge: rechallenge 2", dt.date(2026, 2, 20)),
    ]
    assert len(_drill(coordinator, "episodes", site_a)) == a.episodes
    incomplete = _drill(coordinator, "incomplete", site_a)
    assert len(incomplete) == a.unanswered == 14
    assert Counter(row.record.split(":")[0] for row in incomplete) == Counter(
        {"ICI-1": 1, "Rechallenge": 11, "irAE": 2}
    )
    assert ("ICI-1", "irAEs during ICI-1?") in {(row.record.split(":")[0], row.field) for row in incomplete}
    queries = _drill(coordinator, "open-queries", site_a)
    assert {row.record.split(":")[0] for row in queries} == {
        f"Query #{world['queries'][name].pk}" for name in ("overdue", "answered", "hidden")
    }
    assert [row.record.split(":")[0] for row in _drill(coordinator, "overdue", site_a)] == [
        f"Query #{world['queries']['overdue'].pk}"
    ]
    delays = _drill(coordinator, "entry-delay", site_a)
    assert [row.detail.rsplit(", ", 1)[1] for row in delays] == ["10 days later", "3 days later", "20 days later"]
    assert [row.registry_id for row in _drill(coordinator, "unsigned", site_a)] == [a1]
    unverified = _drill(coordinator, "unverified", site_a)
    assert len(unverified) == a.records - a.verified_records == 6
    assert "Patient" not in {row.record for row in unverified if row.registry_id == a1}
    recent = _drill(coordinator, "recent", site_a)
    assert len(recent) == a.records


def test_a_drilldown_without_a_site_covers_every_site_the_user_reads(world, coordinator, data_entry_a, site_a, site_b):
    assert {row.site for row in _drill(coordinator, "patients", site_a, site_b)} == {"AAA", "BBB"}
    response = sign_in(pytest.importorskip("django.test").Client(), data_entry_a).get(
        reverse("quality:drilldown", args=["patients"])
    )
    assert response.status_code == 200
    assert "AAA-000001" in response.text and "BBB-000001" not in response.text


def test_every_drilldown_has_a_page(world, coordinator, client):
    sign_in(client, coordinator)
    for metric in DRILLDOWNS:
        response = client.get(reverse("quality:drilldown", args=[metric]), {"site": "AAA"})
        assert response.status_code == 200, metric
        assert "BBB-000001" not in response.text, metric


def test_a_drilldown_shows_a_month_only_date_as_its_month(world, coordinator, client):
    from apps.clinical.models import AdverseEvent

    AdverseEvent.objects.filter(patient=world["a1"]).update(
        onset_date=dt.date(2023, 4, 15), onset_date_precision="month"
    )
    sign_in(client, coordinator)
    response = client.get(reverse("quality:drilldown", args=["entry-delay"]), {"site": "AAA"})

    assert "2023-04 (month only)" in response.text
    assert "2023-04-15" not in response.text


# --- The chart ---------------------------------------------------------------------------------------------------


def test_the_chart_stacks_each_site_s_episodes_per_month_with_heights_in_proportion():
    series = {"AAA": {dt.date(2026, 1, 1): 1, dt.date(2026, 3, 1): 3}, "BBB": {dt.date(2026, 3, 1): 1}}

    svg = charts.enrollment_chart(series, title="Episodes enrolled per month", description="Four in March.")

    bars = re.findall(
        r'<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="[^"]+" '
        r'data-month="([\d-]+)" data-series="(\w+)" data-count="(\d+)"',
        svg,
    )
    plot = charts.HEIGHT - charts.TOP - charts.BOTTOM  # 208 px for the axis maximum, 5 (4 rounded up)
    assert 'data-y-max="5"' in svg
    assert [(month, site, int(count), float(height)) for _, height, month, site, count in bars] == [
        ("2026-01", "AAA", 1, round(plot * 1 / 5, 2)),
        ("2026-03", "AAA", 3, round(plot * 3 / 5, 2)),
        ("2026-03", "BBB", 1, round(plot * 1 / 5, 2)),
    ]
    # February has no bar but a slot: three months on the axis
    assert re.findall(r">(\w{3} \d{4})<", svg) == ["Jan 2026", "Feb 2026", "Mar 2026"]
    # BBB's segment sits on top of AAA's in March
    march = [(float(y), float(h)) for y, h, month, _, _ in bars if month == "2026-03"]
    assert march[1][0] + march[1][1] == pytest.approx(march[0][0])
    assert '<title id="enrollment-title">Episodes enrolled per month</title>' in svg
    assert 'role="img"' in svg and 'aria-labelledby="enrollment-title enrollment-desc"' in svg


def test_the_chart_escapes_series_names_and_is_empty_without_enrollment():
    assert charts.enrollment_chart({"A": {}}, title="t", description="d") == ""
    svg = charts.enrollment_chart({"<b>": {dt.date(2026, 1, 1): 2}}, title="<t>", description="d")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "&lt;t&gt;" in svg


def test_the_axis_maximum_is_a_round_number():
    assert [charts.nice_ceiling(n) for n in (0, 1, 2, 3, 7, 11, 40, 101)] == [1, 1, 2, 5, 10, 20, 50, 200]


def test_the_incomplete_and_unverified_drilldowns_count_from_the_dashboard_s_cached_figures(world, coordinator, site_a):
    dashboard_for_user(user=coordinator)  # the clinical figures of every site, cached
    incomplete = drilldown_rows(user=coordinator, metric="incomplete", site_ids=[site_a.pk])
    unverified = drilldown_rows(user=coordinator, metric="unverified", site_ids=[site_a.pk])
    with CaptureQueriesContext(connection) as counted:
        totals = incomplete.count(), unverified.count()

    assert totals == (14, sum(part.queryset.count() for part in unverified.parts))
    assert len(counted) == 1  # the whole-record marks, grouped; the records come from the cache
    assert incomplete.counts() == [part.queryset.count() for part in incomplete.parts]
    assert unverified.counts() == [part.queryset.count() for part in unverified.parts]


def test_a_whole_record_mark_takes_its_record_off_the_unverified_count(world, coordinator, site_a):
    from apps.quality.signoff import record_verify

    before = drilldown_rows(user=coordinator, metric="unverified", site_ids=[site_a.pk]).counts()
    record_verify(user=coordinator, record_type="patient", record_id=world["a2"].pk)
    after = drilldown_rows(user=coordinator, metric="unverified", site_ids=[site_a.pk])

    assert after.counts() == [part.queryset.count() for part in after.parts]
    assert after.counts()[0] == before[0] - 1  # patients come first
    assert after.counts()[1:] == before[1:]


def test_completeness_counted_in_sql_agrees_with_the_rule_read_record_by_record(world, coordinator):
    """The set-wise conditions are ``registry.quality.REQUIRED_FIELDS`` itself: summing ``Required.applies`` and
    ``required_unanswered`` over every record gives the same figures as the grouped queries."""
    from apps.core.records import record_types
    from registry.quality import REQUIRED_FIELDS, required_unanswered

    applicable = unanswered = 0
    for record_type in record_types():
        for record in record_type.model.objects.all():
            values = {f.name: getattr(record, f.attname) for f in record._meta.concrete_fields}
            applicable += sum(item.applies(values) for item in REQUIRED_FIELDS.get(record_type.crf_name, ()))
            unanswered += len(required_unanswered(record_type.crf_name, values, record.missing_answers))
    total = dashboard_for_user(user=coordinator).total

    assert (total.required_applicable, total.unanswered) == (applicable, unanswered) == (38, 22)


def test_a_transfer_forgets_every_site_s_figures(world, coordinator, django_capture_on_commit_callbacks):
    from apps.clinical.hooks import RecordWrite
    from apps.quality.dashboard import CACHE_PREFIX, dashboard_records_written

    dashboard_for_user(user=coordinator)
    a, b = world["a1"].site_id, world["b1"].site_id
    assert cache.get(f"{CACHE_PREFIX}{a}") and cache.get(f"{CACHE_PREFIX}{b}")
    transfer = RecordWrite("update", "patient", world["a1"].pk, world["a1"].pk, b, frozenset({"site"}))

    with django_capture_on_commit_callbacks(execute=True):
        dashboard_records_written(writes=[transfer], user=coordinator, channel="web")

    assert cache.get(f"{CACHE_PREFIX}{a}") is None and cache.get(f"{CACHE_PREFIX}{b}") is None

"""Writes through the API cost a fixed, small number of queries (pinned on SQLite and PostgreSQL alike).

Measured at a site whose audit trail has begun (the first entry of a site creates its chain head).
A change reads its record once, under the row lock, with its site and whether its patient has an
enrolled episode; the checks that follow need no second read. The counts include the test
transaction's savepoint around the request (``ATOMIC_REQUESTS``) and the token and membership reads.
"""

from __future__ import annotations

import pytest
from django.db import connection

from apps.core.models import AuditEntry
from tests.apps.clinical.api_support import (
    ADVERSE_EVENTS,
    EPISODES,
    FOLLOW_UPS,
    INITIAL_COURSES,
    PATIENTS,
    RESPONSES,
    fresh_client_for,
    if_match,
)

pytestmark = pytest.mark.django_db

#: The answer of an episode carries its derived values (PFS, TFI…), read from the patient's five
#: record tables as a GET of the episode reads them; the change itself costs what any other does.
DERIVED_VALUES = 5
#: The on-save data-quality check of issue #10 (``apps.quality.on_save``), run when a write touches a field
#: an on-save warning rule reads: the record rules (required, plausible) read the written table's rows of the
#: patient and the queries about the written records (2 queries); the patient rules (toxicity stop, grade-5
#: irAE) read the patient's ICI-1 course, irAEs and follow-ups and the patient's queries (4); opening queries
#: writes them and their "opened" notes (2 more). The test records leave required fields blank, so creates open
#: queries. A patient's tumour type decides whether PD-L1 TPS is required, an irAE's grade is read by the
#: grade-5 rule, a follow-up's last-known-alive date is required; the other changes here are read by no rule.
#: On PostgreSQL the check first takes the patients' advisory locks (one statement), so that it never races the
#: nightly sweep's writing step; SQLite writes one transaction at a time and takes none.
QUALITY_LOCK = 1 if connection.vendor == "postgresql" else 0
QUALITY_RECORD_CHECK = 2 + QUALITY_LOCK
QUALITY_PATIENT_CHECK = 4 + QUALITY_LOCK
QUALITY_OPENS = 2
#: Sign-off (issue #10 item 5): a change clears the source-verification marks of the changed fields (one DELETE,
#: ``apps.quality.sdv``; the record's patient is locked and read with the record, so the signed-case check costs
#: nothing more); a new record of a patient locks the patient's row and reads its signature (one query).
SDV_CLEARED = 1
SIGNED_CASE_CHECK = 1
#: The patient list's stored values (issue #13): a write finds whether its patients' open-query counts changed
#: (one query) and, when queries were opened, recounts them (both counts: stale rows, upsert; 4); a create, a
#: delete or a change of a summarised field refreshes the patient's summary (one statement).
LIST_COUNTS_CHECK = 1
LIST_COUNTS_RECOUNT = 4
LIST_SUMMARY = 1
LIST_AFTER_OPENS = QUALITY_OPENS + LIST_COUNTS_RECOUNT
PATCH_BUDGET = [
    pytest.param(PATIENTS, 12 + QUALITY_RECORD_CHECK + SDV_CLEARED + LIST_COUNTS_CHECK, id=PATIENTS.route),
    pytest.param(INITIAL_COURSES, 12 + SDV_CLEARED + LIST_COUNTS_CHECK, id=INITIAL_COURSES.route),
    pytest.param(EPISODES, 12 + DERIVED_VALUES + SDV_CLEARED + LIST_COUNTS_CHECK, id=EPISODES.route),
    pytest.param(ADVERSE_EVENTS, 12 + QUALITY_PATIENT_CHECK + SDV_CLEARED + LIST_COUNTS_CHECK, id=ADVERSE_EVENTS.route),
    pytest.param(RESPONSES, 12 + SDV_CLEARED + LIST_COUNTS_CHECK, id=RESPONSES.route),
    pytest.param(FOLLOW_UPS, 12 + QUALITY_RECORD_CHECK + SDV_CLEARED + LIST_COUNTS_CHECK, id=FOLLOW_UPS.route),
]
#: A new irAE, response or follow-up reads the patient's recorded death (and a follow-up, in the same
#: query, the dates its own death date must not precede): the ``after_death`` rule of issue #10, one
#: query. A change reads it only when a date it is about changes.
AFTER_DEATH = 1
# A new ICI-1 course, irAE or follow-up runs both kinds of rules over one read of the patient's tables.
CREATE_BUDGET = [
    pytest.param(PATIENTS, 13 + LIST_SUMMARY + LIST_COUNTS_CHECK + QUALITY_RECORD_CHECK, id=PATIENTS.route),
    pytest.param(
        INITIAL_COURSES,
        15 + LIST_SUMMARY + LIST_COUNTS_CHECK + QUALITY_PATIENT_CHECK + LIST_AFTER_OPENS + SIGNED_CASE_CHECK,
        id=INITIAL_COURSES.route,
    ),
    pytest.param(
        EPISODES,
        16
        + LIST_SUMMARY
        + LIST_COUNTS_CHECK
        + DERIVED_VALUES
        + QUALITY_RECORD_CHECK
        + LIST_AFTER_OPENS
        + SIGNED_CASE_CHECK,
        id=EPISODES.route,
    ),
    pytest.param(
        ADVERSE_EVENTS,
        15
        + LIST_SUMMARY
        + LIST_COUNTS_CHECK
        + AFTER_DEATH
        + QUALITY_PATIENT_CHECK
        + LIST_AFTER_OPENS
        + SIGNED_CASE_CHECK,
        id=ADVERSE_EVENTS.route,
    ),
    pytest.param(
        RESPONSES, 15 + LIST_SUMMARY + LIST_COUNTS_CHECK + AFTER_DEATH + SIGNED_CASE_CHECK, id=RESPONSES.route
    ),
    pytest.param(
        FOLLOW_UPS,
        15
        + LIST_SUMMARY
        + LIST_COUNTS_CHECK
        + AFTER_DEATH
        + QUALITY_PATIENT_CHECK
        + LIST_AFTER_OPENS
        + SIGNED_CASE_CHECK,
        id=FOLLOW_UPS.route,
    ),
]


def _site_with_an_audit_trail(client, site) -> None:
    """One audited write, so the site's audit chain exists as it does on any site in use."""
    patient = PATIENTS.make(site)
    assert (
        client.patch(PATIENTS.url(patient), {"histology": "adeno"}, format="json", **if_match(patient)).status_code
        == 200
    )


@pytest.mark.parametrize(("kind", "budget"), PATCH_BUDGET)
def test_a_patch_reads_its_record_once_and_costs_at_most_twelve_queries_besides_derived_values(
    kind, budget, site_a, data_entry_a, django_assert_max_num_queries
):
    client = fresh_client_for(data_entry_a)
    _site_with_an_audit_trail(client, site_a)
    record = kind.make(site_a)
    entries = AuditEntry.objects.count()

    with django_assert_max_num_queries(budget):
        response = client.patch(kind.url(record), kind.change, format="json", **if_match(record))

    assert response.status_code == 200, response.content
    assert response["ETag"] == f'"{record.version + 1}"'
    assert AuditEntry.objects.count() == entries + 1
    assert {name: response.json()[name] for name in kind.change} == kind.change


@pytest.mark.parametrize(("kind", "budget"), CREATE_BUDGET)
def test_an_api_create_costs_a_pinned_number_of_queries(
    kind, budget, site_a, data_entry_a, django_assert_max_num_queries
):
    client = fresh_client_for(data_entry_a)
    _site_with_an_audit_trail(client, site_a)
    payload = kind.payload(site_a)
    entries = AuditEntry.objects.count()

    with django_assert_max_num_queries(budget):
        response = client.post(kind.list_url(), payload, format="json")

    assert response.status_code == 201, response.content
    assert kind.model.objects.filter(**{kind.lookup: response.json()[kind.lookup]}).exists()
    assert AuditEntry.objects.count() == entries + 1


def test_a_stale_patch_is_still_refused_under_the_one_lock(site_a, data_entry_a):
    client = fresh_client_for(data_entry_a)
    record = ADVERSE_EVENTS.make(site_a)
    first = client.patch(ADVERSE_EVENTS.url(record), {"grade": 3}, format="json", **if_match(record))
    assert first.status_code == 200

    stale = client.patch(ADVERSE_EVENTS.url(record), {"grade": 4}, format="json", **if_match(record))

    assert stale.status_code == 412
    record.refresh_from_db()
    assert (record.grade, record.version) == (3, 2)


def test_a_patch_of_another_sites_record_answers_404_and_locks_nothing_of_it(site_a, site_b, data_entry_a):
    client = fresh_client_for(data_entry_a)
    record = ADVERSE_EVENTS.make(site_b)

    response = client.patch(ADVERSE_EVENTS.url(record), {"grade": 3}, format="json", **if_match(record))

    assert response.status_code == 404
    record.refresh_from_db()
    assert record.version == 1

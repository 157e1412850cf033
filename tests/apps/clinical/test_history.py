"""The record history reads as people wrote: numbers as typed, linked records by their label, month-only
dates as the month, and nothing the reader may not see."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.selectors import access_for_user
from apps.clinical.presenters import history_rows
from apps.clinical.services import record_update
from apps.core.audit import audit_write
from apps.core.models import AuditAction, AuditChannel, AuditEntry
from tests.apps.clinical.test_views_pages import sign_in
from tests.factories import AdverseEventFactory, RechallengeEpisodeFactory

pytestmark = pytest.mark.django_db


def _episode_at(site, **fields):
    episode = RechallengeEpisodeFactory(start_date=dt.date(2024, 3, 4), **fields)
    episode.patient.site = site
    episode.patient.save(update_fields=["site"])
    return episode


def _irae_of(episode):
    return AdverseEventFactory(
        patient=episode.patient,
        episode=episode,
        recurrence_status="new",
        onset_date=dt.date(2024, 4, 1),
        resolution_date=dt.date(2024, 5, 1),
        peak_prednisone_mg_per_day=60,
    )


def _write(record, user, **changes):
    return audit_write(
        instance=record, action=AuditAction.UPDATE, user=user, channel=AuditChannel.WEB, changes=changes, reason="r"
    )


def _changes(record, **options) -> list[tuple[str, str, str]]:
    """Every change of the history, oldest entry first."""
    return [change for row in reversed(history_rows(record, **options)) for change in row.changes]


def _by_field(record, **options) -> dict[str, tuple[str, str]]:
    return {label: (old, new) for label, old, new in _changes(record, **options)}


def test_a_changed_number_is_audited_and_shown_as_typed_not_in_exponent_notation(site_a, data_entry_a):
    irae = _irae_of(_episode_at(site_a))

    record_update(
        instance=irae,
        data={"peak_prednisone_mg_per_day": decimal.Decimal("210")},
        user=data_entry_a,
        channel=AuditChannel.WEB,
        reason="Typing error",
    )

    entry = AuditEntry.objects.get(object_id=str(irae.pk), action="update")
    assert entry.changes["peak_prednisone_mg_per_day"] == ["60", "210"]
    assert [change[1:] for change in _changes(irae) if "prednisone" in change[0]] == [("60", "210")]


def test_a_number_stored_in_exponent_notation_by_an_older_entry_reads_as_typed(site_a, data_entry_a):
    irae = _irae_of(_episode_at(site_a))
    _write(irae, data_entry_a, peak_prednisone_mg_per_day=["6E+1", "2.1E+2"])

    (change,) = _changes(irae)

    assert change[1:] == ("60", "210")


def test_linked_records_read_by_their_label_and_link_where_the_reader_reaches_them(site_a, site_b, data_entry_a):
    episode = _episode_at(site_a, sequence_number=2)
    irae = _irae_of(episode)
    elsewhere = _episode_at(site_b)
    _write(irae, data_entry_a, patient=[None, irae.patient_id], episode=[elsewhere.pk, episode.pk])

    changes = _by_field(irae, access=access_for_user(data_entry_a))

    registry_id = episode.patient.registry_id
    assert changes["Patient"][1] == f'<a href="/patients/{registry_id}/">Patient {registry_id}</a>'
    assert changes["Episode"] == (
        "Rechallenge episode 1 (2024-03)",  # site B's: named, not linked
        f'<a href="{episode.get_absolute_url()}">Rechallenge episode 2 (2024-03)</a>',
    )


def test_coordinators_follow_links_to_every_site_and_a_reader_without_access_follows_none(
    site_a, data_entry_a, coordinator
):
    irae = _irae_of(_episode_at(site_a))
    _write(irae, data_entry_a, patient=[None, irae.patient_id])

    (as_coordinator,) = _changes(irae, access=access_for_user(coordinator))
    (without_access,) = _changes(irae)

    assert as_coordinator[2].startswith('<a href="/patients/')
    assert without_access[2] == f"Patient {irae.patient.registry_id}"


def test_a_linked_record_since_deleted_is_named_by_its_kind_and_number(site_a, data_entry_a):
    irae = _irae_of(_episode_at(site_a))
    _write(irae, data_entry_a, episode=[987654, irae.episode_id])

    (change,) = _changes(irae, access=access_for_user(data_entry_a))

    assert change[1] == "Rechallenge episode 987654 (deleted)"


def test_labels_cost_one_query_per_kind_of_link_however_long_the_history(
    site_a, data_entry_a, django_assert_num_queries
):
    irae = _irae_of(_episode_at(site_a))
    others = [_episode_at(site_a, sequence_number=n) for n in range(2, 7)]
    access = access_for_user(data_entry_a)
    _write(irae, data_entry_a, patient=[None, irae.patient_id], episode=[None, irae.episode_id])
    with django_assert_num_queries(3):  # the entries with their users, the patients, the episodes
        history_rows(irae, access=access)

    for other in others:
        _write(irae, data_entry_a, patient=[irae.patient_id, other.patient_id], episode=[irae.episode_id, other.pk])
    with django_assert_num_queries(3):
        rows = history_rows(irae, access=access)
    assert len(rows) == 6


def test_a_month_only_date_reads_as_the_month_while_its_precision_is_month(site_a, data_entry_a):
    irae = _irae_of(_episode_at(site_a))
    _write(irae, data_entry_a, onset_date=["2023-06-01", "2023-03-15"], onset_date_precision=["day", "month"])
    _write(irae, data_entry_a, onset_date=["2023-03-15", "2023-04-15"])
    _write(irae, data_entry_a, onset_date=["2023-04-15", "2023-04-20"], onset_date_precision=["month", "day"])

    dates = [change[1:] for change in _changes(irae) if change[0] == "Onset date"]

    assert dates == [
        ("2023-06-01", "2023-03 (month only)"),
        ("2023-03 (month only)", "2023-04 (month only)"),
        ("2023-04 (month only)", "2023-04-20"),
    ]


@pytest.mark.parametrize("role", ["data_entry_a", "coordinator"])
def test_the_history_page_names_the_patient_and_never_shows_a_local_identifier_to_coordinators(role, request):
    site_a, user = request.getfixturevalue("site_a"), request.getfixturevalue(role)
    irae = _irae_of(_episode_at(site_a))
    _write(irae, request.getfixturevalue("data_entry_a"), patient=[None, irae.patient_id])
    client = Client()
    sign_in(client, user)

    page = client.get(reverse("clinical:record-history", kwargs={"model": "adverse-event", "pk": irae.pk}))

    text = page.content.decode()
    assert page.status_code == 200
    assert f">Patient {irae.patient.registry_id}</a>" in text
    assert f"<ins>{irae.patient_id}</ins>" not in text
    if role == "coordinator":
        assert irae.patient.local_identifier not in text

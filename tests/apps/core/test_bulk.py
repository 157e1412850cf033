"""The bulk writer (``apps.core.bulk``): rows to instances whatever the column order, chunks made ahead."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from apps.accounts.models import Site
from apps.clinical.models import FollowUp
from apps.core.bulk import BulkTable, BulkWriter, chunks_ahead, copy_chosen


def test_rows_become_instances_whatever_the_column_order() -> None:
    """If a model gains a field, the writer falls back from positional construction and fills defaults."""
    columns = ("vital_status", "follow_up_date", "episode_id", "death_date")
    table = BulkTable(FollowUp, columns)
    assert not table.contiguous

    (follow_up,) = table.instances([("dead", dt.date(2025, 3, 1), 7, dt.date(2025, 2, 27))])

    assert (follow_up.vital_status, follow_up.follow_up_date, follow_up.episode_id) == ("dead", dt.date(2025, 3, 1), 7)
    assert follow_up.death_date == dt.date(2025, 2, 27)
    assert (follow_up.version, follow_up.is_complete, follow_up.pk) == (1, False, None)
    assert follow_up.progression_date is None and follow_up.rechallenge_stop_reason == ""


def test_the_last_fields_in_another_order_keep_the_fast_path_and_land_in_their_fields() -> None:
    values = {
        "episode_id": 7,
        "follow_up_date": dt.date(2025, 3, 1),
        "vital_status": "dead",
        "progression_date": dt.date(2025, 1, 10),
        "rechallenge_stopped_date": dt.date(2025, 1, 12),
        "rechallenge_stop_reason": "progression",
        "death_date": dt.date(2025, 2, 27),
        "last_known_alive_date": dt.date(2025, 2, 20),
    }
    last_fields = [field.attname for field in FollowUp._meta.concrete_fields][-len(values) :]
    assert sorted(last_fields) == sorted(values), "FollowUp's last fields are the ones this test supplies"
    shuffled = sorted(values, key=lambda name: (len(name), name))
    assert shuffled != last_fields

    table = BulkTable(FollowUp, shuffled)
    (follow_up,) = table.instances([tuple(values[name] for name in shuffled)])

    assert table.contiguous
    assert {name: getattr(follow_up, name) for name in values} == values
    assert (follow_up.version, follow_up.is_complete, follow_up.pk) == (1, False, None)


def test_a_column_the_model_lacks_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"FollowUp has no field\(s\) \['no_such_field'\]"):
        BulkTable(FollowUp, ("episode_id", "follow_up_date", "no_such_field"))


@pytest.mark.django_db
def test_parents_come_back_with_their_ids_in_row_order() -> None:
    writer = BulkWriter(batch_size=2, use_copy=copy_chosen(None))
    table = BulkTable(Site, ("code", "name", "country", "ethics_approval_reference", "ethics_approval_date"))
    rows = [(f"S{n}", f"Site {n}", "NL", "", None) for n in range(5)]

    ids = writer.parents(table, rows)

    assert dict(Site.objects.values_list("id", "code")) == {pk: f"S{n}" for n, pk in enumerate(ids)}


def test_copy_is_chosen_on_postgresql_only() -> None:
    on_postgresql = connection.vendor == "postgresql"
    assert copy_chosen(None) is on_postgresql
    assert copy_chosen(False) is False
    if on_postgresql:
        assert copy_chosen(True) is True
    else:
        with pytest.raises(ValueError, match="PostgreSQL"):
            copy_chosen(True)


def test_chunks_ahead_yields_every_item_in_order_with_what_was_prepared_of_it() -> None:
    chunks = list(chunks_ahead(iter(range(7)), 3, prepare=lambda n: n * n))

    assert chunks == [[(0, 0), (1, 1), (2, 4)], [(3, 9), (4, 16), (5, 25)], [(6, 36)]]
    assert list(chunks_ahead(iter("ab"), 5)) == [[("a", ()), ("b", ())]]
    assert list(chunks_ahead(iter(()), 5)) == []


def test_chunks_ahead_hands_an_error_of_the_background_thread_to_the_caller() -> None:
    def items():
        yield 1
        raise RuntimeError("generator failed")

    with pytest.raises(RuntimeError, match="generator failed"):
        list(chunks_ahead(items(), 1))

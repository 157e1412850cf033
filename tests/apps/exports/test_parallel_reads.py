"""Reading an export's tables at once: the same tables as one by one, all from one snapshot of the database.

On PostgreSQL, outside a transaction, the tables are read on several connections sharing the snapshot the
first one exports; these tests commit their data (``transaction=True``) so other connections see it. On
SQLite (and inside a transaction) the tables are read one by one, and the tests check that instead.
"""

from __future__ import annotations

import datetime as dt
import threading

import pandas as pd
import pytest
from django.db import connection, connections, transaction

from apps.assessments.demo import demo_registry_seed
from apps.clinical.models import Patient
from apps.core.frames import INT, TEXT, Table
from apps.exports import selectors
from apps.exports.selectors import Filters, export_field_meta, export_tables
from registry.deid import get_profile

pytestmark = pytest.mark.django_db(transaction=True)

CUT = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
PARALLEL = connection.vendor == "postgresql"
READ = selectors._read


def tables_read(monkeypatch, *, connections_at_once: int) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The export's four tables with ``connections_at_once`` readers, and the threads that read them."""
    monkeypatch.setattr(selectors, "READ_CONNECTIONS", connections_at_once)
    threads: list[str] = []

    def spy(table):
        threads.append(threading.current_thread().name)
        return READ(table)

    monkeypatch.setattr(selectors, "_read", spy)
    frames = export_tables(
        datasets=["analysis", "iraes", "responses", "follow_ups"],
        filters=Filters(),
        data_cut=CUT,
        profile=get_profile("limited_dataset"),
        field_meta=export_field_meta(),
    )
    return frames, threads


def test_tables_read_at_once_equal_the_tables_read_one_by_one(monkeypatch):
    demo_registry_seed(sites=2, patients=40, seed=3)
    one_by_one, sequential_threads = tables_read(monkeypatch, connections_at_once=1)
    at_once, parallel_threads = tables_read(monkeypatch, connections_at_once=2)

    assert set(at_once) == set(one_by_one) == {"analysis", "iraes", "responses", "follow_ups"}
    for name, frame in one_by_one.items():
        pd.testing.assert_frame_equal(at_once[name], frame, check_categorical=False)
    assert len(at_once["analysis"]) > 0
    # Ten queries: the four tables, the locked assessments and the five inputs of the derivation.
    assert len(parallel_threads) == len(sequential_threads) == 10
    assert set(sequential_threads) == {threading.current_thread().name}
    if PARALLEL:
        assert all(name.startswith("export-read") for name in parallel_threads)
    else:
        assert set(parallel_threads) == {threading.current_thread().name}


def test_inside_a_transaction_the_tables_are_read_on_this_connection(monkeypatch):
    demo_registry_seed(sites=1, patients=10, seed=4)
    with transaction.atomic():
        _, threads = tables_read(monkeypatch, connections_at_once=2)
    assert set(threads) == {threading.current_thread().name}


@pytest.mark.skipif(not PARALLEL, reason="snapshots shared between connections are PostgreSQL's")
def test_every_reader_sees_the_snapshot_taken_when_the_export_began():
    """A patient committed by someone else while the export reads is in none of its tables."""
    demo_registry_seed(sites=1, patients=5, seed=6)
    table = Table(Patient.objects.values_list("id", "registry_id"), {"id": INT, "registry_id": TEXT})
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]

        def register_another():
            try:
                patient = Patient.objects.first()
                patient.pk, patient.registry_id, patient.local_identifier = None, "LATE-0001", "late-0001"
                patient.save()
            finally:
                connections["default"].close()

        writer = threading.Thread(target=register_another)
        writer.start()
        writer.join()
        result: dict[str, pd.DataFrame] = {}
        reader = threading.Thread(target=lambda: result.update(frame=selectors._read_in_snapshot(table, snapshot)))
        reader.start()
        reader.join()
    assert Patient.objects.filter(registry_id="LATE-0001").exists()  # committed by the writer
    assert len(result["frame"]) == 5
    assert "LATE-0001" not in set(result["frame"]["registry_id"].astype(str))

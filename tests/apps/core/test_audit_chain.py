"""verify_audit finds an audit entry edited, deleted or reordered with raw SQL behind the application's back."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.clinical.models import Patient
from apps.clinical.services import record_create, record_update
from apps.core.models import AuditChainHead, AuditEntry

TABLE = AuditEntry._meta.db_table


@contextmanager
def _behind_the_applications_back():
    """A database owner's session: on PostgreSQL the append-only trigger is switched off first."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending before ALTER TABLE
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TABLE}_append_only")
        yield cursor
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER {TABLE}_append_only")


@pytest.fixture
def five_changes(site_a, site_b, data_entry_a, data_entry_b):
    """Three entries in site A's chain and two in site B's."""
    base = {"sex": "female", "year_of_birth": 1958, "tumour_type": "MEL", "consent_status": "consented"}
    first = record_create(
        model=Patient,
        data={**base, "site": site_a, "local_identifier": "A1", "consent_date": "2024-01-02"},
        user=data_entry_a,
        channel="web",
    )
    record_create(
        model=Patient,
        data={**base, "site": site_a, "local_identifier": "A2", "consent_date": "2024-01-03"},
        user=data_entry_a,
        channel="api",
    )
    record_update(instance=first, data={"tumour_type": "SKCM"}, user=data_entry_a, channel="web")
    second = record_create(
        model=Patient,
        data={**base, "site": site_b, "local_identifier": "B1", "consent_date": "2024-01-04"},
        user=data_entry_b,
        channel="web",
    )
    record_update(instance=second, data={"tumour_type": "LUAD"}, user=data_entry_b, channel="web")
    return list(AuditEntry.objects.filter(chain=f"site:{site_a.pk}").order_by("sequence"))


def _verify(capsys) -> dict:
    call_command("verify_audit")
    return json.loads(capsys.readouterr().out)


def _broken(capsys) -> tuple[str, dict]:
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit")
    return str(failure.value), json.loads(capsys.readouterr().out)["broken"][0]


def test_entries_are_chained_per_site_in_the_order_they_were_written(five_changes, site_a, site_b):
    assert [entry.sequence for entry in five_changes] == [1, 2, 3]
    assert five_changes[1].previous_hash == five_changes[0].entry_hash
    assert five_changes[2].previous_hash == five_changes[1].entry_hash
    heads = {head.chain: head.sequence for head in AuditChainHead.objects.all()}
    assert heads == {f"site:{site_a.pk}": 3, f"site:{site_b.pk}": 2}


def test_an_untouched_trail_verifies(five_changes, capsys):
    report = _verify(capsys)
    assert (report["entries"], report["chains"], report["broken"]) == (5, 2, [])


def test_an_entry_edited_with_raw_sql_is_named(five_changes, capsys):
    target = five_changes[1]
    with _behind_the_applications_back() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET reason = %s WHERE id = %s", ["quietly rewritten", target.pk])
    message, broken = _broken(capsys)
    assert broken["entry_id"] == target.pk
    assert f"entry #{target.pk}" in message
    assert "edited" in broken["problem"]


def test_an_entry_deleted_with_raw_sql_is_found_at_the_next_entry(five_changes, capsys):
    with _behind_the_applications_back() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [five_changes[1].pk])
    _, broken = _broken(capsys)
    assert broken["entry_id"] == five_changes[2].pk


def test_two_entries_reordered_with_raw_sql_are_found(five_changes, capsys):
    first, second = five_changes[0], five_changes[1]
    with _behind_the_applications_back() as cursor:
        # Swap their positions in the chain (through a free number, as the pair is unique).
        cursor.execute(f"UPDATE {TABLE} SET sequence = 999 WHERE id = %s", [first.pk])
        cursor.execute(f"UPDATE {TABLE} SET sequence = 1 WHERE id = %s", [second.pk])
        cursor.execute(f"UPDATE {TABLE} SET sequence = 2 WHERE id = %s", [first.pk])
    _, broken = _broken(capsys)
    assert broken["entry_id"] == second.pk


def test_the_newest_entry_deleted_with_raw_sql_is_found_against_the_chain_head(five_changes, capsys):
    with _behind_the_applications_back() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [five_changes[2].pk])
    message, broken = _broken(capsys)
    assert broken["entry_id"] is None
    assert "head" in broken["problem"]
    assert "the chain's end" in message


@pytest.mark.django_db(transaction=True)
def test_the_migration_chains_entries_written_before_the_chain_existed(capsys):
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("core", "0002_append_only_triggers")])
    old_apps = executor.loader.project_state([("core", "0002_append_only_triggers")]).apps
    site_model = old_apps.get_model("accounts", "Site")
    entry_model = old_apps.get_model("core", "AuditEntry")
    site = site_model.objects.create(code="OLD", name="Old site", country="FR")
    for number, site_id in enumerate([site.pk, None, site.pk], start=1):
        entry_model.objects.create(
            channel="web", action="create", model_label="clinical.patient", object_id=str(number),
            object_repr=f"OLD-{number}", site_id=site_id, changes={"n": [None, number]}, reason="",
        )  # fmt: skip
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    report = _verify(capsys)
    assert (report["entries"], report["chains"], report["broken"]) == (3, 2, [])
    assert report["heads"][f"site:{site.pk}"]["sequence"] == 2

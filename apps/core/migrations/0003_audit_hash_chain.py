"""Chain every audit entry to its predecessor (per site, plus a global chain) with a SHA-256 hash.

Existing entries are chained in id order. On PostgreSQL the append-only trigger is switched off for
that one backfill and on again in the same transaction.
"""

import datetime as dt

import django.utils.timezone
from django.db import migrations, models

from registry.audit_chain import CONTENT_FIELDS, GENESIS_HASH, chain_for_site, entry_hash

TABLE = "core_auditentry"


def backfill(apps, schema_editor):
    entry_model = apps.get_model("core", "AuditEntry")
    head_model = apps.get_model("core", "AuditChainHead")
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE;")
        schema_editor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TABLE}_append_only;")
    heads: dict[str, tuple[int, str]] = {}
    batch = []
    for entry in entry_model.objects.order_by("id").iterator(chunk_size=2000):
        chain = chain_for_site(entry.site_id)
        sequence, previous = heads.get(chain, (0, GENESIS_HASH))
        content = {name: getattr(entry, name) for name in CONTENT_FIELDS if name not in {"user_id", "site_id"}}
        content |= {
            "timestamp": entry.timestamp.astimezone(dt.UTC).isoformat(),
            "user_id": entry.user_id,
            "site_id": entry.site_id,
        }
        entry.chain, entry.sequence, entry.previous_hash = chain, sequence + 1, previous
        entry.entry_hash = entry_hash(chain=chain, sequence=sequence + 1, previous_hash=previous, content=content)
        heads[chain] = (sequence + 1, entry.entry_hash)
        batch.append(entry)
        if len(batch) >= 2000:
            entry_model.objects.bulk_update(batch, ["chain", "sequence", "previous_hash", "entry_hash"])
            batch = []
    if batch:
        entry_model.objects.bulk_update(batch, ["chain", "sequence", "previous_hash", "entry_hash"])
    head_model.objects.bulk_create(
        [head_model(chain=chain, sequence=sequence, last_hash=last) for chain, (sequence, last) in heads.items()]
    )
    if postgres:
        schema_editor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER {TABLE}_append_only;")


class Migration(migrations.Migration):
    dependencies = [("core", "0002_append_only_triggers")]

    operations = [
        migrations.AlterField(
            model_name="auditentry",
            name="timestamp",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False),
        ),
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("chain", models.CharField(max_length=32, primary_key=True, serialize=False)),
                ("sequence", models.PositiveBigIntegerField(default=0)),
                ("last_hash", models.CharField(max_length=64)),
            ],
        ),
        migrations.AddField(
            model_name="auditentry",
            name="chain",
            field=models.CharField(
                default="", editable=False, help_text="Hash chain: 'site:<id>' or 'global'.", max_length=32
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditentry",
            name="sequence",
            field=models.PositiveBigIntegerField(default=0, editable=False, help_text="Position in its chain, from 1."),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditentry",
            name="previous_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditentry",
            name="entry_hash",
            field=models.CharField(
                default="", editable=False, help_text="SHA-256 over content and previous hash.", max_length=64
            ),
            preserve_default=False,
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="auditentry",
            constraint=models.UniqueConstraint(fields=("chain", "sequence"), name="audit_chain_position_unique"),
        ),
    ]

"""Store every local identifier in its normal form (``registry.identifiers.normalise_local_identifier``).

From now on every channel stores and searches identifiers in the normal form (NFKC, no spaces or
invisible characters, upper case), so ``MRN1498824``, ``mrn1498824`` and ``MRN1498824\\u200b`` are one
patient. This migration brings the identifiers stored before into that form:

- An identifier that is alone in its normal form at its site is rewritten, its patient's version
  goes up by one, and the change is audited like any other (channel ``system``, old → new value,
  with the reason below), chained into the site's audit hash chain.
- **Collisions are left alone and reported, never merged.** When two or more patients of one site
  have identifiers with the same normal form (``MRN1`` and ``mrn1``), they may be one person entered
  twice or two people whose numbers were typed carelessly; only the site can tell. None of them is
  changed (a silent merge could join two people's data, and failing the migration would stop the
  whole deployment for a data problem of one site). The migration prints each such group as site
  code and registry IDs (never the identifiers themselves, which are for the site only), and
  ``manage.py local_identifier_collisions`` lists them again at any time. Until the site resolves a
  group (corrects one identifier, or deletes the duplicate), saving one of its patients answers the
  site's staff "Patient with this Site and Local identifier already exists", and a coordinator a
  message that names no identifier.

Nothing is done on the way back: the old spellings are in the audit trail.
"""

import datetime as dt

from django.db import migrations, models
from django.utils import timezone

from registry.audit_chain import CONTENT_FIELDS, GENESIS_HASH, chain_for_site, entry_hash
from registry.identifiers import local_identifiers_plan

REASON = "Local identifier stored in its normal form (migration clinical 0004: case, spaces, invisible characters)."
BATCH = 2000


def _hash_entry(entry, head) -> None:
    content = {name: getattr(entry, name) for name in CONTENT_FIELDS if name not in {"timestamp"}}
    content["timestamp"] = entry.timestamp.astimezone(dt.UTC).isoformat()
    entry.chain, entry.sequence, entry.previous_hash = head.chain, head.sequence + 1, head.last_hash
    entry.entry_hash = entry_hash(
        chain=entry.chain, sequence=entry.sequence, previous_hash=entry.previous_hash, content=content
    )
    head.sequence, head.last_hash = entry.sequence, entry.entry_hash


def normalise(apps, schema_editor):
    patient_model = apps.get_model("clinical", "Patient")
    site_model = apps.get_model("accounts", "Site")
    entry_model = apps.get_model("core", "AuditEntry")
    head_model = apps.get_model("core", "AuditChainHead")
    stored = patient_model.objects.values_list("pk", "site_id", "local_identifier").order_by("pk")
    plan = local_identifiers_plan(stored.iterator(chunk_size=BATCH))
    now = timezone.now().astimezone(dt.UTC)
    heads = {}
    patients = []
    entries = []
    for patient in patient_model.objects.order_by("pk").iterator(chunk_size=BATCH):
        if patient.pk not in plan.changes:  # filtered here: a list of ids could exceed SQLite's variable limit
            continue
        old, new = plan.changes[patient.pk]
        patient.local_identifier = new
        patient.version += 1
        patients.append(patient)
        chain = chain_for_site(patient.site_id)
        if chain not in heads:
            heads[chain], _ = head_model.objects.get_or_create(chain=chain, defaults={"last_hash": GENESIS_HASH})
        entry = entry_model(
            timestamp=now,
            user_id=None,
            channel="system",
            action="update",
            model_label="clinical.patient",
            object_id=str(patient.pk),
            object_repr=patient.registry_id[:200],
            site_id=patient.site_id,
            changes={"local_identifier": [old, new], "version": [patient.version - 1, patient.version]},
            reason=REASON,
        )
        _hash_entry(entry, heads[chain])
        entries.append(entry)
    patient_model.objects.bulk_update(patients, ["local_identifier", "version"], batch_size=BATCH)
    entry_model.objects.bulk_create(entries, batch_size=BATCH)
    head_model.objects.bulk_update(list(heads.values()), ["sequence", "last_hash"])
    if plan.collisions:
        codes = dict(site_model.objects.values_list("pk", "code"))
        colliding = {key for _, _, keys in plan.collisions for key in keys}
        registry_ids = {
            pk: registry_id
            for pk, registry_id in patient_model.objects.values_list("pk", "registry_id").iterator(chunk_size=BATCH)
            if pk in colliding
        }
        print(
            f"\n  clinical 0004: {len(patients)} local identifiers normalised; {len(plan.collisions)} group(s) of "
            "patients whose identifiers become one at their site were LEFT AS STORED for the site to resolve "
            "(manage.py local_identifier_collisions lists them again):"
        )
        for site_id, _, keys in sorted(plan.collisions, key=lambda c: (codes.get(c[0], ""), c[2])):
            print(f"    site {codes.get(site_id, site_id)}: {', '.join(registry_ids[key] for key in keys)}")


class Migration(migrations.Migration):
    dependencies = [
        ("clinical", "0003_irae_terms_of_model_1_1"),
        ("core", "0003_audit_hash_chain"),
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="patient",
            name="local_identifier",
            field=models.CharField(
                help_text="Hospital number or other local identifier. Visible to your own site only. Stored in "
                "upper case without spaces or invisible characters (mrn 123 and MRN123 are one patient).",
                max_length=64,
                verbose_name="Local identifier",
            ),
        ),
        migrations.RunPython(normalise, migrations.RunPython.noop, elidable=False),
    ]

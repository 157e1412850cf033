"""The patient list's open-queries column, stored (#13): each patient's count of queries not closed (all of
them, and those the site sees), filled set-wise from the queries, so the list sorts 100,000 patients by it from
an index."""

import django.db.models.deletion
from django.db import migrations, models


def counts_fill(apps, schema_editor) -> None:
    from apps.quality.panels import open_query_counts_refresh

    open_query_counts_refresh(patient_ids=None, apps=apps)
    if schema_editor.connection.vendor == "postgresql":  # the planner's statistics of the new rows
        schema_editor.execute("ANALYZE quality_patientopenqueries")
        schema_editor.execute("ANALYZE quality_patientsiteopenqueries")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("clinical", "0007_patient_list_summaries"),
        ("quality", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="PatientOpenQueries",
            fields=[
                ("registry_id", models.CharField(max_length=20)),
                ("count", models.PositiveIntegerField()),
                (
                    "patient",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="open_queries_all",
                        serialize=False,
                        to="clinical.patient",
                    ),
                ),
                (
                    "site",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.site"
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "patients' open queries",
                "indexes": [
                    models.Index(
                        models.OrderBy(models.F("count")),
                        models.OrderBy(models.F("registry_id")),
                        name="qcount_all_idx",
                    ),
                    models.Index(
                        models.OrderBy(models.F("count"), descending=True),
                        models.OrderBy(models.F("registry_id")),
                        name="qcount_all_desc_idx",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="PatientSiteOpenQueries",
            fields=[
                ("registry_id", models.CharField(max_length=20)),
                ("count", models.PositiveIntegerField()),
                (
                    "patient",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="open_queries_site",
                        serialize=False,
                        to="clinical.patient",
                    ),
                ),
                (
                    "site",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.site"
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "patients' open queries seen by the site",
                "indexes": [
                    models.Index(
                        models.F("site"),
                        models.OrderBy(models.F("count")),
                        models.OrderBy(models.F("registry_id")),
                        name="qcount_site_idx",
                    ),
                    models.Index(
                        models.F("site"),
                        models.OrderBy(models.F("count"), descending=True),
                        models.OrderBy(models.F("registry_id")),
                        name="qcount_site_desc_idx",
                    ),
                ],
            },
        ),
        migrations.RunPython(counts_fill, migrations.RunPython.noop, elidable=True),
    ]

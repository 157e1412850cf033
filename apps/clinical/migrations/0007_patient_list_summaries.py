"""The patient list's stored values (#13): one summary row per patient, indexed for every order the list
offers, filled set-wise from the stored records; and the index of a local identifier's prefix within a site."""

import django.db.models.deletion
from django.db import migrations, models


def summaries_fill(apps, schema_editor) -> None:
    """Every patient's summary, in one statement (before the indexes are built, which is faster)."""
    from apps.clinical.summaries import patient_summaries_refresh

    patient_summaries_refresh(patient_ids=None, apps=apps)
    if schema_editor.connection.vendor == "postgresql":  # the planner's statistics of the new rows
        schema_editor.execute("ANALYZE clinical_patientsummary")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("clinical", "0006_irae_other_term"),
    ]

    operations = [
        migrations.CreateModel(
            name="PatientSummary",
            fields=[
                (
                    "patient",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="summary",
                        serialize=False,
                        to="clinical.patient",
                    ),
                ),
                ("registry_id", models.CharField(max_length=20)),
                ("has_initial_course", models.BooleanField(default=False, verbose_name="ICI-1 recorded")),
                ("episode_count", models.PositiveSmallIntegerField(default=0, verbose_name="Episodes")),
                ("enrolled", models.BooleanField(default=False, verbose_name="Enrolled")),
                ("last_follow_up_date", models.DateField(blank=True, null=True, verbose_name="Last follow-up")),
                (
                    "case_status",
                    models.PositiveSmallIntegerField(
                        choices=[(0, "Draft"), (1, "Complete, not signed"), (2, "Signed")],
                        default=0,
                        verbose_name="Case status",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "patient summaries",
            },
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                fields=["site", "local_identifier"],
                name="patient_site_local_prefix_idx",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ),
        migrations.AddField(
            model_name="patientsummary",
            name="site",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.site"),
        ),
        migrations.RunPython(summaries_fill, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.OrderBy(models.F("case_status")), models.OrderBy(models.F("registry_id")), name="psum_status_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.OrderBy(models.F("case_status"), descending=True),
                models.OrderBy(models.F("registry_id")),
                name="psum_status_desc_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.F("site"),
                models.OrderBy(models.F("case_status")),
                models.OrderBy(models.F("registry_id")),
                name="psum_site_status_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.F("site"),
                models.OrderBy(models.F("case_status"), descending=True),
                models.OrderBy(models.F("registry_id")),
                name="psum_site_status_desc_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.OrderBy(models.F("has_initial_course")),
                models.OrderBy(models.F("registry_id")),
                name="psum_ici1_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.OrderBy(models.F("has_initial_course"), descending=True),
                models.OrderBy(models.F("registry_id")),
                name="psum_ici1_desc_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.F("site"),
                models.OrderBy(models.F("has_initial_course")),
                models.OrderBy(models.F("registry_id")),
                name="psum_site_ici1_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.F("site"),
                models.OrderBy(models.F("has_initial_course"), descending=True),
                models.OrderBy(models.F("registry_id")),
                name="psum_site_ici1_desc_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.OrderBy(models.F("episode_count")),
                models.OrderBy(models.F("registry_id")),
                name="psum_episodes_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.OrderBy(models.F("episode_count"), descending=True),
                models.OrderBy(models.F("registry_id")),
                name="psum_episodes_desc_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.F("site"),
                models.OrderBy(models.F("episode_count")),
                models.OrderBy(models.F("registry_id")),
                name="psum_site_episodes_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.F("site"),
                models.OrderBy(models.F("episode_count"), descending=True),
                models.OrderBy(models.F("registry_id")),
                name="psum_site_episodes_desc_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.OrderBy(models.F("enrolled")), models.OrderBy(models.F("registry_id")), name="psum_enrolled_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.OrderBy(models.F("enrolled"), descending=True),
                models.OrderBy(models.F("registry_id")),
                name="psum_enrolled_desc_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.F("site"),
                models.OrderBy(models.F("enrolled")),
                models.OrderBy(models.F("registry_id")),
                name="psum_site_enrolled_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.F("site"),
                models.OrderBy(models.F("enrolled"), descending=True),
                models.OrderBy(models.F("registry_id")),
                name="psum_site_enrolled_desc_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.OrderBy(models.F("last_follow_up_date")),
                models.OrderBy(models.F("registry_id")),
                name="psum_follow_up_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.OrderBy(models.F("last_follow_up_date"), descending=True),
                models.OrderBy(models.F("registry_id")),
                name="psum_follow_up_desc_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.F("site"),
                models.OrderBy(models.F("last_follow_up_date")),
                models.OrderBy(models.F("registry_id")),
                name="psum_site_follow_up_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="patientsummary",
            index=models.Index(
                models.F("site"),
                models.OrderBy(models.F("last_follow_up_date"), descending=True),
                models.OrderBy(models.F("registry_id")),
                name="psum_site_follow_up_desc_idx",
            ),
        ),
    ]

"""Imports that update registered patients (#13): a dry-run preview, and the registry IDs a job created."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("imports", "0002_job_claims")]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="dry_run",
            field=models.BooleanField(
                default=False,
                help_text="Checked and previewed; nothing is written until it is imported.",
                verbose_name="Preview only",
            ),
        ),
        migrations.AddField(
            model_name="importjob",
            name="preview",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Per row: the records it creates, changes (old → new) and leaves alone (capped).",
            ),
        ),
        migrations.AddField(
            model_name="importjob",
            name="created_registry_ids",
            field=models.JSONField(blank=True, default=list, help_text="Registry IDs of the new patients."),
        ),
    ]

"""Import jobs: one uploaded CSV file, its validation report and what it created."""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.urls import reverse

#: Extensions named beside a masked filename; any other "extension" may be part of a name.
SHOWN_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})


def import_file_path(job: ImportJob, filename: str) -> str:
    """``imports/<site code>/<random>.csv`` under MEDIA_ROOT; the original name is kept on the job."""
    return f"imports/{job.site.code}/{uuid.uuid4().hex}.csv"


class ImportJob(models.Model):
    """A bulk import of one site's CSV file, validated row by row and written all-or-nothing."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to start"
        VALIDATING = "validating", "Validating"
        IMPORTING = "importing", "Importing"
        SUCCEEDED = "succeeded", "Imported"
        FAILED = "failed", "Failed – nothing imported"

    RUNNING = frozenset({Status.PENDING, Status.VALIDATING, Status.IMPORTING})

    site = models.ForeignKey("accounts.Site", on_delete=models.PROTECT, related_name="import_jobs")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="import_jobs")
    file = models.FileField(upload_to=import_file_path, max_length=200)
    original_filename = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    total_rows = models.PositiveIntegerField(default=0, help_text="Data rows in the file (empty rows not counted).")
    processed_rows = models.PositiveIntegerField(default=0, help_text="Rows done in the current phase.")
    message = models.TextField(blank=True, help_text="Summary of the outcome for the person who uploaded.")
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(
        default=list, blank=True, help_text="[{row, column, value, message}] for every problem found (capped)."
    )
    created_counts = models.JSONField(default=dict, blank=True, help_text="{record type: number created}.")
    dry_run = models.BooleanField(
        "Preview only", default=False, help_text="Checked and previewed; nothing is written until it is imported."
    )
    preview = models.JSONField(
        default=list,
        blank=True,
        help_text="Per row: the records it creates, changes (old → new) and leaves alone (capped).",
    )
    created_registry_ids = models.JSONField(default=list, blank=True, help_text="Registry IDs of the new patients.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(
        max_length=100, blank=True, editable=False, help_text="host:pid of the worker running the job."
    )
    attempts = models.PositiveSmallIntegerField(
        default=0, editable=False, help_text="Times a worker started the job (more than 1: a worker died)."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["site", "-created_at"], name="import_job_site_created_idx")]

    def __str__(self) -> str:
        return f"Import #{self.pk} ({self.site.code}, {self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("imports:job-detail", kwargs={"pk": self.pk})

    @property
    def masked_filename(self) -> str:
        """The upload named without its original filename, which can hold a patient's name or number."""
        suffix = PurePosixPath(self.original_filename.replace("\\", "/")).suffix.lower()
        return f"upload #{self.pk} ({suffix})" if suffix in SHOWN_SUFFIXES else f"upload #{self.pk}"

    @property
    def status_label(self) -> str:
        """The status as the job page names it: a dry run that validated was checked, not imported."""
        if self.dry_run and self.status == self.Status.SUCCEEDED:
            return "Checked – preview, nothing imported yet"
        return self.get_status_display()

    @property
    def is_running(self) -> bool:
        return self.status in self.RUNNING

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if not self.is_running else 0
        return min(100, round(100 * self.processed_rows / self.total_rows))

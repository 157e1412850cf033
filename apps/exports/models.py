"""Export projects, export requests and the download log (DESIGN §6).

An investigator works inside an :class:`ExportProject` (title, approval reference, members). An
:class:`ExportRequest` chooses datasets, filters, formats and a de-identification profile; a coordinator
approves or refuses it (when ``EXPORTS_REQUIRE_APPROVAL``), a Celery worker builds it into one zip under
``EXPORTS_DIR`` and the request records the data cut, the manifest, the file's SHA-256 and when the link
expires. Every download is an :class:`ExportDownload` row. The pseudonym key is never stored here.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


class ExportProject(models.Model):
    """A named, approved project whose members may request de-identified exports."""

    title = models.CharField(max_length=200)
    approval_reference = models.CharField(
        max_length=100, help_text="Ethics or data-access approval the project works under (e.g. IRB-2026-014)."
    )
    description = models.TextField(blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="export_projects",
        blank=True,
        help_text="Investigators who may request and download this project's exports.",
    )
    allows_limited_dataset = models.BooleanField(
        default=False,
        help_text="The approval allows a limited data set (shifted dates) under a data use agreement.",
    )
    k = models.PositiveSmallIntegerField(default=5, help_text="k of the k-anonymity check (at least 2).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title", "pk"]
        constraints = [models.CheckConstraint(condition=Q(k__gte=2), name="export_project_k_at_least_2")]

    def __str__(self) -> str:
        return f"{self.title} ({self.approval_reference})"

    def get_absolute_url(self) -> str:
        return reverse("exports:project-detail", args=[self.pk])

    @property
    def pseudonym_scope(self) -> str:
        """The project id pseudonyms and date offsets are keyed on: stable within the project only."""
        return f"export-project-{self.pk}"


class ExportRequest(models.Model):
    """One request for a de-identified export, from asking to a ready (then expired) download."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Waiting for approval"
        APPROVED = "approved", "Approved, waiting for a worker"
        REFUSED = "refused", "Refused"
        BUILDING = "building", "Building"
        READY = "ready", "Ready to download"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    #: A worker takes these (approved: not started; building: taken over when its worker died).
    BUILDABLE = frozenset({Status.APPROVED, Status.BUILDING})

    project = models.ForeignKey(ExportProject, on_delete=models.PROTECT, related_name="requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    datasets = models.JSONField(help_text="Tables: analysis, iraes, responses, follow_ups.")
    filters = models.JSONField(
        default=dict, blank=True, help_text="tumour_types, sites, enrolled_from, enrolled_to, model_version."
    )
    formats = models.JSONField(help_text="csv, parquet, dta, sav, xlsx.")
    profile = models.CharField(max_length=30, default="safe_harbor")
    k = models.PositiveSmallIntegerField(default=5, help_text="k of the k-anonymity check, from the project.")
    purpose = models.TextField(blank=True, help_text="What the data are for (shown to the approving coordinator).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, help_text="The coordinator's reason (required to refuse).")
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done, 0–100.")
    message = models.TextField(blank=True, help_text="What the build is doing, or how it ended.")
    data_cut = models.DateTimeField(
        null=True, blank=True, help_text="UTC moment of the data cut, fixed when the request is approved."
    )
    manifest = models.JSONField(null=True, blank=True)
    file_path = models.CharField(max_length=300, blank=True, help_text="Path of the zip, relative to EXPORTS_DIR.")
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="export_request_progress_percent"),
            models.CheckConstraint(condition=Q(k__gte=2), name="export_request_k_at_least_2"),
        ]

    def __str__(self) -> str:
        return f"Export {self.export_id} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("exports:request-detail", args=[self.pk])

    @property
    def export_id(self) -> str:
        return f"EXP-{self.pk:06d}"

    @property
    def is_under_way(self) -> bool:
        return self.status in (self.Status.APPROVED, self.Status.BUILDING)

    @property
    def link_expired(self) -> bool:
        """Expired, or ready with its link run out (before housekeeping marks it expired)."""
        if self.status == self.Status.EXPIRED:
            return True
        return self.status == self.Status.READY and self.expires_at is not None and self.expires_at <= timezone.now()


class ExportDownload(models.Model):
    """One download of a bundle: who, when, which request, which file (by SHA-256)."""

    request = models.ForeignKey(ExportRequest, on_delete=models.PROTECT, related_name="downloads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    downloaded_at = models.DateTimeField(auto_now_add=True)
    sha256 = models.CharField(max_length=64)
    channel = models.CharField(max_length=10, help_text="web or api")

    class Meta:
        ordering = ["-downloaded_at", "-pk"]

    def __str__(self) -> str:
        return f"Download of {self.request.export_id} by {self.user} at {self.downloaded_at:%Y-%m-%d %H:%M}"

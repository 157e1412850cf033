"""Base model of clinical records and the append-only audit trail."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class ClinicalRecord(models.Model):
    """Fields every clinical record carries: optimistic-locking version, completeness and timestamps."""

    version = models.PositiveIntegerField(
        default=1, editable=False, help_text="Increases on every change; used to detect conflicting edits."
    )
    is_complete = models.BooleanField(
        "Marked complete",
        default=False,
        help_text="Once a record is marked complete, every change needs a reason in the audit trail.",
    )
    missing_answers = models.JSONField(
        "Missing-data answers",
        default=dict,
        blank=True,
        help_text="Fields the site could not fill, each answered with a missing-data code "
        "(registry.vocabularies.MISSING_DATA_CODES): {field name: code}. The field itself stays empty.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AuditAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    DELETE = "delete", "Deleted"
    SETTING = "setting", "Setting changed"


class AuditChannel(models.TextChoices):
    WEB = "web", "Web form"
    API = "api", "REST API"
    ADMIN = "admin", "Admin"
    IMPORT = "import", "Bulk import"
    TASK = "task", "Background task"
    SEED = "seed", "Demo data generator"
    SYSTEM = "system", "System"


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise PermissionError("audit entries cannot be changed")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit entries cannot be deleted")


class AuditEntry(models.Model):
    """One change to clinical data: who, when (UTC), through which channel, per-field old/new values, why."""

    # Set before saving (not auto_now_add) because the entry's hash covers it.
    timestamp = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=AuditChannel.choices)
    action = models.CharField(max_length=10, choices=AuditAction.choices)
    model_label = models.CharField(max_length=64, help_text="app_label.model_name of the changed record.")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    site = models.ForeignKey(
        "accounts.Site", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=True
    )
    changes = models.JSONField(default=dict, help_text="{field: [old, new]} for every changed field.")
    reason = models.TextField(blank=True)
    chain = models.CharField(max_length=32, editable=False, help_text="Hash chain: 'site:<id>' or 'global'.")
    sequence = models.PositiveBigIntegerField(editable=False, help_text="Position in its chain, from 1.")
    previous_hash = models.CharField(max_length=64, editable=False)
    entry_hash = models.CharField(max_length=64, editable=False, help_text="SHA-256 over content and previous hash.")

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [models.Index(fields=["model_label", "object_id"], name="audit_record_idx")]
        constraints = [models.UniqueConstraint(fields=["chain", "sequence"], name="audit_chain_position_unique")]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M} {self.action} {self.model_label}#{self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("audit entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit entries cannot be deleted")


class AuditChainHead(models.Model):
    """The newest entry of each audit hash chain; locked while an entry is appended (one writer per chain)."""

    chain = models.CharField(max_length=32, primary_key=True)
    sequence = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.chain} @ {self.sequence}"

"""Locked decision-model assessments (DESIGN §4 prospective lock) and the blinding setting."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from apps.core.models import AppendOnlyQuerySet
from registry.decision import CATEGORIES, CATEGORY_LABELS

#: The decision model's categories, as ``registry.decision`` declares them (codes and labels).
CATEGORY_CHOICES = [(category, CATEGORY_LABELS[category]) for category in CATEGORIES]


class Assessment(models.Model):
    """The model's output for an episode, stored once and never changed: validation uses only these."""

    episode = models.ForeignKey("clinical.RechallengeEpisode", on_delete=models.PROTECT, related_name="assessments")
    model_version = models.CharField(max_length=20)
    model_hash = models.CharField(max_length=64, help_text="SHA-256 of the model specification.")
    code_version = models.CharField(
        max_length=64,
        blank=True,
        help_text="Project version and git commit of the code that evaluated the model; "
        "empty for assessments made before code versions were recorded.",
    )
    inputs = models.JSONField(help_text="Snapshot of the inputs the model was given.")
    factors = models.JSONField(help_text="Per-factor level, reason and points.")
    category = models.CharField(max_length=20, choices=CATEGORY_CHOICES)
    score = models.IntegerField()
    assessed_at = models.DateTimeField(auto_now_add=True)
    assessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    is_reassessment = models.BooleanField(
        default=False, help_text="Made after the underlying data were corrected; the original stays beside it."
    )
    is_retrospective = models.BooleanField(
        default=False, help_text="Evaluated after outcomes could be known (e.g. a newer model version)."
    )
    supersedes = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="superseded_by"
    )
    reason = models.TextField(blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["episode_id", "assessed_at", "id"]
        indexes = [models.Index(fields=["episode", "model_version"], name="assessment_episode_version_idx")]

    def __str__(self) -> str:
        return f"{self.category} (model {self.model_version}) for episode {self.episode_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("a locked assessment cannot be changed; record a re-assessment instead")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("a locked assessment cannot be deleted")


class BlindingSetting(models.Model):
    """Whether center staff see the model's category (switching it is audited)."""

    blind_category_to_site_staff = models.BooleanField(
        default=False,
        help_text="Hide the assessment category from center staff during a prospective validation period.",
    )
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "Blinded" if self.blind_category_to_site_staff else "Not blinded"

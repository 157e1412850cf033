"""Validation runs: one data cut of the registry compared with the locked predictions of one model version.

A run is a record (issue "Validation of the decision model", DESIGN §5): the data-cut time, a SHA-256
of the exact rows used, the model version and hash, the code and library versions, the metrics as
canonical JSON text, the runtime and who or what started it. Once it has **finished** (succeeded or
failed) nothing of it changes: the model's ``save``/``delete``, its queryset and, on PostgreSQL, a
trigger (migration ``validation 0002``) refuse it. While it is pending or running, only the service
(``apps.validation.services``) moves its status and progress forward.

A run's figures (:class:`ValidationRunFigure`) are drawn by the worker from the very rows of the run and
written in the transaction that marks it succeeded: they are part of the record, as immutable as the
run (migration ``validation 0003``), and the report only reads them.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q


class ValidationRunQuerySet(models.QuerySet):
    """Refuses to update or delete finished runs (the application half of their immutability)."""

    def update(self, **kwargs: Any) -> int:
        if self.filter(status__in=ValidationRun.FINISHED).exists():
            raise PermissionError("a finished validation run cannot be changed")
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        if self.filter(status__in=ValidationRun.FINISHED).exists():
            raise PermissionError("a finished validation run cannot be deleted")
        return super().delete()


class ValidationRun(models.Model):
    """One validation of one model version on one data cut; immutable once finished."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Finished"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Nightly schedule"
        MANUAL = "manual", "Started by a coordinator"
        COMMAND = "command", "Management command"

    FINISHED = frozenset({Status.SUCCEEDED, Status.FAILED})
    UNFINISHED = frozenset({Status.PENDING, Status.RUNNING})
    #: The fields a run in progress may still change (through the service only).
    PROGRESS_FIELDS = frozenset(
        {
            "status",
            "progress",
            "message",
            "claimed_by",
            "attempts",
            "started_at",
            "finished_at",
            "data_hash",
            "metrics_json",
            "runtime_seconds",
            "code_version",
            "library_versions",
            "is_synthetic",
        }
    )

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    model_version = models.CharField(max_length=20, help_text="Version of the decision model validated.")
    model_hash = models.CharField(max_length=64, help_text="SHA-256 of that model version's specification.")
    data_cut = models.DateTimeField(
        help_text="UTC moment of the data cut: records created after it are left out, times beyond it censored."
    )
    data_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the exact rows the run used.")
    code_version = models.CharField(max_length=64, blank=True, help_text="Project version and git commit.")
    library_versions = models.JSONField(
        default=dict, blank=True, help_text="Versions of the statistics libraries and of the metrics format."
    )
    metrics_json = models.TextField(
        blank=True,
        help_text="The metrics as canonical JSON text (sorted keys): byte-identical for an unchanged data cut.",
    )
    runtime_seconds = models.FloatField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who started the run; empty for the nightly schedule and the management command.",
    )
    is_synthetic = models.BooleanField(
        default=False,
        help_text="The data include the synthetic demo cohort (patients written by the demo generator, audit "
        "channel 'seed').",
    )
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done, 0–100.")
    message = models.TextField(blank=True, help_text="What the run is doing, or how it ended.")
    claimed_by = models.CharField(
        max_length=100, blank=True, editable=False, help_text="host:pid of the worker running the run."
    )
    attempts = models.PositiveSmallIntegerField(
        default=0, editable=False, help_text="Times a worker started the run (more than 1: a worker died)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ValidationRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["model_version", "-created_at"], name="validation_run_version_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="validation_run_progress_percent"),
        ]

    def __str__(self) -> str:
        return f"Validation run #{self.pk} (model {self.model_version}, {self.get_status_display()})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            if type(self).objects.filter(pk=self.pk, status__in=self.FINISHED).exists():
                raise PermissionError("a finished validation run cannot be changed")
            fields = kwargs.get("update_fields")
            if fields is None or not set(fields) <= self.PROGRESS_FIELDS:
                raise PermissionError(
                    "a validation run in progress changes only its progress and outcome fields, through the service"
                )
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if type(self).objects.filter(pk=self.pk, status__in=self.FINISHED).exists():
            raise PermissionError("a finished validation run cannot be deleted")
        return super().delete(*args, **kwargs)

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def is_running(self) -> bool:
        return self.status in self.UNFINISHED

    @cached_property
    def metrics(self) -> dict[str, Any] | None:
        """The metrics parsed from ``metrics_json`` (None until the run succeeded)."""
        return json.loads(self.metrics_json) if self.metrics_json else None


class ValidationRunFigureQuerySet(models.QuerySet):
    """Refuses to update or delete a run's figures (they are written once, with the finished run)."""

    def update(self, **kwargs: Any) -> int:
        raise PermissionError("a validation run's figures cannot be changed")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("a validation run's figures cannot be deleted")


class ValidationRunFigure(models.Model):
    """One SVG figure of a run, as the worker drew it for the whole-registry view of the report."""

    run = models.ForeignKey(ValidationRun, on_delete=models.PROTECT, related_name="figures")
    population = models.CharField(max_length=20)
    name = models.CharField(max_length=30, help_text="Figure name, as in the report's URL (km-pfs2, forest-site…).")
    svg = models.TextField()
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the SVG text (the figure's ETag).")
    plot_format = models.CharField(max_length=40, help_text="Version of the drawing code that drew it.")

    objects = ValidationRunFigureQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "population", "name"], name="validation_figure_once_per_run"),
        ]

    def __str__(self) -> str:
        return f"Figure {self.name} ({self.population}) of validation run #{self.run_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError("a validation run's figures cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("a validation run's figures cannot be deleted")

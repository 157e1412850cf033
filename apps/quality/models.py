"""Data-quality queries, their comment threads, and source-data verification marks.

A query points at one field (or a whole record) of one clinical record: ``record_type`` is the record's
slug in ``apps.core.records`` and ``record_id`` its primary key, so a query needs no foreign key per
record type and survives the record's deletion (it then closes itself). Automatic queries come from a
rule of ``registry.quality`` and are keyed by ``(rule_id, record_type, record_id, field)``: the sweep
opens at most one open query per problem and closes it, with a note, once the problem is gone.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class DataQuery(models.Model):
    """A question about one field of one record, raised by a rule or by a coordinator."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ANSWERED = "answered", "Answered by the site"
        CLOSED = "closed", "Closed"

    class Resolution(models.TextChoices):
        FIXED = "fixed", "Fixed: the data were corrected"
        CONFIRMED = "confirmed", "Confirmed as entered"
        RESOLVED = "resolved", "Resolved by the coordinator"
        RECORD_DELETED = "record_deleted", "The record was deleted"

    rule_id = models.CharField(
        max_length=50, blank=True, help_text="The rule of registry.quality that raised it; empty if raised by a person."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    site = models.ForeignKey("accounts.Site", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "clinical.Patient", on_delete=models.SET_NULL, null=True, blank=True, related_name="data_queries"
    )
    record_type = models.CharField(max_length=30, help_text="Slug of the record type (apps.core.records).")
    record_id = models.PositiveBigIntegerField()
    field = models.CharField(max_length=60, blank=True, help_text="The field asked about; empty for the whole record.")
    message = models.TextField()
    #: What the field held when the query was raised (an implausible value confirmed as entered is not asked
    #: about again unless it changes).
    value_seen = models.CharField(max_length=200, blank=True)
    #: Visible to coordinators only (a query whose mere existence would unblind the site).
    coordinators_only = models.BooleanField(default=False)
    opened_at = models.DateTimeField(db_index=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reopened_count = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = "data query"
        verbose_name_plural = "data queries"
        constraints = [
            # One open automatic query per problem: the sweep and the on-save check cannot raise it twice.
            models.UniqueConstraint(
                fields=["rule_id", "record_type", "record_id", "field"],
                condition=~Q(rule_id="") & ~Q(status="closed"),
                name="quality_one_open_query_per_problem",
            ),
            models.CheckConstraint(
                condition=Q(status="closed", closed_at__isnull=False)
                | (~Q(status="closed") & Q(closed_at__isnull=True)),
                name="quality_closed_iff_closed_at",
            ),
        ]
        indexes = [
            models.Index(fields=["site", "status"], name="quality_query_site_status_idx"),
            models.Index(fields=["record_type", "record_id"], name="quality_query_record_idx"),
            models.Index(fields=["patient", "status"], name="quality_query_patient_idx"),
        ]

    def __str__(self) -> str:
        return f"Query #{self.pk} ({self.get_status_display()})"


class QueryComment(models.Model):
    """One step of a query's thread: who did what, when, and what they said."""

    class Action(models.TextChoices):
        OPENED = "opened", "Opened"
        COMMENTED = "commented", "Commented"
        ANSWERED = "answered", "Answered"
        CLOSED = "closed", "Closed"
        REOPENED = "reopened", "Re-opened"
        AUTO_CLOSED = "auto_closed", "Closed automatically"

    query = models.ForeignKey(DataQuery, on_delete=models.CASCADE, related_name="comments")
    action = models.CharField(max_length=12, choices=Action.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    text = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} on query #{self.query_id}"


class SourceVerification(models.Model):
    """A coordinator's mark that a record (``field`` empty) or one field matches the source documents.

    A change to the record after verification clears the mark (of the changed fields, and the whole-record
    mark), so a verified value is always the value that was checked.
    """

    site = models.ForeignKey("accounts.Site", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("clinical.Patient", on_delete=models.CASCADE, related_name="source_verifications")
    record_type = models.CharField(max_length=30)
    record_id = models.PositiveBigIntegerField()
    field = models.CharField(max_length=60, blank=True)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["record_type", "record_id", "field"], name="quality_one_verification_per_field"
            ),
        ]
        indexes = [models.Index(fields=["patient"], name="quality_sdv_patient_idx")]

    def __str__(self) -> str:
        return f"SDV {self.record_type}#{self.record_id} {self.field or '(record)'}"


def _open_query_indexes(short: str, *, per_site: bool) -> list[models.Index]:
    scope = [models.F("site")] if per_site else []
    return [
        models.Index(*scope, models.F("count").asc(), models.F("registry_id").asc(), name=f"qcount_{short}_idx"),
        models.Index(*scope, models.F("count").desc(), models.F("registry_id").asc(), name=f"qcount_{short}_desc_idx"),
    ]


class OpenQueryCount(models.Model):
    """How many queries of a patient are not closed (open or answered by the site), stored so the patient list
    sorts 100,000 patients by it from an index: a row only while there is one (none: no row), kept exact
    set-wise by ``panels.open_query_counts_refresh`` in the transaction of every change of queries."""

    #: The patient's site and registry ID, copied so one index serves the list in either order.
    site = models.ForeignKey("accounts.Site", on_delete=models.CASCADE, related_name="+")
    registry_id = models.CharField(max_length=20)
    count = models.PositiveIntegerField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.registry_id}: {self.count} open"


class PatientOpenQueries(OpenQueryCount):
    """Every query of the patient not closed: what coordinators see."""

    patient = models.OneToOneField(
        "clinical.Patient", on_delete=models.CASCADE, primary_key=True, related_name="open_queries_all"
    )

    class Meta:
        verbose_name_plural = "patients' open queries"
        indexes = _open_query_indexes("all", per_site=False)


class PatientSiteOpenQueries(OpenQueryCount):
    """The patient's queries not closed that center staff see (not those kept for coordinators)."""

    patient = models.OneToOneField(
        "clinical.Patient", on_delete=models.CASCADE, primary_key=True, related_name="open_queries_site"
    )

    class Meta:
        verbose_name_plural = "patients' open queries seen by the site"
        indexes = _open_query_indexes("site", per_site=True)

"""API shapes of sign-off and source verification: a case's status with its signature, the bodies of signing
and unlocking, and a source-verification mark."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.quality.case_status import DEFAULT_SIGNATURE_MEANING, SIGNATURE_MEANINGS, CaseStatus

from .models import SourceVerification
from .signoff_selectors import CaseSummary, record_type_slugs, signer_name, utc


class CaseStatusSerializer(serializers.Serializer):
    """A case's status (draft → complete → signed) and, once signed, the signature (21 CFR Part 11 §11.50)."""

    registry_id = serializers.CharField(source="patient.registry_id")
    status = serializers.ChoiceField(choices=[status.value for status in CaseStatus], source="status.value")
    records_total = serializers.IntegerField(help_text="Records of the case, the patient record included.")
    records_complete = serializers.IntegerField(help_text="Of them, those marked complete.")
    incomplete = serializers.ListField(
        child=serializers.CharField(), help_text="How the records not marked complete are named."
    )
    open_queries = serializers.IntegerField(
        help_text="Open or answered queries the site sees (they block signing); 0 once signed."
    )
    can_be_signed = serializers.BooleanField()
    refusals = serializers.ListField(child=serializers.CharField(), help_text="Why the case cannot be signed now.")
    signed_at = serializers.SerializerMethodField(help_text="When it was signed (UTC); null unless signed.")
    signed_by = serializers.SerializerMethodField(help_text="The signer's full name; null unless signed.")
    signature_meaning = serializers.SerializerMethodField(help_text="The meaning of the signature; null unless signed.")

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_signed_at(self, summary: CaseSummary):
        moment = utc(summary.patient.signed_at)
        return moment.isoformat().replace("+00:00", "Z") if moment else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_signed_by(self, summary: CaseSummary) -> str | None:
        return signer_name(summary.patient) or None if summary.patient.signed_at else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_signature_meaning(self, summary: CaseSummary) -> str | None:
        return summary.patient.signature_meaning if summary.patient.signed_at else None


class CaseSignSerializer(serializers.Serializer):
    """The site PI's signature: their password, re-entered, and the meaning of the signature."""

    password = serializers.CharField(
        write_only=True, allow_blank=True, trim_whitespace=False, help_text="The signer's own password."
    )
    meaning = serializers.ChoiceField(
        choices=list(SIGNATURE_MEANINGS),
        required=False,
        allow_blank=True,
        help_text=f"The meaning of the signature; by default “{DEFAULT_SIGNATURE_MEANING}”",
    )


class CaseUnlockSerializer(serializers.Serializer):
    """A coordinator's unlock: the reason, kept in the audit trail."""

    reason = serializers.CharField(allow_blank=True, trim_whitespace=True, help_text="Why the case is unlocked.")


class SourceVerificationSerializer(serializers.ModelSerializer):
    """A mark that a record (``field`` empty) or one of its fields matches the source documents."""

    site = serializers.CharField(source="site.code", read_only=True, help_text="The code of the record's site.")
    patient = serializers.CharField(
        source="patient.registry_id", read_only=True, help_text="The patient's registry ID."
    )
    verified_by = serializers.SerializerMethodField(help_text="Full name (or username) of the coordinator.")

    class Meta:
        model = SourceVerification
        fields = ("id", "site", "patient", "record_type", "record_id", "field", "verified_by", "verified_at")
        read_only_fields = fields

    def get_verified_by(self, mark: SourceVerification) -> str:
        return mark.verified_by.get_full_name() or mark.verified_by.get_username()


class SourceVerificationCreateSerializer(serializers.Serializer):
    """What to mark verified: a record (``field`` empty or left out) or one of its fields."""

    record_type = serializers.ChoiceField(choices=record_type_slugs(), help_text="The record type's slug.")
    record_id = serializers.IntegerField(min_value=1)
    field = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=60, help_text="A field name; empty: the whole record."
    )

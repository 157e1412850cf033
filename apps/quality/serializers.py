"""API shapes of data queries: a query as read (list and detail with its thread), and the bodies of each step.

The user's reach comes in the context (``access``): the value a query saw in a field hidden from coordinators
is shown to the record's own site only.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import selectors
from .models import DataQuery, QueryComment
from .services import CLOSING_RESOLUTIONS, MAX_TEXT

#: The resolutions a coordinator chooses from when closing (its own enum in the schema).
CLOSING_CHOICES = [(value, DataQuery.Resolution(value).label) for value in CLOSING_RESOLUTIONS]


class QueryCommentSerializer(serializers.ModelSerializer):
    """One step of a query's thread: who did what, when, and what they said."""

    author = serializers.SerializerMethodField(help_text="Username of who acted; null for the registry's rules.")

    class Meta:
        model = QueryComment
        fields = ("action", "author", "text", "created_at")
        read_only_fields = fields

    def get_author(self, comment: QueryComment) -> str | None:
        return comment.author.get_username() if comment.author_id else None


class DataQuerySerializer(serializers.ModelSerializer):
    """A query as listed: what it asks about which field of which record, its state and its age."""

    site = serializers.CharField(source="site.code", read_only=True, help_text="The code of the record's site.")
    patient = serializers.SerializerMethodField(help_text="Registry ID of the record's patient; null once deleted.")
    rule_title = serializers.SerializerMethodField(help_text="The rule's title, or 'Raised by a coordinator'.")
    field_label = serializers.SerializerMethodField(help_text="The field as the form labels it.")
    value_seen = serializers.SerializerMethodField(
        help_text="What the field held when the query was raised (empty for an identifier of another site)."
    )
    age_days = serializers.SerializerMethodField(help_text="Whole days since it was opened (until closed).")
    record_url = serializers.SerializerMethodField(help_text="The record on its patient's page; null once deleted.")

    class Meta:
        model = DataQuery
        fields = (
            "id",
            "rule_id",
            "rule_title",
            "status",
            "resolution",
            "site",
            "patient",
            "record_type",
            "record_id",
            "field",
            "field_label",
            "message",
            "value_seen",
            "coordinators_only",
            "opened_at",
            "answered_at",
            "closed_at",
            "age_days",
            "reopened_count",
            "record_url",
        )
        read_only_fields = fields

    def get_patient(self, query: DataQuery) -> str | None:
        return query.patient.registry_id if query.patient_id else None

    def get_rule_title(self, query: DataQuery) -> str:
        return selectors.rule_title(query)

    def get_field_label(self, query: DataQuery) -> str:
        return selectors.field_label(query)

    def get_value_seen(self, query: DataQuery) -> str:
        return selectors.shown_value_seen(query, self.context["access"])

    def get_age_days(self, query: DataQuery) -> int:
        return selectors.age_days(query)

    def get_record_url(self, query: DataQuery) -> str | None:
        return selectors.record_anchor_url(query) or None


class DataQueryDetailSerializer(DataQuerySerializer):
    """A query with who acted at each step and its whole thread."""

    opened_by = serializers.SerializerMethodField(help_text="Username of who raised it; null for a rule.")
    answered_by = serializers.SerializerMethodField(help_text="Username of who answered it; null before.")
    closed_by = serializers.SerializerMethodField(help_text="Username of who closed it; null while not closed.")
    comments = serializers.SerializerMethodField(help_text="The thread, oldest first.")

    class Meta(DataQuerySerializer.Meta):
        fields = (*DataQuerySerializer.Meta.fields, "opened_by", "answered_by", "closed_by", "comments")
        read_only_fields = fields

    @staticmethod
    def _name(user) -> str | None:
        return user.get_username() if user is not None else None

    def get_opened_by(self, query: DataQuery) -> str | None:
        return self._name(query.opened_by)

    def get_answered_by(self, query: DataQuery) -> str | None:
        return self._name(query.answered_by)

    def get_closed_by(self, query: DataQuery) -> str | None:
        return self._name(query.closed_by)

    @extend_schema_field(QueryCommentSerializer(many=True))
    def get_comments(self, query: DataQuery) -> list[dict]:
        return QueryCommentSerializer(selectors.query_comments(query=query), many=True).data


class QueryRaiseSerializer(serializers.Serializer):
    """A coordinator's question about one field of a record (or the whole record)."""

    record_type = serializers.CharField(
        max_length=30, help_text="The record type's slug: patient, initial-course, episode, adverse-event, …"
    )
    record_id = serializers.IntegerField(min_value=1, help_text="The record's id.")
    field = serializers.CharField(
        max_length=60, required=False, allow_blank=True, default="", help_text="The field; empty for the whole record."
    )
    message = serializers.CharField(max_length=MAX_TEXT, help_text="The question the site reads.")
    coordinators_only = serializers.BooleanField(
        required=False, default=False, help_text="Kept from center staff (its existence would unblind the site)."
    )


class QueryAnswerSerializer(serializers.Serializer):
    """The site's answer."""

    text = serializers.CharField(max_length=MAX_TEXT, help_text="What the site did or found.")
    confirmed = serializers.BooleanField(
        required=False, default=False, help_text="The value is right as entered (rules that allow it only)."
    )


class QueryCloseSerializer(serializers.Serializer):
    """A coordinator's closing of a query."""

    resolution = serializers.ChoiceField(
        choices=CLOSING_CHOICES,
        required=False,
        default=DataQuery.Resolution.RESOLVED,
    )
    text = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True, default="")


class QueryTextSerializer(serializers.Serializer):
    """A comment, or why a query is re-opened."""

    text = serializers.CharField(max_length=MAX_TEXT)

"""Forms of the query pages: raise, answer, close, re-open and comment. They check the input's shape only; the
services decide whether the step is allowed (role, state, rule)."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.core.forms import NulCheckedForm

from .models import DataQuery
from .selectors import FieldChoice
from .services import CLOSING_RESOLUTIONS, MAX_TEXT

Resolution = DataQuery.Resolution

WHOLE_RECORD = ""


def _textarea(label: str, *, required: bool, help_text: str = "", rows: int = 3) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=MAX_TEXT,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": rows}),
    )


class QueryRaiseForm(NulCheckedForm, forms.Form):
    """A coordinator's question about one field of a record (or the whole record)."""

    field = forms.ChoiceField(label="Field", required=False, help_text="The field the site should check.")
    message = _textarea(
        "Question",
        required=True,
        help_text="What the site should check or correct. Do not ask for local identifiers or dates of birth.",
        rows=4,
    )
    coordinators_only = forms.BooleanField(
        label="Coordinators only",
        required=False,
        help_text="Keep it from center staff (only when its existence would unblind the site).",
    )

    def __init__(self, *args: Any, fields: list[FieldChoice], values: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(WHOLE_RECORD, "The whole record")]
        for choice in fields:
            value = values.get(choice.name, "")
            choices.append((choice.name, f"{choice.label}: {value}" if value else choice.label))
        self.fields["field"].choices = choices


class QueryAnswerForm(NulCheckedForm, forms.Form):
    text = _textarea("Answer", required=True, help_text="What you corrected, or why the value is right.")
    confirmed = forms.BooleanField(
        label="Confirmed as entered",
        required=False,
        help_text="The value is right as entered (checked against the source documents).",
    )

    def __init__(self, *args: Any, confirmable: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not confirmable:
            del self.fields["confirmed"]


class QueryCloseForm(NulCheckedForm, forms.Form):
    resolution = forms.ChoiceField(label="Resolution", initial=Resolution.RESOLVED)
    text = _textarea("Comment", required=False, help_text="Optional: a note for the site.", rows=2)

    def __init__(self, *args: Any, confirmable: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        shown = [value for value in CLOSING_RESOLUTIONS if confirmable or value != Resolution.CONFIRMED]
        self.fields["resolution"].choices = [(value, Resolution(value).label) for value in shown]


class QueryReopenForm(NulCheckedForm, forms.Form):
    text = _textarea("Why it is re-opened", required=True, help_text="What the site still has to do.", rows=2)


class QueryCommentForm(NulCheckedForm, forms.Form):
    text = _textarea("Comment", required=True, rows=2)

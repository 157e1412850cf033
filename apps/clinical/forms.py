"""Web forms of the case report form: they check the shape of the input, the services save it.

Labels, help text and choices come from the model fields (one source for forms, API and codebook).
A form runs the model's ``clean()`` through ``ModelForm`` validation but never saves: the view hands
``record_data()`` to ``apps.clinical.services`` together with the audit ``reason`` and the
optimistic-locking ``version`` the user loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models as db_models
from django.db.models import Model
from django.utils.html import format_html

from apps.accounts.models import Site
from apps.accounts.selectors import Access, registration_sites_for_user
from apps.core.forms import NulCheckedForm
from registry import vocabularies as v
from registry.crf import HIDDEN_FROM_COORDINATORS, TIED_TO_HIDDEN
from registry.dates import DatePrecision
from registry.quality import REQUIRED_FIELDS, Required

from .models import (
    PRECISION_SUFFIX,
    AdverseEvent,
    CaseRecord,
    FollowUp,
    InitialCourse,
    Patient,
    RechallengeEpisode,
    ResponseAssessment,
    crf_fields,
)
from .selectors import patient_episodes

#: Form fields that feed the audit trail and the locking check rather than the record.
AUDIT_FIELDS = frozenset({"reason", "version"})
#: The select beside a required field that answers it with a missing-data code: ``<field>__missing``.
MISSING_SUFFIX = "__missing"
#: A field whose own choices include "Unknown" (Yes / No / Unknown) answers it with that code.
UNKNOWN_ANSWER = "unknown"
#: The mark of a required field; the form's legend explains it.
REQUIRED_MARK = '<abbr class="required-mark" title="required" aria-label="required">*</abbr>'


@dataclass(frozen=True)
class FormCell:
    """One field of the form's layout: the field, whether it is required (and when), and the select
    that answers it with a missing-data code instead (None where the form offers none)."""

    field: forms.BoundField
    required: bool = False
    #: When a conditionally required field is required ("when the course stopped"); "" if always.
    condition: str = ""
    missing: forms.BoundField | None = None
    #: A date's "exact day / month only" select, shown beside the date inside the same field.
    precision: forms.BoundField | None = None

    def label_tag(self) -> str:
        """The field's label, with the required mark (and its condition) inside it, so it is read with it."""
        if not self.required:
            return self.field.label_tag()
        condition = format_html(' <span class="required-when">(required {})</span>', self.condition)
        contents = format_html("{} " + REQUIRED_MARK + "{}", self.field.label, condition if self.condition else "")
        # Django adds its ":" only after a label not ending in punctuation ("irAEs during ICI-1?"); so here.
        suffix = "" if str(self.field.label)[-1:] in ":?.!" else None
        return self.field.label_tag(contents=contents, label_suffix=suffix)


#: What a month-only date may be typed as when the browser has no month picker (or no JavaScript swapped it in).
_MONTH_ONLY = re.compile(r"^\s*\d{4}-\d{2}\s*$")
MONTH_WITHOUT_DAY = "Only a month was given: choose “month only” beside the date, or give the day."


class PartialDateInput(forms.DateInput):
    """A date that may be known only to the month: ``<input type="date">``, or ``type="month"`` (YYYY-MM) while
    its precision is "month only". ``static/clinical/partial-dates.js`` swaps the type when the precision
    changes; without JavaScript the server accepts either form."""

    def __init__(self, *, month: bool = False, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={**(attrs or {}), "type": "month" if month else "date"})
        self.month = month
        self.input_type = "month" if month else "date"
        self.format = "%Y-%m" if month else "%Y-%m-%d"

    def format_value(self, value: Any) -> str | None:
        if self.month and isinstance(value, str) and len(value.strip()) == len("YYYY-MM-DD"):
            return value.strip()[:7]  # a full date typed before "month only" was chosen keeps its month
        return super().format_value(value)


class PartialDateField(forms.DateField):
    """A date typed as YYYY-MM-DD or, known only to the month, YYYY-MM (read as the month's first day: the
    model's mid-month rule then stores the 15th)."""

    input_formats = ["%Y-%m-%d", "%Y-%m"]
    default_error_messages = {
        "invalid": "Enter a date as YYYY-MM-DD, or a month as YYYY-MM with “month only” beside it."
    }


def entry_fields(model: type[Model], *, skip: tuple[str, ...] = ()) -> list[str]:
    """The model's editable fields in CRF order, with "marked complete" last."""
    return [*crf_fields(model, skip=skip), "is_complete"]


class RecordForm(NulCheckedForm, forms.ModelForm):
    """Base of every clinical form: HTML date inputs, the audit reason and the loaded version."""

    reason = forms.CharField(
        label="Reason for change",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the audit trail; required when changing a record that is marked complete.",
    )
    version = forms.IntegerField(
        required=False,
        min_value=1,
        widget=forms.HiddenInput,
        error_messages={"required": "The form came without the record's version: reload the page and try again."},
    )

    #: Yes / No / Unknown facts answered on purpose (``YesNoUnknownField``): an unticked checkbox or a
    #: preselected "Unknown" would record an answer nobody gave.
    YES_NO_UNKNOWN: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.YES_NO_UNKNOWN:
            model_field = self._meta.model._meta.get_field(name)
            self.fields[name] = YesNoUnknownField(
                label=self.fields[name].label, help_text=model_field.help_text, required=True
            )
            if self.instance.pk is not None and getattr(self.instance, name) is None:
                self.initial[name] = "unknown"  # a stored record's "unknown" is an answer, not a blank
        model_fields = {f.name: f for f in self._meta.model._meta.concrete_fields}
        #: Fields with a model default may be left out of a POST: they keep their current (or default) value.
        self.fallbacks: dict[str, Any] = {}
        if self.instance.pk is None:  # a new record has nothing to change, so no reason for a change
            del self.fields["reason"]
        for name, field in list(self.fields.items()):
            if isinstance(field, forms.DateField):
                if f"{name}{PRECISION_SUFFIX}" in self.fields:
                    field = self.fields[name] = self._partial_date_field(name, field)
                else:
                    field.widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
            model_field = model_fields.get(name)
            if model_field is not None and model_field.has_default() and field.required:
                field.required = False
                current = getattr(self.instance, model_field.attname) if self.instance.pk else None
                self.fallbacks[name] = model_field.get_default() if current is None else current
        if self.instance.pk is not None:  # editing: the version the user loaded guards against lost updates
            self.initial.setdefault("version", self.instance.version)
            self.fields["version"].required = True
        self._offer_missing_answers()
        # The reason and the hidden version close the form, after the record's own fields.
        self.order_fields([name for name in self.fields if name not in AUDIT_FIELDS])

    # --- dates known only to the month -----------------------------------------------------------------

    def precision_of(self, name: str) -> str:
        """The precision the date ``name`` is entered at: as posted, else as stored (or the default)."""
        key = f"{name}{PRECISION_SUFFIX}"
        if self.is_bound:
            return self.data.get(self.add_prefix(key)) or DatePrecision.DAY.value
        value = self.initial.get(key) or getattr(self.instance, key, None) or DatePrecision.DAY
        return str(value)

    def _partial_date_field(self, name: str, field: forms.DateField) -> PartialDateField:
        """The date as a month field while its precision is "month only", its precision select tied to it."""
        month = self.precision_of(name) == DatePrecision.MONTH
        date_id = self.auto_id % self.add_prefix(name) if self.auto_id else name
        precision = self.fields[f"{name}{PRECISION_SUFFIX}"]
        precision.widget.attrs.update(
            {"class": "date-precision", "data-date-input": date_id, "aria-label": f"{field.label}: precision"}
        )
        # One help text for the pair, shown with the date (the select's own would point at nothing shown).
        help_text = " ".join(str(text) for text in (field.help_text, precision.help_text) if text)
        precision.help_text = ""
        return PartialDateField(
            label=field.label,
            required=field.required,
            help_text=help_text,
            widget=PartialDateInput(month=month, attrs={"class": "partial-date"}),
        )

    def _month_without_day_errors(self, cleaned: dict[str, Any]) -> None:
        """A month typed (YYYY-MM) for a date whose precision says "exact day" is not silently given a day."""
        for name, field in self.fields.items():
            if not isinstance(field, PartialDateField) or name not in cleaned:
                continue
            typed = self.data.get(self.add_prefix(name), "")
            if isinstance(typed, str) and _MONTH_ONLY.match(typed) and self.precision_of(name) != DatePrecision.MONTH:
                self.add_error(name, MONTH_WITHOUT_DAY)

    # --- required fields and missing-data answers ------------------------------------------------------

    def registry_required(self) -> dict[str, Required]:
        """The fields of this form the registry requires answered (``REQUIRED_FIELDS``), by name."""
        model = self._meta.model
        if not issubclass(model, CaseRecord):
            return {}
        return {item.field: item for item in REQUIRED_FIELDS.get(model.crf_record(), ()) if item.field in self.fields}

    def answers_unknown_itself(self, name: str) -> bool:
        """Whether the field's own choices say "Unknown" (then that choice is the missing-data code)."""
        return isinstance(self.fields[name], YesNoUnknownField)

    def _offer_missing_answers(self) -> None:
        """Beside each field the registry requires: "or: not done / unknown / not applicable", stored as
        the record's missing-data answer for it (``missing_answers``), and placed after the field."""
        stored = (self.instance.missing_answers or {}) if isinstance(self.instance, CaseRecord) else {}
        order: list[str] = []
        required = self.registry_required()
        for name in list(self.fields):
            order.append(name)
            base = name.removesuffix(PRECISION_SUFFIX)
            if base != name and base in required:  # after a date's precision, where there is one
                order.append(f"{base}{MISSING_SUFFIX}")
            if name not in required:
                continue
            field = self.fields[name]
            if self.answers_unknown_itself(name):
                if stored.get(name) == UNKNOWN_ANSWER and self.instance.pk is not None:
                    self.initial[name] = UNKNOWN_ANSWER
                continue
            if isinstance(field, forms.NullBooleanField):
                # Its blank reads "—", not "Unknown": unknown is answered with the missing-data code beside it.
                field.widget.choices = [("unknown", "—"), ("true", "Yes"), ("false", "No")]
            self.fields[f"{name}{MISSING_SUFFIX}"] = forms.ChoiceField(
                label="or",
                required=False,
                choices=[("", "—"), *((code, label.lower()) for code, label in v.MISSING_DATA_CODES.choices())],
                initial=stored.get(name, ""),
                widget=forms.Select(
                    attrs={
                        "class": "missing-answer",
                        "aria-label": f"{field.label}: or answer not done, unknown or not applicable",
                    }
                ),
            )
            if f"{name}{PRECISION_SUFFIX}" not in self.fields:
                order.append(f"{name}{MISSING_SUFFIX}")
        self.order_fields(order)

    def _clean_missing_answers(self, cleaned: dict[str, Any]) -> None:
        """Gather the selects into ``missing_answers`` (codes of fields this form does not show are kept)."""
        required = self.registry_required()
        stored = dict(self.instance.missing_answers or {}) if isinstance(self.instance, CaseRecord) else {}
        answers = {name: code for name, code in stored.items() if name not in required}
        for name in required:
            code = cleaned.pop(f"{name}{MISSING_SUFFIX}", "")
            if self.answers_unknown_itself(name) and self.data.get(self.add_prefix(name)) == UNKNOWN_ANSWER:
                code = UNKNOWN_ANSWER
            if code:
                answers[name] = code
        cleaned["missing_answers"] = answers
        if isinstance(self.instance, CaseRecord):
            self.instance.missing_answers = answers  # validated with the record (a code beside a value)

    def required_marks(self) -> dict[str, str]:
        """Fields marked required before anyone saves, each with the condition it is required under
        ("" for always): those the database needs filled, and the registry's ``REQUIRED_FIELDS``."""
        model_fields = {f.name: f for f in self._meta.model._meta.concrete_fields}
        marks: dict[str, str] = {}
        for name, field in self.fields.items():
            model_field = model_fields.get(name)
            if (
                model_field is not None
                and model_field.editable
                and name not in AUDIT_FIELDS
                and not model_field.blank
                and not name.endswith(PRECISION_SUFFIX)
                and not isinstance(model_field, db_models.BooleanField)
                and not field.disabled
            ):
                marks[name] = ""
        for name, item in self.registry_required().items():
            marks.setdefault(name, item.condition)
        return marks

    @property
    def layout(self) -> list[list[FormCell]]:
        """:attr:`rows` with each field's required mark and its missing-data select."""
        marks = self.required_marks()
        layout = []
        for row in self.rows:
            cells = []
            for bound in row:
                if cells and bound.name == f"{cells[-1].field.name}{PRECISION_SUFFIX}":
                    cells[-1] = replace(cells[-1], precision=bound)  # beside its date
                    continue
                missing = f"{bound.name}{MISSING_SUFFIX}"
                cells.append(
                    FormCell(
                        field=bound,
                        required=bound.name in marks,
                        condition=marks.get(bound.name, ""),
                        missing=self[missing] if missing in self.fields else None,
                    )
                )
            layout.append(cells)
        return layout

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name, fallback in self.fallbacks.items():
            if name in cleaned and cleaned[name] in (None, ""):
                cleaned[name] = fallback
        self._month_without_day_errors(cleaned)
        self._clean_missing_answers(cleaned)
        return cleaned

    def _post_clean(self) -> None:
        super()._post_clean()  # the model's full_clean applies the date rules to the instance
        if isinstance(self.instance, CaseRecord):
            for field in self.instance.date_fields():
                if field.name in self.cleaned_data:  # e.g. a month-only date, now on the 15th
                    self.cleaned_data[field.name] = getattr(self.instance, field.attname)

    @classmethod
    def edit_kwargs(cls, *, user, access: Access, patient: Patient) -> dict[str, Any]:
        """What this form needs, beyond the record, to edit a record of ``patient`` for ``user``."""
        return {}

    def record_data(self) -> dict[str, Any]:
        """The cleaned values of the record's own fields, ready for ``record_create``/``record_update``."""
        return {name: value for name, value in self.cleaned_data.items() if name not in AUDIT_FIELDS}

    def audit_reason(self) -> str:
        """The reason for the change typed on an edit form ("" on a create form, which asks for none)."""
        return self.cleaned_data.get("reason", "")

    @property
    def rows(self) -> list[list[forms.BoundField]]:
        """Visible fields grouped for layout: a date and its month-precision companion share a row."""
        rows: list[list[forms.BoundField]] = []
        for bound in self.visible_fields():
            if bound.name.endswith(MISSING_SUFFIX):  # shown beside its field (``layout``)
                continue
            qualified = bound.name.removesuffix(PRECISION_SUFFIX)
            if qualified != bound.name and rows and rows[-1][0].name == qualified:
                rows[-1].append(bound)
            else:
                rows.append([bound])
        return rows

    def add_error(self, field: str | None, error: Any) -> None:
        """Like ``Form.add_error``, but errors about a field this form lacks become form-wide errors.

        The model's ``clean()`` and the services may name fields the form does not show (the patient
        of an episode, the site of a record); the user still has to read them.
        """
        if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
            error = error.error_dict
        if isinstance(error, dict):
            for name, messages in error.items():
                self.add_error(name, messages)
            return
        if field == NON_FIELD_ERRORS or field not in self.fields:
            field = None
        super().add_error(field, error)


class YesNoUnknownField(forms.TypedChoiceField):
    """A yes/no fact that may be unknown, answered on purpose: Yes → True, No → False, Unknown → None."""

    ANSWERS = {"yes": True, "no": False, "unknown": None}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", True)
        super().__init__(
            choices=[("", "Choose…"), ("yes", "Yes"), ("no", "No"), ("unknown", "Unknown")],
            coerce=self._answer,
            empty_value="",
            **kwargs,
        )

    @classmethod
    def _answer(cls, value: Any) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        return cls.ANSWERS[value]

    def prepare_value(self, value: Any) -> Any:
        return {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value


class PatientForm(RecordForm):
    """Register or edit a patient; the registry ID is generated by the service."""

    class Meta:
        model = Patient
        fields = entry_fields(Patient)

    @classmethod
    def edit_kwargs(cls, *, user, access: Access, patient: Patient) -> dict[str, Any]:
        return {"user": user, "show_identifiers": access.can_see_identifiers_of(patient.site_id)}

    def __init__(self, *args: Any, user, show_identifiers: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # People know tumour types by their OncoTree codes too: "Non-small cell lung cancer (NSCLC)".
        self.fields["tumour_type"].choices = [("", "---------"), *v.TUMOUR_TYPES.choices_with_codes()]
        if self.instance.pk is None:
            sites = registration_sites_for_user(user=user)
            self.fields["site"].queryset = sites
            if len(sites) == 1:  # one site to choose from: preselect it
                self.fields["site"].empty_label = None
        else:
            del self.fields["site"]  # a patient changes site only by a transfer (``PatientTransferForm``)
        if not show_identifiers:
            for name in HIDDEN_FROM_COORDINATORS["patient"]:
                self.fields.pop(name, None)
            for name in TIED_TO_HIDDEN["patient"]:  # checked against a hidden field: the site corrects it
                if name in self.fields:
                    self.fields[name].disabled = True
                    self.fields[
                        name
                    ].help_text = "Corrected by the patient's own site (it is checked against the date of birth)."


class InitialCourseForm(RecordForm):
    """The first ICI course (ICI-1) of a patient."""

    class Meta:
        model = InitialCourse
        fields = entry_fields(InitialCourse, skip=("patient",))


class AdverseEventForm(RecordForm):
    """An irAE of ICI-1 (no episode) or of one of the patient's rechallenge episodes."""

    #: Answered Yes / No / Unknown on purpose: an unticked checkbox would record an unknown as "no".
    YES_NO_UNKNOWN = ("steroid_refractory", "hospitalised", "led_to_discontinuation")

    class Meta:
        model = AdverseEvent
        fields = entry_fields(AdverseEvent, skip=("patient",))

    @classmethod
    def edit_kwargs(cls, *, user, access: Access, patient: Patient) -> dict[str, Any]:
        """The patient's episodes, for the irAE's course."""
        return {"episodes": patient_episodes(patient=patient)}

    def __init__(self, *args: Any, episodes=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["episode"]
        field.label = "Course"
        field.help_text = "The course the irAE occurred during: ICI-1, or one of the patient's rechallenges."
        field.empty_label = "Initial ICI course (ICI-1)"  # stored as no episode
        field.queryset = episodes if episodes is not None else RechallengeEpisode.objects.none()
        field.label_from_instance = lambda episode: f"Rechallenge {episode.sequence_number} (from {episode.start_date})"
        self.fields["ctcae_term_other"].help_text = (
            "Only with the CTCAE term “Other (specify)”: the term as CTCAE names it. "
            "Kept at the registry, never exported."
        )


class RechallengeEpisodeForm(RecordForm):
    """A rechallenge episode and the patient's baseline at its start."""

    class Meta:
        model = RechallengeEpisode
        fields = entry_fields(RechallengeEpisode, skip=("patient",))


class ResponseAssessmentForm(RecordForm):
    """A tumour response assessment during a rechallenge episode."""

    class Meta:
        model = ResponseAssessment
        fields = entry_fields(ResponseAssessment, skip=("episode",))


class FollowUpForm(RecordForm):
    """A follow-up contact after rechallenge start."""

    class Meta:
        model = FollowUp
        fields = entry_fields(FollowUp, skip=("episode",))


class PatientTransferForm(NulCheckedForm, forms.Form):
    """A coordinator's transfer of a patient, with all their records, to another site."""

    site = forms.ModelChoiceField(
        label="New site",
        queryset=Site.objects.none(),
        help_text="Active sites only: a site closed to new data receives no patients.",
    )
    reason = forms.CharField(
        label="Reason for the transfer",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the audit trail.",
        error_messages={"required": "Give the reason for the transfer; it is kept in the audit trail."},
    )
    version = forms.IntegerField(
        min_value=1,
        widget=forms.HiddenInput,
        error_messages={"required": "The form came without the record's version: reload the page and try again."},
    )

    def __init__(self, *args: Any, patient: Patient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = Site.objects.filter(active=True).exclude(pk=patient.site_id)
        self.initial.setdefault("version", patient.version)


class DeleteForm(NulCheckedForm, forms.Form):
    """Confirmation of a deletion: the reason goes into the audit trail."""

    reason = forms.CharField(
        label="Reason for deletion",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the audit trail; required when the record is marked complete.",
    )
    #: Required: a deletion without the version the page was loaded with could remove changes unseen.
    version = forms.IntegerField(
        min_value=1,
        widget=forms.HiddenInput,
        error_messages={"required": "The form came without the record's version: reload the page and try again."},
    )

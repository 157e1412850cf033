"""The calculator's form: the decision model's inputs typed by hand (nothing is stored)."""

from __future__ import annotations

from django import forms

from apps.core.forms import NulCheckedForm
from registry import vocabularies as v
from registry.decision import available_versions

from .services import active_model_version

YES_NO_UNKNOWN = [("", "Unknown"), ("yes", "Yes"), ("no", "No")]
PFS1_EVENT_CHOICES = [
    ("", "Not recorded"),
    ("yes", "Yes: it ended in progression"),
    ("no", "No: censored (no progression observed)"),
]


def _yes_no(value: str) -> bool:
    return value == "yes"


PRIOR_IRAE_STATUS = [
    ("none", "No prior irAE"),
    ("listed", "Prior irAEs as listed below"),
    ("unknown", "Not recorded"),
]
GRADE_CHOICES = [("", "—"), *[(term.code, term.label) for term in v.CTCAE_GRADES]]
RESOLVED_CHOICES = [("", "Not recorded"), *v.RESOLVED_GRADES.choices()]


class CalculatorForm(forms.Form):
    """Factors of the model; labels say what the clinic records, help text says what counts."""

    model_version = forms.ChoiceField(label="Model version", choices=(), required=False)
    pfs1_months = forms.DecimalField(
        label="PFS on the preceding ICI course (months)",
        min_value=0,
        max_digits=6,
        decimal_places=2,
        required=False,
        help_text="From the start of the preceding course to progression (or censoring), in calendar months.",
    )
    pfs1_event = forms.TypedChoiceField(
        label="Did that PFS end in progression?",
        choices=PFS1_EVENT_CHOICES,
        coerce=_yes_no,
        empty_value=None,
        required=False,
        help_text="Model 1.1 reads a censored PFS as a lower bound (at least this long); model 1.0 ignores it.",
    )
    tfi_months = forms.DecimalField(
        label="Treatment-free interval (months)",
        min_value=0,
        max_digits=6,
        decimal_places=2,
        required=False,
        help_text="From the stop of the preceding course to the planned rechallenge.",
    )
    progressed_on_ici1 = forms.TypedChoiceField(
        label="Progressed while on the preceding course?",
        choices=YES_NO_UNKNOWN,
        coerce=_yes_no,
        empty_value=None,
        required=False,
    )
    ecog = forms.TypedChoiceField(
        label="ECOG performance status at rechallenge",
        choices=[("", "Unknown"), *[(t.code, t.label) for t in v.ECOG][:5]],
        coerce=int,
        empty_value=None,
        required=False,
    )
    prior_irae_status = forms.ChoiceField(label="Prior irAEs", choices=PRIOR_IRAE_STATUS, initial="none")
    current_prednisone_mg_per_day = forms.DecimalField(
        label="Current prednisone-equivalent dose (mg/day)",
        min_value=0,
        max_digits=6,
        decimal_places=1,
        required=False,
        help_text="0 if no corticosteroids now; empty if not recorded (model 1.1 does not read empty as 0).",
    )
    stop_reason = forms.ChoiceField(
        label="Why the preceding course stopped", choices=[("", "Unknown"), *v.STOP_REASONS.choices()], required=False
    )
    strategy = forms.ChoiceField(
        label="Planned rechallenge regimen", choices=[("", "Unknown"), *v.REGIMEN_TYPES.choices()], required=False
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model_version"].choices = [(version, f"Version {version}") for version in available_versions()]
        self.fields["model_version"].initial = active_model_version()


class PriorIraeForm(forms.Form):
    """One prior irAE; an empty row is ignored."""

    ctcae_term = forms.ChoiceField(label="CTCAE term", choices=[("", "—"), *v.CTCAE_TERMS.choices()], required=False)
    grade = forms.TypedChoiceField(
        label="Worst grade", choices=GRADE_CHOICES, coerce=int, empty_value=None, required=False
    )
    resolved_to_grade = forms.TypedChoiceField(
        label="Resolved to grade", choices=RESOLVED_CHOICES, coerce=int, empty_value=None, required=False
    )
    steroid_refractory = forms.TypedChoiceField(
        label="Steroid-refractory",
        choices=YES_NO_UNKNOWN,
        coerce=_yes_no,
        empty_value=None,
        required=False,
        help_text="Unknown leaves a grade ≥ 3 irAE missing under model 1.1.",
    )
    controlled_on_replacement = forms.BooleanField(label="Controlled on hormone replacement", required=False)

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("ctcae_term") and cleaned.get("grade") is None:
            self.add_error("grade", "Give the worst grade of this irAE.")
        if cleaned.get("grade") is not None and not cleaned.get("ctcae_term"):
            self.add_error("ctcae_term", "Choose the CTCAE term.")
        return cleaned


PriorIraeFormSet = forms.formset_factory(PriorIraeForm, extra=3, max_num=10, absolute_max=10)


class BlindingForm(NulCheckedForm, forms.Form):
    blinded = forms.BooleanField(
        label="Hide the model's category from center staff",
        required=False,
        help_text="Coordinators always see it. Every switch is recorded in the audit trail.",
    )
    reason = forms.CharField(label="Reason for the change", widget=forms.Textarea(attrs={"rows": 2}))

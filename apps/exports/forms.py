"""Forms of the export pages: a new request (datasets, filters, formats, profile), a coordinator's decision."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.accounts.models import Site
from apps.core.forms import NulCheckedForm
from registry import vocabularies as v
from registry.decision import available_versions
from registry.deid import FORMATS, LIMITED_DATASET, PROFILES, TABLE_TITLES

from .models import ExportProject
from .selectors import DATASETS, investigator_list

FORMAT_LABELS = {
    "csv": "CSV",
    "parquet": "Parquet",
    "dta": "Stata (.dta)",
    "sav": "SPSS (.sav)",
    "xlsx": "Excel (.xlsx)",
}


class ExportRequestForm(NulCheckedForm, forms.Form):
    """What an investigator asks for; the service checks it again (the API sends the same)."""

    datasets = forms.MultipleChoiceField(
        choices=[(name, TABLE_TITLES[name]) for name in DATASETS],
        widget=forms.CheckboxSelectMultiple,
        initial=list(DATASETS),
    )
    formats = forms.MultipleChoiceField(
        choices=[(name, FORMAT_LABELS.get(name, name)) for name in FORMATS],
        widget=forms.CheckboxSelectMultiple,
        initial=["csv"],
    )
    profile = forms.ChoiceField(label="De-identification profile")
    tumour_types = forms.MultipleChoiceField(
        choices=[(term.code, f"{term.label} ({term.code})") for term in v.TUMOUR_TYPES],
        required=False,
        help_text="None chosen: every tumour type.",
    )
    sites = forms.MultipleChoiceField(required=False, help_text="None chosen: every site.")
    enrolled_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    enrolled_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    model_version = forms.ChoiceField(required=False, label="Locked under model version")
    purpose = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=2000)

    def __init__(self, *args: Any, project: ExportProject, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        profiles = [name for name in PROFILES if name != LIMITED_DATASET.name or project.allows_limited_dataset]
        self.fields["profile"].choices = [(name, PROFILES[name].title) for name in profiles]
        self.fields["profile"].initial = "safe_harbor"
        self.fields["sites"].choices = list(Site.objects.order_by("code").values_list("code", "code"))
        self.fields["model_version"].choices = [("", "Any (the latest locked assessment)")] + [
            (version, version) for version in available_versions()
        ]

    def filters(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "tumour_types": data.get("tumour_types") or [],
            "sites": data.get("sites") or [],
            "enrolled_from": data.get("enrolled_from"),
            "enrolled_to": data.get("enrolled_to"),
            "model_version": data.get("model_version") or "",
        }


class DecisionForm(NulCheckedForm, forms.Form):
    """Approve, or refuse with a reason."""

    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("refuse", "Refuse")])
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000)


class ExportProjectForm(NulCheckedForm, forms.Form):
    """A coordinator's new project; members are added on the project's members page."""

    title = forms.CharField(max_length=200, help_text="What the project studies, as the approval names it.")
    approval_reference = forms.CharField(
        max_length=100, help_text=ExportProject._meta.get_field("approval_reference").help_text
    )
    allows_limited_dataset = forms.BooleanField(
        required=False,
        label="The approval allows a limited data set",
        help_text="Tick only when the approval and a data use agreement allow shifted dates (limited_dataset "
        "profile); otherwise members can request safe_harbor exports only.",
    )
    k = forms.IntegerField(
        min_value=2,
        max_value=100,
        initial=5,
        label="k of the k-anonymity check",
        help_text="Every combination of age band, sex, site and tumour type is shared by at least k patients.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000)


class MemberAddForm(NulCheckedForm, forms.Form):
    """Add an investigator to a project (only investigators who are not members yet are offered)."""

    member = forms.ModelChoiceField(
        queryset=None,
        label="Investigator",
        empty_label="Choose an investigator",
        help_text="Only users with the investigator role can be members; they can then request and download.",
    )

    def __init__(self, *args: Any, project: ExportProject, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = investigator_list().exclude(pk__in=project.members.values("pk"))
        self.fields["member"].error_messages["invalid_choice"] = (
            "Choose an investigator who is not a member yet (only investigators can be members)."
        )

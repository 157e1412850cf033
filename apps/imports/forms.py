"""The upload form: a site whose staff the user is (an import registers patients), the CSV file, and whether
to preview it first (ticked by default: a file that updates registered patients is best seen before it is written)."""

from __future__ import annotations

from django import forms

from apps.accounts.models import Site
from apps.accounts.selectors import registration_sites_for_user


class ImportUploadForm(forms.Form):
    site = forms.ModelChoiceField(
        queryset=Site.objects.none(), help_text="The records are created at this site.", empty_label=None
    )
    file = forms.FileField(
        label="CSV file",
        help_text="Made from the site's template: UTF-8, comma- or semicolon-separated, header in row 1.",
    )
    dry_run = forms.BooleanField(
        label="Preview only (dry run)",
        required=False,
        initial=True,
        help_text="Check the file and list what it would create and change, without writing anything; "
        "you then import it with one click.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = registration_sites_for_user(user=user)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith((".csv", ".txt")):
            raise forms.ValidationError("Upload a .csv file (in a spreadsheet: Save as → CSV UTF-8).")
        return upload

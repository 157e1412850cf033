"""Forms for signing in with a second factor and for naming an API token."""

from django import forms

from apps.core.forms import NulCheckedForm


class TokenForm(forms.Form):
    token = forms.CharField(
        label="6-digit code",
        min_length=6,
        max_length=6,
        help_text="The code your authenticator app shows for the ICI Rechallenge Registry.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def clean_token(self) -> str:
        token = self.cleaned_data["token"].strip()
        if not token.isdigit():
            raise forms.ValidationError("The code has 6 digits.")
        return token


class ApiTokenForm(NulCheckedForm, forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What the token is for, e.g. “Hospital EHR export”, so you know which one to revoke.",
    )

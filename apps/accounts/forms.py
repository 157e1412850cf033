"""Forms for signing in with a second factor."""

from django import forms


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

"""Forms of sign-off: the site PI's signature (password and meaning) and a coordinator's unlock (reason).

They check the input's shape only; the rules (who, when, the password itself) are the services'.
"""

from __future__ import annotations

from django import forms

from apps.core.forms import NulCheckedForm
from registry.quality.case_status import DEFAULT_SIGNATURE_MEANING, SIGNATURE_MEANINGS


class SignForm(NulCheckedForm, forms.Form):
    meaning = forms.ChoiceField(
        label="Meaning of your signature",
        choices=[(meaning, meaning) for meaning in SIGNATURE_MEANINGS],
        initial=DEFAULT_SIGNATURE_MEANING,
        widget=forms.RadioSelect,
        help_text="Shown with your name and the time of signing wherever the case is shown.",
    )
    password = forms.CharField(
        label="Your password",
        strip=False,
        required=False,  # the service says what is missing, in the same words on every channel
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Re-enter the password you sign in with: it executes your electronic signature.",
    )


class UnlockForm(NulCheckedForm, forms.Form):
    reason = forms.CharField(
        label="Reason for unlocking",
        required=False,  # the service's message: one wording on every channel
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept in the patient's audit trail. The case accepts changes again until its site PI signs it anew.",
    )

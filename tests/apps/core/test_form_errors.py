"""A service's refusal reads the same on every form, and is never lost (``add_application_error``)."""

from __future__ import annotations

from django import forms

from apps.core.errors import ApplicationError
from apps.core.forms import add_application_error


class ReasonForm(forms.Form):
    reason = forms.CharField()


def _bound() -> ReasonForm:
    form = ReasonForm({"reason": "because"})
    assert form.is_valid()
    return form


def test_a_refusal_naming_no_field_shows_its_message_at_the_top():
    form = _bound()
    add_application_error(form, ApplicationError("Site AMS1 is closed to new data.", status=409))
    assert form.non_field_errors() == ["Site AMS1 is closed to new data."]
    assert not form.is_valid()


def test_each_message_goes_beside_the_field_it_names():
    form = _bound()
    add_application_error(
        form, ApplicationError("Please correct the errors below.", field_errors={"reason": ["Too short.", "Vague."]})
    )
    assert form.errors["reason"] == ["Too short.", "Vague."]
    assert form.non_field_errors() == []


def test_a_message_about_a_field_the_form_lacks_goes_to_the_top():
    form = _bound()
    error = ApplicationError(
        "Please correct the errors below.",
        field_errors={"site": ["You are not a member of this site."], "__all__": ["Dates are out of order."]},
    )
    add_application_error(form, error)
    assert form.non_field_errors() == ["You are not a member of this site.", "Dates are out of order."]
    assert "site" not in form.errors

"""What every form of the registry shares: text fields refuse NUL with the registry's one check, and a
service's refusal reads the same on every form (:func:`add_application_error`).

Django's ``CharField`` already refuses NUL with a validator of its own; forms built on
:class:`NulCheckedForm` use ``registry.text.contains_nul`` instead, the check the JSON parser and the
import use, so every channel refuses the same text with the same words.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator

from registry.text import NUL_MESSAGE, contains_nul

from .errors import ApplicationError


def prohibit_nul(value: Any) -> None:
    """A form validator for :func:`registry.text.contains_nul`."""
    if contains_nul(value):
        raise ValidationError(NUL_MESSAGE, code="null_characters_not_allowed")


class NulCheckedForm:
    """Mixin for a ``Form`` or ``ModelForm``: its text fields refuse NUL through :func:`prohibit_nul`."""

    fields: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.validators = [
                prohibit_nul if isinstance(validator, ProhibitNullCharactersValidator) else validator
                for validator in field.validators
            ]


def add_application_error(form: Any, error: ApplicationError) -> None:
    """Put a service's refusal on a form: each message beside the field it names, the rest at the top.

    A message about a field the form does not show (the patient of an episode, the site of a record)
    goes to the top of the form, and a refusal that names no field shows its own message there: the
    user always reads why nothing was saved.
    """
    if not error.field_errors:
        form.add_error(None, error.message)
        return
    for name, problems in error.field_errors.items():
        for problem in problems:
            form.add_error(name if name in form.fields else None, problem)

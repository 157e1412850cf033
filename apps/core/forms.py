"""What every form of the registry shares: text fields refuse NUL with the registry's one check.

Django's ``CharField`` already refuses NUL with a validator of its own; forms built on
:class:`NulCheckedForm` use ``registry.text.contains_nul`` instead, the check the JSON parser and the
import use, so every channel refuses the same text with the same words.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator

from registry.text import NUL_MESSAGE, contains_nul


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

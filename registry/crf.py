"""Facts about case-report-form fields that exports and codebooks need beyond label and help text.

Labels and help text live on the Django model fields (and so feed forms, the API schema and the
codebook); which fields are *identifiers* and which free text must never leave a site lives here,
once, so that every export path reads the same list.
"""

from __future__ import annotations

#: Direct identifiers: visible to the patient's own site only, never exported.
IDENTIFIER_FIELDS: dict[str, frozenset[str]] = {
    "patient": frozenset({"local_identifier", "date_of_birth", "registry_id"}),
}

#: Free-text fields: never exported under the Safe Harbor profile.
FREE_TEXT_FIELDS: dict[str, frozenset[str]] = {
    "patient": frozenset({"histology"}),
    "episode": frozenset({"clinical_justification"}),
    #: An irAE's term outside the CTCAE list, typed in full: a rare event can point to one patient.
    "adverse_event": frozenset({"ctcae_term_other"}),
}

#: Fields hidden from coordinators (registry-wide, pseudonymised view).
HIDDEN_FROM_COORDINATORS: dict[str, frozenset[str]] = {
    "patient": frozenset({"local_identifier", "date_of_birth"}),
}

#: Visible fields checked against a hidden one (the year of birth must be the date of birth's year):
#: whether a change is accepted would tell whether the hidden value exists, so only those who see
#: the hidden fields change them.
TIED_TO_HIDDEN: dict[str, frozenset[str]] = {
    "patient": frozenset({"year_of_birth"}),
}


def is_identifier(record: str, field: str) -> bool:
    return field in IDENTIFIER_FIELDS.get(record, frozenset())

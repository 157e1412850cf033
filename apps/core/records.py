"""What a clinical record type is, declared once: the registry every layer reads.

An app that owns record types (``apps.clinical``) declares each one as a :class:`RecordType` and
registers it from its ``AppConfig.ready()``. Pages, endpoints, scoping, the audit trail and imports
read the declaration instead of keeping a table of their own, and core reads it without importing
the app that declared it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Model

from registry import crf


@dataclass(frozen=True)
class RecordType:
    """One clinical record type: its model, names, place in the case, and the classes that handle it."""

    model: type[Model]
    #: URL slug of its pages (``/patients/records/<slug>/<pk>/edit/``) and its API route's basename.
    slug: str
    #: Its path under ``/api/v1/``, also its tag in the OpenAPI schema.
    api_route: str
    noun: str
    plural: str
    #: Its record name in ``registry.crf`` (and the exports and codebook that read it).
    crf_name: str
    #: The ORM path from a record to its site's id: the one place scoping paths are written.
    site_path: str
    #: The field linking a record to what it belongs to (a patient belongs to a site).
    parent_field: str
    #: The short name on the patient's timeline ("irAE"), its headline there, and the record's date.
    label: str
    title: Callable[[Any], str]
    date_field: str | None
    #: How messages name one record ("rechallenge 2", "the ICI-1 course").
    describe: Callable[[Any], str]
    form: type
    input_serializer: type
    output_serializer: type
    filterset: type
    #: Order of the API list, and the joins its output needs (a page costs the same at any size).
    ordering: tuple[str, ...] = ("pk",)
    related: tuple[str, ...] = ()
    lookup_field: str = "pk"

    @property
    def patient_path(self) -> tuple[str, ...]:
        """Attributes from a record to its patient: () for a patient, ("episode", "patient") for a follow-up."""
        return tuple(self.site_path.split("__")[:-1])

    @property
    def hidden_from_coordinators(self) -> frozenset[str]:
        """Fields shown only to the record's own site (``registry.crf.HIDDEN_FROM_COORDINATORS``)."""
        return crf.HIDDEN_FROM_COORDINATORS.get(self.crf_name, frozenset())

    @property
    def tied_to_hidden(self) -> frozenset[str]:
        """Visible fields checked against a hidden one, changed only by those who see it."""
        return crf.TIED_TO_HIDDEN.get(self.crf_name, frozenset())

    def site_id_of(self, record: Model) -> int | None:
        """The id of the site ``record`` belongs to, read along :attr:`site_path` (None while unlinked)."""
        return _follow(record, self.site_path.split("__"))

    def patient_of(self, record: Model) -> Model:
        """The patient ``record`` belongs to (the record itself for a patient)."""
        target: Any = record
        for name in self.patient_path:
            target = getattr(target, name)
        return target

    def patient_id_of(self, record: Model) -> int | None:
        """The id of the patient ``record`` belongs to, without loading the patient."""
        if not self.patient_path:
            return record.pk
        return _follow(record, [*self.patient_path[:-1], f"{self.patient_path[-1]}_id"])

    def date_of(self, record: Model) -> Any:
        return getattr(record, self.date_field) if self.date_field else None


def _follow(record: Model, names: list[str]) -> Any:
    """The value at the end of an attribute path; None where a link on the way is not set yet."""
    target: Any = record
    try:
        for name in names:
            target = getattr(target, name)
    except AttributeError:  # also a related object that does not exist (``RelatedObjectDoesNotExist``)
        return None
    return target


_BY_MODEL: dict[type[Model], RecordType] = {}


def register(*record_types: RecordType) -> None:
    """Declare record types; called from the owning app's ``AppConfig.ready()``."""
    for record_type in record_types:
        known = _BY_MODEL.get(record_type.model)
        if known is not None and known != record_type:
            raise ValueError(f"{record_type.model.__name__} is already declared as another record type.")
        _BY_MODEL[record_type.model] = record_type


def record_types() -> tuple[RecordType, ...]:
    """Every declared record type, in the order they were declared (the order of the case report form)."""
    return tuple(_BY_MODEL.values())


def record_type_for(model: type[Model]) -> RecordType:
    """The declaration of ``model``; ``LookupError`` for a model that is not a record type."""
    try:
        return _BY_MODEL[model]
    except KeyError:
        raise LookupError(f"{model.__name__} is not a declared record type.") from None


def record_type_by_slug(slug: str) -> RecordType:
    """The record type with this URL slug; ``LookupError`` for an unknown one."""
    for record_type in _BY_MODEL.values():
        if record_type.slug == slug:
            return record_type
    raise LookupError(f"No record type with slug {slug!r}.")


def record_type_by_crf_name(name: str) -> RecordType:
    """The record type with this ``registry.crf`` record name; ``LookupError`` for an unknown one."""
    for record_type in _BY_MODEL.values():
        if record_type.crf_name == name:
            return record_type
    raise LookupError(f"No record type named {name!r}.")


def site_of(instance: Model) -> int | None:
    """The site a record belongs to, for scoping audit entries; None for what belongs to no site (a setting)."""
    record_type = _BY_MODEL.get(type(instance))
    return record_type.site_id_of(instance) if record_type is not None else None

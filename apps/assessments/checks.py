"""System checks: every stored assessment must name a decision-model spec this code ships.

An assessment is locked together with the version and SHA-256 of the specification that produced
it; if that exact specification is no longer in ``registry/decision/specs/`` (a spec file edited in
place, or removed), the stored predictions can no longer be traced to their rules, and
``manage.py check`` fails until the spec is restored.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register
from django.db import DatabaseError

from registry.decision import available_versions, get_spec


def shipped_specs() -> set[tuple[str, str]]:
    """(version, hash) of every specification shipped with this code."""
    return {(version, get_spec(version).hash) for version in available_versions()}


@register()
def check_stored_assessments_name_shipped_specs(app_configs=None, **kwargs) -> list[Error]:
    """Error for each (model_version, model_hash) stored in an assessment that no shipped spec has."""
    from .models import Assessment

    try:
        stored = set(Assessment.objects.values_list("model_version", "model_hash").distinct())
    except DatabaseError:  # no database or no table yet (e.g. before the first migrate)
        return []
    shipped = shipped_specs()
    errors = []
    for version, digest in sorted(stored - shipped):
        count = Assessment.objects.filter(model_version=version, model_hash=digest).count()
        errors.append(
            Error(
                f"{count} stored assessment(s) name decision model {version!r} with hash {digest}, "
                "which this code does not ship.",
                hint="Restore the exact specification file these assessments were locked with in "
                "registry/decision/specs/; a spec is never edited in place, a change is a new version.",
                obj=Assessment,
                id="assessments.E001",
            )
        )
    return errors


@register()
def check_active_model_version_is_shipped(app_configs=None, **kwargs) -> list[Error]:
    """The model version evaluated at enrollment must exist."""
    version = settings.DECISION_MODEL_VERSION
    if version in available_versions():
        return []
    return [
        Error(
            f"DECISION_MODEL_VERSION is {version!r}, which is not a shipped decision model version.",
            hint=f"Choose one of {', '.join(available_versions())}.",
            id="assessments.E002",
        )
    ]

"""``manage.py check`` fails when a stored assessment names a decision-model spec this code does not ship."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from apps.assessments.checks import check_active_model_version_is_shipped, check_stored_assessments_name_shipped_specs
from apps.assessments.models import Assessment
from registry.decision import get_spec
from tests.apps.clinical.api_support import episode_at


def plant(episode, version: str, digest: str) -> Assessment:
    return Assessment.objects.create(
        episode=episode, model_version=version, model_hash=digest, inputs={}, factors=[], category="favourable", score=3
    )


def test_assessments_of_shipped_specs_pass_the_check(site_a):
    episode = episode_at(site_a)
    for version in ("1.0", "1.1"):
        plant(episode, version, get_spec(version).hash)
    assert check_stored_assessments_name_shipped_specs() == []
    call_command("check")


def test_an_assessment_with_an_unknown_hash_fails_manage_py_check(site_a):
    episode = episode_at(site_a)
    plant(episode, "1.0", get_spec("1.0").hash)
    plant(episode, "1.0", "f" * 64)  # as if v1.json had been edited in place after locking
    plant(episode, "1.0", "f" * 64)
    [error] = check_stored_assessments_name_shipped_specs()
    assert error.id == "assessments.E001"
    assert error.msg == (
        f"2 stored assessment(s) name decision model '1.0' with hash {'f' * 64}, which this code does not ship."
    )
    with pytest.raises(SystemCheckError, match=r"assessments\.E001"):
        call_command("check")


def test_an_assessment_of_a_version_that_is_not_shipped_fails_the_check(site_a):
    plant(episode_at(site_a), "0.9", get_spec("1.0").hash)
    [error] = check_stored_assessments_name_shipped_specs()
    assert "'0.9'" in error.msg


def test_the_active_model_version_must_be_shipped(settings):
    assert check_active_model_version_is_shipped() == []
    settings.DECISION_MODEL_VERSION = "9.9"
    [error] = check_active_model_version_is_shipped()
    assert error.id == "assessments.E002"


def test_model_1_1_is_active_for_new_enrollments(settings):
    assert settings.DECISION_MODEL_VERSION == "1.1"

"""Fixtures of the export tests: a private exports folder and key per test, a project with an investigator."""

from __future__ import annotations

import pytest

from apps.accounts.models import Role
from apps.exports.models import ExportProject
from tests.factories import user_with_role


@pytest.fixture(autouse=True)
def exports_folder(settings, tmp_path):
    """Bundles and the generated key go to this test's own folder (safe under pytest-xdist)."""
    settings.EXPORTS_DIR = tmp_path / "exports"
    settings.EXPORTS_KEY_FILE = tmp_path / "export.key"
    settings.REGISTRY_EXPORT_KEY = ""
    return settings.EXPORTS_DIR


@pytest.fixture
def member(db):
    return user_with_role(Role.INVESTIGATOR, username="member-investigator")


@pytest.fixture
def project(member):
    project = ExportProject.objects.create(title="Rechallenge outcomes", approval_reference="IRB-2026-014")
    project.members.add(member)
    return project

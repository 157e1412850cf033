"""Fixtures for bulk-import tests: uploads kept in a temporary media folder, logins without TOTP."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def media_root(request, settings, tmp_path):
    """Uploads go to a temporary folder, except for a real worker process, which reads the configured one."""
    if request.node.get_closest_marker("services"):
        return settings.MEDIA_ROOT
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def no_second_factor(settings):
    """Coordinators and investigators reach pages without TOTP set-up (tested in accounts)."""
    settings.REQUIRE_OTP_FOR_REGISTRY_WIDE_ROLES = False

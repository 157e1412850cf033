"""Shared fixtures: two sites and a user of every role, so tests can check reach across sites."""

from __future__ import annotations

import pytest

from apps.accounts.models import Role
from tests.factories import PASSWORD, SiteFactory, UserFactory, user_with_role


@pytest.fixture
def site_a(db):
    return SiteFactory(code="AAA", name="Site A")


@pytest.fixture
def site_b(db):
    return SiteFactory(code="BBB", name="Site B")


@pytest.fixture
def data_entry_a(site_a):
    return user_with_role(Role.DATA_ENTRY, site_a, username="entry_a")


@pytest.fixture
def site_pi_a(site_a):
    return user_with_role(Role.SITE_PI, site_a, username="pi_a")


@pytest.fixture
def data_entry_b(site_b):
    return user_with_role(Role.DATA_ENTRY, site_b, username="entry_b")


@pytest.fixture
def coordinator(db):
    return user_with_role(Role.COORDINATOR, username="coordinator")


@pytest.fixture
def investigator(db):
    return user_with_role(Role.INVESTIGATOR, username="investigator")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def password() -> str:
    return PASSWORD


def verify_second_factor(client, user) -> None:
    """Mark ``client``'s session as having passed TOTP, as coordinators, investigators and admins must."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(user=user, name="test phone", defaults={"confirmed": True})
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()

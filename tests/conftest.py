"""Shared fixtures: two sites and a user of every role, so tests can check reach across sites.

Also the suite's own rules: the Hypothesis profiles ``full`` and ``smoke`` (``tests/generated.py``),
registered here so ``--hypothesis-profile`` finds them, and test ids that every pytest-xdist worker
collects alike.
"""

from __future__ import annotations

import re

import pytest

import tests.generated  # noqa: F401 - registers the Hypothesis profiles before the option loads one
from apps.accounts.models import Role
from tests.factories import PASSWORD, SiteFactory, UserFactory, user_with_role

#: An object's default repr in a test id ("<function f at 0x7f…>") differs between processes.
UNSTABLE_ID = re.compile(r" at 0x[0-9a-fA-F]+")


def pytest_collection_modifyitems(config, items):
    """Refuse ids that differ between pytest-xdist workers, which would make ``-n`` fail to distribute."""
    unstable = [item.nodeid for item in items if UNSTABLE_ID.search(item.nodeid)]
    if unstable:
        listed = "\n  ".join(unstable[:10])
        raise pytest.UsageError(f"test ids with a memory address (give the parameters ids):\n  {listed}")


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

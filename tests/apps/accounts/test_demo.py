"""Demo accounts (``apps.accounts.demo``): the demo sites and a user for every role, idempotently."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.accounts.demo import DEMO_PASSWORD, demo_sites_ensure, demo_users_ensure
from apps.accounts.models import Membership, Site, User
from registry.synthetic import DemoSite

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    """The credentials file goes to a scratch VAR_DIR, not the project's."""
    settings.VAR_DIR = tmp_path
    return tmp_path


def demo_site(code: str) -> DemoSite:
    return DemoSite(
        code=code,
        name=f"Center {code} (demo)",
        country="NL",
        ethics_approval_reference=f"EC-2017-{code[-1]}00",
        ethics_approval_date=dt.date(2017, 3, 1),
    )


def test_demo_sites_ensure_creates_only_the_missing_sites() -> None:
    first_ids, first_created = demo_sites_ensure([demo_site("DEMO01")])
    ids, created = demo_sites_ensure([demo_site("DEMO01"), demo_site("DEMO02")])

    assert (first_created, created) == (1, 1)
    assert ids == dict(Site.objects.values_list("code", "id"))
    assert ids["DEMO01"] == first_ids["DEMO01"]
    site = Site.objects.get(code="DEMO02")
    assert (site.name, site.country, site.ethics_approval_reference) == ("Center DEMO02 (demo)", "NL", "EC-2017-200")
    assert site.ethics_approval_date == dt.date(2017, 3, 1)


def test_demo_users_ensure_is_idempotent(var_dir) -> None:
    demo_sites_ensure([demo_site("DEMO01"), demo_site("DEMO02")])

    first = demo_users_ensure(sites=["DEMO01", "DEMO02"])
    second = demo_users_ensure(sites=["DEMO01", "DEMO02"])

    assert first == second
    assert [row[:3] for row in first] == [
        ("admin", "admin", None),
        ("coordinator", "coordinator", None),
        ("investigator", "investigator", None),
        ("entry_demo01", "data_entry", "DEMO01"),
        ("pi_demo01", "site_pi", "DEMO01"),
        ("entry_demo02", "data_entry", "DEMO02"),
        ("pi_demo02", "site_pi", "DEMO02"),
    ]
    assert User.objects.count() == 7
    assert Membership.objects.count() == 6
    assert all(User.objects.get(username=row[0]).check_password(DEMO_PASSWORD) for row in first)
    assert (var_dir / "demo-credentials.txt").stat().st_mode & 0o777 == 0o600

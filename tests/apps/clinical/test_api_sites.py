"""``/api/v1/sites/``: the sites a user may read, by code."""

from __future__ import annotations

import pytest

from tests.apps.clinical.api_support import API, client_for

pytestmark = pytest.mark.django_db


def test_center_staff_list_only_their_own_sites(site_a, site_b, data_entry_a):
    body = client_for(data_entry_a).get(f"{API}/sites/").json()
    assert [row["code"] for row in body["results"]] == ["AAA"]
    assert set(body["results"][0]) == {
        "code",
        "name",
        "country",
        "active",
        "ethics_approval_reference",
        "ethics_approval_date",
    }


def test_a_coordinator_lists_every_site(site_a, site_b, coordinator):
    body = client_for(coordinator).get(f"{API}/sites/").json()
    assert [row["code"] for row in body["results"]] == ["AAA", "BBB"]


def test_another_site_is_not_found_by_code(site_a, site_b, data_entry_a):
    assert client_for(data_entry_a).get(f"{API}/sites/BBB/").status_code == 404


def test_an_own_site_is_read_by_code(site_a, data_entry_a):
    response = client_for(data_entry_a).get(f"{API}/sites/AAA/")
    assert (response.status_code, response.json()["name"]) == (200, "Site A")


def test_an_anonymous_caller_is_asked_to_authenticate_for_sites(site_a):
    assert client_for(None).get(f"{API}/sites/").status_code == 401

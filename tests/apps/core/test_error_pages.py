"""Error pages keep the registry's layout, say why, and offer a way back, without leaking what they hide."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.views.defaults import permission_denied, server_error

from tests.factories import PatientFactory


def test_a_missing_page_has_the_layout_a_reason_and_a_way_back(client, data_entry_a):
    client.force_login(data_entry_a)
    response = client.get("/patients/NO-SUCH-ID/")
    page = response.content.decode()
    assert response.status_code == 404
    assert 'class="topbar"' in page and "Not found" in page
    assert "does not exist" in page
    assert 'href="/"' in page


def test_another_sites_record_answers_the_same_404_without_naming_it(client, data_entry_a, site_b):
    foreign = PatientFactory(site=site_b, local_identifier="MRN-SECRET-77")
    client.force_login(data_entry_a)
    response = client.get(foreign.get_absolute_url())
    page = response.content.decode()
    assert response.status_code == 404
    assert "MRN-SECRET-77" not in page
    assert "Not found" in page


def test_a_refusal_shows_its_reason_in_the_layout(data_entry_a):
    request = RequestFactory().get("/imports/")
    request.user = data_entry_a
    response = permission_denied(request, PermissionDenied("Bulk import is for center staff and coordinators."))
    page = response.content.decode()
    assert response.status_code == 403
    assert "Bulk import is for center staff and coordinators." in page
    assert 'class="topbar"' in page and 'href="/"' in page


@pytest.mark.django_db
def test_a_server_error_page_renders_without_a_request_context_and_offers_a_way_back():
    response = server_error(RequestFactory().get("/anything/"))
    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in page and 'class="topbar"' in page
    assert 'href="/"' in page

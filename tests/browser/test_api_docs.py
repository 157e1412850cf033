"""The API documentation works offline: Swagger UI comes from the registry's static files, under its CSP."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_list_the_operations_without_loading_anything_from_elsewhere(
    signed_in_page, live_server, password
):
    from apps.accounts.models import Role
    from tests.factories import SiteFactory, user_with_role

    user = user_with_role(Role.DATA_ENTRY, SiteFactory(code="DOC"), username="docs_reader")
    page = signed_in_page(user, password)
    foreign_requests: list[str] = []
    csp_errors: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(live_server.url) else foreign_requests.append(r.url))
    page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)

    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)

    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/patients/" in paths
    assert "/api/v1/decision-models/evaluate/" in paths
    assert foreign_requests == []
    assert csp_errors == []

"""A coordinator raises a query on a record, a center user answers it in the inbox, the coordinator closes it.

All three steps in headless Chromium: the coordinator signs in with a password and a TOTP code, raises the query
from the patient page; the data-entry user of the site sees it counted in the navigation bar, opens it from the
inbox and answers it; the coordinator finds it counted as waiting, and closes it as resolved.
"""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _with_totp(user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.create(user=user, name="browser phone", confirmed=True)


def _sign_in(page, live_server, user, password, device=None) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if device is not None:
        from django_otp.oath import TOTP

        assert "/accounts/two-factor/" in page.url
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        page.fill("input[name=token]", f"{totp.token():0{device.digits}d}")
        page.get_by_role("button", name="Verify").click()
        page.wait_for_load_state()
    assert "/accounts/" not in page.url


def test_a_query_is_raised_answered_by_the_site_and_closed(browser, live_server, password):
    from apps.accounts.models import Role
    from apps.quality.models import DataQuery
    from tests.factories import PatientFactory, RechallengeEpisodeFactory, SiteFactory, user_with_role

    site = SiteFactory(code="QRY", name="Query Hospital")
    episode = RechallengeEpisodeFactory(patient=PatientFactory(site=site), start_date=dt.date(2024, 5, 2))
    patient = episode.patient
    coordinator = user_with_role(Role.COORDINATOR, username="browser_coordinator")
    entry = user_with_role(Role.DATA_ENTRY, site, username="browser_entry")

    # The coordinator raises a query on the episode's ECOG, from the patient page.
    desk_context = browser.new_context()
    desk = desk_context.new_page()
    desk.set_default_timeout(30_000)
    _sign_in(desk, live_server, coordinator, password, _with_totp(coordinator))
    desk.goto(f"{live_server.url}{patient.get_absolute_url()}")
    desk.click("#raise-query-links summary")
    desk.click(f"#raise-query-links a[href='/quality/queries/raise/episode/{episode.pk}/']")
    desk.select_option("select[name=field]", "ecog_at_rechallenge")
    desk.fill("textarea[name=message]", "The clinic letter says ECOG 2 at rechallenge: please check.")
    desk.click("#raise-form button[type=submit]")
    desk.wait_for_selector("#query-status")
    assert desk.inner_text("#query-status") == "Open"
    query = DataQuery.objects.get()
    assert (query.site, query.patient, query.field, query.opened_by) == (
        site,
        patient,
        "ecog_at_rechallenge",
        coordinator,
    )

    # The site's data-entry user sees the count in the nav bar, opens the query from the inbox and answers it.
    site_context = browser.new_context()
    clinic = site_context.new_page()
    clinic.set_default_timeout(30_000)
    _sign_in(clinic, live_server, entry, password)
    assert clinic.inner_text("#nav-query-count") == "1"
    clinic.click("#nav-queries")
    clinic.click(f"tr[data-query='{query.pk}'] a[href='/quality/queries/{query.pk}/']")
    assert "please check" in clinic.inner_text("#query-message")
    assert clinic.get_attribute("#query-record-link", "href") == f"{patient.get_absolute_url()}#episode-{episode.pk}"
    clinic.fill("#answer-form textarea[name=text]", "Corrected to ECOG 2 from the clinic letter.")
    clinic.click("#answer-form button[type=submit]")
    clinic.wait_for_selector("#query-status")
    assert clinic.inner_text("#query-status") == "Answered by the site"
    assert clinic.query_selector("#nav-query-count") is None  # nothing open any more
    site_context.close()

    # The coordinator finds it waiting and closes it as resolved.
    desk.goto(f"{live_server.url}/quality/queries/")
    assert desk.inner_text("#nav-query-count") == "1"
    desk.click(f"tr[data-query='{query.pk}'] a[href='/quality/queries/{query.pk}/']")
    desk.select_option("#close-form select[name=resolution]", "resolved")
    desk.fill("#close-form textarea[name=text]", "Thank you.")
    desk.click("#close-form button[type=submit]")
    desk.wait_for_selector("#query-resolution")
    assert desk.inner_text("#query-status") == "Closed"
    assert "Resolved" in desk.inner_text("#query-resolution")
    thread = [item.get_attribute("data-action") for item in desk.query_selector_all("#query-thread li")]
    desk_context.close()

    assert thread == ["opened", "answered", "closed"]
    query.refresh_from_db()
    assert (query.status, query.resolution, query.answered_by, query.closed_by) == (
        "closed",
        "resolved",
        entry,
        coordinator,
    )

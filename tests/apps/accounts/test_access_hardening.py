"""Sign-in hardening: lockout after failed logins, TOTP for registry-wide roles, idle expiry, CSP."""

from __future__ import annotations

import base64
import re
import time

import pytest
from django.conf import settings
from django.urls import reverse
from django_otp.oath import TOTP, totp
from django_otp.plugins.otp_totp.models import TOTPDevice


def _login(client, user, password):
    return client.post(reverse("accounts:login"), {"username": user.username, "password": password})


def _current_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_the_login_page_is_served_with_a_content_security_policy(client, db):
    response = client.get(reverse("accounts:login"))
    assert response.status_code == 200
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_five_failed_logins_lock_the_account_even_with_the_right_password(client, data_entry_a, password):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("accounts:login"), {"username": data_entry_a.username, "password": "wrong-password"})
    response = _login(client, data_entry_a, password)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_center_staff_reach_the_home_page_without_a_second_factor(client, data_entry_a, password):
    _login(client, data_entry_a, password)
    assert client.get(reverse("home")).status_code == 200


@pytest.mark.parametrize("role_fixture", ["coordinator", "investigator"])
def test_registry_wide_roles_are_sent_to_two_factor_set_up(client, request, role_fixture, password):
    user = request.getfixturevalue(role_fixture)
    _login(client, user, password)
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:two-factor"))


def test_a_coordinator_api_session_without_second_factor_is_refused(client, coordinator, password):
    _login(client, coordinator, password)
    response = client.get("/api/v1/patients/")
    assert response.status_code == 403
    assert "Two-factor" in response.json()["detail"]


def test_confirming_a_totp_device_lets_the_coordinator_in(client, coordinator, password):
    _login(client, coordinator, password)
    page = client.get(reverse("accounts:two-factor"))
    assert b"<svg" in page.content
    device = TOTPDevice.objects.get(user=coordinator, confirmed=False)
    response = client.post(reverse("accounts:two-factor"), {"token": _current_code(device), "next": "/"})
    assert response.status_code == 302
    assert TOTPDevice.objects.get(user=coordinator).confirmed is True
    assert client.get(reverse("home")).status_code == 200


def test_a_wrong_code_is_refused_with_a_field_message(client, coordinator, password):
    _login(client, coordinator, password)
    client.get(reverse("accounts:two-factor"))
    device = TOTPDevice.objects.get(user=coordinator)
    wrong = f"{(int(_current_code(device)) + 1) % 1_000_000:06d}"
    response = client.post(reverse("accounts:two-factor"), {"token": wrong})
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert TOTPDevice.objects.get(user=coordinator).confirmed is False


def test_a_confirmed_device_is_asked_for_on_the_next_sign_in(client, coordinator, password):
    device = TOTPDevice.objects.create(user=coordinator, name="phone", confirmed=True)
    _login(client, coordinator, password)
    page = client.get(reverse("accounts:two-factor"))
    assert b"<svg" not in page.content
    response = client.post(reverse("accounts:two-factor"), {"token": _current_code(device), "next": "/"})
    assert response.status_code == 302


def test_sessions_expire_after_thirty_idle_minutes(client, data_entry_a, password):
    _login(client, data_entry_a, password)
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    expiry = client.session.get_expiry_age()
    assert expiry == 30 * 60
    assert client.session.get_expiry_date().timestamp() <= time.time() + 30 * 60 + 5


def test_an_api_token_of_a_coordinator_is_refused_because_it_skips_the_second_factor(coordinator):
    from rest_framework.test import APIClient

    from tests.factories import api_token_key_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_key_for(coordinator)}")
    response = client.get("/api/v1/patients/")
    assert response.status_code == 401
    assert "two-factor" in response.json()["detail"]


def test_an_api_token_of_center_staff_is_accepted(data_entry_a):
    from rest_framework.test import APIClient

    from tests.factories import api_token_key_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_key_for(data_entry_a)}")
    assert client.get("/api/v1/patients/").status_code == 200


def _code_at(device: TOTPDevice, seconds_from_now: float) -> str:
    generator = TOTP(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    generator.time = time.time() + seconds_from_now
    return f"{generator.token():06d}"


def test_the_set_up_page_shows_the_key_in_base32_as_authenticator_apps_expect(client, coordinator, password):
    _login(client, coordinator, password)
    page = client.get(reverse("accounts:two-factor")).content.decode()
    device = TOTPDevice.objects.get(user=coordinator, confirmed=False)
    shown = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1)
    typed = shown.replace(" ", "")
    assert base64.b32decode(typed + "=" * (-len(typed) % 8)) == bytes.fromhex(device.key)
    assert device.key not in page  # the hex form, which apps do not accept, is gone


@pytest.mark.parametrize(("offset", "accepted"), [(-30, True), (30, True), (-90, False), (90, False)])
def test_a_code_from_the_adjacent_time_step_is_accepted_and_a_farther_one_refused(
    client, coordinator, password, offset, accepted
):
    device = TOTPDevice.objects.create(user=coordinator, name="phone", confirmed=True)
    _login(client, coordinator, password)
    response = client.post(reverse("accounts:two-factor"), {"token": _code_at(device, offset), "next": "/"})
    assert (response.status_code == 302) is accepted


def test_an_administrator_needs_the_second_factor_before_the_admin(client, admin_user, password):
    _login(client, admin_user, password)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:two-factor"))

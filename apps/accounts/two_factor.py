"""Two-factor authentication (TOTP) for the registry-wide roles, with django-otp."""

from __future__ import annotations

from base64 import b32encode

from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from .selectors import access_for_user

DEVICE_NAME = "Authenticator app"
#: Why a coordinator or investigator gets no API token (the page) and why their token is refused (the API).
NO_TOKENS_FOR_REGISTRY_WIDE_ROLES = (
    "API tokens are not accepted for coordinator or investigator accounts: your role sees every site's data, "
    "so the registry asks for a second factor, which a token cannot give. Sign in with two-factor "
    "authentication instead."
)


def two_factor_required(user) -> bool:
    """Coordinators and investigators see data across sites, so they must confirm a second factor."""
    if not settings.REQUIRE_OTP_FOR_REGISTRY_WIDE_ROLES or not user.is_authenticated:
        return False
    access = access_for_user(user)
    return access.is_coordinator or access.is_investigator


def totp_device_pending(*, user) -> TOTPDevice:
    """The user's unconfirmed device, created on first visit so the QR code stays the same on reload."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def totp_key_base32(device: TOTPDevice) -> str:
    """The device key as authenticator apps expect it typed: RFC 4648 base32, in groups of four."""
    text = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(text[index : index + 4] for index in range(0, len(text), 4))


def totp_device_confirmed(*, user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def totp_confirm(*, device: TOTPDevice, token: str) -> bool:
    """Confirm a new device with a first valid code; returns whether the code was right."""
    if not device.verify_token(token):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=device.user, confirmed=False).delete()
    return True

"""Two-factor set-up and verification pages."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login

from . import two_factor
from .forms import TokenForm


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    return target if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}) else "/"


def _qr_svg(url: str) -> str:
    buffer = io.BytesIO()
    qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage).save(buffer)
    return buffer.getvalue().decode()


@login_required
def two_factor_view(request: HttpRequest) -> HttpResponse:
    """Set up a TOTP device on first visit, afterwards ask for the current code."""
    device = two_factor.totp_device_confirmed(user=request.user)
    setting_up = device is None
    if setting_up:
        device = two_factor.totp_device_pending(user=request.user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token = form.cleaned_data["token"]
        ok = two_factor.totp_confirm(device=device, token=token) if setting_up else device.verify_token(token)
        if ok:
            otp_login(request, device)
            return redirect(_next_url(request))
        form.add_error("token", "That code is not right, or has expired. Try the current code.")
    context = {"form": form, "setting_up": setting_up, "next": _next_url(request)}
    if setting_up:
        context |= {"qr_svg": _qr_svg(device.config_url), "secret": two_factor.totp_key_base32(device)}
    return render(request, "accounts/two_factor.html", context)

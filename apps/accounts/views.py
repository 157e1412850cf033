"""Two-factor set-up and verification pages; the page where users make and revoke their API tokens."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from apps.core.errors import ApplicationError
from apps.core.forms import add_application_error

from . import selectors, services, two_factor
from .forms import ApiTokenForm, TokenForm


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


@login_required
def api_tokens_view(request: HttpRequest) -> HttpResponse:
    """The user's API tokens; a POST makes one, whose key this one response shows (and nothing stores)."""
    refusal = services.api_token_refusal(user=request.user)
    form = ApiTokenForm(request.POST or None)
    created, key = None, ""
    if request.method == "POST" and not refusal and form.is_valid():
        try:
            created, key = services.api_token_create(user=request.user, name=form.cleaned_data["name"])
        except ApplicationError as error:
            add_application_error(form, error)
        else:
            form = ApiTokenForm()
    context = {
        "form": form,
        "refusal": refusal,
        "created": created,
        "key": key,
        "tokens": selectors.api_tokens_for_user(user=request.user).select_related("revoked_by"),
    }
    status = 403 if request.method == "POST" and refusal else 200
    response = render(request, "accounts/api_tokens.html", context, status=status)
    response["Cache-Control"] = "private, no-store"  # the page may carry a key: no cache keeps it
    return response


@login_required
@require_POST
def api_token_revoke_view(request: HttpRequest) -> HttpResponse:
    """Revoke one of the user's own tokens, named by the POST's ``token``; anyone else's is a 404."""
    try:
        pk = int(request.POST.get("token", ""))
    except ValueError:
        raise Http404("No such token.") from None
    token = selectors.api_token_get_for_user(user=request.user, pk=pk)
    token = services.api_token_revoke(token=token, user=request.user)
    messages.success(request, f"Token “{token.name}” ({token.key_prefix}…) is revoked; programs using it are refused.")
    return redirect("accounts:api-tokens")

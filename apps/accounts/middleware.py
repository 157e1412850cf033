"""Keeps coordinators and investigators out until their second factor is verified for the session."""

from __future__ import annotations

from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from .two_factor import two_factor_required

OPEN_PREFIXES = ("/accounts/", "/static/", "/healthz")


class RequireTwoFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not user.is_verified()
            and not request.path.startswith(OPEN_PREFIXES)
            and two_factor_required(user)
        ):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": "Two-factor verification is required for this account."}, status=403)
            return redirect(f"{reverse('accounts:two-factor')}?next={request.get_full_path()}")
        return self.get_response(request)

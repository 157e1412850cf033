"""API token authentication: personal tokens stored as hashes, and the two-factor rule for registry-wide roles.

The one way a program signs in: ``Authorization: Token <key>``, looked up by the key's SHA-256 in
``ApiToken`` (the administrator-made DRF tokens were carried over by migration 0002, so their keys
keep working). Tokens are for center staff's systems pushing their own site's data. A coordinator or
investigator sees every site, so a bare token (one factor) is refused for them; they use a verified
session.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from .selectors import api_token_for_key
from .services import api_token_touch
from .two_factor import NO_TOKENS_FOR_REGISTRY_WIDE_ROLES, two_factor_required

#: ``last_used_at`` is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class RegistryTokenAuthentication(TokenAuthentication):
    """DRF's ``Token`` header scheme, checked against the hashed personal tokens."""

    def authenticate_credentials(self, key):
        token = api_token_for_key(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        if two_factor_required(token.user):
            raise exceptions.AuthenticationFailed(NO_TOKENS_FOR_REGISTRY_WIDE_ROLES)
        api_token_touch(token=token, now=timezone.now(), resolution=LAST_USED_RESOLUTION)
        return token.user, token

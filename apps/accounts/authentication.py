"""API token authentication that keeps the two-factor rule for registry-wide roles.

Tokens are for center systems pushing their own site's data. A coordinator or investigator sees
every site, so a bare token (one factor) is refused for them; they use a verified session.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from .two_factor import two_factor_required


class RegistryTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if two_factor_required(user):
            raise exceptions.AuthenticationFailed(
                "API tokens are not accepted for coordinator or investigator accounts; "
                "sign in with two-factor authentication instead."
            )
        return user, token

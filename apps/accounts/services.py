"""Writes of the accounts app: personal API tokens made and revoked by their owner, each audited."""

from __future__ import annotations

import datetime as dt
import secrets

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.audit import audit_write
from apps.core.errors import ApplicationError
from apps.core.models import AuditAction, AuditChannel

from .models import ApiToken
from .selectors import access_for_user, api_token_key_hash
from .two_factor import NO_TOKENS_FOR_REGISTRY_WIDE_ROLES, two_factor_required

#: Characters of a key kept in clear so its owner can tell tokens apart (of 40: nothing to guess from).
KEY_PREFIX_LENGTH = 8


def api_token_refusal(*, user) -> str:
    """Why the user may not make API tokens, in words for them; "" if they may."""
    if two_factor_required(user):
        return NO_TOKENS_FOR_REGISTRY_WIDE_ROLES
    access = access_for_user(user)
    if not access.roles and not access.is_superuser:
        return "API tokens are for center staff; your account has no role at a site yet. Ask the registry office."
    return ""


def api_token_create(*, user, name: str, channel: AuditChannel | str = AuditChannel.WEB) -> tuple[ApiToken, str]:
    """Make a named token for ``user``; returns it with its key, which is shown once and never stored."""
    refusal = api_token_refusal(user=user)
    if refusal:
        raise ApplicationError(refusal, status=403)
    name = name.strip()
    if not name:
        raise ApplicationError("Give the token a name.", field_errors={"name": ["Give the token a name."]})
    if ApiToken.objects.filter(user=user, name=name, revoked_at__isnull=True).exists():
        message = f"You already have a token named “{name}”; choose another name or revoke that one first."
        raise ApplicationError(message, field_errors={"name": [message]})
    key = secrets.token_hex(20)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, key_prefix=key[:KEY_PREFIX_LENGTH], key_hash=api_token_key_hash(key)
        )
        audit_write(
            instance=token,
            action=AuditAction.CREATE,
            user=user,
            channel=channel,
            changes={"user": [None, user.pk], "name": [None, name], "key_prefix": [None, token.key_prefix]},
        )
    return token, key


def api_token_revoke(*, token: ApiToken, user, channel: AuditChannel | str = AuditChannel.WEB) -> ApiToken:
    """Revoke a token from now on; revoking one already revoked changes nothing."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            return token
        token.revoked_at, token.revoked_by = timezone.now(), user
        token.save(update_fields=["revoked_at", "revoked_by"])
        audit_write(
            instance=token,
            action=AuditAction.UPDATE,
            user=user,
            channel=channel,
            changes={"revoked_at": [None, token.revoked_at.isoformat()], "revoked_by": [None, user.pk]},
        )
    return token


def api_token_touch(*, token: ApiToken, now: dt.datetime, resolution: dt.timedelta) -> None:
    """Note that a token was used, writing only when its last use is older than ``resolution``.

    The update is conditional in the database too, so concurrent requests write at most once.
    """
    if token.last_used_at is not None and now - token.last_used_at < resolution:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - resolution)
    ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=now)
    token.last_used_at = now

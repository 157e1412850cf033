"""Who a user is in the registry: their roles and the sites whose records they may reach; their API tokens."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from .models import ApiToken, Membership, Role, Site


@dataclass(frozen=True)
class Access:
    """A user's reach, computed once per request from their memberships."""

    user_id: int | None
    roles: frozenset[str]
    site_ids: frozenset[int]
    is_superuser: bool = False

    @property
    def is_coordinator(self) -> bool:
        return Role.COORDINATOR in self.roles or self.is_superuser

    @property
    def is_investigator(self) -> bool:
        return Role.INVESTIGATOR in self.roles

    @property
    def is_site_staff(self) -> bool:
        return bool(self.site_ids)

    @property
    def sees_all_sites(self) -> bool:
        """Coordinators (and administrators) read every site's records, pseudonymised."""
        return self.is_coordinator

    @property
    def reaches_records(self) -> bool:
        """Investigators reach no record-level page or endpoint."""
        return self.is_coordinator or self.is_site_staff

    @property
    def sees_identifiers(self) -> bool:
        """Local identifiers are for the patient's own site only."""
        return self.is_site_staff

    def can_see_identifiers_of(self, site_id: int) -> bool:
        return site_id in self.site_ids

    def can_write_site(self, site_id: int | None) -> bool:
        """Center staff write their own sites; coordinators and administrators write any site."""
        return site_id is not None and (site_id in self.site_ids or self.is_coordinator)

    def can_register_patients_at(self, site_id: int | None) -> bool:
        """Patients are registered by their site's staff only, on every channel.

        Registering means entering a local identifier, and a refusal of a duplicate would tell whether
        the site already holds that identifier: only those who see the site's identifiers may try.
        """
        return site_id is not None and self.can_see_identifiers_of(site_id)


NO_ACCESS = Access(user_id=None, roles=frozenset(), site_ids=frozenset())


def access_for_user(user) -> Access:
    """The user's roles and sites, cached on the user object for the request."""
    if user is None or not user.is_authenticated or not user.is_active:
        return NO_ACCESS
    cached = getattr(user, "_registry_access", None)
    if cached is not None:
        return cached
    memberships = list(Membership.objects.filter(user=user).values_list("role", "site_id", "site__active"))
    access = Access(
        user_id=user.pk,
        roles=frozenset(role for role, _, _ in memberships),
        site_ids=frozenset(site_id for role, site_id, _ in memberships if site_id is not None),
        is_superuser=user.is_superuser,
    )
    user._registry_access = access
    return access


def site_list_for_user(*, user) -> QuerySet[Site]:
    """Sites the user may read (and choose when creating a record)."""
    access = access_for_user(user)
    if access.sees_all_sites:
        return Site.objects.all()
    return Site.objects.filter(pk__in=access.site_ids)


def writable_sites_for_user(*, user, include_closed: bool = False) -> QuerySet[Site]:
    """Active sites the user may write records of; with ``include_closed`` also their inactive ones
    (so that a write naming one is refused as closed, not as unknown)."""
    access = access_for_user(user)
    qs = Site.objects.all() if include_closed else Site.objects.filter(active=True)
    return qs if access.is_coordinator else qs.filter(pk__in=access.site_ids)


def registration_sites_for_user(*, user) -> QuerySet[Site]:
    """Active sites where the user registers patients (web form, import): those they are staff of."""
    return Site.objects.filter(active=True, pk__in=access_for_user(user).site_ids)


def registration_refusal(*, user) -> str:
    """Why the user can register patients nowhere, in one sentence; "" if they can somewhere."""
    access = access_for_user(user)
    if not access.site_ids:
        return "Patients are registered by the staff of their site; coordinators cannot register patients."
    if registration_sites_for_user(user=user).exists():
        return ""
    codes = Site.objects.filter(pk__in=access.site_ids).order_by("code").values_list("code", flat=True)
    return " ".join(site_closed_message(code) for code in codes)


def site_closed_message(code: str) -> str:
    """The answer to every write of a record of an inactive site: enrollment, records, imports."""
    return f"Site {code} is closed to new data."


def api_token_key_hash(key: str) -> str:
    """What is stored of a key: its SHA-256 (keys are random, so no salt is needed to hide them)."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_for_key(key: str) -> ApiToken | None:
    """The active token with this key, with its user, in one query; None for an unknown or revoked key."""
    active = ApiToken.objects.filter(revoked_at__isnull=True)
    return active.select_related("user").filter(key_hash=api_token_key_hash(key)).first()


def api_tokens_for_user(*, user) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first, revoked ones included (they say when they were revoked)."""
    return ApiToken.objects.filter(user=user)


def api_token_get_for_user(*, user, pk: int) -> ApiToken:
    """One of the user's own active tokens; 404 for anyone else's (nothing is revealed)."""
    return get_object_or_404(ApiToken, pk=pk, user=user, revoked_at__isnull=True)

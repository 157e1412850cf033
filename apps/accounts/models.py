"""Users, sites and memberships: who may see which site's records in which role; users' API tokens."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q


class User(AbstractUser):
    """A registry user; what they may do comes from their memberships."""

    class Meta:
        db_table = "accounts_user"

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class Site(models.Model):
    """A participating center."""

    code = models.CharField(
        max_length=8,
        unique=True,
        help_text="Short upper-case code used as the prefix of registry IDs, e.g. AMS1.",
    )
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 country code, e.g. NL.")
    active = models.BooleanField(default=True, help_text="Inactive sites keep their data but cannot enrol.")
    ethics_approval_reference = models.CharField(max_length=100, blank=True)
    ethics_approval_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[A-Z0-9]{2,8}$"), name="site_code_upper_alnum"),
        ]

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"


class Role(models.TextChoices):
    DATA_ENTRY = "data_entry", "Data entry"
    SITE_PI = "site_pi", "Site principal investigator"
    COORDINATOR = "coordinator", "Coordinator"
    INVESTIGATOR = "investigator", "Investigator"


SITE_ROLES = frozenset({Role.DATA_ENTRY, Role.SITE_PI})
REGISTRY_WIDE_ROLES = frozenset({Role.COORDINATOR, Role.INVESTIGATOR})


class Membership(models.Model):
    """A user's role, at one site (center staff) or registry-wide (coordinators, investigators)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    site = models.ForeignKey(
        Site,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="memberships",
        help_text="Required for data entry and site PI; empty for registry-wide roles.",
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "site", "role"], name="membership_unique_user_site_role"),
            models.UniqueConstraint(
                fields=["user", "role"], condition=Q(site__isnull=True), name="membership_unique_registry_role"
            ),
            models.CheckConstraint(
                condition=(Q(role__in=["data_entry", "site_pi"]) & Q(site__isnull=False))
                | (Q(role__in=["coordinator", "investigator"]) & Q(site__isnull=True)),
                name="membership_site_matches_role",
            ),
        ]

    def __str__(self) -> str:
        where = self.site.code if self.site_id else "registry-wide"
        return f"{self.user} – {self.get_role_display()} ({where})"


class ApiToken(models.Model):
    """A personal API token, sent as ``Authorization: Token <key>``.

    Only the SHA-256 of the key is stored: the key is shown once, when the token is made. The
    first characters are kept in clear so a user can tell their tokens apart.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. the name of the system using it.")
    key_prefix = models.CharField(max_length=8, help_text="The key's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the key (hex).")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="Updated at most once a minute.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "name"], condition=Q(revoked_at__isnull=True), name="api_token_unique_active_name"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

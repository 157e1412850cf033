"""Admin for users, sites and memberships, and a read-only view of API tokens (never their keys)."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import ApiToken, Membership, Site, User


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("site",)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = (MembershipInline,)
    list_display = ("username", "email", "first_name", "last_name", "is_active", "is_staff")


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "country", "active", "ethics_approval_reference")
    list_filter = ("active", "country")
    search_fields = ("code", "name")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "site", "created_at")
    list_filter = ("role", "site")
    list_select_related = ("user", "site")
    autocomplete_fields = ("user", "site")
    search_fields = ("user__username",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Read-only: tokens are made and revoked by their owners on their API tokens page, and audited there."""

    list_display = ("name", "user", "key_prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    list_select_related = ("user",)
    search_fields = ("user__username", "name", "key_prefix")
    fields = ("user", "name", "key_prefix", "created_at", "last_used_at", "revoked_at", "revoked_by")
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

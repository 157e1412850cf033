"""Admin for users, sites and memberships."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import Membership, Site, User


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

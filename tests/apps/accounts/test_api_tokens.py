"""Personal API tokens: center staff make, name and revoke their own; only a hash of each key is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.authentication import RegistryTokenAuthentication
from apps.accounts.models import ApiToken
from apps.core.models import AuditEntry
from tests.conftest import verify_second_factor
from tests.factories import api_token_key_for

PAGE = reverse("accounts:api-tokens")
REVOKE = reverse("accounts:api-token-revoke")


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _make(client: Client, name: str):
    return client.post(PAGE, {"name": name})


def test_center_staff_make_a_named_token_whose_key_is_shown_once_and_only_its_hash_is_stored(data_entry_a):
    client = _signed_in(data_entry_a)

    response = _make(client, "Hospital EHR export")

    assert response.status_code == 200
    key = response.context["key"]
    assert len(key) == 40
    assert key in response.content.decode()
    assert response["Cache-Control"] == "private, no-store"
    token = ApiToken.objects.get(user=data_entry_a)
    assert (token.name, token.key_prefix) == ("Hospital EHR export", key[:8])
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in [str(value) for value in ApiToken.objects.values_list().get()]
    again = client.get(PAGE).content.decode()
    assert key not in again
    assert f"{key[:8]}…" in again
    assert "Hospital EHR export" in again


def test_the_new_key_signs_in_with_the_token_header_and_its_first_use_is_shown(data_entry_a):
    key = _make(_signed_in(data_entry_a), "Script").context["key"]

    assert _api(key).get("/api/v1/patients/").status_code == 200

    token = ApiToken.objects.get(user=data_entry_a)
    assert token.last_used_at is not None
    assert token.last_used_at.strftime("%Y-%m-%d %H:%M") in _signed_in(data_entry_a).get(PAGE).content.decode()


def test_a_user_holds_several_named_tokens_but_not_two_active_ones_of_one_name(data_entry_a):
    client = _signed_in(data_entry_a)
    _make(client, "EHR export")
    _make(client, "Lab system")

    response = _make(client, "EHR export")

    assert response.status_code == 200
    assert response.context["key"] == ""
    assert "You already have a token named “EHR export”" in response.context["form"].errors["name"][0]
    assert sorted(ApiToken.objects.filter(user=data_entry_a).values_list("name", flat=True)) == [
        "EHR export",
        "Lab system",
    ]


def test_a_token_without_a_name_is_refused_beside_the_field(data_entry_a):
    response = _make(_signed_in(data_entry_a), "  ")

    assert response.context["form"].errors["name"] == ["This field is required."]
    assert not ApiToken.objects.exists()


def test_a_revoked_token_is_refused_and_making_and_revoking_are_audited(data_entry_a):
    client = _signed_in(data_entry_a)
    key = _make(client, "Script").context["key"]
    token = ApiToken.objects.get()

    response = client.post(REVOKE, {"token": token.pk})

    assert response.status_code == 302
    assert response.url == PAGE
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert token.revoked_by == data_entry_a
    assert _api(key).get("/api/v1/patients/").status_code == 401
    entries = AuditEntry.objects.filter(model_label="accounts.apitoken", object_id=str(token.pk)).order_by("sequence")
    assert [(entry.action, entry.channel, entry.user_id) for entry in entries] == [
        ("create", "web", data_entry_a.pk),
        ("update", "web", data_entry_a.pk),
    ]
    assert entries[0].changes == {
        "user": [None, data_entry_a.pk],
        "name": [None, "Script"],
        "key_prefix": [None, key[:8]],
    }
    assert entries[1].changes["revoked_at"] == [None, token.revoked_at.isoformat()]
    assert key not in str([entry.changes for entry in entries])
    assert "Revoked" in client.get(PAGE).content.decode()


def test_revoking_someone_elses_token_is_a_404_and_changes_nothing(data_entry_a, data_entry_b):
    api_token_key_for(data_entry_b)
    theirs = ApiToken.objects.get(user=data_entry_b)

    response = _signed_in(data_entry_a).post(REVOKE, {"token": theirs.pk})

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert not AuditEntry.objects.filter(model_label="accounts.apitoken").exists()


def test_revoking_takes_a_post_with_a_csrf_token(data_entry_a):
    api_token_key_for(data_entry_a)
    token = ApiToken.objects.get()
    client = Client(enforce_csrf_checks=True)
    client.force_login(data_entry_a)

    assert client.get(REVOKE).status_code == 405
    assert client.post(REVOKE, {"token": token.pk}).status_code == 403
    assert client.post(PAGE, {"name": "No CSRF"}).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None
    assert ApiToken.objects.count() == 1


@pytest.mark.parametrize("role", ["coordinator", "investigator"])
def test_registry_wide_roles_are_told_why_they_get_no_token_and_cannot_make_one(role, request):
    user = request.getfixturevalue(role)
    client = _signed_in(user)
    verify_second_factor(client, user)

    page = client.get(PAGE)
    posted = client.post(PAGE, {"name": "Sneaky"})

    assert page.status_code == 200
    assert "not accepted for coordinator or investigator accounts" in page.content.decode()
    assert "Make token" not in page.content.decode()
    assert posted.status_code == 403
    assert not ApiToken.objects.exists()


def test_last_use_is_written_at_most_once_a_minute(data_entry_a, django_assert_num_queries):
    key = api_token_key_for(data_entry_a)
    token = ApiToken.objects.get()
    authentication = RegistryTokenAuthentication()

    # the token with its user, the user's memberships (the two-factor rule), the write of the last use
    with django_assert_num_queries(3):
        authentication.authenticate_credentials(key)
    first = ApiToken.objects.get().last_used_at

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(seconds=50))
    with django_assert_num_queries(2):  # within the minute: no write
        authentication.authenticate_credentials(key)
    assert ApiToken.objects.get().last_used_at == first - dt.timedelta(seconds=50)

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(seconds=61))
    authentication.authenticate_credentials(key)
    assert ApiToken.objects.get().last_used_at > first - dt.timedelta(seconds=1)


def test_a_token_made_by_the_administrator_before_keeps_working_after_the_migration(data_entry_a):
    """Migration 0002 carries the clear-text DRF keys over as hashes, then deletes the clear text."""
    migration = import_module("apps.accounts.migrations.0002_api_tokens")
    created = timezone.now() - dt.timedelta(days=30)
    with connection.cursor() as cursor:
        cursor.execute(
            'CREATE TABLE authtoken_token ("key" varchar(40), created timestamp with time zone, user_id integer)'
        )
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, %s, %s)", ["a" * 40, created, data_entry_a.pk])

    migration.carry_over_drf_tokens(django_apps, SimpleNamespace(connection=connection))

    token = ApiToken.objects.get()
    assert (token.user, token.name, token.key_prefix) == (data_entry_a, "Token made by the administrator", "aaaaaaaa")
    assert token.created_at == created
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,)
    assert _api("a" * 40).get("/api/v1/patients/").status_code == 200


def test_the_admin_shows_tokens_read_only_and_never_a_key_or_its_hash(admin_user, data_entry_a):
    key = api_token_key_for(data_entry_a, name="EHR export")
    token = ApiToken.objects.get()
    client = _signed_in(admin_user)
    verify_second_factor(client, admin_user)

    listing = client.get(reverse("admin:accounts_apitoken_changelist"))
    detail = client.get(reverse("admin:accounts_apitoken_change", args=[token.pk]))

    assert listing.status_code == detail.status_code == 200
    for response in (listing, detail):
        assert "EHR export" in response.content.decode()
        assert key not in response.content.decode()
        assert token.key_hash not in response.content.decode()
    assert client.get(reverse("admin:accounts_apitoken_add")).status_code == 403
    assert client.post(reverse("admin:accounts_apitoken_delete", args=[token.pk]), {"post": "yes"}).status_code == 403
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_the_user_menu_links_to_the_tokens_page(data_entry_a):
    assert f'href="{PAGE}"' in _signed_in(data_entry_a).get(reverse("home")).content.decode()

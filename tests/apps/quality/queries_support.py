"""Helpers of the query tests: an automatic query as a rule opens it, signed-in clients per role."""

from __future__ import annotations

from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.selectors import access_for_user
from apps.core.records import record_type_for
from apps.quality.models import DataQuery, QueryComment


def automatic_query(
    record, *, rule_id: str = "implausible_value", field: str = "albumin_g_per_l", message: str = "", **extra
) -> DataQuery:
    """An open query of a rule about ``record``'s ``field``, as the sweep would open it (no person raised it)."""
    record_type = record_type_for(type(record))
    query = DataQuery.objects.create(
        rule_id=rule_id,
        site_id=record_type.site_id_of(record),
        patient_id=record_type.patient_id_of(record),
        record_type=record_type.slug,
        record_id=record.pk,
        field=field,
        message=message or f"{field} looks implausible.",
        value_seen=str(getattr(record, field, "") or "")[:200] if field else "",
        opened_at=timezone.now(),
        **extra,
    )
    QueryComment.objects.create(
        query=query, action=QueryComment.Action.OPENED, text=query.message, created_at=query.opened_at
    )
    return query


def sign_in(client, user):
    """Sign ``user`` in; registry-wide roles also get a verified second factor for the session."""
    client.force_login(user)
    access = access_for_user(user)
    if access.is_coordinator or access.is_investigator:
        device, _ = TOTPDevice.objects.get_or_create(user=user, name="test", defaults={"confirmed": True})
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client

"""Pages of sign-off and source verification, and the patient page's case-status panel.

- ``/quality/patients/<registry_id>/sign/``: the site PI of the patient's site signs the case (password and
  meaning), or reads why it cannot be signed yet;
- ``/quality/patients/<registry_id>/unlock/``: a coordinator unlocks a signed case, with a reason;
- ``/quality/patients/<registry_id>/verify/``: a coordinator marks records or fields source-data-verified,
  or removes marks (one POST, one transaction).

A patient out of the user's reach is a 404 (``clinical.selectors``); within reach, a role that may not act
gets 403. Every write goes through ``apps.quality.signoff``.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.contrib import messages
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.accounts.selectors import access_for_user
from apps.clinical.panels import PatientPanel
from apps.clinical.presenters import anchor_of, display_value, missing_answer_display
from apps.clinical.selectors import patient_get_for_user, patient_timeline
from apps.clinical.views import records_view
from apps.core.errors import ApplicationError
from apps.core.forms import add_application_error
from apps.core.records import record_type_for

from . import signoff
from .models import SourceVerification
from .signoff_forms import SignForm, UnlockForm
from .signoff_selectors import (
    can_unlock,
    can_verify,
    case_summary,
    is_site_pi_of,
    patient_verifications,
    signature_manifestation,
    signer_name,
    timeline_records,
    utc,
    verifiable_fields,
    verifications_by_record,
)

CHANNEL = "web"
TOO_MANY_ATTEMPTS = (
    "Too many wrong passwords: signing (and signing in) is locked for this account for a while. "
    "Try again later, or ask an administrator."
)


# --- A wrong password counts as a failed sign-in (django-axes) ------------------------------------------------


def signing_locked_out(request: HttpRequest, user) -> bool:
    """Whether the user's wrong passwords (at sign-in or signing) have locked the account out for now."""
    return AxesProxyHandler.is_locked(request, credentials={"username": user.get_username()})


def signing_failed(request: HttpRequest, user) -> None:
    """Count a wrong signing password as a failed sign-in: repeated guesses lock the account out."""
    user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=request)


# --- Sign ------------------------------------------------------------------------------------------------------


@records_view
def case_sign(request: HttpRequest, registry_id: str) -> HttpResponse:
    """The site PI signs the case with their password and the meaning of the signature."""
    patient = patient_get_for_user(user=request.user, registry_id=registry_id)
    if not is_site_pi_of(user=request.user, site_id=patient.site_id):
        raise PermissionDenied(signoff.ONLY_SITE_PI_SIGNS)
    form = SignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if signing_locked_out(request, request.user):
            form.add_error("password", TOO_MANY_ATTEMPTS)
        else:
            try:
                signoff.case_sign(
                    patient=patient,
                    user=request.user,
                    password=form.cleaned_data["password"],
                    meaning=form.cleaned_data["meaning"],
                    channel=CHANNEL,
                )
            except ApplicationError as error:
                if error.message == signoff.WRONG_PASSWORD:
                    signing_failed(request, request.user)
                add_application_error(form, error)
            else:
                messages.success(request, f"You signed the case of patient {patient.registry_id}.")
                return redirect(patient.get_absolute_url())
    summary = case_summary(patient=patient)
    return render(
        request,
        "quality/sign_case.html",
        {
            "title": f"Sign the case of patient {patient.registry_id}",
            "patient": patient,
            "summary": summary,
            "manifestation": signature_manifestation(patient),
            "form": form,
            "cancel_url": patient.get_absolute_url(),
        },
    )


# --- Unlock ----------------------------------------------------------------------------------------------------


@records_view
def case_unlock(request: HttpRequest, registry_id: str) -> HttpResponse:
    """A coordinator unlocks a signed case, with a reason kept in the audit trail."""
    patient = patient_get_for_user(user=request.user, registry_id=registry_id)
    if not can_unlock(user=request.user):
        raise PermissionDenied(signoff.ONLY_COORDINATORS_UNLOCK)
    form = UnlockForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            signoff.case_unlock(patient=patient, user=request.user, reason=form.cleaned_data["reason"], channel=CHANNEL)
        except ApplicationError as error:
            add_application_error(form, error)
        else:
            messages.success(request, f"You unlocked the case of patient {patient.registry_id}.")
            return redirect(patient.get_absolute_url())
    return render(
        request,
        "quality/sign_unlock.html",
        {
            "title": f"Unlock the case of patient {patient.registry_id}",
            "patient": patient,
            "manifestation": signature_manifestation(patient),
            "form": form,
            "cancel_url": patient.get_absolute_url(),
        },
    )


# --- Source-data verification ------------------------------------------------------------------------------------


def _mark_text(mark: SourceVerification | None) -> str:
    if mark is None:
        return ""
    who = mark.verified_by.get_full_name() or mark.verified_by.username
    return f"✓ verified by {who} on {utc(mark.verified_at):%Y-%m-%d}"


def _verification_rows(patient, timeline: dict[str, Any], marks) -> list[dict[str, Any]]:
    """Each record of the case with its whole-record mark and, per verifiable field, its value and mark."""
    grouped = verifications_by_record(marks)
    rows = []
    for record in [patient, *timeline_records(timeline)]:
        record_type = record_type_for(type(record))
        own = grouped.get((record_type.slug, record.pk), {})
        missing = getattr(record, "missing_answers", None) or {}
        fields = []
        for name, label in verifiable_fields(record_type.slug):
            value = display_value(record, name)
            if not value and missing.get(name):
                value = missing_answer_display(missing[name])
            fields.append(
                {
                    "name": name,
                    "label": label[:1].upper() + label[1:],
                    "value": value,
                    "key": f"{record_type.slug}:{record.pk}:{name}",
                    "mark": own.get(name),
                    "mark_text": _mark_text(own.get(name)),
                }
            )
        rows.append(
            {
                "label": f"{record_type.label}: {record_type.title(record)}",
                "anchor": anchor_of(record),
                "key": f"{record_type.slug}:{record.pk}:",
                "mark": own.get(""),
                "mark_text": _mark_text(own.get("")),
                "fields": fields,
                "verified_fields": sum(1 for item in fields if item["mark"] is not None),
            }
        )
    return rows


def _parse_key(key: str) -> tuple[str, str, str] | None:
    parts = key.split(":")
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


@records_view
def case_verify(request: HttpRequest, registry_id: str) -> HttpResponse:
    """A coordinator marks records (or single fields) source-data-verified, or removes marks."""
    patient = patient_get_for_user(user=request.user, registry_id=registry_id)
    if not can_verify(user=request.user):
        raise PermissionDenied(signoff.ONLY_COORDINATORS_VERIFY)
    errors: list[str] = []
    if request.method == "POST":
        marked, removed = 0, 0
        try:
            with transaction.atomic():
                for key in request.POST.getlist("mark"):
                    parsed = _parse_key(key)
                    if parsed is None:
                        raise ApplicationError(f"Not a record or field of this case: {key!r}.")
                    slug, pk, name = parsed
                    mark = signoff.record_verify(
                        user=request.user, record_type=slug, record_id=pk, field=name, channel=CHANNEL
                    )
                    if mark.patient_id != patient.pk:
                        raise ApplicationError(f"Not a record or field of this case: {key!r}.")
                    marked += 1
                own = SourceVerification.objects.filter(patient=patient)
                for mark_id in request.POST.getlist("unmark"):
                    mark = own.filter(pk=mark_id).first() if mark_id.isdigit() else None
                    if mark is not None:
                        signoff.record_unverify(user=request.user, mark=mark, channel=CHANNEL)
                        removed += 1
        except ApplicationError as error:
            errors = [error.message, *(m for problems in error.field_errors.values() for m in problems)]
        else:
            messages.success(request, f"Marked {marked} as verified, removed {removed} mark(s).")
            return redirect(reverse("quality:case-verify", kwargs={"registry_id": patient.registry_id}))
    timeline = patient_timeline(patient=patient)
    return render(
        request,
        "quality/sign_verify.html",
        {
            "title": f"Source-data verification of patient {patient.registry_id}",
            "patient": patient,
            "rows": _verification_rows(patient, timeline, patient_verifications(patient=patient)),
            "errors": errors,
            "cancel_url": patient.get_absolute_url(),
        },
    )


# --- The patient page's panel ------------------------------------------------------------------------------------


def case_status_context(*, patient, timeline: dict[str, Any], user, can_write: bool) -> dict[str, Any]:
    """Case status, signature manifestation, the sign / unlock / verify links the user may follow, and which
    records and fields are verified. The status comes from the loaded timeline (no query); the SDV marks are one
    query; the site-PI check one more for site PIs only, and the signer's name one more for a signed case."""
    summary = case_summary(patient=patient, timeline=timeline, with_queries=False)
    access = access_for_user(user)
    registry_id = patient.registry_id
    signed = patient.signed_at is not None
    sign_url = ""
    if not signed and is_site_pi_of(user=user, site_id=patient.site_id):
        sign_url = reverse("quality:case-sign", kwargs={"registry_id": registry_id})
    marks = list(patient_verifications(patient=patient))
    rows = [row for row in _verification_rows(patient, timeline, marks) if row["mark"] or row["verified_fields"]]
    return {
        "summary": summary,
        "status": summary.status.value,
        "status_label": summary.status.label,
        "signed": signed,
        "signer": signer_name(patient) if signed else "",
        "signed_at": utc(patient.signed_at),
        "meaning": patient.signature_meaning,
        "manifestation": signature_manifestation(patient),
        "sign_url": sign_url,
        "unlock_url": reverse("quality:case-unlock", kwargs={"registry_id": registry_id})
        if signed and access.is_coordinator
        else "",
        "verify_url": reverse("quality:case-verify", kwargs={"registry_id": registry_id})
        if access.is_coordinator
        else "",
        "verified_rows": rows,
        "verified_records": sum(1 for row in rows if row["mark"]),
        "records_total": summary.records_total,
    }


CASE_STATUS_PANEL = PatientPanel(template="quality/_case_status.html", context=case_status_context)

"""Pages: the calculator (nothing stored), enrolling an episode, and the blinding switch."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from apps.accounts.selectors import access_for_user
from apps.clinical.models import RechallengeEpisode
from apps.clinical.selectors import record_get_for_user
from apps.core.errors import ApplicationError
from apps.core.forms import add_application_error

from . import services
from .display import review_criteria_text
from .forms import BlindingForm, CalculatorForm, PriorIraeFormSet


def _calculator_payload(form: CalculatorForm, formset) -> dict:
    data = dict(form.cleaned_data)
    status = data.pop("prior_irae_status")
    if status == "none":
        data["prior_iraes"] = []
    elif status == "unknown":
        data["prior_iraes"] = None
    else:
        data["prior_iraes"] = [row for row in formset.cleaned_data if row.get("ctcae_term")]
    return data


@login_required
def calculator(request: HttpRequest) -> HttpResponse:
    """Enter the factors by hand and see the category with every factor's reason; nothing is stored.

    Closed to center staff while blinding is on (``BLINDING_CLOSES_CALCULATOR``).
    """
    if not services.calculator_open_to(user=request.user):
        raise PermissionDenied(services.CALCULATOR_CLOSED)
    submitted = "evaluate" in request.GET
    form = CalculatorForm(request.GET if submitted else None)
    formset = PriorIraeFormSet(request.GET if submitted else None, prefix="irae")
    result = None
    if submitted and form.is_valid() and formset.is_valid():
        payload = _calculator_payload(form, formset)
        if payload["prior_iraes"] == [] and form.cleaned_data["prior_irae_status"] == "listed":
            form.add_error("prior_irae_status", "List at least one irAE, or choose 'No prior irAE'.")
        else:
            try:
                result = services.decision_evaluate(
                    inputs=services.decision_inputs_from_payload(payload),
                    version=form.cleaned_data.get("model_version") or None,
                )
            except ApplicationError as error:
                add_application_error(form, error)
    review_criteria = None if result is None else review_criteria_text(result.review_criteria_met, result.model_version)
    return render(
        request,
        "assessments/calculator.html",
        {
            "form": form,
            "formset": formset,
            "result": result,
            "submitted": submitted,
            "review_criteria": review_criteria,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def episode_enroll(request: HttpRequest, pk: int) -> HttpResponse:
    """Enrolling takes two steps: the inputs the model will lock are shown, and nothing is stored until the
    user confirms exactly those (the form carries their fingerprint)."""
    episode = record_get_for_user(RechallengeEpisode, user=request.user, pk=pk)
    if not access_for_user(request.user).can_write_site(episode.patient.site_id):
        raise PermissionDenied
    if request.method == "POST":
        return _enroll_confirmed(request, episode)
    preview = services.enrollment_preview(episode=episode)
    return render(
        request,
        "assessments/enroll_confirm.html",
        {
            "episode": episode,
            "patient": episode.patient,
            "preview": preview,
            "closed_message": services.site_closed_message(preview.site_code),
        },
    )


def _enroll_confirmed(request: HttpRequest, episode: RechallengeEpisode) -> HttpResponse:
    confirm_page = redirect("assessments:episode-enroll", pk=episode.pk)
    digest = request.POST.get("inputs_digest", "")
    if not digest:
        messages.info(request, "Check the inputs the model will lock, then confirm.")
        return confirm_page
    try:
        assessment = services.episode_enroll(episode=episode, user=request.user, confirmed_digest=digest)
    except ApplicationError as error:
        messages.error(request, error.message)
        return confirm_page
    visible = services.category_visible_to(user=request.user)
    shown = assessment.get_category_display() if visible else "category hidden (blinded)"
    if assessment.is_retrospective:
        messages.warning(
            request,
            f"Episode enrolled retrospectively: outcome data were already recorded. Decision model "
            f"{assessment.model_version} locked: {shown}. The assessment is labelled retrospective and is not "
            "part of the primary validation population.",
        )
    else:
        messages.success(request, f"Episode enrolled. Decision model {assessment.model_version} locked: {shown}.")
    return redirect(episode.patient.get_absolute_url())


@login_required
def blinding(request: HttpRequest) -> HttpResponse:
    """Coordinators switch whether center staff see the model's category."""
    if not access_for_user(request.user).is_coordinator:
        raise PermissionDenied
    current = services.blinding_current()
    form = BlindingForm(request.POST or None, initial={"blinded": current.blind_category_to_site_staff})
    if request.method == "POST" and form.is_valid():
        try:
            services.blinding_set(
                blinded=form.cleaned_data["blinded"], user=request.user, reason=form.cleaned_data["reason"]
            )
        except ApplicationError as error:
            add_application_error(form, error)
        else:
            messages.success(request, "Blinding setting saved.")
            return redirect("assessments:blinding")
    return render(request, "assessments/blinding.html", {"form": form, "current": current})

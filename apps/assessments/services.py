"""Evaluating the decision model, locking its output at enrollment, and the blinding setting.

An assessment is stored once and never changed. When data an enrolled episode's inputs come from
are corrected, a *re-assessment* is stored beside the original (``supersedes`` points at it), so
validation can always use the prediction made before any outcome existed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.selectors import access_for_user
from apps.core.audit import audit_write
from apps.core.errors import ApplicationError
from apps.core.models import AuditAction, AuditChannel
from registry.decision import (
    DecisionInputs,
    DecisionResult,
    InvalidInput,
    PriorIraeInput,
    available_versions,
    evaluate,
    get_spec,
)

from .models import Assessment, BlindingSetting


def active_model_version() -> str:
    """The model version evaluated at enrollment (``settings.DECISION_MODEL_VERSION``)."""
    return settings.DECISION_MODEL_VERSION


def decision_evaluate(*, inputs: DecisionInputs, version: str | None = None) -> DecisionResult:
    """Evaluate one model version; invalid inputs become field-level application errors."""
    version = version or active_model_version()
    if version not in available_versions():
        raise ApplicationError(
            "Unknown model version.",
            field_errors={
                "model_version": [f"Unknown model version {version!r}; choose one of {available_versions()}."]
            },
        )
    try:
        return evaluate(inputs, get_spec(version))
    except InvalidInput as error:
        raise ApplicationError(
            "Please correct the inputs.", field_errors={field: [message] for field, message in error.errors.items()}
        ) from None


def decision_inputs_from_payload(data: Mapping[str, Any]) -> DecisionInputs:
    """Plain values (API body, calculator form) into the model's inputs."""
    prior = data.get("prior_iraes")
    return DecisionInputs(
        pfs1_months=_float(data.get("pfs1_months")),
        tfi_months=_float(data.get("tfi_months")),
        progressed_on_ici1=data.get("progressed_on_ici1"),
        ecog=data.get("ecog"),
        prior_iraes=None
        if prior is None
        else tuple(
            PriorIraeInput(
                ctcae_term=item["ctcae_term"],
                grade=item["grade"],
                resolved_to_grade=item.get("resolved_to_grade"),
                steroid_refractory=bool(item.get("steroid_refractory", False)),
                controlled_on_replacement=bool(item.get("controlled_on_replacement", False)),
            )
            for item in prior
        ),
        current_prednisone_mg_per_day=_float(data.get("current_prednisone_mg_per_day")),
        stop_reason=data.get("stop_reason") or None,
        strategy=data.get("strategy") or None,
    )


def _float(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def inputs_snapshot(inputs: DecisionInputs) -> dict[str, Any]:
    """The inputs as JSON, in the API's field names, for the locked record."""
    return {
        "pfs1_months": inputs.pfs1_months,
        "tfi_months": inputs.tfi_months,
        "progressed_on_ici1": inputs.progressed_on_ici1,
        "ecog": inputs.ecog,
        "prior_iraes": None
        if inputs.prior_iraes is None
        else [
            {
                "ctcae_term": irae.ctcae_term,
                "grade": irae.grade,
                "resolved_to_grade": irae.resolved_to_grade,
                "steroid_refractory": irae.steroid_refractory,
                "controlled_on_replacement": irae.controlled_on_replacement,
            }
            for irae in inputs.prior_iraes
        ],
        "current_prednisone_mg_per_day": inputs.current_prednisone_mg_per_day,
        "stop_reason": inputs.stop_reason,
        "strategy": inputs.strategy,
    }


def _result_factors(result: DecisionResult) -> list[dict[str, Any]]:
    return result.as_dict()["factors"]


# --- locking -----------------------------------------------------------------------------------


def assessment_lock(
    *,
    episode,
    user,
    version: str | None = None,
    is_reassessment: bool = False,
    is_retrospective: bool = False,
    supersedes: Assessment | None = None,
    reason: str = "",
) -> Assessment:
    """Evaluate the model on the episode's recorded data and store the immutable result."""
    from .inputs import episode_decision_inputs

    inputs = episode_decision_inputs(episode)
    version = version or active_model_version()
    spec = get_spec(version)
    try:
        result = evaluate(inputs, spec)
    except InvalidInput as error:
        raise ApplicationError(
            "The recorded data cannot be assessed: " + "; ".join(error.errors.values()),
            field_errors={field: [message] for field, message in error.errors.items()},
        ) from None
    return Assessment.objects.create(
        episode=episode,
        model_version=spec.version,
        model_hash=spec.hash,
        inputs=inputs_snapshot(inputs),
        factors=_result_factors(result),
        category=result.category,
        score=result.score,
        assessed_by=user if getattr(user, "is_authenticated", False) else None,
        is_reassessment=is_reassessment,
        is_retrospective=is_retrospective,
        supersedes=supersedes,
        reason=reason,
    )


@transaction.atomic
def episode_enroll(*, episode, user, channel: AuditChannel | str = AuditChannel.WEB) -> Assessment:
    """Enroll an episode: stamp ``enrolled_at`` and lock the active model's assessment (once)."""
    from apps.clinical.models import RechallengeEpisode

    locked = RechallengeEpisode.objects.select_for_update().get(pk=episode.pk)
    if not access_for_user(user).can_write_site(locked.patient.site_id) and user is not None:
        raise ApplicationError("You cannot enroll episodes of this site.", status=403)
    if locked.enrolled_at is not None:
        raise ApplicationError("This episode is already enrolled; its assessment is locked.", status=409)
    assessment = assessment_lock(episode=locked, user=user)
    locked.enrolled_at = assessment.assessed_at
    locked.version += 1
    locked.save(update_fields=["enrolled_at", "version", "updated_at"])
    audit_write(
        instance=locked,
        action=AuditAction.UPDATE,
        user=user,
        channel=channel,
        changes={
            "enrolled_at": [None, assessment.assessed_at.isoformat()],
            "version": [locked.version - 1, locked.version],
        },
        # The category is deliberately not in the reason: history pages must not unblind center staff.
        reason=f"Enrolled; decision model {assessment.model_version} locked (assessment #{assessment.pk}).",
    )
    return assessment


def episode_reassess_if_inputs_changed(*, episode, user, reason: str = "") -> Assessment | None:
    """After a data correction, store a re-assessment if an enrolled episode's model inputs changed."""
    if episode.enrolled_at is None:
        return None
    latest = Assessment.objects.filter(episode=episode, is_retrospective=False).order_by("-assessed_at", "-id").first()
    if latest is None:
        return None
    from .inputs import episode_decision_inputs

    if inputs_snapshot(episode_decision_inputs(episode)) == latest.inputs:
        return None
    # A chain of corrections always points back at the prediction locked at enrollment.
    original = (latest.supersedes or latest) if latest.is_reassessment else latest
    return assessment_lock(
        episode=episode,
        user=user,
        version=latest.model_version,
        is_reassessment=True,
        supersedes=original,
        reason=reason or "Recorded data corrected after enrollment.",
    )


def episodes_reassess_for_patient(*, patient_id: int, user, reason: str = "") -> list[Assessment]:
    """Called after any clinical write of a patient: re-assess every enrolled episode whose inputs moved."""
    from apps.clinical.models import RechallengeEpisode

    made = []
    for episode in RechallengeEpisode.objects.filter(patient_id=patient_id, enrolled_at__isnull=False).select_related(
        "patient"
    ):
        assessment = episode_reassess_if_inputs_changed(episode=episode, user=user, reason=reason)
        if assessment is not None:
            made.append(assessment)
    return made


# --- blinding ----------------------------------------------------------------------------------


def blinding_current() -> BlindingSetting:
    setting, _ = BlindingSetting.objects.get_or_create(pk=1)
    return setting


def blinding_is_on() -> bool:
    setting = BlindingSetting.objects.filter(pk=1).only("blind_category_to_site_staff").first()
    return bool(setting and setting.blind_category_to_site_staff)


@transaction.atomic
def blinding_set(
    *, blinded: bool, user, reason: str, channel: AuditChannel | str = AuditChannel.WEB
) -> BlindingSetting:
    """Switch blinding (coordinators only); every switch is audited with its reason."""
    if not access_for_user(user).is_coordinator:
        raise ApplicationError("Only coordinators can change blinding.", status=403)
    if not reason.strip():
        raise ApplicationError("Give a reason.", field_errors={"reason": ["Give a reason for switching blinding."]})
    setting = BlindingSetting.objects.select_for_update().get_or_create(pk=1)[0]
    if setting.blind_category_to_site_staff == blinded:
        return setting
    before = setting.blind_category_to_site_staff
    setting.blind_category_to_site_staff = blinded
    setting.save()
    audit_write(
        instance=setting,
        action=AuditAction.SETTING,
        user=user,
        channel=channel,
        changes={"blind_category_to_site_staff": [before, blinded]},
        reason=reason,
    )
    return setting


def category_visible_to(*, user) -> bool:
    """Center staff do not see the category while blinding is on; coordinators always do."""
    access = access_for_user(user)
    return access.is_coordinator or not blinding_is_on()


def blinding_state_at(moment=None) -> bool:
    """Whether blinding was on at ``moment`` (now by default), read from the audit trail."""
    from apps.core.models import AuditEntry

    moment = moment or timezone.now()
    entry = (
        AuditEntry.objects.filter(model_label="assessments.blindingsetting", timestamp__lte=moment)
        .order_by("-timestamp", "-id")
        .first()
    )
    return bool(entry and entry.changes["blind_category_to_site_staff"][1])

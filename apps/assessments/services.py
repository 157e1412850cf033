"""Evaluating the decision model, locking its output at enrollment, and the blinding setting.

An assessment is stored once and never changed. When data an enrolled episode's inputs come from
are corrected, a *re-assessment* is stored beside the original (``supersedes`` points at it), so
validation can always use the prediction made before any outcome existed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.selectors import access_for_user, site_closed_message
from apps.clinical.models import RechallengeEpisode
from apps.clinical.services import case_open_check
from apps.clinical.summaries import patient_summaries_refresh
from apps.core.audit import audit_write
from apps.core.errors import ApplicationError
from apps.core.models import AuditAction, AuditChannel, AuditEntry
from config.version import code_version
from registry import vocabularies as v
from registry.decision import (
    DecisionInputs,
    DecisionResult,
    InvalidInput,
    ModelSpec,
    PriorIraeInput,
    available_versions,
    evaluate,
    get_spec,
)
from registry.decision.inputs import inputs_snapshot as registry_inputs_snapshot

from .inputs import episode_decision_inputs
from .models import Assessment, BlindingSetting
from .selectors import episode_outcome_data


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
        pfs1_event=data.get("pfs1_event"),
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
                # Left out means "no" (as before); an explicit null is "unknown".
                steroid_refractory=item.get("steroid_refractory", False),
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


def inputs_snapshot(inputs: DecisionInputs, spec: ModelSpec | None = None) -> dict[str, Any]:
    """The inputs as JSON, in the API's field names, for the locked record of ``spec`` (default: active).

    A 1.0 snapshot keeps exactly the keys 1.0 assessments were locked with (no ``pfs1_event``).
    """
    return registry_inputs_snapshot(inputs, spec or get_spec(active_model_version()))


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
    """Evaluate the model on the episode's recorded data, read as ``version`` reads them, and store it."""
    spec = get_spec(version or active_model_version())
    inputs = episode_decision_inputs(episode, spec)
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
        code_version=code_version(),
        inputs=inputs_snapshot(inputs, spec),
        factors=_result_factors(result),
        category=result.category,
        score=result.score,
        assessed_by=user if getattr(user, "is_authenticated", False) else None,
        is_reassessment=is_reassessment,
        is_retrospective=is_retrospective,
        supersedes=supersedes,
        reason=reason,
    )


# --- enrollment ----------------------------------------------------------------------------------

#: How the confirmation page names each input (the keys of ``inputs_snapshot``).
INPUT_LABELS = {
    "pfs1_months": "PFS on the preceding ICI course (months)",
    "pfs1_event": "Progression observed on the preceding course",
    "tfi_months": "Treatment-free interval (months)",
    "progressed_on_ici1": "Progressed while on the preceding course",
    "ecog": "ECOG performance status at rechallenge",
    "prior_iraes": "irAEs during the preceding course",
    "current_prednisone_mg_per_day": "Current prednisone-equivalent dose (mg/day)",
    "stop_reason": "Why the preceding course stopped",
    "strategy": "Planned rechallenge regimen",
}


@dataclass(frozen=True)
class InputRow:
    """One input the model will be given, as the confirmation page shows it."""

    name: str
    label: str
    value: str
    missing: bool


@dataclass(frozen=True)
class EnrollmentPreview:
    """What enrolling the episode now would lock, shown to the user before anything is stored."""

    model_version: str
    inputs: dict[str, Any]
    rows: tuple[InputRow, ...]
    outcome_data: tuple[str, ...]
    site_code: str
    site_active: bool
    already_enrolled: bool

    @property
    def is_retrospective(self) -> bool:
        return bool(self.outcome_data)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(row.label for row in self.rows if row.missing)

    @property
    def digest(self) -> str:
        """Fingerprint of what the user confirms: model version, inputs and the retrospective flag."""
        return _enrollment_digest(self.model_version, self.inputs, self.is_retrospective)


def _enrollment_digest(version: str, inputs: Mapping[str, Any], is_retrospective: bool) -> str:
    text = json.dumps([version, inputs, is_retrospective], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _vocabulary_label(vocabulary, code: str) -> str:
    return vocabulary.label(code) if code in vocabulary else code


def _prior_irae_text(irae: Mapping[str, Any]) -> str:
    text = f"{_vocabulary_label(v.CTCAE_TERMS, irae['ctcae_term'])}, grade {irae['grade']}"
    resolved = irae.get("resolved_to_grade")
    text += ", not resolved / unknown" if resolved is None else f", resolved to grade {resolved}"
    refractory = irae.get("steroid_refractory")
    if refractory is None:
        text += ", steroid-refractory: unknown"
    elif refractory:
        text += ", steroid-refractory"
    if irae.get("controlled_on_replacement"):
        text += ", controlled on hormone replacement"
    return text


def _input_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if name == "prior_iraes":
        return "; ".join(_prior_irae_text(irae) for irae in value) if value else "None"
    if name == "stop_reason":
        return _vocabulary_label(v.STOP_REASONS, value)
    if name == "strategy":
        return _vocabulary_label(v.REGIMEN_TYPES, value)
    if name == "ecog":
        return f"ECOG {value}"
    return str(value)


def enrollment_preview(*, episode) -> EnrollmentPreview:
    """The inputs enrolling ``episode`` now would lock (with labels, missing ones marked) and whether
    the lock would be retrospective because outcome data are already recorded."""
    spec = get_spec(active_model_version())
    snapshot = inputs_snapshot(episode_decision_inputs(episode, spec), spec)
    rows = tuple(
        InputRow(
            name=name,
            label=INPUT_LABELS.get(name, name.replace("_", " ").capitalize()),
            value="Not recorded" if value is None else _input_value(name, value),
            missing=value is None,
        )
        for name, value in snapshot.items()
    )
    site = episode.patient.site
    return EnrollmentPreview(
        model_version=spec.version,
        inputs=snapshot,
        rows=rows,
        outcome_data=episode_outcome_data(episode=episode),
        site_code=site.code,
        site_active=site.active,
        already_enrolled=episode.enrolled_at is not None,
    )


@transaction.atomic
def episode_enroll(
    *, episode, user, channel: AuditChannel | str = AuditChannel.WEB, confirmed_digest: str | None = None
) -> Assessment:
    """Enroll an episode: stamp ``enrolled_at`` and lock the active model's assessment (once).

    If outcome data are already recorded the lock is stored as retrospective, so validation never
    mistakes it for a prediction made before the outcome. ``confirmed_digest`` is the fingerprint of
    the inputs the user confirmed (``EnrollmentPreview.digest``): if the recorded data changed since,
    nothing is stored.
    """
    # The patient's row is locked too: their case's signature is read as committed (a signed case is not enrolled).
    episodes = RechallengeEpisode.objects.select_for_update(of=("self", "patient")).select_related("patient__site")
    locked = episodes.get(pk=episode.pk)
    if not access_for_user(user).can_write_site(locked.patient.site_id) and user is not None:
        raise ApplicationError("You cannot enroll episodes of this site.", status=403)
    if not locked.patient.site.active:
        raise ApplicationError(site_closed_message(locked.patient.site.code), status=409)
    case_open_check(locked.patient)
    if locked.enrolled_at is not None:
        raise ApplicationError("This episode is already enrolled; its assessment is locked.", status=409)
    is_retrospective = bool(episode_outcome_data(episode=locked))
    assessment = assessment_lock(episode=locked, user=user, is_retrospective=is_retrospective)
    if confirmed_digest is not None and confirmed_digest != _enrollment_digest(
        assessment.model_version, assessment.inputs, is_retrospective
    ):
        raise ApplicationError(
            "The recorded data changed since you checked the inputs; nothing was stored. Check them again.",
            status=409,
        )
    locked.enrolled_at = assessment.assessed_at
    locked.version += 1
    locked.save(update_fields=["enrolled_at", "version", "updated_at"])
    patient_summaries_refresh(patient_ids=[locked.patient_id])  # the patient list's "Enrolled"
    audit_write(
        instance=locked,
        action=AuditAction.UPDATE,
        user=user,
        channel=channel,
        changes={
            "enrolled_at": [None, assessment.assessed_at.isoformat()],
            "version": [locked.version - 1, locked.version],
        },
        reason=enrollment_reason(
            model_version=assessment.model_version, assessment_id=assessment.pk, is_retrospective=is_retrospective
        ),
    )
    return assessment


def enrollment_reason(*, model_version: str, assessment_id: int, is_retrospective: bool) -> str:
    """The audit reason of an enrollment (never the category: history pages must not unblind center staff)."""
    how = "retrospectively (outcome data already recorded)" if is_retrospective else "prospectively"
    return f"Enrolled {how}; decision model {model_version} locked (assessment #{assessment_id})."


def episode_reassess_if_inputs_changed(*, episode, user, reason: str = "") -> Assessment | None:
    """After a data correction, store a re-assessment if an enrolled episode's model inputs changed."""
    if episode.enrolled_at is None:
        return None
    # The chain is the lock made at enrollment (prospective or retrospective) and its re-assessments;
    # a chain of corrections always points back at that lock.
    original = Assessment.objects.filter(episode=episode, is_reassessment=False).order_by("assessed_at", "id").first()
    if original is None:
        return None
    latest = (
        Assessment.objects.filter(Q(pk=original.pk) | Q(supersedes=original, is_reassessment=True))
        .order_by("-assessed_at", "-id")
        .first()
    )

    # Like with like: the data read as the locked version reads them, against that version's snapshot.
    locked_spec = get_spec(latest.model_version)
    if inputs_snapshot(episode_decision_inputs(episode, locked_spec), locked_spec) == latest.inputs:
        return None
    return assessment_lock(
        episode=episode,
        user=user,
        version=latest.model_version,
        is_reassessment=True,
        is_retrospective=original.is_retrospective,
        supersedes=original,
        reason=reason or "Recorded data corrected after enrollment.",
    )


def episodes_reassess_for_patient(*, patient_id: int, user, reason: str = "") -> list[Assessment]:
    """Called after any clinical write of a patient: re-assess every enrolled episode whose inputs moved."""
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


CALCULATOR_CLOSED = (
    "The decision calculator is closed to center staff while blinding is on: entering a locked episode's "
    "inputs would show the category that blinding hides. It opens again when the coordinators end blinding."
)


def calculator_open_to(*, user) -> bool:
    """Whether ``user`` may evaluate the model by hand (calculator page, evaluate API).

    While blinding is on and ``BLINDING_CLOSES_CALCULATOR`` is set (the default), center staff may not:
    the same rule as the hidden category, so a member of a site who also holds the investigator role
    is closed out too. Coordinators, investigators and users without a site keep it.
    """
    access = access_for_user(user)
    if access.is_coordinator or not access.is_site_staff:
        return True
    return not (getattr(settings, "BLINDING_CLOSES_CALCULATOR", True) and blinding_is_on())


def blinding_state_at(moment=None) -> bool:
    """Whether blinding was on at ``moment`` (now by default), read from the audit trail."""
    moment = moment or timezone.now()
    entry = (
        AuditEntry.objects.filter(model_label="assessments.blindingsetting", timestamp__lte=moment)
        .order_by("-timestamp", "-id")
        .first()
    )
    return bool(entry and entry.changes["blind_category_to_site_staff"][1])

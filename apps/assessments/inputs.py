"""The decision model's inputs for an episode, computed from the recorded data: the ORM adapter.

The patient's records are loaded once (``patient_timeline``), reduced to plain records by the same
adapter the patient page uses (``apps.clinical.derived.patient_records``), and read by the pure
``registry.decision.inputs.decision_inputs`` — so what staff see is what the model was given, and
the reading of the records follows the model version (spec 1.0 keeps the reading it was locked with).
"""

from __future__ import annotations

from django.conf import settings

from apps.clinical.derived import patient_records
from apps.clinical.models import RechallengeEpisode
from apps.clinical.selectors import patient_timeline
from registry.decision import DecisionInputs, ModelSpec, get_spec
from registry.decision.inputs import decision_inputs


def episode_decision_inputs(episode: RechallengeEpisode, spec: ModelSpec | None = None) -> DecisionInputs:
    """Inputs of ``episode`` as they stand in the database now, read as ``spec`` (default: the active model)."""
    if spec is None:
        spec = get_spec(settings.DECISION_MODEL_VERSION)
    records = patient_records(patient_timeline(patient=episode.patient))
    return decision_inputs(records, episode.pk, spec)

"""The decision-model assessment of each rechallenge episode on the patient page (a clinical episode panel).

Registered from ``AssessmentsConfig.ready()`` (``apps.clinical.panels``), so the clinical page shows
the assessment card without clinical importing this app.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.urls import reverse

from apps.clinical.panels import EpisodePanel
from registry.decision import FACTOR_LABELS

from .display import assessment_kind, enrollment_lock_of, factor_source, locked_review_criteria_text
from .services import category_visible_to


def _assessment_view(assessment, *, show_category: bool, enrollment_lock=None) -> dict[str, Any]:
    """The assessment card. While blinded, center staff get neither the category and score nor what they
    can be read back from: the factor levels, their reasons and sources, and the review-criteria line."""
    factors = assessment.factors if isinstance(assessment.factors, list) and show_category else []
    return {
        "category": assessment.get_category_display() if show_category else "",
        "category_code": assessment.category if show_category else "",
        "score": assessment.score if show_category else None,
        "blinded": not show_category,
        "model_version": assessment.model_version,
        "assessed_at": assessment.assessed_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "kind": assessment_kind(assessment, enrollment_lock=enrollment_lock),
        "factors": [
            {
                "factor": FACTOR_LABELS.get(factor.get("factor", ""), str(factor.get("factor", ""))),
                "level": factor.get("level", ""),
                "reason": factor.get("reason", ""),
                "source": factor_source(factor),
            }
            for factor in factors
            if isinstance(factor, dict)
        ],
        # Read back from the locked inputs under the locked version; hidden with the category while blinded.
        "review_criteria": (
            locked_review_criteria_text(assessment.inputs, assessment.model_version) if show_category else ""
        ),
    }


def _assessment_views(episode, *, show_category: bool) -> list[dict[str, Any]]:
    assessments = list(episode.assessments.all())
    lock = enrollment_lock_of(assessments)
    return [_assessment_view(a, show_category=show_category, enrollment_lock=lock) for a in assessments]


def episode_assessment_cards(*, episodes: Sequence[Any], user, can_write: bool) -> dict[int, dict[str, Any]]:
    """Each episode's assessment cards, or the link to enroll it; blinding is read only if a card is shown."""
    has_assessments = any(episode.assessments.all() for episode in episodes)
    show_category = category_visible_to(user=user) if has_assessments else True
    return {
        episode.pk: {
            "assessments": _assessment_views(episode, show_category=show_category),
            "enrolled": episode.enrolled_at is not None,
            "enroll_url": reverse("assessments:episode-enroll", kwargs={"pk": episode.pk}),
            "can_write": can_write,
        }
        for episode in episodes
    }


ASSESSMENT_PANEL = EpisodePanel(template="assessments/_episode_panel.html", context=episode_assessment_cards)

"""Helpers of the sign-off and SDV tests: a complete case (every record marked complete), and a signed one."""

from __future__ import annotations

from dataclasses import dataclass

from apps.clinical.models import AdverseEvent, FollowUp, InitialCourse, Patient, RechallengeEpisode, ResponseAssessment
from apps.quality import signoff
from tests.factories import (
    PASSWORD,
    AdverseEventFactory,
    FollowUpFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
    ResponseAssessmentFactory,
)


@dataclass
class Case:
    patient: Patient
    course: InitialCourse
    irae: AdverseEvent
    episode: RechallengeEpisode
    response: ResponseAssessment
    follow_up: FollowUp

    def refreshed(self) -> Case:
        for name in ("patient", "course", "irae", "episode", "response", "follow_up"):
            getattr(self, name).refresh_from_db()
        return self


def complete_case(site, *, complete: bool = True) -> Case:
    """A case of six records at ``site``, each marked complete (unless ``complete`` is False)."""
    patient = PatientFactory(site=site, is_complete=complete)
    course = InitialCourseFactory(patient=patient, is_complete=complete)
    irae = AdverseEventFactory(patient=patient, is_complete=complete)
    episode = RechallengeEpisodeFactory(patient=patient, is_complete=complete)
    response = ResponseAssessmentFactory(episode=episode, is_complete=complete)
    follow_up = FollowUpFactory(episode=episode, is_complete=complete)
    return Case(patient, course, irae, episode, response, follow_up)


def signed_case(site, site_pi) -> Case:
    """A complete case its site PI has signed with the default meaning."""
    case = complete_case(site)
    signoff.case_sign(patient=case.patient, user=site_pi, password=PASSWORD)
    return case.refreshed()

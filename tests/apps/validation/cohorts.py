"""Cohorts for validation tests: the NCCTG lung data set entered as registry records, and a stored run of a frame.

``lung_cohort`` puts ``lifelines.datasets.load_lung()`` (R ``survival::lung``, NCCTG advanced lung
cancer, 228 patients) into the registry's own tables — patient, ICI-1, a first rechallenge episode,
a follow-up — and locks one assessment per episode, so a validation run reads it exactly as it reads
real data: through ``validation_frame`` and ``registry.derive_frames``. Time zero (the rechallenge
start) is a fixed date; a death is recorded ``time`` days later, otherwise the patient was last known
alive then. Lung has no progression, so a censored patient also gets a stable-disease assessment on
that day: PFS2 (progression or death, censored at the last adequate tumour assessment) is then OS.

lifelines recodes ``status`` to 1 = dead, 0 = censored (R: 2 = dead, 1 = censored); both are read.
Sex decides the locked category: female favourable, male unfavourable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.utils import timezone
from lifelines.datasets import load_lung

from apps.accounts.models import Site
from apps.assessments.models import Assessment
from apps.clinical.models import FollowUp, InitialCourse, Patient, RechallengeEpisode, ResponseAssessment
from apps.validation.models import ValidationRun
from registry.dates import DAYS_PER_MONTH
from registry.decision import get_spec
from registry.identifiers import new_registry_id
from registry.validation import validation_metrics

RECHALLENGE_START = dt.date(2015, 1, 5)
MODEL_VERSION = "1.1"
#: Published Kaplan–Meier medians of lung by sex (R ``survfit(Surv(time, status) ~ sex, lung)``), days.
MEDIAN_DAYS = {"favourable": 426, "unfavourable": 270}  # female, male
#: Published log-rank test of lung by sex (R ``survdiff``): chi-squared 10.3 on 1 df, p = 0.001.
LOGRANK_CHI2 = 10.3
#: Cox model of lung on sex (R ``coxph``, Efron): coefficient of sex (female vs male) −0.5310.
COX_COEF_FEMALE = -0.5310
CATEGORY = {1: ("unfavourable", 2), 2: ("favourable", 8)}  # sex → (category, score)


@dataclass(frozen=True)
class LungCohort:
    patients: int
    deaths: int
    sites: tuple[str, ...]


def lung_cohort(sites: Sequence[Site], *, assessed_at_field_patch) -> LungCohort:
    """The 228 NCCTG patients at ``sites`` (institution code modulo the number of sites), each with one locked,
    prospective assessment of model 1.1 made at the rechallenge start.

    ``assessed_at_field_patch`` switches off ``auto_now_add`` of ``Assessment.assessed_at`` (a pytest
    ``monkeypatch``), so the lock time can be planted as a past moment.
    """
    lung = load_lung()
    dead_code = 2 if lung["status"].max() == 2 else 1
    spec = get_spec(MODEL_VERSION)
    patients, courses, episodes = [], [], []
    for index, row in enumerate(lung.itertuples(index=False)):
        institution = 0 if row.inst != row.inst else int(row.inst)  # one missing institution
        site = sites[institution % len(sites)]
        patients.append(
            Patient(
                site=site,
                registry_id=new_registry_id(site.code),
                local_identifier=f"LUNG{index:04d}",
                sex="male" if row.sex == 1 else "female",
                year_of_birth=RECHALLENGE_START.year - int(row.age),
                tumour_type="NSCLC",
                consent_status="consented",
                consent_date=RECHALLENGE_START - dt.timedelta(days=30),
            )
        )
    patients = Patient.objects.bulk_create(patients)
    for patient in patients:
        courses.append(
            InitialCourse(
                patient=patient,
                primary_agent="pembrolizumab",
                regimen_type="monotherapy",
                line_of_therapy=1,
                start_date=dt.date(2014, 1, 6),
                stop_date=dt.date(2014, 7, 7),
                ecog_at_start=1,
                best_overall_response="PR",
                stop_reason="toxicity",
            )
        )
        episodes.append(
            RechallengeEpisode(
                patient=patient,
                sequence_number=1,
                start_date=RECHALLENGE_START,
                rechallenge_type="after_toxicity",
                agent_relation="same_agent",
                primary_agent="pembrolizumab",
                regimen_type="monotherapy",
                ecog_at_rechallenge=1,
                current_prednisone_mg_per_day=0,
            )
        )
    InitialCourse.objects.bulk_create(courses)
    episodes = RechallengeEpisode.objects.bulk_create(episodes)
    follow_ups, responses, assessments = [], [], []
    locked_at = dt.datetime.combine(RECHALLENGE_START, dt.time(9, 0), tzinfo=dt.UTC)
    deaths = 0
    for episode, row in zip(episodes, lung.itertuples(index=False), strict=True):
        day = RECHALLENGE_START + dt.timedelta(days=int(row.time))
        dead = int(row.status) == dead_code
        deaths += dead
        follow_ups.append(
            FollowUp(
                episode=episode,
                follow_up_date=day,
                vital_status="dead" if dead else "alive",
                death_date=day if dead else None,
                last_known_alive_date=None if dead else day,
            )
        )
        if not dead:
            responses.append(ResponseAssessment(episode=episode, assessment_date=day, category="SD"))
        category, score = CATEGORY[int(row.sex)]
        assessments.append(
            Assessment(
                episode=episode,
                model_version=spec.version,
                model_hash=spec.hash,
                code_version="test",
                inputs={"stop_reason": "toxicity", "strategy": "monotherapy", "prior_iraes": []},
                factors=[],
                category=category,
                score=score,
                assessed_at=locked_at,
                is_retrospective=False,
            )
        )
    FollowUp.objects.bulk_create(follow_ups)
    ResponseAssessment.objects.bulk_create(responses)
    field = Assessment._meta.get_field("assessed_at")
    assessed_at_field_patch.setattr(field, "auto_now_add", False)
    Assessment.objects.bulk_create(assessments)
    assessed_at_field_patch.setattr(field, "auto_now_add", True)
    return LungCohort(patients=len(patients), deaths=deaths, sites=tuple(site.code for site in sites))


def cut_now() -> dt.datetime:
    """A data cut now: after everything written so far, before anything written next."""
    return timezone.now()


# --- A stored run without records ------------------------------------------------------------------------


def contract_frame(site_codes: Sequence[str], *, episodes: int = 90, seed: int = 1) -> pd.DataFrame:
    """A small seeded frame of the statistics' input contract (no database), every site with every category."""
    rng = np.random.default_rng(seed)
    n = episodes
    categories = np.array(["favourable", "intermediate", "unfavourable"], dtype=object)[np.arange(n) % 3]
    hazard = np.select([categories == "favourable", categories == "intermediate"], [0.6, 1.0], 1.7)
    start = np.datetime64("2023-01-02", "D") + rng.integers(0, 600, n)
    pfs2_days = np.ceil(rng.exponential(120 / hazard))
    os_days = pfs2_days + np.ceil(rng.exponential(200, n))
    censored = rng.random(n) < 0.2
    frame = pd.DataFrame(
        {
            "episode_id": np.arange(1, n + 1),
            "patient_id": np.arange(1, n + 1),
            "site": np.array(site_codes, dtype=object)[(np.arange(n) // 3) % len(site_codes)],
            "country": "NL",
            "tumour_type": np.where(rng.random(n) < 0.5, "LUAD", "SKCM"),
            "sequence_number": 1,
            "rechallenge_start": start,
            "locked_at": pd.to_datetime(start).tz_localize("UTC") + pd.Timedelta(hours=10),
            "is_retrospective": False,
            "is_reassessment": False,
            "model_version": MODEL_VERSION,
            "category": categories,
            "score": np.select([categories == "favourable", categories == "intermediate"], [8, 5], 2).astype(float),
            "stop_reason": np.where(rng.random(n) < 0.5, "toxicity", "progression"),
            "strategy": "monotherapy",
            "prior_irae_any": rng.random(n) < 0.5,
            "pfs2_months": pfs2_days / DAYS_PER_MONTH,
            "pfs2_event": ~censored,
            "os_months": os_days / DAYS_PER_MONTH,
            "os_event": ~censored & (rng.random(n) < 0.7),
            "objective_response": rng.random(n) < 0.3,
            "disease_control": rng.random(n) < 0.6,
            "response_evaluable": True,
        }
    )
    frame["disease_control"] |= frame["objective_response"]
    return frame


def stored_run_of_frame(frame: pd.DataFrame, *, data_cut: dt.datetime | None = None) -> ValidationRun:
    """A succeeded run whose metrics are the statistics of ``frame`` (written as the service would store them)."""
    from apps.validation.services import library_versions, metrics_text

    cut = data_cut or dt.datetime(2026, 10, 31, 23, 59, tzinfo=dt.UTC)
    spec = get_spec(MODEL_VERSION)
    metrics = validation_metrics(frame, data_cut=cut, model_version=spec.version, model_hash=spec.hash)
    now = timezone.now()
    return ValidationRun.objects.create(
        status=ValidationRun.Status.SUCCEEDED,
        trigger=ValidationRun.Trigger.COMMAND,
        model_version=spec.version,
        model_hash=spec.hash,
        data_cut=cut,
        data_hash=metrics["run"]["data_hash"],
        code_version="test",
        library_versions=library_versions(),
        metrics_json=metrics_text(metrics),
        runtime_seconds=0.1,
        progress=100,
        message="A run of a generated frame.",
        attempts=1,
        started_at=now,
        finished_at=now,
    )

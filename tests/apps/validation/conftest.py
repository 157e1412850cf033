"""Fixtures of the validation tests: the NCCTG lung cohort at sites AAA and BBB, and runs of it."""

from __future__ import annotations

import pytest

from apps.validation import services
from apps.validation.models import ValidationRun

from .cohorts import cut_now, lung_cohort


@pytest.fixture
def no_enqueue(monkeypatch):
    """Runs created by the tests are executed by the test itself, not handed to a broker."""
    monkeypatch.setattr(services, "_enqueue", lambda run_id: None)


@pytest.fixture
def lung(site_a, site_b, monkeypatch):
    return lung_cohort([site_a, site_b], assessed_at_field_patch=monkeypatch)


@pytest.fixture
def lung_run(lung) -> ValidationRun:
    """A succeeded run of model 1.1 over the lung cohort."""
    run = services.validation_run_command(model_version="1.1", data_cut=cut_now())
    assert run.status == ValidationRun.Status.SUCCEEDED, run.message
    return run

"""Validation runs: create one (pending), and run it — on a Celery worker, or inline for the command.

``validation_run_create`` stores a pending run with its data cut (the moment it was asked for) and,
for the nightly schedule and a coordinator's "run now", enqueues the ``validation.run`` task when the
row is committed. ``validation_run_execute`` is what the task and ``manage.py run_validation`` call: it
claims the run (one live worker at a time, ``apps.core.jobs``), reads the frame of the data cut
(``selectors.validation_frame``), computes the metrics (``registry.validation.validation_metrics``),
draws the report's figures from the same frame (``plots.run_figures_draw``) and stores them all in one
transaction: the metrics as canonical JSON text with the data hash, runtime, code and library versions,
and the figures as rows of their own beside the run (``models.ValidationRunFigure``). It is
idempotent: a finished run, or one a live worker runs, is left alone; a run whose worker died is taken
over and computed again from the start (nothing of it was stored), at most ``MAX_ATTEMPTS`` times.

Which model versions: a named one, or by default the active one (``DECISION_MODEL_VERSION``);
:func:`validation_runs_create` (the nightly job) makes one run per shipped version that has locked
assessments, all on one data cut.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from datetime import timedelta
from functools import partial
from importlib import metadata
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.selectors import access_for_user
from apps.assessments.services import active_model_version
from apps.core.errors import ApplicationError
from apps.core.jobs import claimant_is_gone, job_claim, job_lease
from config.version import code_version, project_version
from registry.decision import available_versions, get_spec
from registry.validation import validation_metrics
from registry.validation.report import METRICS_FORMAT

from . import plots
from .models import ValidationRun, ValidationRunFigure
from .selectors import (
    validation_data_is_synthetic,
    validation_frame,
    validation_model_versions_with_assessments,
)

log = logging.getLogger(__name__)

Status = ValidationRun.Status
Trigger = ValidationRun.Trigger

#: Celery limits of the run task; a run going on longer than the hard limit was killed.
SOFT_TIME_LIMIT = 55 * 60
TIME_LIMIT = 60 * 60
#: A run still waiting for a worker after this long had its message lost; recovery enqueues it again.
PENDING_GRACE_SECONDS = 120
#: A run is started at most this many times (a worker that keeps dying on it must not loop forever).
MAX_ATTEMPTS = 3
#: Name of the job kind for the liveness lock (``apps.core.jobs``).
JOB_KIND = "validation"
#: Libraries whose versions each run records (the statistics depend on them).
LIBRARIES = ("numpy", "pandas", "scipy", "lifelines", "scikit-survival", "scikit-learn", "statsmodels")

ONLY_COORDINATORS = "Only coordinators start validation runs."
UNEXPECTED_ERROR = (
    "The validation run stopped on an unexpected error; nothing was stored. The error was logged for the "
    "registry team; you can start the run again."
)
TOO_LONG = "The validation run took longer than its time limit and was stopped; nothing was stored."


def metrics_text(metrics: dict[str, Any]) -> str:
    """The canonical JSON text of a run's metrics: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(metrics, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def library_versions() -> dict[str, str | None]:
    """Installed versions of the statistics libraries, the project and the metrics format."""
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["registry"] = project_version()
    versions["metrics_format"] = METRICS_FORMAT
    return versions


def _model_version_checked(model_version: str | None) -> str:
    version = model_version or active_model_version()
    if version not in available_versions():
        message = f"Unknown model version {version!r}; choose one of {', '.join(available_versions())}."
        raise ApplicationError("Unknown model version.", field_errors={"model_version": [message]})
    return version


def _data_cut(data_cut: dt.datetime | None) -> dt.datetime:
    if data_cut is None:
        return timezone.now()
    if timezone.is_naive(data_cut):
        raise ApplicationError("The data cut must be a timezone-aware (UTC) moment.", field_errors={"data_cut": []})
    return data_cut.astimezone(dt.UTC)


# --- creating runs --------------------------------------------------------------------------------------


def validation_run_create(
    *,
    model_version: str | None = None,
    user=None,
    trigger: str,
    data_cut: dt.datetime | None = None,
) -> ValidationRun:
    """A pending run of ``model_version`` (default: the active version) on ``data_cut`` (default: now).

    A manual run is a coordinator's (403 otherwise). Schedule and manual runs are enqueued on the
    ``validation.run`` task once the row is committed; a command run is executed by its caller.
    """
    if trigger not in Trigger.values:
        raise ValueError(f"unknown trigger {trigger!r}")
    if trigger == Trigger.MANUAL and not access_for_user(user).is_coordinator:
        raise ApplicationError(ONLY_COORDINATORS, status=403)
    version = _model_version_checked(model_version)
    with transaction.atomic():
        run = ValidationRun.objects.create(
            trigger=trigger,
            model_version=version,
            model_hash=get_spec(version).hash,
            data_cut=_data_cut(data_cut),
            started_by=user if user is not None and user.is_authenticated else None,
            message="Waiting for a worker." if trigger != Trigger.COMMAND else "",
        )
        if trigger != Trigger.COMMAND:
            transaction.on_commit(partial(_enqueue, run.pk), robust=True)
    return run


def validation_runs_create(
    *, user=None, trigger: str = Trigger.SCHEDULE, data_cut: dt.datetime | None = None
) -> list[ValidationRun]:
    """One run per shipped model version with locked assessments (the active version if none has any),
    all on one data cut."""
    cut = _data_cut(data_cut)
    versions = validation_model_versions_with_assessments(versions=available_versions()) or [active_model_version()]
    return [validation_run_create(model_version=v, user=user, trigger=trigger, data_cut=cut) for v in versions]


def _enqueue(run_id: int) -> None:
    from .tasks import run_validation  # the task module imports this one

    run_validation.delay(run_id)


# --- running one ----------------------------------------------------------------------------------------


def validation_run_execute(*, run_id: int) -> ValidationRun | None:
    """Run a pending run to the end (idempotent); a finished run, or one a live worker runs, is left alone."""
    with job_lease(JOB_KIND, run_id) as leased:
        run = _claim(run_id) if leased else None
        if run is not None:
            _run_claimed(run)
    return ValidationRun.objects.select_related("started_by").filter(pk=run_id).first()


def _claim(run_id: int) -> ValidationRun | None:
    """Mark the run as this worker's if it is pending or its previous worker is gone; else None."""

    def give_up(run: ValidationRun) -> None:
        _finish(
            run,
            status=Status.FAILED,
            message=f"The run's worker stopped {run.attempts} times before it could finish; nothing was "
            "stored. Contact the registry team.",
        )

    def start(run: ValidationRun, worker: str) -> None:
        _advance(
            run,
            status=Status.RUNNING,
            started_at=timezone.now(),
            progress=0,
            attempts=run.attempts + 1,
            claimed_by=worker,
            message="Started.",
        )

    return job_claim(
        ValidationRun.objects.all(),
        run_id,
        kind=JOB_KIND,
        noun="validation run",
        waiting=Status.PENDING,
        running=(Status.RUNNING,),
        max_attempts=MAX_ATTEMPTS,
        give_up=give_up,
        start=start,
    )


def _advance(run: ValidationRun, **fields: Any) -> None:
    """Move an unfinished run forward (one UPDATE that cannot touch a finished run), and the instance with it."""
    updated = ValidationRun.objects.filter(pk=run.pk, status__in=ValidationRun.UNFINISHED).update(**fields)
    if not updated:
        raise PermissionError(f"validation run {run.pk} is finished or gone")
    for name, value in fields.items():
        setattr(run, name, value)


def _finish(run: ValidationRun, *, status: str, message: str, **fields: Any) -> None:
    _advance(run, status=status, message=message, finished_at=timezone.now(), **fields)


def _progress(run: ValidationRun, percent: int, message: str) -> None:
    _advance(run, progress=max(0, min(99, int(percent))), message=message)


def _run_claimed(run: ValidationRun) -> None:
    try:
        _compute(run)
    except SoftTimeLimitExceeded:
        log.error("validation run %s stopped by its time limit", run.pk)
        _finish(run, status=Status.FAILED, message=TOO_LONG)
    except Exception:
        log.exception("validation run %s stopped by an unexpected error", run.pk)
        _finish(run, status=Status.FAILED, message=UNEXPECTED_ERROR)


def _compute(run: ValidationRun) -> None:
    began = time.perf_counter()
    spec = get_spec(run.model_version)
    if spec.hash != run.model_hash:  # a spec edited in place under its version: refuse to mix the two
        raise RuntimeError(f"model {run.model_version}: shipped hash {spec.hash} is not the run's {run.model_hash}")

    def loading(percent: int, what: str) -> None:
        _progress(run, 5 + percent * 55 // 100, f"{what}…")

    frame = validation_frame(model_version=run.model_version, data_cut=run.data_cut, progress=loading)
    _progress(run, 60, f"Computing the statistics over {len(frame):,} locked assessment(s)…")
    metrics = validation_metrics(
        frame, data_cut=run.data_cut, model_version=run.model_version, model_hash=run.model_hash
    )
    _progress(run, 85, "Drawing the figures…")
    figures = _figures_drawn(run, metrics, frame)
    del frame
    _progress(run, 95, "Storing the metrics and the figures…")
    synthetic = validation_data_is_synthetic(model_version=run.model_version, data_cut=run.data_cut)
    populations = metrics["populations"]
    summary = (
        f"{populations['primary']['n']:,} episode(s) analysed in the primary population, "
        f"{populations['all_locked']['n']:,} in all locked."
    )
    with transaction.atomic():  # the figures exist exactly when the run is marked succeeded
        ValidationRunFigure.objects.bulk_create(
            ValidationRunFigure(
                run=run,
                population=population,
                name=name,
                svg=svg,
                sha256=hashlib.sha256(svg.encode("utf-8")).hexdigest(),
                plot_format=plots.PLOT_FORMAT,
            )
            for (population, name), svg in sorted(figures.items())
        )
        _finish(
            run,
            status=Status.SUCCEEDED,
            message=summary + (" Synthetic demo data." if synthetic else ""),
            progress=100,
            metrics_json=metrics_text(metrics),
            data_hash=metrics["run"]["data_hash"],
            runtime_seconds=round(time.perf_counter() - began, 3),
            code_version=code_version(),
            library_versions=library_versions(),
            is_synthetic=synthetic,
        )
    log.info("validation run %s of model %s: %s", run.pk, run.model_version, summary)


def _figures_drawn(run: ValidationRun, metrics: dict[str, Any], frame: Any) -> dict[tuple[str, str], str]:
    """The run's figures; none (logged) when drawing fails — the statistics are the record and are stored
    anyway, and the report then draws the figures on request (``plots.run_plot_svg``)."""
    try:
        return plots.run_figures_draw(run, metrics=metrics, frame=frame)
    except SoftTimeLimitExceeded:
        raise
    except Exception:
        log.exception("validation run %s: the figures could not be drawn; the report will draw them", run.pk)
        return {}


# --- recovery -------------------------------------------------------------------------------------------


def validation_runs_recover() -> list[int]:
    """Enqueue again every run whose worker died, or that waited too long for a worker (a lost message)."""
    waited_since = timezone.now() - timedelta(seconds=PENDING_GRACE_SECONDS)
    candidates = (
        ValidationRun.objects.filter(
            Q(status=Status.PENDING, created_at__lt=waited_since) | Q(status=Status.RUNNING),
        )
        .exclude(trigger=Trigger.COMMAND, status=Status.PENDING)
        .values_list("pk", "status", "claimed_by")
    )
    recovered = [
        pk
        for pk, status, claimed_by in candidates
        if status == Status.PENDING or claimant_is_gone(JOB_KIND, pk, claimed_by)
    ]
    for pk in recovered:
        _enqueue(pk)
    return recovered


def validation_run_command(*, model_version: str | None = None, data_cut: dt.datetime | None = None) -> ValidationRun:
    """``manage.py run_validation``: create a run and execute it here, synchronously."""
    run = validation_run_create(model_version=model_version, trigger=Trigger.COMMAND, data_cut=data_cut)
    result = validation_run_execute(run_id=run.pk)
    assert result is not None
    return result

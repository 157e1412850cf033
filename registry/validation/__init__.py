"""Validation of the decision model against observed outcomes: populations, survival and discrimination.

Pure functions over one pandas frame (DESIGN §5, issue "Validation of the decision model"): the
Celery job loads the frame, :func:`registry.validation.report.validation_metrics` turns it into the
run's metrics JSON. No Django here (the import contract in ``pyproject.toml`` keeps it so).

Modules: :mod:`~registry.validation.populations` (who is analysed, exclusions by reason, censoring
at the data cut), :mod:`~registry.validation.survival` (Kaplan–Meier, log-rank, Cox, Schoenfeld,
random-effects meta-analysis), :mod:`~registry.validation.discrimination` (Harrell's and Uno's C,
time-dependent AUC, Wilson intervals, Aalen–Johansen, likelihood-ratio test) and
:mod:`~registry.validation.report` (the metrics dictionary and the data hash).

Input contract — one frame, **one row per locked assessment** of an episode under the model version
being validated (re-assessments are further rows of the same episode; rows of other versions are
ignored and counted). Episode-level columns repeat on every row of the episode.

=============================  ====================================================================
column                         meaning
=============================  ====================================================================
``episode_id``                 int, the rechallenge episode
``patient_id``                 int
``site``                       str, site code (the cluster of the robust variance)
``country``                    str
``tumour_type``                str, OncoTree code (rolled up to its tissue for heterogeneity)
``sequence_number``            int, 1 = first rechallenge
``rechallenge_start``          date (time zero); missing = not analysable
``locked_at``                  timezone-aware datetime (UTC) the assessment was locked
``is_retrospective``           bool, evaluated after outcomes could be known
``is_reassessment``            bool, made after the data were corrected (the original stays)
``model_version``              str
``category``                   str, as locked: favourable / intermediate / unfavourable /
                               contraindicated / insufficient_data
``score``                      number, as locked (higher = more favourable)
``stop_reason``                str or None, why the preceding course stopped, from the locked inputs
``strategy``                   str or None, planned regimen, from the locked inputs
``prior_irae_any``             bool or None, any irAE on the preceding course (None = not recorded)
derived endpoints              from :func:`registry.derive_frames.derive_episodes`, as of the cut:
                               ``pfs2_months``, ``pfs2_event``, ``os_months``, ``os_event``,
                               ``objective_response``, ``disease_control``, ``response_evaluable``
                               and, per kind in :data:`registry.derive.RECURRENCE_KINDS`,
                               ``recurrence_<kind>_months`` and ``recurrence_<kind>_event_code``
                               (0 censored, 1 irAE, 2 death competing)
=============================  ====================================================================

Months are 30.4375 days from the rechallenge start. Events are nullable booleans (a missing PFS2 or
OS time makes the episode ``no_follow_up`` / leaves it out of the OS estimate). Administrative
censoring at the data cut is applied here (:func:`~registry.validation.populations.censor_at_cut`):
a time beyond the cut, counted from the rechallenge start, is censored at the cut.
"""

from registry.validation.populations import (
    ANALYSED_CATEGORIES,
    EXCLUSION_REASONS,
    INPUT_COLUMNS,
    Population,
    build_populations,
    censor_at_cut,
    potential_follow_up,
)
from registry.validation.report import data_hash, validation_metrics

__all__ = [
    "ANALYSED_CATEGORIES",
    "EXCLUSION_REASONS",
    "INPUT_COLUMNS",
    "Population",
    "build_populations",
    "censor_at_cut",
    "data_hash",
    "potential_follow_up",
    "validation_metrics",
]

"""A deterministic synthetic cohort of rechallenged patients, for demos, benchmarks and calibration.

Demos, load tests and the validation pipeline need many patients whose records look like a real
multi-site registry — dates in order, irAEs that explain toxicity stops, outcomes near the published
figures in VOCABULARIES.md — without one real patient. Everything here is plain Python driven by one
``random.Random(seed)``: the same seed always gives the same cohort, and ``apps.clinical.demo`` only
turns it into rows.

How a patient is built, and why in this order: the rechallenge start is drawn first and the ICI-1
course is laid out backwards from it (treatment-free interval, then course length), so every date is
in order without rejection sampling. Outcomes after rechallenge are latent times (progression,
death, censoring at the data cut or loss to follow-up); response assessments and follow-up visits
are then read off those times, so the records agree with each other by construction.

Outcomes carry prognostic effects (:data:`PROGNOSTIC_EFFECTS`: ECOG, PFS on the preceding course,
treatment-free interval, prior irAE severity — each hazard ratio with its source, or "assumed"), so a
validation run on demo data has something to find; the baselines are set so the cohort still sits on
the published medians (PFS after rechallenge 5.1 vs 2.9 months after a toxicity vs a progression stop).
The CRF's yes/no/unknown answers, the irAE-history questions and the prednisone dose are mostly
known, and missing in a realistic few.

Internally dates are ordinal day numbers (``date.toordinal()``); records carry ``datetime.date``.

The package, by job:

- :mod:`.records` — the plain records (``DemoPatient``, ``DemoEpisode``, …) callers receive;
- :mod:`.mixes` — the reference mixes and calibration figures (data only);
- :mod:`.effects` — the prognostic effects and proportional hazards;
- :mod:`.draws` — cheap drawing tools over one ``random.Random``;
- :mod:`.builder` — the cohort builder, patient by patient, with its irAEs (:mod:`.iraes`) and
  outcomes after rechallenge (:mod:`.outcomes`);
- :mod:`.cohort` — :func:`stream_cohort` and :func:`generate_cohort`, the entry points.
"""

from .cohort import demo_site_codes, generate_cohort, stream_cohort
from .effects import PROGNOSTIC_EFFECTS, PrognosticEffect, proportional_hazards_time
from .mixes import DATA_CUT, FIRST_RECHALLENGE, SECOND_RECHALLENGE_SHARE
from .records import (
    CohortStream,
    DemoAdverseEvent,
    DemoCohort,
    DemoEpisode,
    DemoFollowUp,
    DemoInitialCourse,
    DemoPatient,
    DemoResponse,
    DemoSite,
)

__all__ = [
    "DATA_CUT",
    "FIRST_RECHALLENGE",
    "PROGNOSTIC_EFFECTS",
    "SECOND_RECHALLENGE_SHARE",
    "CohortStream",
    "DemoAdverseEvent",
    "DemoCohort",
    "DemoEpisode",
    "DemoFollowUp",
    "DemoInitialCourse",
    "DemoPatient",
    "DemoResponse",
    "DemoSite",
    "PrognosticEffect",
    "demo_site_codes",
    "generate_cohort",
    "proportional_hazards_time",
    "stream_cohort",
]

"""The synthetic cohort as callers take it: the sites, and the patients streamed or all in memory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from .builder import CohortBuilder
from .draws import Weighted
from .mixes import DATA_CUT
from .records import CohortStream, DemoCohort


def demo_site_codes(count: int) -> list[str]:
    """The codes the generator gives ``count`` sites (DEMO01…), known before any generation."""
    width = 2 if count < 100 else 3
    return [f"DEMO{index + 1:0{width}d}" for index in range(count)]


def stream_cohort(
    *,
    sites: int,
    patients: int,
    seed: int,
    data_cut: dt.date = DATA_CUT,
    taken_registry_ids: Collection[str] = (),
    taken_local_identifiers: Collection[tuple[str, str]] = (),
) -> CohortStream:
    """A synthetic multi-site cohort, patient by patient; the same arguments always give the same cohort.

    ``taken_*`` are identifiers already in the database (local identifiers as ``(site code, MRN)``),
    so a second run into a non-empty registry draws around them instead of colliding.
    """
    if sites < 1:
        raise ValueError("a cohort needs at least one site")
    if patients < 0:
        raise ValueError("the number of patients cannot be negative")
    builder = CohortBuilder(
        seed=seed,
        data_cut=data_cut,
        taken_registry_ids=taken_registry_ids,
        taken_local_identifiers=taken_local_identifiers,
    )
    demo_sites = builder.sites(demo_site_codes(sites))
    # Sites differ in size, as real centers do.
    site_sizes = Weighted([(site.code, builder.rng.uniform(0.4, 2.0)) for site in demo_sites])
    stream = (builder.patient(site_sizes.pick(builder.rng)) for _ in range(patients))
    return CohortStream(seed=seed, data_cut=data_cut, sites=demo_sites, patients=stream)


def generate_cohort(
    *,
    sites: int,
    patients: int,
    seed: int,
    data_cut: dt.date = DATA_CUT,
    taken_registry_ids: Collection[str] = (),
    taken_local_identifiers: Collection[tuple[str, str]] = (),
) -> DemoCohort:
    """The whole cohort in memory (see :func:`stream_cohort`)."""
    stream = stream_cohort(
        sites=sites,
        patients=patients,
        seed=seed,
        data_cut=data_cut,
        taken_registry_ids=taken_registry_ids,
        taken_local_identifiers=taken_local_identifiers,
    )
    return DemoCohort(seed=seed, data_cut=data_cut, sites=stream.sites, patients=list(stream.patients))

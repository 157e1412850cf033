"""De-identification profiles, declared once: ``safe_harbor`` (the default) and ``limited_dataset``.

A profile is data: which flagged fields are dropped, how dates are released, how ages are banded and
top-coded, and the k-anonymity rule (k, the quasi-identifiers, the order in which rare combinations
are generalised before anything is suppressed). :func:`registry.deid.transform.deidentify` applies
it; the manifest records its name, version and fingerprint, and the README prints
:meth:`Profile.describe`. Changing a rule means a new version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from registry.deid.fields import QI, Flag


class DateRule(StrEnum):
    """How dates are released."""

    #: Whole days relative to the patient's first rechallenge start (day 0).
    RELATIVE_DAYS = "relative_days"
    #: The date moved by a per-patient offset (never 0) within ± the profile's window.
    SHIFT = "shift"


#: The value a suppressed quasi-identifier cell holds.
SUPPRESSED = "*"


@dataclass(frozen=True)
class Profile:
    """One de-identification profile."""

    name: str
    version: str
    title: str
    purpose: str
    #: Fields carrying any of these flags are never released.
    drop: frozenset[Flag]
    dates: DateRule
    #: For :attr:`DateRule.SHIFT`: offsets are drawn from [-window, -1] ∪ [1, window] days.
    shift_window_days: int = 0
    #: Ages at or above this are released as "<top>+" (HIPAA: ages over 89).
    age_top_code: int = 90
    #: Age bands by generalisation level: each a tuple of lower bounds; the last bound of level 0 is the top code.
    age_bands: tuple[tuple[int, ...], ...] = ((0, 30, 40, 50, 60, 70, 80, 90), (0, 40, 60, 80))
    k: int = 5
    quasi_identifiers: tuple[QI, ...] = (QI.AGE_BAND, QI.SEX, QI.SITE, QI.TUMOUR_TYPE)
    #: Generalisation steps for rare combinations, in order; each raises one quasi-identifier a level.
    generalisation: tuple[QI, ...] = (QI.TUMOUR_TYPE, QI.SITE, QI.AGE_BAND)
    #: Then, for combinations still rare, quasi-identifier cells set to :data:`SUPPRESSED`, one QI at a time.
    suppression: tuple[QI, ...] = (QI.SITE, QI.AGE_BAND, QI.SEX, QI.TUMOUR_TYPE)
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.k < 2:
            raise ValueError("k-anonymity needs k of at least 2")
        if self.dates is DateRule.SHIFT and self.shift_window_days < 1:
            raise ValueError("a date shift needs a window of at least one day")
        if not self.age_bands or self.age_bands[0][-1] != self.age_top_code:
            raise ValueError("the finest age bands must end at the age top code")
        for bands in self.age_bands:
            if list(bands) != sorted(set(bands)) or bands[0] != 0:
                raise ValueError("age band bounds start at 0 and increase")
        for finer, coarser in zip(self.age_bands, self.age_bands[1:], strict=False):
            if not set(coarser) <= set(finer):
                raise ValueError("each age band level must merge the bands of the level before")
        if not set(self.generalisation) | set(self.suppression) <= set(self.quasi_identifiers):
            raise ValueError("only quasi-identifiers are generalised or suppressed")

    def with_k(self, k: int) -> Profile:
        """The same profile with another k (configurable per export; recorded in the manifest)."""
        return replace(self, k=k)

    def rules(self) -> dict[str, Any]:
        """The profile as plain data (manifest, fingerprint)."""
        return {
            "name": self.name,
            "version": self.version,
            "drop": sorted(self.drop),
            "dates": str(self.dates),
            "shift_window_days": self.shift_window_days if self.dates is DateRule.SHIFT else None,
            "age_top_code": self.age_top_code,
            "age_bands": [list(bands) for bands in self.age_bands],
            "k": self.k,
            "quasi_identifiers": [str(qi) for qi in self.quasi_identifiers],
            "generalisation": [str(qi) for qi in self.generalisation],
            "suppression": [str(qi) for qi in self.suppression],
        }

    def fingerprint(self) -> str:
        """SHA-256 of :meth:`rules` as canonical JSON."""
        text = json.dumps(self.rules(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def describe(self) -> list[str]:
        """The rules as sentences, for the README and the request page."""
        dropped = {
            Flag.IDENTIFIER: "direct identifiers (names, local identifiers/hospital numbers, registry IDs, "
            "dates of birth, database keys)",
            Flag.FREE_TEXT: 'free text (histology text, reasons, comments, "other (specify)" answers)',
        }
        lines = [f"Removed: {dropped[flag]}." for flag in sorted(self.drop)]
        lines.append("Patients are identified by a keyed-hash pseudonym, stable within this project only.")
        if self.dates is DateRule.RELATIVE_DAYS:
            lines.append(
                "Every date is released as whole days relative to the patient's first rechallenge start (day 0); "
                "date columns are renamed from *_date (or *_at) to *_day."
            )
        else:
            lines.append(
                f"Every date is shifted by a per-patient offset between {self.shift_window_days} days before and "
                f"{self.shift_window_days} days after (never 0), the same for all of a patient's dates, so "
                "intervals within a patient are exact."
            )
        lines.append(
            f"Year of birth is not released; age at the first rechallenge start is released in bands, ages of "
            f"{self.age_top_code} or more as '{self.age_top_code}+'."
        )
        qis = ", ".join(qi.value.replace("_", " ") for qi in self.quasi_identifiers)
        steps = ", then ".join(_STEP_NAMES[qi] for qi in self.generalisation)
        order = ", ".join(qi.value.replace("_", " ") for qi in self.suppression)
        lines.append(
            f"k-anonymity with k = {self.k} on the quasi-identifiers ({qis}), counting distinct patients in every "
            f"released table: rare combinations are generalised first ({steps}); where a combination is still "
            f"shared by fewer than k patients, quasi-identifier cells are set to '{SUPPRESSED}', one at a time in "
            f"the order {order} (rows are kept). If fewer than k patients have every quasi-identifier suppressed, "
            "patients from the largest groups join them."
        )
        return lines + list(self.notes)


_STEP_NAMES = {
    QI.TUMOUR_TYPE: "tumour type to its OncoTree tissue",
    QI.SITE: "site to its country",
    QI.AGE_BAND: "age bands widened",
    QI.SEX: "sex suppressed",
}

SAFE_HARBOR = Profile(
    name="safe_harbor",
    version="1.0",
    title="Safe Harbor",
    purpose="Default. Follows the HIPAA Safe Harbor method (45 CFR 164.514(b)(2)) and adds k-anonymity.",
    drop=frozenset({Flag.IDENTIFIER, Flag.FREE_TEXT}),
    dates=DateRule.RELATIVE_DAYS,
)

LIMITED_DATASET = Profile(
    name="limited_dataset",
    version="1.0",
    title="Limited data set",
    purpose="For projects whose approval allows dates (HIPAA limited data set, 45 CFR 164.514(e), under a data "
    "use agreement): dates are shifted per patient instead of made relative.",
    drop=frozenset({Flag.IDENTIFIER, Flag.FREE_TEXT}),
    dates=DateRule.SHIFT,
    shift_window_days=180,
)

DEFAULT_PROFILE = SAFE_HARBOR.name
PROFILES: dict[str, Profile] = {profile.name: profile for profile in (SAFE_HARBOR, LIMITED_DATASET)}


def get_profile(name: str = DEFAULT_PROFILE, *, k: int | None = None) -> Profile:
    """A profile by name, with ``k`` overriding its default; ``KeyError`` names the known profiles."""
    try:
        profile = PROFILES[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a de-identification profile ({', '.join(PROFILES)})") from None
    return profile if k is None else profile.with_k(k)


def age_band_label(lower: int, upper: int | None) -> str:
    """``"<30"`` for the first band, ``"90+"`` for the open top band, ``"30-39"`` otherwise."""
    if upper is None:
        return f"{lower}+"
    if lower == 0:
        return f"<{upper}"
    return f"{lower}-{upper - 1}"


def age_band_labels(bounds: tuple[int, ...]) -> tuple[str, ...]:
    uppers: list[int | None] = [*bounds[1:], None]
    return tuple(age_band_label(lower, upper) for lower, upper in zip(bounds, uppers, strict=True))

"""The case report form's rules across records, written once for every channel.

A rule here compares values of *different* records (a rechallenge and its patient's ICI-1 course,
a follow-up and its rechallenge, an irAE history answer and the irAEs recorded). The models'
``clean()`` calls these functions with values read from the database; the bulk import
(``registry.csv_import``) calls them with the values of the same file row, where the related
records are not saved yet. Both therefore refuse the same thing with the same message.

Each function takes plain values and returns ``{field name: message}``: empty when the rule holds.
Field names are those of the record the rule is checked on (``start_date`` of the episode), which
the import maps to its columns.

Pure Python: no Django.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from registry.dates import DatePrecision, PartialDate

NO_ICI1 = "Record the initial ICI course before a rechallenge episode."
ICI1_NOT_STOPPED = "ICI-1 has no stop date yet: record when it stopped before a rechallenge."
BEFORE_RECHALLENGE = "This date is before the rechallenge started."
IRAE_BEFORE_RECHALLENGE = "An irAE of the rechallenge cannot start before the rechallenge."
#: "irAEs of ICI-1 are recorded: …" on a saved course; "… are in this row: …" in an import file.
NO_IRAES_BUT_RECORDED = "irAEs of {course} are {where}: the answer cannot be 'no'."
IRAE_IN_A_NO_IRAE_COURSE = (
    "{course} is recorded as having had no irAEs: change that answer before adding an irAE to it."
)

#: The dates of an episode's records that cannot precede the rechallenge start, and what is said.
_NOT_BEFORE_RECHALLENGE: dict[str, str] = {
    "assessment_date": BEFORE_RECHALLENGE,
    "follow_up_date": BEFORE_RECHALLENGE,
    "progression_date": BEFORE_RECHALLENGE,
    "rechallenge_stopped_date": BEFORE_RECHALLENGE,
    "death_date": BEFORE_RECHALLENGE,
    "onset_date": IRAE_BEFORE_RECHALLENGE,
}
NOT_BEFORE_RECHALLENGE_FIELDS: tuple[str, ...] = tuple(_NOT_BEFORE_RECHALLENGE)


def shown_date(value: PartialDate) -> str:
    """A stored date as messages quote it; a month-only date says it is the imputed mid-month day."""
    if value.precision is DatePrecision.MONTH:
        return f"{value.value:%Y-%m-%d}, the mid-month date imputed for {value.value:%Y-%m}"
    return f"{value.value:%Y-%m-%d}"


def rechallenge_after_ici1_errors(*, start: dt.date | None, ici1_stop: PartialDate | None) -> dict[str, str]:
    """A rechallenge starts on or after the day ICI-1 stopped (``start_date``)."""
    if start is None or ici1_stop is None or start >= ici1_stop.value:
        return {}
    return {"start_date": f"The rechallenge starts before ICI-1 stopped ({shown_date(ici1_stop)})."}


def rechallenge_needs_stopped_ici1_errors(*, ici1_recorded: bool, ici1_stop: PartialDate | None) -> dict[str, str]:
    """A rechallenge needs its patient's ICI-1 course, and that course to have stopped."""
    if not ici1_recorded:
        return {"patient": NO_ICI1}
    if ici1_stop is None:
        return {"start_date": ICI1_NOT_STOPPED}
    return {}


def rechallenge_order_errors(
    *,
    number: int,
    start: dt.date | None,
    previous_number: int,
    previous_start: dt.date | None,
    previous_where: str = "",
) -> dict[str, str]:
    """Rechallenge ``number`` starts after the patient's previous one; ``previous_where`` (``row 2``)
    says where that one is when it is not saved yet."""
    if start is None or previous_start is None or start > previous_start:
        return {}
    where = f" ({previous_where})" if previous_where else ""
    return {"start_date": f"Rechallenge {number} must start after rechallenge {previous_number}{where}."}


def not_before_rechallenge_errors(
    *, rechallenge_start: dt.date | None, dates: Mapping[str, dt.date | None]
) -> dict[str, str]:
    """Dates of a rechallenge's records (responses, follow-ups, its irAEs) that precede its start."""
    if rechallenge_start is None:
        return {}
    return {
        name: _NOT_BEFORE_RECHALLENGE[name]
        for name, value in dates.items()
        if name in _NOT_BEFORE_RECHALLENGE and value is not None and value < rechallenge_start
    }


def no_iraes_answer_errors(
    *, field: str, answer: str, has_iraes: bool, course: str, where: str = "recorded"
) -> dict[str, str]:
    """A course answered "no irAEs" has none recorded (``where``: "recorded", or "in this row")."""
    if answer != "no" or not has_iraes:
        return {}
    return {field: NO_IRAES_BUT_RECORDED.format(course=course, where=where)}


def irae_in_no_irae_course_errors(*, course_answer: str, during_rechallenge: bool) -> dict[str, str]:
    """An irAE cannot be added to a course answered "no irAEs during this course" (``episode``)."""
    if course_answer != "no":
        return {}
    course = "This rechallenge" if during_rechallenge else "ICI-1"
    return {"episode": IRAE_IN_A_NO_IRAE_COURSE.format(course=course)}

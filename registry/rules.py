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
from collections.abc import Iterable, Mapping
from typing import Any

from registry import vocabularies as v
from registry.dates import DatePrecision, PartialDate
from registry.quality import REQUIRED_FIELDS, rule

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


# --- Missing-data codes (issue #10) ----------------------------------------------------------------

MISSING_ANSWERS = "missing_answers"
MISSING_ANSWERS_NOT_AN_OBJECT = "Give the missing-data answers as an object: {field name: code}."
MISSING_CODE_NOT_ALLOWED = (
    "{field} cannot be answered 'not done', 'unknown' or 'not applicable': on this form only {allowed} can."
)
NO_MISSING_CODES = "{field} cannot be answered 'not done', 'unknown' or 'not applicable': no field of this form can."
MISSING_CODE_UNKNOWN = "'{code}' is not a missing-data code for {field}: use one of {codes}."
VALUE_AND_MISSING_CODE = "Give either a value or a missing-data answer ('{code_label}'), not both: clear one of them."


def answerable_fields(record: str) -> tuple[str, ...]:
    """The fields of ``record`` (``registry.crf`` record name) a site may answer with a missing-data code:
    those the registry requires (``registry.quality.REQUIRED_FIELDS``), conditionally or not."""
    return tuple(item.field for item in REQUIRED_FIELDS.get(record, ()))


def not_answerable_message(field: str, allowed: tuple[str, ...]) -> str:
    """Why ``field`` takes no missing-data code, naming those of its form that do."""
    if not allowed:
        return NO_MISSING_CODES.format(field=field)
    return MISSING_CODE_NOT_ALLOWED.format(field=field, allowed=", ".join(allowed))


def clean_missing_answers(missing_answers: Any) -> Any:
    """The stored form of the answers: entries without a code (null, "") are dropped (that clears a code)."""
    if not isinstance(missing_answers, Mapping):
        return missing_answers
    return {str(name): code for name, code in missing_answers.items() if code not in (None, "")}


def missing_answer_errors(*, record: str, values: Mapping[str, Any], missing_answers: Any) -> dict[str, str]:
    """What is wrong with a record's missing-data answers, ``{field: message}``.

    A code answers a declared field only (else the message is on ``missing_answers``), must be one of
    :data:`registry.vocabularies.MISSING_DATA_CODES` (message on ``missing_answers``), and cannot stand
    beside a value of the same field (message on that field, where the value was typed).
    """
    if missing_answers in (None, ""):
        return {}
    if not isinstance(missing_answers, Mapping):
        return {MISSING_ANSWERS: MISSING_ANSWERS_NOT_AN_OBJECT}
    allowed = answerable_fields(record)
    codes = v.MISSING_DATA_CODES.codes()
    errors: dict[str, str] = {}
    problems: list[str] = []
    for name, code in clean_missing_answers(missing_answers).items():
        if name not in allowed:
            problems.append(not_answerable_message(name, allowed))
        elif code not in codes:
            problems.append(MISSING_CODE_UNKNOWN.format(code=code, field=name, codes=", ".join(codes)))
        elif values.get(name) not in (None, ""):
            errors[name] = VALUE_AND_MISSING_CODE.format(code_label=v.MISSING_DATA_CODES.label(code).lower())
    if problems:
        errors[MISSING_ANSWERS] = " ".join(problems)
    return errors


# --- Dates out of order and dated after death (error rules of registry.quality, on save) ------------
#
# The messages are the templates of ``registry.quality.RULES`` ("date_order", "after_death"), which the
# nightly sweep fills as well, so a site reads the same sentence on the form and in a query.
#
# What "ICI-1 start ≤ stop ≤ rechallenge start ≤ responses ≤ follow-ups" refuses on save, beyond the
# rules above (stop ≥ start on the course, rechallenge start ≥ ICI-1 stop, responses / follow-ups /
# irAEs ≥ rechallenge start): the same orders seen from the *earlier* record when it is the one changed
# (an ICI-1 stop moved past a rechallenge start, a rechallenge start moved past its own records), and
# a patient's death, which nothing may follow. Follow-up visits and scans interleave (visits every 3
# months, scans every 8 weeks), so a follow-up dated before a later scan is not out of order.

#: A date another record holds, as a message names it: ("Rechallenge 1 start date", 2024-03-01).
Dated = tuple[str, "dt.date | PartialDate | None"]


def _day(value: dt.date | PartialDate | None) -> dt.date | None:
    return value.value if isinstance(value, PartialDate) else value


def _shown(value: dt.date | PartialDate | None) -> str:
    if value is None:
        return "no date"
    return shown_date(value) if isinstance(value, PartialDate) else f"{value:%Y-%m-%d}"


def date_order_message(
    *, label: str, value: dt.date | PartialDate | None, other_label: str, other_value: dt.date | PartialDate | None
) -> str:
    """``date_order``: "{label} ({value}) must not be before {other_label} ({other_value})."."""
    return rule("date_order").message.format(
        label=label, value=_shown(value), other_label=other_label, other_value=_shown(other_value)
    )


def after_death_message(*, label: str, value: dt.date | PartialDate | None, death: dt.date | PartialDate) -> str:
    """``after_death``: "{label} ({value}) is after the recorded date of death ({death})."."""
    return rule("after_death").message.format(label=label, value=_shown(value), death=_shown(death))


def not_before_errors(
    *, field: str, label: str, value: dt.date | PartialDate | None, earlier: Iterable[Dated]
) -> dict[str, str]:
    """``field`` (``label``) must not be before any of the ``earlier`` dates; the message names the
    latest one it precedes."""
    day = _day(value)
    if day is None:
        return {}
    before = [
        (other_day, other_label, other)
        for other_label, other in earlier
        if (other_day := _day(other)) and day < other_day
    ]
    if not before:
        return {}
    _, other_label, other = max(before, key=lambda item: item[0])
    return {field: date_order_message(label=label, value=value, other_label=other_label, other_value=other)}


def not_after_errors(
    *, field: str, label: str, value: dt.date | PartialDate | None, later: Iterable[Dated]
) -> dict[str, str]:
    """None of the ``later`` dates may be before ``field`` (``label``): the order seen from the earlier
    record, which is the one being changed; the message names the earliest date it passes."""
    day = _day(value)
    if day is None:
        return {}
    passed = [
        (other_day, other_label, other)
        for other_label, other in later
        if (other_day := _day(other)) and other_day < day
    ]
    if not passed:
        return {}
    _, other_label, other = min(passed, key=lambda item: item[0])
    return {field: date_order_message(label=other_label, value=other, other_label=label, other_value=value)}


def after_death_errors(*, field: str, label: str, value: dt.date | None, death: dt.date | None) -> dict[str, str]:
    """A date of a response assessment, follow-up or irAE after the patient's recorded death."""
    if value is None or death is None or value <= death:
        return {}
    return {field: after_death_message(label=label, value=value, death=death)}


def death_before_records_errors(*, death: dt.date | None, records: Iterable[Dated]) -> dict[str, str]:
    """A date of death (``death_date`` of a follow-up) before dates of the patient's other records; the
    message names the latest of them."""
    if death is None:
        return {}
    after = [(day, label, value) for label, value in records if (day := _day(value)) and day > death]
    if not after:
        return {}
    _, label, value = max(after, key=lambda item: item[0])
    return {"death_date": after_death_message(label=label, value=value, death=death)}

"""Clinical dates that may be known only to the month, and the month arithmetic the registry uses.

Dates abstracted from old records (ICI-1 start/stop, prior irAE onset and resolution) are often known
only to the month. The registry stores such a date as a real date using the **mid-month rule**: a
month-precision date is imputed to the 15th of that month, and anything derived from it carries an
``imputed`` flag. Durations are reported in months of 30.4375 days (365.25 / 12).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

DAYS_PER_MONTH = 365.25 / 12
IMPUTED_DAY_OF_MONTH = 15

_PARTIAL_DATE = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})(?:-(?P<day>\d{2}))?$")


class DatePrecision(StrEnum):
    """How much of a date is known."""

    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A date with the precision it was recorded at; month precision means the day was imputed."""

    value: dt.date
    precision: DatePrecision = DatePrecision.DAY

    @property
    def imputed(self) -> bool:
        return self.precision is not DatePrecision.DAY

    @classmethod
    def month(cls, year: int, month: int) -> PartialDate:
        """A date known only to the month, imputed to mid-month."""
        return cls(dt.date(year, month, IMPUTED_DAY_OF_MONTH), DatePrecision.MONTH)

    @classmethod
    def parse(cls, text: str) -> PartialDate:
        """Parse ``YYYY-MM-DD`` (day precision) or ``YYYY-MM`` (month precision)."""
        match = _PARTIAL_DATE.match(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not a date: use YYYY-MM-DD, or YYYY-MM if only the month is known")
        year, month = int(match["year"]), int(match["month"])
        if match["day"] is None:
            if not 1 <= month <= 12:
                raise ValueError(f"{text!r}: month must be 01-12")
            return cls.month(year, month)
        return cls(dt.date(year, month, int(match["day"])), DatePrecision.DAY)

    def __str__(self) -> str:
        if self.precision is DatePrecision.MONTH:
            return self.value.strftime("%Y-%m")
        return self.value.isoformat()


def as_partial(value: PartialDate | dt.date | None) -> PartialDate | None:
    """Accept a plain date (day precision) wherever a partial date is expected."""
    if value is None or isinstance(value, PartialDate):
        return value
    return PartialDate(value, DatePrecision.DAY)


def months_between(start: dt.date, end: dt.date) -> float:
    """Elapsed months from ``start`` to ``end`` (negative if ``end`` is earlier)."""
    return (end - start).days / DAYS_PER_MONTH


def add_months(start: dt.date, months: int) -> dt.date:
    """``start`` moved by whole calendar months, the day clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    year, month_index = divmod(start.month - 1 + months, 12)
    year += start.year
    last_day = calendar.monthrange(year, month_index + 1)[1]
    return dt.date(year, month_index + 1, min(start.day, last_day))


def calendar_months_between(start: dt.date, end: dt.date) -> float:
    """Elapsed **calendar** months: whole months by the calendar, plus the fraction of the month under way.

    An interval of exactly N calendar months is exactly ``N.0`` whatever the start day (1 Mar 2025 →
    1 Mar 2026 is 12.0, where 365 / 30.4375 would give 11.99), so model cut-points stated in months
    ("≥ 12 months") are met on the anniversary. Negative if ``end`` is earlier.
    """
    if end < start:
        return -calendar_months_between(end, start)
    whole = (end.year - start.year) * 12 + end.month - start.month
    if add_months(start, whole) > end:
        whole -= 1
    anchor, following = add_months(start, whole), add_months(start, whole + 1)
    return whole + (end - anchor).days / (following - anchor).days

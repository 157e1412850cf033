"""Small drawing tools over one ``random.Random``: weighted choices, Weibull times, whole numbers, dates.

Cheap by design (one ``random()`` call each, no ``randint``), since a 100,000-patient demo cohort
makes tens of millions of draws. Dates are ordinal day numbers (``date.toordinal()``) while built.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import math
import random
from collections.abc import Sequence
from decimal import Decimal
from itertools import accumulate
from typing import Generic, TypeVar

from registry.dates import IMPUTED_DAY_OF_MONTH

T = TypeVar("T")
LN2 = math.log(2)


class Weighted(Generic[T]):
    """A weighted choice that costs one ``random()`` call and a bisect."""

    __slots__ = ("cumulative", "total", "values")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self.values = tuple(value for value, _ in pairs)
        self.cumulative = list(accumulate(weight for _, weight in pairs))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self.values[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


def weibull(rng: random.Random, median: float, shape: float) -> float:
    """A Weibull time with the given median: survival times with a rising or flat hazard."""
    return median / LN2 ** (1 / shape) * (-math.log(1.0 - rng.random())) ** (1 / shape)


def between(rng: random.Random, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` inclusive; several times cheaper than ``randint``."""
    return low + int(rng.random() * (high - low + 1))


def below(rng: random.Random, stop: int) -> int:
    """A whole number from 0 to ``stop - 1``."""
    return int(rng.random() * stop)


def any_of(rng: random.Random, options: Sequence[T]) -> T:
    """One of ``options``, each as likely."""
    return options[int(rng.random() * len(options))]


@functools.cache
def decimal(units: int, places: int) -> Decimal:
    return Decimal(units).scaleb(-places)


def one_decimal(value: float) -> Decimal:
    return decimal(round(value * 10), 1)


to_date = dt.date.fromordinal


def mid_month(ordinal: int) -> int:
    """The mid-month rule of ``registry.dates``: a month-only date is stored as the 15th."""
    day = dt.date.fromordinal(ordinal)
    return dt.date(day.year, day.month, IMPUTED_DAY_OF_MONTH).toordinal()


def weibull_scale(median: float, shape: float) -> float:
    """The scale of a Weibull distribution with the given median and shape."""
    return median / LN2 ** (1 / shape)

"""Domains: the valid values of a loss's input, target and parameters.

One object per domain, read by validation (``_validate``), by the registry's
``LossSpec`` and by the tests that sample inputs, so a range is written once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

__all__ = [
    "Interval",
    "ClassIndex",
    "Discrete",
    "REAL",
    "NONNEGATIVE",
    "POSITIVE",
    "UNIT",
    "OPEN_UNIT",
    "NONPOSITIVE",
    "BIG",
    "BOUNDED_NONNEGATIVE",
    "BOUNDED_POSITIVE",
    "AT_MOST_BIG",
    "SCALE",
    "NONNEGATIVE_SCALE",
    "BINARY",
    "SIGN",
    "CLASS_INDEX",
]


@dataclass(frozen=True)
class Interval:
    """A real interval; ``low``/``high`` may be infinite, ends open or closed.

    ``finite``: whether its values are finite numbers (the default), so that
    ``inf``/``-inf`` never belong to it, whatever its ends. An interval with
    ``finite=False`` holds an infinity at an infinite end that is closed, e.g.
    ``Interval(-inf, inf, high_closed=False, finite=False)`` is
    "a real number or -inf". Validation reads this: a weight, a target or a
    parameter at ``inf`` is refused unless its domain says ``finite=False``.
    """

    low: float = -math.inf
    high: float = math.inf
    low_closed: bool = True
    high_closed: bool = True
    finite: bool = True

    def __str__(self) -> str:
        left = "[" if self.low_closed and (math.isfinite(self.low) or not self.finite) else "("
        right = "]" if self.high_closed and (math.isfinite(self.high) or not self.finite) else ")"
        return f"{left}{_fmt(self.low)}, {_fmt(self.high)}{right}"

    def contains_scalar(self, value: float) -> bool:
        if math.isnan(value) or (self.finite and math.isinf(value)):
            return False
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return above and below

    def inside(self, xp, x):
        """Boolean array: which elements of ``x`` lie in the interval (NaN: True,
        because NaN in ``input`` propagates and NaN in ``target`` is its own error)."""
        ok = xp.isnan(x)
        if self.holds_every_number:
            return xp.logical_or(ok, xp.logical_not(ok))
        if math.isinf(self.low) and math.isinf(self.high):  # finite: every finite number
            return xp.logical_or(ok, xp.isfinite(x))
        above = (x >= self.low) if self.low_closed else (x > self.low)
        below = (x <= self.high) if self.high_closed else (x < self.high)
        inside = xp.logical_and(above, below)
        if self.finite and (math.isinf(self.low) or math.isinf(self.high)):
            inside = xp.logical_and(inside, xp.isfinite(x))
        return xp.logical_or(ok, inside)

    @property
    def holds_every_number(self) -> bool:
        """True for the extended real line, where there is nothing to check."""
        return (not self.finite and self.low == -math.inf and self.high == math.inf
                and self.low_closed and self.high_closed)

    def with_infinities(self) -> "Interval":
        """The same bounds with ``inf``/``-inf`` admitted at its infinite ends
        (how ``input`` is checked: like NaN, an infinite prediction propagates)."""
        return self if not self.finite else replace(self, finite=False)

    def expectation(self, value: float) -> str:
        """What a message says is expected when ``value`` was received: the
        description, "<= high" where ``value`` crossed a guard against
        overflow, "finite" where ``value`` is an infinity the bounds alone
        would admit."""
        guarded = _guard(self.high)
        if self.finite and math.isinf(value):
            bounds = replace(self, finite=False, high=math.inf if guarded else self.high)
            if bounds.contains_scalar(value):
                return "finite" if self.describe() == "real" else f"finite and {self.describe()}"
        if guarded and value > self.high:
            return f"<= {_fmt(self.high)}"
        return self.describe()

    def describe(self) -> str:
        """Human wording used in error messages, e.g. 'in [0, 1]' or '> 0'."""
        high = math.inf if _guard(self.high) else self.high  # a guard against overflow: said where crossed
        if math.isinf(self.low) and math.isinf(high):
            return "real"
        if math.isinf(high):
            return (">= " if self.low_closed else "> ") + _fmt(self.low)
        if math.isinf(self.low):
            return ("<= " if self.high_closed else "< ") + _fmt(self.high)
        return f"in {self}"


@dataclass(frozen=True)
class Discrete:
    """A finite set of allowed values, e.g. {0, 1} or {-1, +1}."""

    values: tuple

    def __str__(self) -> str:
        return "{" + ", ".join(_fmt(v) for v in self.values) + "}"

    def inside(self, xp, x):
        ok = xp.isnan(x) if _is_float(xp, x) else xp.zeros_like(x, dtype=xp.bool)
        for v in self.values:
            ok = xp.logical_or(ok, x == v)
        return ok

    def contains_scalar(self, value: float) -> bool:
        return value in self.values

    def describe(self) -> str:
        return f"in {self}"

    def expectation(self, value: float) -> str:
        return self.describe()


@dataclass(frozen=True)
class ClassIndex:
    """Integer class labels in [0, C) along the class axis (axis 1)."""

    def __str__(self) -> str:
        return "{0, ..., C-1}"

    def describe(self) -> str:
        return "a class index in [0, C)"


def _guard(high: float) -> bool:
    """A finite upper end of BIG or more guards against overflow: the
    domain's description leaves it out, its message says it when crossed."""
    return BIG <= high < math.inf


def _fmt(v: float) -> str:
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:g}"


def _is_float(xp, x) -> bool:
    return xp.isdtype(x.dtype, "real floating")


# A parameter that scales a loss or shifts it (a margin, a weight, an
# exponent) has no natural upper bound, but near 1e308 the arithmetic
# overflows (inf - inf and inf * 0 are NaN). Such domains end at BIG, far
# beyond any use, where the loss stays finite in float32 at moderate inputs.
BIG = 1e6

REAL = Interval()
NONNEGATIVE = Interval(0.0, math.inf)
POSITIVE = Interval(0.0, math.inf, low_closed=False)
NONPOSITIVE = Interval(-math.inf, 0.0)
UNIT = Interval(0.0, 1.0)
OPEN_UNIT = Interval(0.0, 1.0, low_closed=False, high_closed=False)
GREATER_THAN_MINUS_ONE = Interval(-1.0, math.inf, low_closed=False)
BOUNDED_NONNEGATIVE = Interval(0.0, BIG)
BOUNDED_POSITIVE = Interval(0.0, BIG, low_closed=False)
# > 0 or inf: a scale whose infinite value is the loss's limit (tukey's c = inf is r^2/2)
SCALE = Interval(0.0, math.inf, low_closed=False, finite=False)
NONNEGATIVE_SCALE = Interval(0.0, math.inf, finite=False)
AT_MOST_BIG = Interval(-math.inf, BIG)
BINARY = Discrete((0, 1))
SIGN = Discrete((-1, 1))
CLASS_INDEX = ClassIndex()

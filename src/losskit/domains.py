"""Domains: the valid values of a loss's input, target and parameters.

One object per domain, read by validation (``_validate``), by the registry's
``LossSpec`` and by the tests that sample inputs, so a range is written once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    "BINARY",
    "SIGN",
    "CLASS_INDEX",
]


@dataclass(frozen=True)
class Interval:
    """A real interval; ``low``/``high`` may be infinite, ends open or closed."""

    low: float = -math.inf
    high: float = math.inf
    low_closed: bool = True
    high_closed: bool = True

    def __str__(self) -> str:
        left = "[" if self.low_closed and math.isfinite(self.low) else "("
        right = "]" if self.high_closed and math.isfinite(self.high) else ")"
        return f"{left}{_fmt(self.low)}, {_fmt(self.high)}{right}"

    def contains_scalar(self, value: float) -> bool:
        if math.isnan(value):
            return False
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return above and below

    def inside(self, xp, x):
        """Boolean array: which elements of ``x`` lie in the interval (NaN: True,
        because NaN in ``input`` propagates and NaN in ``target`` is its own error)."""
        ok = xp.isnan(x)
        if math.isinf(self.low) and math.isinf(self.high):
            return xp.logical_or(ok, xp.logical_not(ok))
        above = (x >= self.low) if self.low_closed else (x > self.low)
        below = (x <= self.high) if self.high_closed else (x < self.high)
        return xp.logical_or(ok, xp.logical_and(above, below))

    def describe(self) -> str:
        """Human wording used in error messages, e.g. 'in [0, 1]' or '> 0'."""
        if math.isinf(self.low) and math.isinf(self.high):
            return "real"
        if math.isinf(self.high):
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


@dataclass(frozen=True)
class ClassIndex:
    """Integer class labels in [0, C) along the class axis (axis 1)."""

    def __str__(self) -> str:
        return "{0, ..., C-1}"

    def describe(self) -> str:
        return "a class index in [0, C)"


def _fmt(v: float) -> str:
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:g}"


def _is_float(xp, x) -> bool:
    return xp.isdtype(x.dtype, "real floating")


REAL = Interval()
NONNEGATIVE = Interval(0.0, math.inf)
POSITIVE = Interval(0.0, math.inf, low_closed=False)
NONPOSITIVE = Interval(-math.inf, 0.0)
UNIT = Interval(0.0, 1.0)
OPEN_UNIT = Interval(0.0, 1.0, low_closed=False, high_closed=False)
GREATER_THAN_MINUS_ONE = Interval(-1.0, math.inf, low_closed=False)
BINARY = Discrete((0, 1))
SIGN = Discrete((-1, 1))
CLASS_INDEX = ClassIndex()

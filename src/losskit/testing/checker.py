"""Check a loss: ``check(loss)`` runs the property suite on it and adds what a
user writing a loss (or feeding it to a GBDT) wants to see.

``loss`` is a registered name, a ``LossSpec``, a ``losskit.Loss``, a function
returned by ``losskit.register_loss`` (or a built-in such as ``losskit.huber``),
or a plain per-element function ``f(input, target, *, xp, **params)`` with
optional ``gradient=``, ``hessian=``, ``link=`` and ``define_loss`` options
(domains, ``minimum``, ``best_input``, ``convex``...); a plain function is
wrapped with ``losskit.custom.define_loss`` and not registered.

Each check is a function of ``(spec, params, rng)`` in the style of
``losskit.testing.properties``: it raises ``AssertionError`` (FAIL), ``Skip`` (SKIP) or
``Warn`` (WARN: informational, the loss keeps its contract), or returns a
detail string (PASS). The checks are every property of
``losskit.testing.properties`` (its convexity property replaced by one that reports a
counter-example) plus:

- ``minimal_with_offset``: losses without a stated minimum (deviance-type:
  ``poisson_nll`` without ``full``, ``gaussian_nll``) are minimal at
  ``best_input(target)``, and the constant offset there is reported;
- ``convex_along_segments``: a point above the chord is reported with the two
  raw points, ``t``, ``f(mid)`` and the chord; a FAIL where the spec claims
  convexity, a WARN otherwise;
- ``hessian_sign_scan``: the closed-form Hessian over raw scores in [-10, 10]
  for each representative target, with the intervals where it is negative or
  zero (what matters for GBDT use); a FAIL where the spec claims a
  non-negative Hessian, a WARN otherwise.

``config_round_trips`` and ``torch_module_equals_function`` look the loss up
by name in the registry, so for a loss that is not registered they are
skipped, with that reason (register it with ``losskit.register_loss`` to run
them); the registry is never changed behind the user's back.

>>> from losskit.testing.checker import check
>>> report = check("huber", skip=("jax_grad_and_jit_flow",))
>>> report.passed
True
>>> [r.status for r in report.results if r.check == "hessian_sign_scan"]
['WARN']

References: the property suite follows scikit-learn's ``sklearn/_loss``
tests (gradient and Hessian vs finite differences over every loss); the
Hessian scan follows the XGBoost custom-objective guide (a GBDT needs a
positive Hessian: Chen & Guestrin, 2016, KDD, Eq. 6).
"""

from __future__ import annotations

import json
import math
import textwrap
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .. import domains as D
from .properties import PROPERTIES, Property, Skip, per_element_loss, numpy_values
from ..registry import Loss, LossSpec, check_params, spec as _registered_spec, specs
from .sampling import C, draw, draw_case, settings, to_numpy

__all__ = ["Warn", "CheckResult", "CheckReport", "CHECKS", "check", "resolve",
           "minimal_with_offset", "convex_along_segments", "hessian_sign_scan"]

SEED = 20261122
DETAIL_WIDTH = 90  # the table wraps details at this width
GRID = np.linspace(-10.0, 10.0, 201)  # raw scores for the Hessian scan (margins, logits, log-means)


class Warn(Exception):
    """A check that passes with a remark worth reading (a negative Hessian the
    spec admits, a non-convex loss the spec calls non-convex)."""


# -- new checks ----------------------------------------------------------------


def minimal_with_offset(spec, params, rng):
    """Minimal at ``best_input(target)`` where the spec states no minimum: no
    move of 1e-3 .. 1 either way lowers the loss; returns the offset (the loss
    there), which deviance-type losses leave as a constant."""
    _, _, y, extras = draw_case(spec, rng)
    best = np.asarray(spec.best_input(y), dtype=np.float64)
    at_best = numpy_values(spec, best, y, extras, params, reduction="none")
    assert np.all(np.isfinite(at_best)), f"non-finite loss {at_best} at best_input(target)"
    for step in (1e-3, 1e-2, 0.1, 1.0):
        for sign in (-1.0, 1.0):
            moved = best + sign * step
            if spec.input_domain is not D.REAL:
                moved = np.where(np.asarray(spec.input_domain.inside(np, moved)), moved, best)
            there = numpy_values(spec, moved, y, extras, params, reduction="none")
            lower = there < at_best - 1e-12 * (1 + np.abs(at_best))
            if np.any(lower):
                i = int(np.argmax(lower))
                raise AssertionError(
                    f"not minimal at best_input(target): target={y[i]:.6g}: loss {at_best[i]:.6g} at "
                    f"input {best[i]:.6g}, {there[i]:.6g} at {moved[i]:.6g}")
    lo, hi = float(at_best.min()), float(at_best.max())
    spread = "a constant" if math.isclose(lo, hi, rel_tol=1e-9, abs_tol=1e-12) else "it depends on the target"
    return f"minimal at best_input(target); offset there in [{lo:.4g}, {hi:.4g}] ({spread})"


def convex_along_segments(spec, params, rng, *, segments: int = 8):
    """Below the chord on random segments between raw points (per element, or
    per row of logits); a counter-example is reported with the two raw points,
    ``t``, ``f(mid)`` and the chord value. FAIL where the spec says convex."""
    ts = np.linspace(0.1, 0.9, 9)
    for _ in range(segments):
        raw_a, _, y, extras = draw_case(spec, rng)
        raw_b, _, _, _ = draw_case(spec, rng)
        f = per_element_loss(spec, params, y, extras)
        fa, fb = f(raw_a), f(raw_b)
        for t in ts:
            mid = f(t * raw_a + (1 - t) * raw_b)
            chord = t * fa + (1 - t) * fb
            above = mid > chord + 1e-9 * (1 + np.abs(chord))
            if np.any(above):
                i = int(np.argmax(above))
                example = (f"above the chord at t={t:.1f} between raw_a={_show(raw_a[i])} and raw_b={_show(raw_b[i])} "
                           f"(target={_show(y[i])}): f(t*raw_a + (1-t)*raw_b)={mid[i]:.6g} > chord {chord[i]:.6g}")
                if spec.convex:
                    raise AssertionError(f"the spec says convex; {example}")
                raise Warn(f"not convex (the spec does not claim it): {example}")
    claim = "convex" if spec.convex else "no counter-example found; the spec does not claim convexity"
    return f"{claim} ({segments} segments x {len(ts)} points, raw drawn from the spec's domain)"


def hessian_sign_scan(spec, params, rng):
    """The closed-form Hessian over raw scores in [-10, 10] (step 0.1, inside the
    raw domain) for each representative target: 0 and 1 for binary targets, a
    few values for regression, each class for a class axis (one logit moved,
    the others at 0). Reports where it is negative or zero: a GBDT's leaf
    weight divides by the Hessian sum, so there it needs a floor. A negative
    Hessian FAILs where the spec claims ``hessian_nonnegative``, else WARNs;
    a non-finite one always FAILs."""
    loss = Loss(spec, **params)
    negative, zero, bad, low, refused, scanned = [], [], [], math.inf, set(), 0
    for label, coord, raw, y, extras in _scan_cases(spec):
        try:
            h = to_numpy(loss.hessian(raw, y, **extras))
        except ValueError as error:  # a target outside the domain at these parameters (tweedie: y > 0 for p >= 2)
            if ": target must be" not in str(error):
                raise
            refused.add(label)
            continue
        scanned += 1
        h = h if coord is None else h[:, coord]
        x = raw if coord is None else raw[:, coord]
        if not np.all(np.isfinite(h)):
            bad.append(f"non-finite Hessian for {label} at raw {_show(x[~np.isfinite(h)][:3])}")
            continue
        low = min(low, float(h.min()))
        tol = 1e-12 * max(1.0, float(np.abs(h).max()))
        what = "hessian" if coord is None else f"hessian[{coord}]"
        where = "raw" if coord is None else f"raw[{coord}]"
        rest = "" if coord is None else " (other logits 0)"
        negative += [f"{what} < 0 for {label} at {where} in {iv}{rest}" for iv in _intervals(x, h < -tol)]
        zero += [f"{what} ~ 0 for {label} at {where} in {iv}{rest}" for iv in _intervals(x, np.abs(h) <= tol)]
    if bad or not scanned:
        raise AssertionError("; ".join(bad) or f"the loss refused every representative target ({sorted(refused)})")
    if negative and spec.hessian_nonnegative:
        raise AssertionError("the spec says the Hessian is non-negative; " + "; ".join(negative))
    note = f" ({', '.join(sorted(refused))}: outside the target domain here)" if refused else ""
    if negative or zero:
        raise Warn("; ".join(negative + zero) + " (a GBDT needs a Hessian floor there)" + note)
    return f"hessian > 0 on the whole grid for every target (smallest {low:.3g})" + note


def _scan_cases(spec):
    """(label, class column or None, raw, target, extras) for the Hessian scan."""
    domain = spec.input_domain if spec.link == "identity" else spec.raw_domain  # raw = input under identity
    grid = GRID if domain is D.REAL else GRID[np.asarray(domain.inside(np, GRID))]
    targets = _targets(spec)
    for value in targets:
        if spec.kind == "class_axis":
            for column in range(C):
                raw = np.zeros((grid.size, C))
                raw[:, column] = grid
                y = np.full(grid.size, value) if np.ndim(value) == 0 else np.tile(value, (grid.size, 1))
                yield f"target={_show(value)}", column, raw, y, _extras(spec, raw.shape)
        else:
            y = np.full(grid.size, value, dtype=np.float64)
            yield f"target={_show(value)}", None, grid.copy(), y, _extras(spec, grid.shape)


def _targets(spec) -> list:
    """Representative targets: each class, each discrete value, 0 and 1 in [0, 1],
    else up to three of 0, 1, 5, -2, 2, 0.5 inside the domain."""
    domain = spec.target_domain
    if isinstance(domain, D.ClassIndex):
        return list(range(C))
    if isinstance(domain, D.Discrete):
        return [float(v) for v in domain.values]
    if spec.kind == "class_axis":  # a distribution per row, peaked at each class in turn
        return [np.where(np.arange(C) == k, 0.7, 0.3 / (C - 1)) for k in range(C)]
    if domain.low == 0 and domain.high == 1:
        return [0.0, 1.0]
    inside = [v for v in (0.0, 1.0, 5.0, -2.0, 2.0, 0.5) if domain.contains_scalar(v)]
    return sorted(inside[:3])


def _extras(spec, shape):
    return {n: np.full(shape, 1.0) if dom.contains_scalar(1.0) else draw(dom, np.random.default_rng(0), shape)
            for n, dom in spec.extra_inputs.items()}


def _intervals(x, flags) -> list[str]:
    """Contiguous runs of ``flags`` over the sorted grid ``x``, as '[a, b]'."""
    out, start = [], None
    for i, on in enumerate(list(flags) + [False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            out.append(f"[{x[start]:.3g}, {x[i - 1]:.3g}]")
            start = None
    return out


def _show(value) -> str:
    a = np.asarray(value)
    if a.ndim == 0:
        return f"{a.item():.6g}" if a.dtype.kind == "f" else str(a.item())
    return "[" + ", ".join(f"{v:.4g}" for v in a.ravel()) + "]"


# -- the list of checks ----------------------------------------------------------

_pointwise = lambda s: s.pointwise  # noqa: E731
_NEW = {
    "minimal_at_a_perfect_prediction": Property(
        "minimal_with_offset", minimal_with_offset,
        lambda s: s.kind == "elementwise" and s.best_input is not None and s.minimum is None,
        "no stated minimum (deviance-type): minimal at best_input(target), with the offset there"),
    "hessian_equals_autograd_and_finite_differences": Property(
        "hessian_sign_scan", hessian_sign_scan, _pointwise,
        "where the Hessian is negative or zero over raw in [-10, 10], per target (GBDT use)"),
}
_NEEDS_NAME = ("config_round_trips", "torch_module_equals_function")


def _checks() -> tuple:
    out = []
    for prop in PROPERTIES:
        if prop.name == "convex_along_segments":  # the same property, reporting a counter-example
            out.append(Property(prop.name, convex_along_segments, _pointwise,
                                "below the chord on random segments; a counter-example if not"))
            continue
        out.append(prop)
        if prop.name in _NEW:
            out.append(_NEW[prop.name])
    return tuple(out)


CHECKS = _checks()

_WHY_NOT = {  # why a check does not apply, for the SKIP line
    "minimal_at_a_perfect_prediction": "the spec gives no best input (best_input=None)",
    "reductions_agree": "an aggregate loss has no per-element values",
    "weights_multiply": "an aggregate loss has no per-element values",
}


def _why_not(check_name: str, spec) -> str:
    if check_name in _WHY_NOT:
        return _WHY_NOT[check_name]
    if check_name == "minimal_with_offset":
        if spec.best_input is None:
            return _WHY_NOT["minimal_at_a_perfect_prediction"]
        if spec.minimum is not None:
            return f"the spec states its minimum ({spec.minimum}), which minimal_at_a_perfect_prediction checks"
    if not spec.pointwise:
        return f"{'an' if spec.kind[0] in 'aeiou' else 'a'} {spec.kind} loss has no closed-form per-element gradient and Hessian"
    return "not for this loss"


# -- the report ------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    check: str
    status: str  # PASS | FAIL | WARN | SKIP
    detail: str = ""
    params: dict = field(default_factory=dict)


@dataclass(repr=False)
class CheckReport:
    """Every check at every parameter setting: ``results`` holds ``CheckResult``
    rows; ``passed`` is True when none FAILs (WARN and SKIP allowed).
    ``str(report)`` is a plain aligned table; ``to_json()`` / ``as_dict()``
    hold the same rows with full details."""

    loss: str
    results: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.status != "FAIL" for r in self.results)

    @property
    def failures(self) -> list:
        return [r for r in self.results if r.status == "FAIL"]

    def counts(self) -> dict:
        return {s: sum(r.status == s for r in self.results) for s in ("PASS", "FAIL", "WARN", "SKIP")}

    def as_dict(self) -> dict:
        return {"loss": self.loss, "passed": self.passed, "counts": self.counts(),
                "checks": [{"check": r.check, "params": r.params, "status": r.status, "detail": r.detail}
                           for r in self.results]}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.as_dict(), default=repr, **kwargs)

    def __str__(self) -> str:
        rows = [(r.check, _setting(r.params), r.status, r.detail) for r in self.results]
        header = ("check", "params", "status", "detail")
        widths = [max(len(row[i]) for row in (header, *rows)) for i in range(3)]
        indent = " " * (sum(widths) + 6)

        def line(row):
            head = "  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  "
            detail = textwrap.wrap(row[3], DETAIL_WIDTH, break_on_hyphens=False) or [""]
            return "\n".join([(head + detail[0]).rstrip(), *(indent + d for d in detail[1:])])

        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items())
        lines = [f"losskit check {self.loss}", line(header), "  ".join("-" * w for w in (*widths, 6)),
                 *map(line, rows), f"{'passed' if self.passed else 'FAILED'}: {counts}"]
        return "\n".join(lines)

    __repr__ = __str__


def _setting(params: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def _message(error: BaseException) -> str:
    """One line from an error (NumPy's assert_allclose writes several)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines)


# -- check -----------------------------------------------------------------------

_OPTIONS = ("gradient", "hessian", "link")


def resolve(loss, *, name: str | None = None, **options) -> LossSpec:
    """The ``LossSpec`` behind ``loss`` (see ``check``); a plain function is
    wrapped with ``define_loss(name or its __name__, loss, **options)``."""
    given = {k: v for k, v in options.items() if v is not None}
    if isinstance(loss, (str, LossSpec, Loss)) or _registered_function(loss) is not None:
        if given:
            label = loss if isinstance(loss, str) else getattr(loss, "name", getattr(loss, "__name__", "?"))
            raise ValueError(f"check: {', '.join(f'{k}=' for k in sorted(given))} must come with a plain per-element "
                             f"function (the loss defines its own); received them with the defined loss {label!r}")
        if isinstance(loss, str):
            return _registered_spec(loss)
        if isinstance(loss, Loss):
            return loss.spec
        return loss if isinstance(loss, LossSpec) else _registered_function(loss)
    if not callable(loss):
        raise TypeError(f"check: loss must be a registered name, a LossSpec, a losskit.Loss or a function; "
                        f"received {type(loss).__name__}")
    from ..custom import define_loss

    if name is None:
        name = getattr(loss, "__name__", "")
        name = name if name.isidentifier() else "custom_loss"
    return define_loss(name, loss, **given)


def _registered_function(function):
    return next((s for s in specs() if s.function is function), None) if callable(function) else None


def _is_registered(spec: LossSpec) -> bool:
    try:
        return _registered_spec(spec.name) is spec
    except ValueError:
        return False


def check(
    loss,
    *,
    params: dict | None = None,
    grid: bool = False,
    seed: int = SEED,
    skip: tuple = (),
    gradient: Callable | None = None,
    hessian: Callable | None = None,
    link: str | None = None,
    name: str | None = None,
    **options,
) -> CheckReport:
    """Check a loss against the contract; returns a ``CheckReport`` (never
    raises for a failing check: read ``report.passed``).

    - ``loss``: a registered name, a ``LossSpec``, a ``losskit.Loss`` (its bound
      parameters are the setting checked), a registered loss's function, or a
      plain per-element function ``f(input, target, *, xp, **params)``.
    - ``gradient``, ``hessian``, ``link``, ``name`` and any other ``options``
      (``input_domain``, ``target_domain``, ``minimum``, ``best_input``,
      ``convex``, ``hessian_nonnegative``, ``params``...) go to
      ``losskit.custom.define_loss`` for a plain function; the loss is not
      registered. Derivatives are with respect to the raw score.
    - ``params``: the parameter setting to check (default: the defaults, or
      the ``Loss``'s); ``grid=True`` adds every setting of the spec's
      ``param_grid``.
    - ``seed``: inputs are drawn from the spec's domains with this seed.
    - ``skip``: names of checks not to run (each is reported as SKIP).

    Structured losses (embeddings, lattices, boxes) raise ValueError: their
    properties are drawn from their ``example`` (tests/functional/test_structured_properties.py).
    """
    spec = resolve(loss, name=name, gradient=gradient, hessian=hessian, link=link, **options)
    if spec.kind == "structured":
        raise ValueError(f"check: loss must be pointwise or aggregate; received the structured loss {spec.name!r} "
                         f"(its properties are drawn from its example in tests/functional/test_structured_properties.py)")
    unknown = set(skip) - {c.name for c in CHECKS}
    if unknown:
        raise ValueError(f"check: skip must name checks in losskit.testing.checker.CHECKS; received {sorted(unknown)}")
    if params is not None:
        check_params(spec, params, where=f"check {spec.name}")
        runs = [dict(params)]
    elif isinstance(loss, Loss):
        runs = [{k: v for k, v in loss.params.items() if v != spec.defaults().get(k)}]
    else:
        runs = settings(spec) if grid else [{}]
    registered = _is_registered(spec)
    report = CheckReport(spec.name)
    for item in CHECKS:
        for setting in runs:
            def row(status, detail=""):
                report.results.append(CheckResult(item.name, status, detail, setting))

            if item.name in skip:
                row("SKIP", "skipped on request")
            elif not item.applies(spec):
                row("SKIP", "does not apply: " + _why_not(item.name, spec))
            elif item.name in _NEEDS_NAME and not registered:
                row("SKIP", "needs a registered loss (it looks the loss up by name); register it with "
                            "losskit.register_loss to run it")
            else:
                try:
                    detail = item.check(spec, setting, np.random.default_rng(seed))
                except Skip as reason:
                    row("SKIP", str(reason))
                except Warn as remark:
                    row("WARN", str(remark))
                except AssertionError as error:
                    row("FAIL", _message(error))
                except Exception as error:  # an exception is the loss failing, reported with its type
                    row("FAIL", f"{type(error).__name__}: {_message(error)}")
                else:
                    row("PASS", detail or "")
    return report

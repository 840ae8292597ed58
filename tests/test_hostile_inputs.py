"""Corrupted calls over every registered loss and backend (issue 16, items 8-13).

Each case is ``<loss>|<backend>|<corruption>``: a valid call (drawn from the
loss's spec: ``sampling.draw_case`` or the structured loss's ``example``) with
one thing broken: an array argument replaced by ``None``, a string, a dict or
an ``object()``; ``inf``/``NaN`` in ``weight``; ``±inf`` in a floating
target; a parameter at ``inf``, ``-inf``, ``NaN``, ``±1e308``, ``-1``, ``0``
(integers at ``±10**30``, ``-1``); an argument from another backend; a wrong
dtype; a wrong shape; the same breaks through ``Loss.gradient``/``hessian``
for the pointwise losses.

Every call must either return a finite value or raise ValueError/TypeError
whose message names the broken argument: never another exception type, never
a non-finite value from finite inputs, and a call whose corruption can never
be valid (junk objects, mixed backends, wrong shapes, non-finite weights...)
must be refused.

A deterministic sample of about 300 cases runs by default; every case runs
with ``--fuzz-all`` or ``LOSSKIT_FUZZ=all``. As a script it runs them all
and prints the figures::

    .venv/bin/python tests/test_hostile_inputs.py [--backends numpy,torch,jax] [-v]
"""

from __future__ import annotations

import math
import os
import sys
import warnings
import zlib
from collections import Counter

import numpy as np
import pytest

import losskit
from losskit import domains as D
from losskit.testing.sampling import draw_case, to_backend, to_numpy

BACKENDS = ("numpy", "torch", "jax")
OTHER = {"numpy": "torch", "torch": "jax", "jax": "numpy"}
JUNK = {"None": None, "str": "abc", "dict": {"a": 1}, "object": object()}
REALS = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan, "1e308": 1e308, "-1e308": -1e308, "-1": -1.0, "0": 0.0}
INTS = {"1e30": 10**30, "-1e30": -(10**30), "-1": -1}
SAMPLE_EVERY = 32  # the CI sample: one case in 32, chosen by a stable hash of its id

# what a broken call ends in
REFUSED = "refused clearly"
UNCLEAR = "refused without naming the argument"
WRONG = "wrong exception type"
SILENT = "accepted silently"
ACCEPTED = "accepted (a valid value)"
NONFINITE = "NaN/inf returned"


# -- the cases -----------------------------------------------------------------


def _positional(spec) -> tuple:
    return spec.inputs if spec.kind == "structured" else spec.arrays


def corruptions(spec) -> list[str]:
    """The corruption ids of one loss, from its spec alone (no array is made)."""
    out = []
    arrays = (*_positional(spec), "weight", "mask")
    for name in arrays:
        for junk in JUNK:
            if not (junk == "None" and name in ("weight", "mask")):
                out.append(f"{name}={junk}")
    out += ["weight=+inf", "weight=-inf", "weight=nan"]
    if spec.kind != "structured" or "target" in spec.inputs:  # structured losses: embeddings are predictions
        out += ["target=+inf", "target=-inf"]
    for p in spec.params:
        if p.kind in ("real", "real_or_array"):
            out += [f"{p.name}={v}" for v in REALS]
            if isinstance(p.domain, D.Interval):  # its ends, where they belong to it: valid, so finite
                out += [f"{p.name}={end}" for end in ("low", "high") if _end(p.domain, end) is not None]
        elif p.kind == "int":
            out += [f"{p.name}={v}" for v in INTS]
        elif p.kind == "bool":
            out.append(f"{p.name}='yes'")
        elif p.kind == "choice":
            out.append(f"{p.name}='bogus'")
    out += [f"{name}@other" for name in arrays]
    out += ["input:int", "input:complex", "target:complex", "weight:complex", "mask:float"]
    out += [f"{name}:uint8" for name in _integer_arrays(spec)]
    for name in arrays:
        out += [f"{name}:extra-axis", f"{name}:short"]
    if spec.pointwise:
        for which in ("gradient", "hessian"):
            out += [f"{which}:target=None", f"{which}:target=str", f"{which}:target=+inf"]
            for p in spec.params:
                if p.kind == "real":
                    ends = [e for e in ("high",) if isinstance(p.domain, D.Interval) and _end(p.domain, e) is not None]
                    out += [f"{which}:{p.name}={v}" for v in ("inf", "1e308", "nan", *ends)]
    return out


def _end(domain, end):
    value = domain.low if end == "low" else domain.high
    return value if math.isfinite(value) and domain.contains_scalar(value) else None


def _integer_arrays(spec) -> tuple:
    """The positional arguments that hold integers (labels, lengths)."""
    if spec.kind == "class_axis":
        return ("target",) if isinstance(spec.target_domain, D.ClassIndex) else ()
    if spec.kind != "structured":
        return ()
    args, _ = spec.example(np.random.default_rng(7))
    return tuple(n for n, a in zip(spec.inputs, args) if np.issubdtype(np.asarray(a).dtype, np.integer))


def all_cases() -> list[str]:
    return [f"{s.name}|{b}|{c}" for s in losskit.specs() for b in BACKENDS for c in corruptions(s)]


def sample_cases() -> list[str]:
    return [c for c in all_cases() if zlib.crc32(c.encode()) % SAMPLE_EVERY == 0]


# -- building and running one case ---------------------------------------------------


def _base(spec):
    """A valid call in NumPy: (positional arrays by name, keyword arrays, per-sample shape)."""
    rng = np.random.default_rng(7)
    if spec.kind == "structured":
        args, kwargs = spec.example(rng)
        named = dict(zip(spec.inputs, args))
    else:
        _, x, y, extras = draw_case(spec, rng)
        named = {"input": x, "target": y, **{n: extras[n] for n in spec.extra_inputs}}
        kwargs = {}
    try:
        shape = np.shape(to_numpy(spec.function(*named.values(), **kwargs, reduction="none")))
    except (ValueError, TypeError):  # an aggregate loss has no per-sample values
        shape = np.shape(next(iter(named.values())))
    return named, kwargs, shape


def _is_float(a) -> bool:
    return isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating)


def build(case: str):
    """(function of no argument, the arguments its error may name, must it be refused)."""
    loss, backend, corruption = case.split("|")
    spec = losskit.spec(loss)
    named, kwargs, shape = _base(spec)
    first = _positional(spec)[0]
    named = {k: np.array(v) for k, v in named.items()}
    keywords = {"weight": np.ones(shape), "mask": np.ones(shape, dtype=bool)}
    params = {}
    on = {k: backend for k in (*named, *keywords)}
    via = None  # "gradient" / "hessian"
    if corruption.startswith(("gradient:", "hessian:")):
        via, corruption = corruption.split(":", 1)
    must = True
    names = ()  # the arguments its message may name, besides ``arg``
    if "@" in corruption:  # an argument of another backend
        arg = corruption.split("@")[0]
        on[arg] = OTHER[backend]
    elif ":" in corruption and "=" not in corruption:  # dtype or shape
        arg, how = corruption.split(":")
        arg = first if arg == "input" else ("target" if arg == "target" and "target" in named else arg)
        if arg == "target" and "target" not in named:
            arg = _positional(spec)[1]
        source = named if arg in named else keywords
        a = source[arg]
        if how == "int":
            a = a.astype(np.int64)
            must = _is_float(source[arg])
        elif how == "uint8":  # any integer dtype holds labels: accepted as int64 ones are
            a = a.astype(np.uint8)
            must = False
        elif how == "complex":
            a = a.astype(np.complex128)
        elif how == "float":
            a = a.astype(np.float64)
        else:
            names = (*named, *keywords)  # a shape is a relation: the message may name either side
            must = spec.kind != "structured" or arg in keywords
        if how == "extra-axis":
            a = a[..., None]
        if how == "short":
            a = a[:-1] if a.ndim else a[None]
        source[arg] = a
    else:
        arg, value = corruption.split("=", 1)
        if arg == "target" and "target" not in named:
            arg = _positional(spec)[1]
        if value in JUNK and (arg in named or arg in keywords):
            (named if arg in named else keywords)[arg] = JUNK[value]
            on[arg] = None
        elif corruption.startswith(("weight=", "target=")) and value in ("+inf", "-inf", "nan"):
            source = named if arg in named else keywords
            a = source[arg].astype(np.float64) if arg == "weight" or _is_float(source[arg]) else source[arg]
            if _is_float(a):
                a.flat[0] = float(value)
            else:
                must = False  # an integer target holds no inf: the call stays valid
            source[arg] = a
            must = must and not (arg == "target" and value != "nan" and _inf_is_valid(spec, arg))
        else:
            p = spec.param(arg)
            if value in ("low", "high"):
                params[arg] = _end(p.domain, value)
                must = False
            elif p.kind in ("real", "real_or_array"):
                params[arg] = REALS[value]
                must = value == "nan" or (value in ("inf", "-inf") and not _inf_is_valid(spec, arg))
            elif p.kind == "int":
                params[arg] = INTS[value]
                must = False
            else:
                params[arg] = value.strip("'")
    arrays = {k: _convert(on.get(k), v) for k, v in named.items()}
    names = (arg, *names)
    if via:
        return _derivative_call(spec, via, arrays, params), names, must
    kw = {k: _convert(on[k], v) for k, v in keywords.items() if corruption.startswith(k) or f"{k}@" in corruption}

    def call():
        return spec.function(*arrays.values(), **kwargs, **kw, **params)

    return call, names, must


def _inf_is_valid(spec, arg) -> bool:
    """Whether the spec's domain for ``arg`` holds an infinity (documented as valid)."""
    domain = spec.param(arg).domain if arg in {p.name for p in spec.params} else spec.target_domain
    return isinstance(domain, D.Interval) and not getattr(domain, "finite", False) and (
        domain.contains_scalar(math.inf) or domain.contains_scalar(-math.inf))


def _derivative_call(spec, via, arrays, params):
    values = list(arrays.values())

    def call():
        loss = losskit.get(spec.name, **params)
        return getattr(loss, via)(*values)

    return call


def _convert(backend, a):
    if backend is None or not isinstance(a, np.ndarray):
        return a
    return to_backend(backend, a)


def run(case: str):
    """(outcome, detail) of one case."""
    try:
        call, names, must = build(case)
    except Exception as exc:  # noqa: BLE001 - a harness fault is reported, not hidden
        return "harness error", f"{type(exc).__name__}: {exc}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = call()
        except (ValueError, TypeError) as exc:
            text = str(exc)
            named = any(n in text for n in names)
            return (REFUSED if named else UNCLEAR), f"{type(exc).__name__}: {text}"
        except Exception as exc:  # noqa: BLE001 - what the attack looks for
            return WRONG, f"{type(exc).__name__}: {exc}"
    values = np.asarray(to_numpy(result), dtype=np.float64)
    if not np.all(np.isfinite(values)):
        return NONFINITE, f"returned {values.ravel()[:4]}"
    return (SILENT if must else ACCEPTED), "returned a finite value"


def _tally(cases, verbose=False):
    counts = Counter()
    bad = []
    for case in cases:
        outcome, detail = run(case)
        counts[outcome] += 1
        if outcome not in (REFUSED, ACCEPTED):
            bad.append((case, outcome, detail))
    return counts, bad


# -- the test ------------------------------------------------------------------------


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        everything = metafunc.config.getoption("--fuzz-all") or os.environ.get("LOSSKIT_FUZZ") == "all"
        metafunc.parametrize("case", all_cases() if everything else sample_cases())


def test_a_corrupted_call_is_refused_naming_the_argument_or_gives_a_finite_value(case):
    pytest.importorskip(case.split("|")[1])
    outcome, detail = run(case)
    assert outcome in (REFUSED, ACCEPTED), f"{case}: {outcome}: {detail}"


def test_the_sample_covers_every_backend_and_most_losses():
    sample = sample_cases()
    assert 200 <= len(sample) <= 500
    assert {c.split("|")[1] for c in sample} == set(BACKENDS)
    assert len({c.split("|")[0] for c in sample}) >= 50


if __name__ == "__main__":
    verbose = "-v" in sys.argv
    backends = BACKENDS
    for i, a in enumerate(sys.argv):
        if a == "--backends":
            backends = tuple(sys.argv[i + 1].split(","))
    cases = [c for c in all_cases() if c.split("|")[1] in backends]
    counts, bad = _tally(cases)
    print(f"calls tried: {len(cases)}")
    for outcome in (REFUSED, ACCEPTED, UNCLEAR, WRONG, SILENT, NONFINITE, "harness error"):
        print(f"  {outcome}: {counts[outcome]}")
    if verbose:
        for case, outcome, detail in bad:
            print(f"{outcome:40s} {case}: {detail[:200]}")

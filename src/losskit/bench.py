"""``losskit bench``: time and peak memory of the hot losses on the CPU, losskit
against eager PyTorch, ``torch.compile`` and the peers that are installed.

For each case (a loss, a size, a variant such as ``class_weight``) every
implementation is first checked against losskit's reference math (the value
of the mean loss and the input gradient); one that disagrees is reported as a
mismatch and not timed. Then:

- **fwd**: the loss of an input that needs no gradient (evaluation).
- **fwd+bwd**: the loss of an input that needs one, and ``backward()``; the
  gradient is dropped (``x.grad = None``) between calls, outside the timed region.

Each time is the median of ``--repeat`` single calls after warm-up calls. The
inputs are allocated and written once per case, outside the timed region; at
the full sizes (64 MB of logits and more) they do not fit in any cache, so
reusing them does not flatter later calls. ``torch.compile`` and
``jax.jit`` report their compile time (first calls minus steady calls) in a
column of their own, never in the timings; the parent process compiles without
inductor's on-disk cache, so the figure is a cold compile.

Extra peak memory is measured in a fresh subprocess per (case,
implementation, mode), with ``MALLOC_MMAP_THRESHOLD_=65536`` so that freed
buffers go back to the system: the inputs are allocated and written, the call
runs once (compilation and first-use costs), the kernel's peak-RSS counter is
reset (``/proc/self/clear_refs``), then the call runs again; the figure is the
peak RSS (``VmHWM``, the counter ``ru_maxrss`` reads) minus the RSS before that
call, divided by the size of the logits. It includes the gradient itself
(1.0x for fwd+bwd) and anything the call keeps alive until it returns. The
gradient buffer losskit's kernels cache between calls is released before the
measured call, so it counts as that call's memory.

Peers, each used only for the quantity losskit computes: kornia
(``focal_loss``, ``binary_focal_loss_with_logits``), torchvision
(``sigmoid_focal_loss``), segmentation-models-pytorch (``FocalLoss``,
``SoftCrossEntropyLoss``) and optax on JAX's CPU backend (jitted, with
``jax.value_and_grad``). pytorch-metric-learning has none of these losses (its
losses are metric-learning ones), so it is not a peer here. A peer that does not
import is listed as skipped, with the reason.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field


LOSSES = ("cross_entropy", "binary_cross_entropy_with_logits", "sigmoid_focal", "softmax_focal", "huber", "mse")

# (loss, shape, variant); variants of cross_entropy at the middle size only, to keep a full run affordable
_FULL = [
    ("cross_entropy", (4096, 32768), "plain"),
    ("cross_entropy", (65536, 1000), "plain"),
    ("cross_entropy", (256, 128256), "plain"),
    ("cross_entropy", (65536, 1000), "class_weight"),
    ("cross_entropy", (65536, 1000), "ignore_index"),
    ("cross_entropy", (65536, 1000), "label_smoothing"),
    ("binary_cross_entropy_with_logits", (4096, 4096), "plain"),
    ("binary_cross_entropy_with_logits", (4096, 4096), "pos_weight"),
    ("sigmoid_focal", (4096, 4096), "plain"),
    ("softmax_focal", (4096, 1000), "plain"),
    ("huber", (4096, 4096), "plain"),
    ("mse", (4096, 4096), "plain"),
]
_QUICK_SHAPES = {"cross_entropy": (512, 1000), "softmax_focal": (256, 100)}
_QUICK_ELEMENTWISE = (256, 1024)

VARIANT_TEXT = {
    "plain": "",
    "class_weight": "class_weight (per class, 0.5-1.5)",
    "ignore_index": "ignore_index (10% of the labels ignored)",
    "label_smoothing": "label_smoothing=0.1",
    "pos_weight": "pos_weight (per label, 0.5-1.5)",
}
OPTIONS_TEXT = {
    "sigmoid_focal": "alpha=0.25, gamma=2",
    "softmax_focal": "gamma=2",
    "huber": "delta=1",
}

VALUE_RTOL = 1e-4  # float32 means over up to 1e8 terms, summed in different orders
GRAD_RTOL = 1e-3  # of the largest gradient entry


@dataclass(frozen=True)
class Case:
    loss: str
    shape: tuple[int, ...]
    variant: str = "plain"

    @property
    def key(self) -> str:
        return f"{self.loss}/{'x'.join(map(str, self.shape))}/{self.variant}"

    @property
    def title(self) -> str:
        details = ", ".join(t for t in (VARIANT_TEXT[self.variant], OPTIONS_TEXT.get(self.loss, "")) if t)
        size = "x".join(map(str, self.shape))
        return f"{self.loss} {size} float32, mean" + (f", {details}" if details else "")


def cases(quick: bool = False, names=None) -> list[Case]:
    """The benchmark cases, for the losses in ``names`` (all when None)."""
    selected = []
    for loss, shape, variant in _FULL:
        if names and loss not in names:
            continue
        if quick:  # one small size per loss: the plain sizes collapse into one case
            shape = _QUICK_SHAPES.get(loss, _QUICK_ELEMENTWISE)
        if Case(loss, shape, variant) not in selected:
            selected.append(Case(loss, shape, variant))
    return selected


def find_case(key: str, quick: bool) -> Case:
    for case in cases(quick):
        if case.key == key:
            return case
    raise ValueError(f"case must be one of {[c.key for c in cases(quick)]}; received {key!r}")


# -- inputs ------------------------------------------------------------------

@dataclass
class Inputs:
    x: object  # logits / predictions (torch float32)
    target: object
    class_weight: object = None
    pos_weight: object = None

    @property
    def nbytes(self) -> int:
        return self.x.numel() * self.x.element_size()


def make_inputs(case: Case) -> Inputs:
    """Seeded inputs, every byte written (so they are resident before any call)."""
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(case.shape, generator=g)
    if case.loss in ("cross_entropy", "softmax_focal"):
        n, classes = case.shape
        target = torch.randint(0, classes, (n,), generator=g)
        if case.variant == "ignore_index":
            target[torch.rand(n, generator=g) < 0.1] = -100
        cw = torch.rand(classes, generator=g) + 0.5 if case.variant == "class_weight" else None
        return Inputs(x, target, class_weight=cw)
    if case.loss in ("binary_cross_entropy_with_logits", "sigmoid_focal"):
        target = (torch.rand(case.shape, generator=g) < 0.3).to(torch.float32)
        pw = torch.rand(case.shape[-1], generator=g) + 0.5 if case.variant == "pos_weight" else None
        return Inputs(x, target, pos_weight=pw)
    return Inputs(x, torch.randn(case.shape, generator=g))


# -- implementations ---------------------------------------------------------

@dataclass
class Impl:
    """One implementation of a case's loss: ``make(inputs)`` returns ``f(x, target)``,
    the mean loss (a torch or a JAX function, per ``backend``)."""

    name: str
    make: Callable
    backend: str = "torch"  # "torch" or "jax"
    kind: str = "peer"  # fast, reference, eager, compile, peer
    needs: str | None = None  # the peer's module

    @property
    def skipped(self) -> str | None:
        """Why this peer does not run here (None when it does); imports the module."""
        return None if self.needs is None else _skip(self.needs)


def _losskit_fn(case: Case, inputs: Inputs):
    import losskit

    fn = getattr(losskit, case.loss)
    kwargs = {
        "class_weight": {"class_weight": inputs.class_weight},
        "label_smoothing": {"label_smoothing": 0.1},
        "pos_weight": {"pos_weight": inputs.pos_weight},
    }.get(case.variant, {})
    kwargs.update({"sigmoid_focal": {"alpha": 0.25, "gamma": 2.0}, "softmax_focal": {"gamma": 2.0},
                   "huber": {"delta": 1.0}}.get(case.loss, {}))
    return lambda x, target: fn(x, target, **kwargs)


def eager_name(case: Case) -> str:
    native = {"cross_entropy": "F.cross_entropy", "binary_cross_entropy_with_logits":
              "F.binary_cross_entropy_with_logits", "huber": "F.huber_loss", "mse": "F.mse_loss"}
    return f"torch eager ({native.get(case.loss, 'torch ops')})"


def _eager_fn(case: Case, inputs: Inputs):
    """PyTorch's native loss where there is one, else the loss in torch ops."""
    import torch
    import torch.nn.functional as F

    if case.loss == "cross_entropy":
        ls = 0.1 if case.variant == "label_smoothing" else 0.0
        cw = inputs.class_weight
        return lambda x, y: F.cross_entropy(x, y, weight=cw, label_smoothing=ls)
    if case.loss == "binary_cross_entropy_with_logits":
        pw = inputs.pos_weight
        return lambda x, y: F.binary_cross_entropy_with_logits(x, y, pos_weight=pw)
    if case.loss == "huber":
        return lambda x, y: F.huber_loss(x, y, delta=1.0)
    if case.loss == "mse":
        return F.mse_loss
    if case.loss == "sigmoid_focal":  # torchvision's formula
        def sigmoid_focal(x, y, alpha=0.25, gamma=2.0):
            p = torch.sigmoid(x)
            ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
            p_t = p * y + (1 - p) * (1 - y)
            return ((alpha * y + (1 - alpha) * (1 - y)) * ce * (1 - p_t) ** gamma).mean()
        return sigmoid_focal
    if case.loss == "softmax_focal":
        def softmax_focal(x, y, gamma=2.0):
            logp = torch.log_softmax(x, dim=1).gather(1, y[:, None]).squeeze(1)
            return ((-torch.expm1(logp)) ** gamma * -logp).mean()
        return softmax_focal
    raise ValueError(f"loss must be one of {LOSSES}; received {case.loss!r}")


def _compiled_fn(case: Case, inputs: Inputs):
    import torch

    torch._dynamo.reset()  # a fresh compile per case: no recompile limits, no dynamic shapes carried over
    return torch.compile(_eager_fn(case, inputs), dynamic=False)


def _import_reason(module: str) -> tuple[object, str | None]:
    import importlib

    try:
        return importlib.import_module(module), None
    except ImportError as error:
        return None, f"not installed: {error}"
    except Exception as error:  # noqa: BLE001 - e.g. torchvision built for another torch
        return None, f"does not import here: {type(error).__name__}: {error}"


def _torch_peers(case: Case) -> list[Impl]:
    peers = []
    if case.loss == "sigmoid_focal":
        def kornia_bfl(inputs):
            from kornia.losses import binary_focal_loss_with_logits
            return lambda x, y: binary_focal_loss_with_logits(x, y, alpha=0.25, gamma=2.0, reduction="mean")

        def torchvision_sfl(inputs):
            from torchvision.ops import sigmoid_focal_loss
            return lambda x, y: sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0, reduction="mean")

        def smp_focal(inputs):
            from segmentation_models_pytorch.losses import FocalLoss
            return FocalLoss("binary", alpha=0.25, gamma=2.0)

        peers += [Impl("kornia binary_focal_loss_with_logits", kornia_bfl, needs="kornia"),
                  Impl("torchvision sigmoid_focal_loss", torchvision_sfl, needs="torchvision"),
                  Impl("smp FocalLoss('binary')", smp_focal, needs="segmentation_models_pytorch")]
    if case.loss == "softmax_focal":
        def kornia_fl(inputs):
            from kornia.losses import focal_loss
            # kornia's "mean" divides by N*C (its map has C slices): sum / N is the per-sample mean
            return lambda x, y: focal_loss(x, y, alpha=None, gamma=2.0, reduction="sum") / x.shape[0]
        peers.append(Impl("kornia focal_loss (sum / N)", kornia_fl, needs="kornia"))
    if case.loss == "cross_entropy" and case.variant == "label_smoothing":
        def smp_soft_ce(inputs):
            from segmentation_models_pytorch.losses import SoftCrossEntropyLoss
            return SoftCrossEntropyLoss(smooth_factor=0.1)
        peers.append(Impl("smp SoftCrossEntropyLoss", smp_soft_ce, needs="segmentation_models_pytorch"))
    return peers


def _optax_peer(case: Case) -> Impl | None:
    def make(inputs):
        import jax
        import jax.numpy as jnp
        import optax

        L = optax.losses
        if case.loss == "cross_entropy":
            if case.variant == "class_weight":
                cw = jnp.asarray(inputs.class_weight.numpy())

                def weighted(x, y):
                    w = cw[y]
                    return jnp.sum(w * L.softmax_cross_entropy_with_integer_labels(x, y)) / jnp.sum(w)
                return weighted
            if case.variant == "ignore_index":
                def ignoring(x, y):
                    valid = y != -100
                    per = L.softmax_cross_entropy_with_integer_labels(x, jnp.where(valid, y, 0))
                    return jnp.sum(jnp.where(valid, per, 0.0)) / jnp.sum(valid)
                return ignoring
            if case.variant == "label_smoothing":
                def smoothed(x, y):
                    onehot = jax.nn.one_hot(y, x.shape[-1], dtype=x.dtype)
                    return jnp.mean(L.softmax_cross_entropy(x, optax.smooth_labels(onehot, 0.1)))
                return smoothed
            return lambda x, y: jnp.mean(L.softmax_cross_entropy_with_integer_labels(x, y))
        return {
            "binary_cross_entropy_with_logits": lambda x, y: jnp.mean(L.sigmoid_binary_cross_entropy(x, y)),
            "sigmoid_focal": lambda x, y: jnp.mean(L.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0)),
            "huber": lambda x, y: jnp.mean(L.huber_loss(x, y, delta=1.0)),
            "mse": lambda x, y: jnp.mean(L.squared_error(x, y)),
        }[case.loss]

    names = {
        "cross_entropy": {"plain": "softmax_cross_entropy_with_integer_labels",
                          "class_weight": "softmax_cross_entropy_with_integer_labels, weighted mean",
                          "ignore_index": "softmax_cross_entropy_with_integer_labels, masked mean",
                          "label_smoothing": "softmax_cross_entropy + smooth_labels"},
        "binary_cross_entropy_with_logits": {"plain": "sigmoid_binary_cross_entropy"},
        "sigmoid_focal": {"plain": "sigmoid_focal_loss"},
        "huber": {"plain": "huber_loss"},
        "mse": {"plain": "squared_error"},
    }
    name = names.get(case.loss, {}).get(case.variant)
    if name is None:
        return None
    return Impl(f"optax {name} (jax.jit)", make, backend="jax", needs="optax")


def peer_gaps(case: Case) -> list[str]:
    """Peers that have no function for this case (said under its table)."""
    gaps = []
    if case.loss == "binary_cross_entropy_with_logits" and case.variant == "pos_weight":
        gaps.append("optax's sigmoid_binary_cross_entropy has no pos_weight")
    if case.loss == "softmax_focal":
        gaps.append("optax has no softmax focal loss")
    return gaps


_skips: dict[str, str | None] = {}


def _skip(module: str) -> str | None:
    """Why ``module`` cannot be used here (None when it can); imported once."""
    if module not in _skips:
        _skips[module] = _import_reason(module)[1]
        if module == "optax" and _skips[module] is None:
            _skips[module] = _import_reason("jax")[1]
    return _skips[module]


def implementations(case: Case, *, peers: bool = True, compile: bool = True) -> list[Impl]:
    """In table order: losskit, losskit reference, eager, torch.compile, peers."""
    from . import kernels

    def reference(inputs):
        fn = _losskit_fn(case, inputs)

        def on_reference(x, y):
            with kernels.disabled():
                return fn(x, y)
        return on_reference

    impls = [Impl("losskit", lambda inputs: _losskit_fn(case, inputs), kind="fast"),
             Impl("losskit, kernels.disabled() (reference math)", reference, kind="reference"),
             Impl(eager_name(case), lambda inputs: _eager_fn(case, inputs), kind="eager")]
    if compile:
        impls.append(Impl("torch.compile(eager)", lambda inputs: _compiled_fn(case, inputs), kind="compile"))
    if peers:
        impls += _torch_peers(case)
        optax_impl = _optax_peer(case)
        if optax_impl is not None:
            impls.append(optax_impl)
    return impls


# -- running one implementation -------------------------------------------------

class Runner:
    """``forward()`` / ``forward_backward()`` of one implementation on one case's
    inputs; ``reset()`` drops the gradient (outside the timed region)."""

    def __init__(self, impl: Impl, inputs: Inputs):
        self.impl = impl
        fn = impl.make(inputs)
        if impl.backend == "jax":
            import jax
            import jax.numpy as jnp

            x = jnp.asarray(inputs.x.numpy())
            y = jnp.asarray(inputs.target.numpy())
            loss, value_and_grad = jax.jit(fn), jax.jit(jax.value_and_grad(fn))
            self.forward = lambda: loss(x, y).block_until_ready()
            self._grad = None

            def forward_backward():
                value, grad = value_and_grad(x, y)
                grad.block_until_ready()
                self._grad = grad
                return value
            self.forward_backward = forward_backward
            self.reset = lambda: setattr(self, "_grad", None)
            self.grad = lambda: self._grad
            return
        x_eval = inputs.x.detach()
        x_train = inputs.x.detach().requires_grad_()
        y = inputs.target
        self.forward = lambda: fn(x_eval, y)

        def forward_backward():
            value = fn(x_train, y)
            value.backward()
            return value
        self.forward_backward = forward_backward
        self.reset = lambda: setattr(x_train, "grad", None)
        self.grad = lambda: x_train.grad


def _to_numpy(array):
    import numpy as np

    if hasattr(array, "detach"):
        return array.detach().numpy()
    return np.asarray(array)


def median_seconds(call, *, repeat: int, warmup: int, setup=None) -> float:
    """Median of ``repeat`` timed single calls after ``warmup`` calls;
    ``setup`` runs before each call, outside the timed region."""
    for _ in range(warmup):
        if setup:
            setup()
        call()
    runs = []
    for _ in range(repeat):
        if setup:
            setup()
        start = time.perf_counter()
        call()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def _timed(call):
    start = time.perf_counter()
    out = call()
    return out, time.perf_counter() - start


@dataclass
class Row:
    impl: Impl
    fwd: float | None = None  # seconds
    fwd_bwd: float | None = None
    compile_s: float | None = None
    path: str | None = None  # which path losskit took
    problem: str | None = None  # mismatch or error: shown instead of the times
    skipped: str | None = None  # why a peer did not run here: said under the table
    memory: dict = field(default_factory=dict)  # mode -> extra peak / logits bytes, or an error text


def _paths(used) -> str:
    found = sorted({path for _, path in used})
    return "; ".join(found) if found else "reference (no fast path asked)"


def measure(case: Case, inputs: Inputs, impl: Impl, reference, *, repeat: int, warmup: int) -> Row:
    """Check ``impl`` against ``reference`` = (value, gradient as NumPy), then time it."""
    from . import kernels

    row = Row(impl)
    row.skipped = impl.skipped
    if row.skipped:
        return row
    try:
        runner = Runner(impl, inputs)
        with kernels.record() as used_fwd:
            value, first_fwd = _timed(runner.forward)
        runner.reset()
        with kernels.record() as used_bwd:
            _, first_bwd = _timed(runner.forward_backward)
        grad = _to_numpy(runner.grad())
        runner.reset()
    except Exception as error:  # noqa: BLE001 - a peer that fails on this input is reported, not fatal
        row.problem = f"error: {type(error).__name__}: {error}"
        return row
    if impl.kind == "fast":
        fwd_path, bwd_path = _paths(used_fwd), _paths(used_bwd)
        row.path = fwd_path if fwd_path == bwd_path else f"fwd: {fwd_path}; fwd+bwd: {bwd_path}"
    row.problem = mismatch(float(value), grad, reference)
    if row.problem:
        return row
    row.fwd = median_seconds(runner.forward, repeat=repeat, warmup=warmup)
    row.fwd_bwd = median_seconds(runner.forward_backward, repeat=repeat, warmup=warmup, setup=runner.reset)
    runner.reset()
    if impl.kind == "compile" or impl.backend == "jax":
        row.compile_s = max(0.0, first_fwd - row.fwd) + max(0.0, first_bwd - row.fwd_bwd)
    return row


def mismatch(value: float, grad, reference) -> str | None:
    """None when the value and gradient agree with the reference's, else what differs."""
    import numpy as np

    ref_value, ref_grad = reference
    if not abs(value - ref_value) <= VALUE_RTOL * abs(ref_value) + 1e-7:
        return f"mismatch: value {value:.7g}, reference {ref_value:.7g}"
    if grad is None or grad.shape != ref_grad.shape:
        return f"mismatch: gradient of shape {None if grad is None else grad.shape}, reference {ref_grad.shape}"
    scale = float(np.max(np.abs(ref_grad)))
    worst = float(np.max(np.abs(grad - ref_grad)))
    if not worst <= GRAD_RTOL * scale:
        return f"mismatch: gradient differs by {worst:.3g} (largest reference entry {scale:.3g})"
    return None


# -- peak memory in a fresh process ---------------------------------------------

def _status_kib(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {key}")


def memory_probe(spec: str) -> None:
    """Child process: print the extra peak RSS of one call as JSON (see the module docstring)."""
    args = json.loads(spec)
    import torch

    torch.set_num_threads(args["threads"])
    case = find_case(args["case"], args["quick"])
    impl = next(i for i in implementations(case) if i.name == args["impl"])
    inputs = make_inputs(case)
    runner = Runner(impl, inputs)
    call = runner.forward if args["mode"] == "fwd" else runner.forward_backward
    call()  # compile, load kernels, start thread pools
    runner.reset()
    gc.collect()
    import losskit.kernels
    losskit.kernels.release_buffers()  # the gradient buffer a kernel caches counts as the measured call's memory
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # reset the peak RSS
    except OSError as error:
        print(json.dumps({"error": f"cannot reset the peak RSS ({error})"}))
        return
    before = _status_kib("VmRSS")
    out = call()
    peak = _status_kib("VmHWM")
    del out
    print(json.dumps({"extra": (peak - before) * 1024 / inputs.nbytes}))


def measure_memory(case: Case, impl: Impl, mode: str, *, quick: bool, threads: int) -> float | str:
    spec = json.dumps({"case": case.key, "impl": impl.name, "mode": mode, "quick": quick, "threads": threads})
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    code = "import sys; from losskit.bench import memory_probe; memory_probe(sys.argv[1])"
    try:
        done = subprocess.run([sys.executable, "-c", code, spec], env=env, capture_output=True, text=True,
                              timeout=900, check=False)
    except subprocess.TimeoutExpired:
        return "timeout"
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"error: {tail[:120]}"
    return result.get("extra", result.get("error", "error"))


# -- tables ---------------------------------------------------------------------

COLUMNS = ("implementation", "fwd ms", "fwd+bwd ms", "vs eager (fwd / fwd+bwd)",
           "vs torch.compile (fwd / fwd+bwd)", "compile s", "extra peak, x logits (fwd / fwd+bwd)")
READING = ("ratios: the other's time / this row's time, so >1 means this row is faster; fwd: the loss of an input "
           "without grad; fwd+bwd: loss and backward(); compile s: first calls minus steady calls (cold "
           "torch.compile, jax.jit); extra peak: peak RSS above the RSS before the call, in logits sizes "
           "(the gradient alone is 1.0)")


def _ms(seconds):
    return "-" if seconds is None else f"{seconds * 1e3:.3g}" if seconds < 1e-2 else f"{seconds * 1e3:.1f}"


def _ratio(base, this):
    return "-" if base is None or this is None or this == 0 else f"{base / this:.2f}"


def _pair(a, b):
    return f"{a} / {b}"


def _memory_text(value):
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else value


def table_rows(rows: list[Row]) -> list[tuple[str, ...]]:
    by_kind = {r.impl.kind: r for r in rows if r.problem is None and r.skipped is None}
    eager, compiled = by_kind.get("eager"), by_kind.get("compile")
    out = []
    for r in rows:
        name = r.impl.name + (f" [{r.path}]" if r.path else "")
        if r.skipped:
            continue  # said under the table
        if r.problem:
            out.append((name, r.problem, "", "", "", "", ""))
            continue
        vs = []
        for base in (eager, compiled):
            vs.append("-" if base is None else
                      _pair(_ratio(base.fwd, r.fwd), _ratio(base.fwd_bwd, r.fwd_bwd)))
        memory = "-" if not r.memory else _pair(_memory_text(r.memory.get("fwd")),
                                                _memory_text(r.memory.get("fwd_bwd")))
        compile_s = "-" if r.compile_s is None else f"{r.compile_s:.2f}"
        out.append((name, _ms(r.fwd), _ms(r.fwd_bwd), vs[0], vs[1], compile_s, memory))
    return out


def rich_table(case: Case, rows: list[Row], notes: list[str]):
    from rich.table import Table
    from rich.text import Text

    # Text, not markup: a path such as "[cpu]" or a reason in brackets is printed as it is
    table = Table(title=Text(case.title), caption=Text("\n".join(notes)) if notes else None,
                  caption_justify="left")
    for i, column in enumerate(COLUMNS):
        table.add_column(Text(column), justify="left" if i == 0 else "right", overflow="fold")
    for cells in table_rows(rows):
        table.add_row(*map(Text, cells))
    return table


def markdown_table(case: Case, rows: list[Row], notes: list[str]) -> str:
    lines = [f"### {case.title}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for cells in table_rows(rows):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += [""] + [f"{note}  " for note in notes]
    return "\n".join(lines).rstrip() + "\n"


def machine_text(threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    from importlib.metadata import PackageNotFoundError, version

    versions = []
    for package in ("torch", "numba", "jax", "optax", "kornia", "torchvision", "segmentation-models-pytorch"):
        with contextlib.suppress(PackageNotFoundError):
            versions.append(f"{package} {version(package)}")
    load = f"; load average {os.getloadavg()[0]:.1f} at the start" if hasattr(os, "getloadavg") else ""
    return (f"{cpu}, {cores()} cores; torch and numba threads: {threads}{load}; Python "
            f"{platform.python_version()}, {', '.join(versions)}, losskit {_losskit_version()}")


def _losskit_version() -> str:
    """The package version, and the git commit when run from a checkout (with
    a flag when the working tree differs from it: the figures are of that tree)."""
    from . import __version__

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10, check=False)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."], cwd=here,
                               capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return __version__
    if commit.returncode != 0:
        return __version__
    changed = ", with uncommitted changes" if dirty.stdout.strip() else ""
    return f"{__version__} (git {commit.stdout.strip()}{changed})"


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def command_text(names, quick, repeat, threads, no_memory, no_peers, no_compile) -> str:
    parts = ["losskit", "bench", *names]
    parts += ["--quick"] * quick + [f"--repeat {repeat}"] * (repeat is not None)
    parts += [f"--threads {threads}"] + ["--no-memory"] * no_memory + ["--no-peers"] * no_peers
    parts += ["--no-compile"] * no_compile
    return " ".join(parts)


def listing(quick: bool) -> str:
    """What ``losskit bench --list`` prints: the cases and implementations of every loss."""
    every = ("Every case runs losskit, losskit under kernels.disabled() (reference math), torch eager and "
             "torch.compile(eager), then the peers below that import here.")
    lines = [every, ""]
    for loss in LOSSES:
        lines.append(loss)
        for case in cases(quick, [loss]):
            impls = implementations(case, peers=True)
            peers = [i.name for i in impls if i.kind == "peer"] or ["none"]
            lines.append(f"  {case.title}\n    {eager_name(case)}; peers: {', '.join(peers)}")
    return "\n".join(lines)


@contextlib.contextmanager
def _settings(threads: int, compile: bool):
    """torch's thread count, and a cold torch.compile (no on-disk cache), for
    the block; restored after it (the caller may be a test or a notebook)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    with contextlib.ExitStack() as stack:
        if compile:
            import torch._functorch.config as functorch_config
            import torch._inductor.config as inductor_config

            stack.enter_context(inductor_config.patch(fx_graph_cache=False))
            stack.enter_context(functorch_config.patch(enable_autograd_cache=False))
        try:
            yield
        finally:
            torch.set_num_threads(before)


def run(names=(), *, quick=False, repeat=None, threads=None, memory=True, peers=True, compile=True,
        markdown_file=None, command="losskit bench", out=None, progress=None) -> None:
    """Measure the cases of ``names`` (all when empty), print a table per case,
    and append them as Markdown to ``markdown_file`` when given. ``out`` (tables)
    and ``progress`` (stderr lines) are rich consoles; the command line passes its own."""
    if out is None or progress is None:  # called as a library function
        from rich.console import Console

        out, progress = out or Console(), progress or Console(stderr=True)
    threads = threads or cores()
    repeat = repeat or (3 if quick else 7)
    warmup = 1 if quick else 2
    header = [f"Command: `{command}`", f"Machine: {machine_text(threads)}",
              f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
              f"Median of {repeat} calls after {warmup} warm-up calls. {READING}."]
    if peers:
        skipped = [f"{m} ({_skip(m)})" for m in ("kornia", "torchvision", "segmentation_models_pytorch", "optax")
                   if _skip(m)]
        header.append("Peers skipped: " + ("; ".join(skipped) if skipped else "none") +
                      ". pytorch-metric-learning has none of these losses. optax runs on XLA's own CPU thread pool.")
    for line in header:
        out.print(line, highlight=False, markup=False)
    sections = ["\n".join(f"{line}  " for line in header)]
    with _settings(threads, compile):
        for case in cases(quick, names or None):
            progress.print(f"[dim]{case.key}: timing[/dim]")
            rows = measure_case(case, repeat=repeat, warmup=warmup, peers=peers, compile=compile)
            if memory:
                for row in rows:
                    if row.problem is None and row.skipped is None:
                        progress.print(f"[dim]{case.key}: memory of {row.impl.name}[/dim]", markup=True)
                        for mode in ("fwd", "fwd_bwd"):
                            row.memory[mode] = measure_memory(case, row.impl, mode, quick=quick, threads=threads)
            notes = [f"not run: {r.impl.name} ({r.skipped})" for r in rows if r.skipped]
            notes += [f"no peer: {gap}" for gap in peer_gaps(case)] if peers else []
            out.print(rich_table(case, rows, notes))
            sections.append(markdown_table(case, rows, notes))
    if markdown_file:
        with open(markdown_file, "a") as md:
            md.write(f"\n## `{command}`\n\n" + "\n\n".join(sections) + "\n")
        progress.print(f"appended to {markdown_file}", markup=False, highlight=False)


def measure_case(case: Case, *, repeat: int, warmup: int, peers: bool = True, compile: bool = True) -> list[Row]:
    """Every implementation of ``case``, checked against the reference math and timed."""
    inputs = make_inputs(case)
    impls = implementations(case, peers=peers, compile=compile)
    ref_runner = Runner(next(i for i in impls if i.kind == "reference"), inputs)
    ref_value = float(ref_runner.forward())
    ref_runner.forward_backward()
    reference = (ref_value, _to_numpy(ref_runner.grad()).copy())
    del ref_runner
    rows = []
    for impl in impls:
        rows.append(measure(case, inputs, impl, reference, repeat=repeat, warmup=warmup))
        gc.collect()  # drop this implementation's buffers before the next one runs
    return rows

"""Multi-task loss weighting for PyTorch: one interface for every method, no trainer.

Every method is a :class:`Weighting` (a ``torch.nn.Module``) that receives the list
of the task losses, one 0-d tensor per task and ``None`` for a task whose labels
are absent from the batch.

* Loss-based methods (:class:`Fixed`, :class:`Uncertainty`, :class:`DWA`,
  :class:`RandomWeighting`, :class:`GradNorm`) return the total to backpropagate:
  ``total = method(losses)``, ``total = sum_i w_i * L_i`` (Uncertainty adds its
  regulariser).
* Gradient-based methods (:class:`PCGrad`, :class:`MGDA`, :class:`CAGrad`) compute
  each task's gradient of the shared parameters, combine them and write the result
  into the shared parameters' ``.grad``; every other parameter that requires grad
  receives the ordinary gradient of ``sum_i L_i``.

Every method has ``backward(losses, shared_parameters=None)``: a loss-based method
backpropagates its total (only GradNorm reads ``shared_parameters``), so a training
loop switches method by changing the line that builds it. ``backward`` returns, detached
for logging, the total it backpropagated (loss-based) or ``sum_i w_i * L_i`` with the
step's coefficients (gradient-based).

The weights of a step are the coefficients ``w_i`` of the task gradients in the
shared parameters' update (for a gradient-based method: the combination it chose).
They are recorded in :attr:`Weighting.history`, one record per training step,
``NaN`` for an absent task. A method in ``eval()`` mode updates no weight or statistic
and records nothing: a loss-based method returns ``sum_i w_i L_i`` (plus Uncertainty's
regulariser) with its current weights.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
import torch

from .._validate import check_choice

__all__ = [
    "DWA",
    "MGDA",
    "CAGrad",
    "Fixed",
    "GradNorm",
    "PCGrad",
    "RandomWeighting",
    "Uncertainty",
    "Weighting",
]


# -- validation (the one error style: "<where>: <arg> must be ...; received ...") ----


def _check_real(where: str, name: str, value, *, low: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number; received {type(value).__name__} {value!r}")
    value = float(value)
    if not (math.isfinite(value) and (value > low if strict else value >= low)):
        bound = f"{'>' if strict else '>='} {low:g}"
        raise ValueError(f"{where}: {name} must be a finite number {bound}; received {name}={value!r}")
    return value


def _check_count(where: str, name: str, value, *, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an integer; received {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{where}: {name} must be >= 1; received {name}={value!r}")
    return int(value)


def _check_generator(where: str, generator):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"{where}: generator must be a torch.Generator or None; received {type(generator).__name__}")
    return generator


def _shared_list(where: str, shared) -> list:
    """Shared parameters as a list: a module, one tensor or an iterable of tensors."""
    if isinstance(shared, torch.nn.Module):
        shared = list(shared.parameters())
    elif isinstance(shared, torch.Tensor):
        shared = [shared]  # iterating a tensor would walk its rows
    else:
        try:
            shared = list(shared)
        except TypeError:
            raise TypeError(
                f"{where}: shared_parameters must be a module, a tensor or an iterable of tensors; "
                f"received {type(shared).__name__}"
            ) from None
    if not shared:
        raise ValueError(f"{where}: shared_parameters must hold at least one tensor; received an empty iterable")
    seen = {}
    for i, p in enumerate(shared):
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"{where}: shared_parameters[{i}] must be a torch.Tensor; received {type(p).__name__}")
        if not p.requires_grad:
            raise ValueError(f"{where}: shared_parameters[{i}] must require grad; received requires_grad=False")
        if id(p) in seen:
            raise ValueError(
                f"{where}: shared_parameters[{i}] must be distinct; received shared_parameters[{seen[id(p)]}] again"
            )
        seen[id(p)] = i
    return shared


# -- per-task gradients --------------------------------------------------------------


def _task_gradient(where: str, loss, index: int, params) -> list:
    if not loss.requires_grad:
        raise ValueError(f"{where}: losses[{index}] must require grad; received a tensor with requires_grad=False")
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    if all(g is None for g in grads):
        raise ValueError(
            f"{where}: losses[{index}] must depend on shared_parameters; received a loss that reaches none of them"
        )
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def _gradient_norm(where: str, loss, index: int, params) -> float:
    grads = _task_gradient(where, loss, index, params)
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.double()) for g in grads])))


def _weighted_sum(weights, losses, present):
    """``sum_i w_i L_i`` over the present tasks, in at least float32; a zero leaf if none."""
    if not present:
        return torch.zeros((), device=weights.device, requires_grad=True)
    terms = []
    for i in present:
        dtype = torch.promote_types(losses[i].dtype, torch.float32)
        terms.append(weights[i].to(device=losses[i].device, dtype=dtype) * losses[i])
    return sum(terms[1:], terms[0])


# -- base ---------------------------------------------------------------------------


class Weighting(torch.nn.Module):
    """Base of every multi-task weighting method in :mod:`losskit.torch.multitask`.

    Holds ``num_tasks``, ``task_names`` and the weights' :attr:`history`: one record
    per training step, ``{"step": int, "weights": [float, ...], "losses": [float, ...]}``,
    ``NaN`` where the task was absent. ``steps`` counts the training steps.

    Args:
        num_tasks: number of tasks (>= 1).
        task_names: optional names, one per task (default ``"task0"``, ``"task1"``, ...).
        record_history: record each training step in :attr:`history` (default True;
            recording reads the losses back to the host once per step).

    >>> import torch
    >>> from losskit.torch.multitask import Fixed
    >>> method = Fixed([1.0, 0.5], task_names=["cls", "reg"])
    >>> _ = method([torch.tensor(2.0), None])
    >>> method.history_as_rows()[1]
    {'step': 0, 'task': 'reg', 'weight': nan, 'loss': nan}
    """

    def __init__(self, num_tasks, *, task_names=None, record_history=True):
        super().__init__()
        where = type(self).__name__
        self.num_tasks = _check_count(where, "num_tasks", num_tasks)
        if task_names is None:
            task_names = [f"task{i}" for i in range(self.num_tasks)]
        elif isinstance(task_names, str) or not all(isinstance(n, str) for n in task_names):
            raise TypeError(f"{where}: task_names must be a sequence of strings; received {task_names!r}")
        task_names = tuple(task_names)
        if len(task_names) != self.num_tasks or len(set(task_names)) != len(task_names):
            raise ValueError(
                f"{where}: task_names must be {self.num_tasks} distinct names (num_tasks); received {task_names!r}"
            )
        if not isinstance(record_history, bool):
            raise TypeError(f"{where}: record_history must be True or False; received {record_history!r}")
        self.task_names = task_names
        self.record_history = record_history
        self.history: list[dict] = []
        self.steps = 0

    # the weights of the last step (or the starting weights): float64, on the CPU
    @property
    def weights(self) -> torch.Tensor:
        """Current weights, a float64 CPU tensor of shape ``(num_tasks,)``."""
        return self._current_weights().detach().to("cpu", torch.float64).clone()

    def _current_weights(self) -> torch.Tensor:  # pragma: no cover - every method overrides
        raise NotImplementedError

    def _check_losses(self, losses):
        where = type(self).__name__
        if not isinstance(losses, (list, tuple)):
            raise TypeError(
                f"{where}: losses must be a list or tuple of 0-d tensors (None for an absent task); "
                f"received {type(losses).__name__}"
            )
        if len(losses) != self.num_tasks:
            raise ValueError(f"{where}: losses must have {self.num_tasks} entries (num_tasks); received {len(losses)}")
        for i, loss in enumerate(losses):
            if loss is None:
                continue
            if not isinstance(loss, torch.Tensor):
                raise TypeError(f"{where}: losses[{i}] must be a torch.Tensor or None; received {type(loss).__name__}")
            if loss.ndim != 0:
                raise ValueError(
                    f"{where}: losses[{i}] must be a scalar (0-d) tensor; received shape {tuple(loss.shape)}"
                )
            if not loss.is_floating_point():
                raise TypeError(f"{where}: losses[{i}] must be a floating tensor; received dtype {loss.dtype}")
        return list(losses), [i for i, loss in enumerate(losses) if loss is not None]

    def _record(self, weights, losses, present) -> None:
        if self.record_history:
            used = [math.nan] * self.num_tasks
            values = [math.nan] * self.num_tasks
            as_list = weights.detach().to("cpu", torch.float64).tolist()
            for i in present:
                used[i] = as_list[i]
                values[i] = float(losses[i].detach())
            self.history.append({"step": self.steps, "weights": used, "losses": values})
        self.steps += 1

    def history_as_rows(self) -> list[dict]:
        """The history in long form, one ``{"step", "task", "weight", "loss"}`` dict per
        step and task: ``pandas.DataFrame(method.history_as_rows())`` reads it as is."""
        return [
            {"step": record["step"], "task": name, "weight": record["weights"][i], "loss": record["losses"][i]}
            for record in self.history
            for i, name in enumerate(self.task_names)
        ]

    def plot_history(self, ax=None):
        """Plot each task's weight against the step on ``ax`` (a new figure if None);
        returns the axes. Needs matplotlib, imported here."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as error:
            raise ImportError(
                f"{type(self).__name__}.plot_history needs matplotlib, which is not installed; "
                "install it with `pip install matplotlib`"
            ) from error
        if ax is None:
            _, ax = plt.subplots()
        steps = [record["step"] for record in self.history]
        for i, name in enumerate(self.task_names):
            ax.plot(steps, [record["weights"][i] for record in self.history], label=name)
        ax.set_xlabel("step")
        ax.set_ylabel("weight")
        ax.set_title(type(self).__name__)
        ax.legend()
        return ax

    def extra_repr(self) -> str:
        return f"num_tasks={self.num_tasks}"


# -- loss-based methods ---------------------------------------------------------------


class _LossWeighting(Weighting):
    """A method that weights the losses: ``method(losses)`` returns the total."""

    def forward(self, losses, shared_parameters=None):
        losses, present = self._check_losses(losses)
        if self.training:
            weights = self._train_weights(losses, present, shared_parameters)
            self._record(weights, losses, present)
        else:
            weights = self._current_weights()
        return self._total(weights, losses, present)

    def backward(self, losses, shared_parameters=None) -> torch.Tensor:
        """Backpropagate ``self(losses)``; returns the total, detached."""
        total = self(losses, shared_parameters)
        total.backward()
        return total.detach()

    def _total(self, weights, losses, present):
        return _weighted_sum(weights, losses, present)

    def _train_weights(self, losses, present, shared_parameters):  # pragma: no cover
        raise NotImplementedError


class Fixed(_LossWeighting):
    r"""Fixed weights: :math:`L = \sum_i w_i L_i` (the static weighting baseline).

    Args:
        weights: one finite, non-negative weight per task; its length sets ``num_tasks``.
        task_names, record_history: see :class:`Weighting`.

    >>> import torch
    >>> from losskit.torch.multitask import Fixed
    >>> method = Fixed([1.0, 0.5])
    >>> method([torch.tensor(2.0), torch.tensor(4.0)])
    tensor(4.)
    """

    def __init__(self, weights, *, task_names=None, record_history=True):
        if isinstance(weights, torch.Tensor):
            weights = weights.detach().cpu().tolist() if weights.ndim == 1 else weights
        if not isinstance(weights, (list, tuple)) or not weights:
            raise TypeError(f"Fixed: weights must be a non-empty sequence of numbers; received {weights!r}")
        values = [_check_real("Fixed", f"weights[{i}]", w) for i, w in enumerate(weights)]
        super().__init__(len(values), task_names=task_names, record_history=record_history)
        self.register_buffer("fixed_weights", torch.tensor(values, dtype=torch.float64))

    def _current_weights(self):
        return self.fixed_weights

    def _train_weights(self, losses, present, shared_parameters):
        return self.fixed_weights


class Uncertainty(_LossWeighting):
    r"""Homoscedastic uncertainty weighting (Kendall, Gal and Cipolla, 2018).

    Learns one log-variance per task, :math:`s_i = \log \sigma_i^2` (this
    parameterisation keeps :math:`\sigma` positive and the loss smooth), and returns

    .. math:: L = \sum_i c_i e^{-s_i} L_i + \tfrac12 s_i

    with :math:`c_i = \tfrac12` for a regression task (the paper's Gaussian
    likelihood, :math:`\frac{1}{2\sigma^2} L + \log\sigma`) and :math:`c_i = 1` for a
    classification task (its softmax form, :math:`\frac{1}{\sigma^2} L + \log\sigma`).
    The weight of task ``i`` is :math:`c_i e^{-s_i}`; the minimum over :math:`s_i`
    is at :math:`e^{s_i} = 2 c_i L_i`, so a noisier task gets a smaller weight.
    (The common ``exp(-s) L + s`` is twice the regression form: same optimum.)

    ``log_variance`` is an ``nn.Parameter``: pass ``method.parameters()`` to your
    optimiser. If it keeps receiving gradients without changing for 10 steps, a
    ``UserWarning`` says so. An absent task's :math:`s_i` gets no gradient.

    Args:
        num_tasks: number of tasks.
        task_types: ``"regression"`` or ``"classification"``, one for all tasks or one
            per task (default ``"regression"``).
        init_log_variance: starting :math:`s_i` (default 0).
        task_names, record_history: see :class:`Weighting`.

    >>> import torch
    >>> from losskit.torch.multitask import Uncertainty
    >>> method = Uncertainty(2, task_types=["regression", "classification"])
    >>> method([torch.tensor(2.0), torch.tensor(3.0)])  # 0.5*2 + 1*3 + 0
    tensor(4., grad_fn=<AddBackward0>)
    >>> method.weights
    tensor([0.5000, 1.0000], dtype=torch.float64)

    References:
        Kendall, Gal, Cipolla. Multi-task learning using uncertainty to weigh losses
        for scene geometry and semantics. CVPR 2018.
    """

    _STALE_STEPS = 10

    def __init__(self, num_tasks, *, task_types="regression", init_log_variance=0.0, task_names=None,
                 record_history=True):
        super().__init__(num_tasks, task_names=task_names, record_history=record_history)
        kinds = ("regression", "classification")
        if isinstance(task_types, str):
            task_types = [task_types] * self.num_tasks
        task_types = list(task_types)
        if len(task_types) != self.num_tasks:
            raise ValueError(
                f"Uncertainty: task_types must have {self.num_tasks} entries (num_tasks); received {len(task_types)}"
            )
        for i, kind in enumerate(task_types):
            check_choice("Uncertainty", f"task_types[{i}]", kind, kinds)
        init = _check_real("Uncertainty", "init_log_variance", init_log_variance, low=-math.inf)
        self.task_types = tuple(task_types)
        self.register_buffer(
            "factors", torch.tensor([0.5 if k == "regression" else 1.0 for k in task_types], dtype=torch.float64)
        )
        self.log_variance = torch.nn.Parameter(torch.full((self.num_tasks,), init))
        self._seen = None
        self._stale = 0

    def _current_weights(self):
        return self.factors * torch.exp(-self.log_variance.detach().double())

    def _train_weights(self, losses, present, shared_parameters):
        self._warn_if_not_optimised()
        return self.factors.to(self.log_variance) * torch.exp(-self.log_variance)

    def _total(self, weights, losses, present):
        total = _weighted_sum(weights, losses, present)
        if present:
            total = total + 0.5 * self.log_variance[present].sum().to(total.device)
        return total

    def _warn_if_not_optimised(self):
        # Gradients that pile up while s stays put: the parameters are in no optimiser.
        s, grad = self.log_variance.detach(), self.log_variance.grad
        if grad is not None and bool(grad.any()) and self._seen is not None and torch.equal(self._seen, s):
            self._stale += 1
            if self._stale == self._STALE_STEPS:
                warnings.warn(
                    f"Uncertainty: log_variance received gradients for {self._STALE_STEPS} steps without changing; "
                    "pass method.parameters() to your optimiser",
                    UserWarning,
                    stacklevel=4,
                )
        else:
            self._stale = 0
        self._seen = s.clone()


class DWA(_LossWeighting):
    r"""Dynamic Weight Average (Liu, Johns and Davison, 2019).

    .. math:: w_i(t) = K \frac{\exp(r_i(t-1)/T)}{\sum_j \exp(r_j(t-1)/T)}, \qquad
              r_i(t-1) = \frac{\bar L_i(t-1)}{\bar L_i(t-2)}

    where :math:`\bar L_i(t)` is task ``i``'s mean loss over epoch ``t``, ``K`` the
    number of tasks and ``T`` the temperature. The weights are 1 for the first two
    epochs (a task with fewer than two recorded epochs, or a zero mean loss, has
    ratio 1). The weights change only at the end of an epoch: call
    :meth:`epoch_end`, or pass ``steps_per_epoch`` to end an epoch every that many
    training calls (``steps_per_epoch=1`` gives the per-step variant). An absent
    task adds nothing to its epoch mean; a task absent for a whole epoch keeps its
    last two epoch means. ``epoch_losses[i]`` holds task ``i``'s epoch means.

    Args:
        num_tasks: number of tasks.
        temperature: ``T > 0`` (default 2.0, the paper's); larger is closer to equal.
        steps_per_epoch: None (call :meth:`epoch_end`) or an integer >= 1.
        task_names, record_history: see :class:`Weighting`.

    >>> import torch
    >>> from losskit.torch.multitask import DWA
    >>> method = DWA(2, temperature=1.0)
    >>> for a, b in [(2.0, 2.0), (1.0, 2.0)]:  # two epochs of one step each
    ...     _ = method([torch.tensor(a), torch.tensor(b)])
    ...     _ = method.epoch_end()
    >>> method.weights  # ratios 0.5 and 1: 2*softmax([0.5, 1])
    tensor([0.7551, 1.2449], dtype=torch.float64)

    References:
        Liu, Johns, Davison. End-to-end multi-task learning with attention. CVPR 2019.
    """

    def __init__(self, num_tasks, *, temperature=2.0, steps_per_epoch=None, task_names=None, record_history=True):
        super().__init__(num_tasks, task_names=task_names, record_history=record_history)
        self.temperature = _check_real("DWA", "temperature", temperature, strict=True)
        self.steps_per_epoch = _check_count("DWA", "steps_per_epoch", steps_per_epoch, allow_none=True)
        self.register_buffer("dwa_weights", torch.ones(self.num_tasks, dtype=torch.float64))
        self.epoch_losses: list[list[float]] = [[] for _ in range(self.num_tasks)]
        self._sums = [0.0] * self.num_tasks
        self._counts = [0] * self.num_tasks
        self._calls = 0

    def _current_weights(self):
        return self.dwa_weights

    def _train_weights(self, losses, present, shared_parameters):
        weights = self.dwa_weights.clone()  # this step's weights, before an epoch ends
        for i in present:
            self._sums[i] += float(losses[i].detach())
            self._counts[i] += 1
        self._calls += 1
        if self.steps_per_epoch is not None and self._calls == self.steps_per_epoch:
            self.epoch_end()
        return weights

    def epoch_end(self) -> torch.Tensor:
        """Close the epoch: store each task's mean loss and compute the next weights
        (returned)."""
        for i in range(self.num_tasks):
            if self._counts[i]:
                self.epoch_losses[i].append(self._sums[i] / self._counts[i])
        self._sums = [0.0] * self.num_tasks
        self._counts = [0] * self.num_tasks
        self._calls = 0
        ratios = [h[-1] / h[-2] if len(h) >= 2 and h[-2] != 0 else 1.0 for h in self.epoch_losses]
        ratios = torch.tensor(ratios, dtype=torch.float64)
        self.dwa_weights.copy_(self.num_tasks * torch.softmax(ratios / self.temperature, dim=0))
        return self.weights

    def extra_repr(self) -> str:
        return f"num_tasks={self.num_tasks}, temperature={self.temperature}, steps_per_epoch={self.steps_per_epoch}"


class RandomWeighting(_LossWeighting):
    r"""Random loss weighting, RLW (Lin et al., 2021): fresh random weights each step.

    ``"normal"`` (default): :math:`w = \mathrm{softmax}(z)`, :math:`z \sim N(0, I)`;
    ``"uniform"``: :math:`w = \mathrm{softmax}(z)`, :math:`z \sim U(0, 1)^K`;
    ``"dirichlet"``: :math:`w \sim \mathrm{Dirichlet}(1, \dots, 1)` (already on the
    simplex, drawn as normalised Exp(1) variables; LibMTL applies a softmax on top).
    The weights sum to 1. Weights are drawn for every task, present or not, so an
    absent task changes neither the others' weights nor the random stream.
    ``weights`` is the last draw (``1/K``, the mean, before the first).

    Args:
        num_tasks: number of tasks.
        distribution: ``"normal"``, ``"uniform"`` or ``"dirichlet"``.
        generator: a CPU ``torch.Generator`` for reproducible draws (default: torch's
            global generator).
        task_names, record_history: see :class:`Weighting`.

    >>> import torch
    >>> from losskit.torch.multitask import RandomWeighting
    >>> method = RandomWeighting(3, generator=torch.Generator().manual_seed(0))
    >>> _ = method([torch.tensor(1.0)] * 3)
    >>> round(float(method.weights.sum()), 6)
    1.0

    References:
        Lin, Ye, Zhang, Tsang. Reasonable effectiveness of random weighting: a litmus
        test for multi-task learning. TMLR 2022 (arXiv:2111.10603, 2021).
    """

    def __init__(self, num_tasks, *, distribution="normal", generator=None, task_names=None, record_history=True):
        super().__init__(num_tasks, task_names=task_names, record_history=record_history)
        choices = ("normal", "uniform", "dirichlet")
        self.distribution = check_choice("RandomWeighting", "distribution", distribution, choices)
        self.generator = _check_generator("RandomWeighting", generator)
        self._last = torch.full((self.num_tasks,), 1.0 / self.num_tasks, dtype=torch.float64)

    def _current_weights(self):
        return self._last

    def _train_weights(self, losses, present, shared_parameters):
        k, g = self.num_tasks, self.generator
        if self.distribution == "normal":
            w = torch.softmax(torch.randn(k, generator=g, dtype=torch.float64), dim=0)
        elif self.distribution == "uniform":
            w = torch.softmax(torch.rand(k, generator=g, dtype=torch.float64), dim=0)
        else:
            e = torch.empty(k, dtype=torch.float64).exponential_(generator=g)
            w = e / e.sum()
        self._last = w
        return w

    def extra_repr(self) -> str:
        return f"num_tasks={self.num_tasks}, distribution={self.distribution!r}"


class GradNorm(_LossWeighting):
    r"""GradNorm (Chen, Badrinarayanan, Lee and Rabinovich, 2018).

    The network gets :math:`L = \sum_i w_i L_i` (the weights enter as constants).
    The weights learn from

    .. math:: L_{grad} = \sum_i \bigl| G_i - \bar G\, r_i^{\alpha} \bigr|, \quad
              G_i = \lVert \nabla_W\, w_i L_i \rVert_2, \quad
              r_i = \tilde L_i / \operatorname{mean}_j \tilde L_j, \quad
              \tilde L_i = L_i(t) / L_i(0)

    on the shared parameters ``W`` (the paper uses the last shared layer), with
    :math:`\bar G = \operatorname{mean}_i G_i` and the target
    :math:`\bar G r_i^\alpha` held constant. Since :math:`G_i = w_i \lVert \nabla_W
    L_i\rVert`, :math:`\partial L_{grad}/\partial w_i = \operatorname{sign}(G_i -
    \bar G r_i^\alpha) \lVert\nabla_W L_i\rVert` exactly, without a double backward.

    **The update is automatic**: each training call returns the total with the
    current weights ``w(t)``, then takes one step of GradNorm's own Adam optimiser
    (``lr``) on the weights, keeps them >= 1e-6 and renormalises them to
    :math:`\sum_i w_i = K`. Do not put the weights in your optimiser (they never
    hold a ``.grad``, so an optimiser that has them skips them). ``L_i(0)`` is the
    task's loss at its first training call (a zero ``L_i(0)`` gives ratio 1).
    Absent tasks are left out of the means, keep their weight, and the present
    tasks are renormalised to ``K`` minus the absent tasks' weights.

    Args:
        num_tasks: number of tasks.
        alpha: restoring force :math:`\alpha \ge 0` (default 1.5; the paper uses
            0.12 to 3 by problem); 0 pulls the gradient norms to equality.
        shared_parameters: ``W``, a module, tensor or iterable of tensors; may instead
            be passed at each call, ``method(losses, shared_parameters)``.
        lr: learning rate of the weights' Adam (default 0.025).
        task_names, record_history: see :class:`Weighting`.

    >>> import torch
    >>> from losskit.torch.multitask import GradNorm
    >>> W = torch.tensor([1.0, 1.0], requires_grad=True)
    >>> method = GradNorm(2, alpha=0.0, shared_parameters=[W], lr=0.1)
    >>> total = method([W[0] * 10.0, W[1] * 1.0])   # gradient norms 10 and 1
    >>> method.weights  # the larger gradient's task loses weight
    tensor([0.9000, 1.1000], dtype=torch.float64)

    References:
        Chen, Badrinarayanan, Lee, Rabinovich. GradNorm: gradient normalization for
        adaptive loss balancing in deep multitask networks. ICML 2018.
    """

    _FLOOR = 1e-6

    def __init__(self, num_tasks, *, alpha=1.5, shared_parameters=None, lr=0.025, task_names=None,
                 record_history=True):
        super().__init__(num_tasks, task_names=task_names, record_history=record_history)
        self.alpha = _check_real("GradNorm", "alpha", alpha)
        self.lr = _check_real("GradNorm", "lr", lr, strict=True)
        self._shared = None if shared_parameters is None else _shared_list("GradNorm", shared_parameters)
        self.task_weights = torch.nn.Parameter(torch.ones(self.num_tasks))
        self.register_buffer("initial_losses", torch.full((self.num_tasks,), math.nan, dtype=torch.float64))
        self._optimizer = None

    def _current_weights(self):
        return self.task_weights

    def _train_weights(self, losses, present, shared_parameters):
        weights = self.task_weights.detach().clone()  # w(t): the network's gradient must not reach w
        if present:
            self._update(losses, present, shared_parameters)
        return weights

    def _update(self, losses, present, shared_parameters):
        if shared_parameters is not None:
            params = _shared_list("GradNorm", shared_parameters)
        elif self._shared is not None:
            params = self._shared
        else:
            raise ValueError(
                "GradNorm: shared_parameters must be given (to the constructor or the call); received None"
            )
        norms = torch.tensor([_gradient_norm("GradNorm", losses[i], i, params) for i in present], dtype=torch.float64)
        values = torch.tensor([float(losses[i].detach()) for i in present], dtype=torch.float64)
        first = torch.isnan(self.initial_losses[present].cpu())
        self.initial_losses[torch.tensor(present)[first]] = values[first].to(self.initial_losses)
        initial = self.initial_losses[present].cpu()
        ratio = torch.where(initial != 0, values / initial, torch.ones_like(values))
        rate = ratio / ratio.mean()
        w = self.task_weights.detach().double().cpu()[present]
        g = w * norms
        target = g.mean() * rate**self.alpha
        grad = torch.zeros(self.num_tasks, dtype=torch.float64)
        grad[present] = torch.sign(g - target) * norms
        self._step(grad, present)

    def _step(self, grad, present):
        if self._optimizer is None:
            self._optimizer = torch.optim.Adam([self.task_weights], lr=self.lr)
        before = self.task_weights.detach().clone()
        self.task_weights.grad = grad.to(self.task_weights)
        self._optimizer.step()
        self.task_weights.grad = None
        with torch.no_grad():
            w = self.task_weights
            absent = [i for i in range(self.num_tasks) if i not in present]
            w[absent] = before[absent]  # Adam's momentum must not move an absent task
            w[present] = w[present].clamp_min(self._FLOOR)
            w[present] *= (self.num_tasks - before[absent].sum()) / w[present].sum()

    def extra_repr(self) -> str:
        return f"num_tasks={self.num_tasks}, alpha={self.alpha}, lr={self.lr}"


# -- gradient-based methods -----------------------------------------------------------


class _GradientWeighting(Weighting):
    """A method that combines the task gradients of the shared parameters.

    Subclasses give ``_coefficients(gram, values) -> beta`` (numpy), the combined
    gradient being ``sum_i beta_i g_i`` over the present tasks, where ``gram`` is the
    Gram matrix ``g_i . g_j`` (float64) and ``values`` the losses.
    """

    def __init__(self, num_tasks, *, shared_parameters=None, task_names=None, record_history=True):
        super().__init__(num_tasks, task_names=task_names, record_history=record_history)
        where = type(self).__name__
        self._shared = None if shared_parameters is None else _shared_list(where, shared_parameters)
        self._last = torch.full((self.num_tasks,), math.nan, dtype=torch.float64)

    def _current_weights(self):
        return self._last

    def forward(self, losses, shared_parameters=None):
        raise TypeError(
            f"{type(self).__name__}: combines gradients, so it has no weighted total to return; "
            "call method.backward(losses, shared_parameters) instead of method(losses)"
        )

    def backward(self, losses, shared_parameters=None) -> torch.Tensor:
        """Write the combined gradient into the shared parameters' ``.grad`` (added to
        what is there, like ``loss.backward()``) and the gradient of ``sum_i L_i`` into
        every other parameter; returns ``sum_i w_i L_i``, detached."""
        where = type(self).__name__
        losses, present = self._check_losses(losses)
        if shared_parameters is not None:
            params = _shared_list(where, shared_parameters)
        elif self._shared is not None:
            params = self._shared
        else:
            raise ValueError(
                f"{where}: shared_parameters must be given (to the constructor or backward); received None"
            )
        coefficients = torch.full((self.num_tasks,), math.nan, dtype=torch.float64)
        if not present:  # a batch without any label: nothing to do, nothing to break
            if self.training:
                self._last = coefficients
                self._record(coefficients, losses, present)
            return torch.zeros(())
        per_task = [_task_gradient(where, losses[i], i, params) for i in present]
        flat = torch.stack([torch.cat([g.reshape(-1) for g in grads]) for grads in per_task])
        if flat.dtype in (torch.float16, torch.bfloat16):
            flat = flat.float()
        gram = (flat @ flat.T).double().cpu().numpy()
        values = np.array([float(losses[i].detach()) for i in present])
        beta = self._coefficients(gram, values)
        combined = torch.from_numpy(beta).to(flat) @ flat
        before = [None if p.grad is None else p.grad.clone() for p in params]
        sum(losses[i] for i in present).backward()  # task-specific parameters: plain sum
        offset = 0
        for p, old in zip(params, before):
            part = combined[offset : offset + p.numel()].view_as(p).to(p.dtype)
            offset += p.numel()
            p.grad = part if old is None else old + part
        coefficients[present] = torch.from_numpy(beta)
        if self.training:
            self._last = coefficients
            self._record(coefficients, losses, present)
        return sum(float(b) * losses[i].detach() for b, i in zip(beta, present))

    def _coefficients(self, gram, values):  # pragma: no cover
        raise NotImplementedError


class PCGrad(_GradientWeighting):
    r"""Projecting conflicting gradients, PCGrad (Yu et al., 2020).

    For each task ``i``, its gradient :math:`g_i^{PC} = g_i` is projected, for every
    other task ``j`` in a random order, onto the normal plane of :math:`g_j` when
    they conflict: if :math:`g_i^{PC}\cdot g_j < 0`,
    :math:`g_i^{PC} \leftarrow g_i^{PC} - \frac{g_i^{PC}\cdot g_j}{\lVert g_j\rVert^2} g_j`
    (against the original :math:`g_j`, as in the paper's Algorithm 1). The shared
    update is :math:`\sum_i g_i^{PC}` (``reduction="sum"``, the paper) or their mean.
    The gradient is the concatenation of all shared parameters. Without conflicts it
    is the plain sum. The recorded weights are the coefficients of the original
    :math:`g_i` in the update.

    Args:
        num_tasks: number of tasks.
        reduction: ``"sum"`` (default) or ``"mean"`` (the reference PyTorch port's default).
        generator: a CPU ``torch.Generator`` for the projection order (default:
            torch's global generator).
        shared_parameters: module, tensor or iterable of tensors (or give them to
            :meth:`backward`).
        task_names, record_history: see :class:`Weighting`.

    >>> import torch
    >>> from losskit.torch.multitask import PCGrad
    >>> theta = torch.zeros(2, requires_grad=True)
    >>> g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])  # conflicting
    >>> _ = PCGrad(2).backward([g1 @ theta, g2 @ theta], [theta])
    >>> theta.grad  # (1,0)+(-1,1)/2 plus (-1,1)+(1,0)
    tensor([0.5000, 1.5000])

    References:
        Yu, Kumar, Gupta, Levine, Hausman, Finn. Gradient surgery for multi-task
        learning. NeurIPS 2020.
    """

    def __init__(self, num_tasks, *, reduction="sum", generator=None, shared_parameters=None, task_names=None,
                 record_history=True):
        super().__init__(num_tasks, shared_parameters=shared_parameters, task_names=task_names,
                         record_history=record_history)
        self.reduction = check_choice("PCGrad", "reduction", reduction, ("sum", "mean"))
        self.generator = _check_generator("PCGrad", generator)

    def _coefficients(self, gram, values):
        k = len(gram)
        rows = np.eye(k)  # rows[i] @ G = g_i^PC, in the basis of the original gradients
        for i in range(k):
            for j in torch.randperm(k, generator=self.generator).tolist():
                if j == i:
                    continue
                dot = rows[i] @ gram[:, j]
                if dot < 0 and gram[j, j] > 0:
                    rows[i, j] -= dot / gram[j, j]
        beta = rows.sum(axis=0)
        return beta / k if self.reduction == "mean" else beta

    def extra_repr(self) -> str:
        return f"num_tasks={self.num_tasks}, reduction={self.reduction!r}"


class MGDA(_GradientWeighting):
    r"""Multiple-gradient descent, MGDA (Sener and Koltun, 2018).

    The shared update is the min-norm point of the convex hull of the task gradients,

    .. math:: \alpha = \arg\min_{\alpha \in \Delta} \Bigl\lVert \sum_i \alpha_i g_i \Bigr\rVert^2, \qquad
              d = \sum_i \alpha_i g_i,

    a direction that decreases every task (or 0 at a Pareto-stationary point). Two
    tasks use the closed form (the paper's Algorithm 1); three or more use a
    Frank-Wolfe solver with fully corrective steps (Wolfe's 1976 min-norm-point
    algorithm), which ends at the exact minimiser in finitely many steps, where the
    paper's plain Frank-Wolfe (Algorithm 2) stops after a fixed number of
    iterations. Task-specific parameters get the gradient of :math:`\sum_i L_i`, as
    in the paper's Algorithm 2 (the authors' code weights them by :math:`\alpha`).

    ``normalization`` (the authors' code, not the paper) divides each gradient before
    the solve by 1 (``"none"``, default), :math:`\lVert g_i\rVert` (``"l2"``),
    :math:`L_i` (``"loss"``, needs positive losses) or :math:`L_i \lVert g_i\rVert`
    (``"loss+"``); as in that code, the weights found are applied to the raw
    gradients. A zero gradient is left as is. MGDA-UB (the bound on a shared
    representation) is not implemented.

    Args:
        num_tasks: number of tasks.
        normalization: ``"none"``, ``"l2"``, ``"loss"`` or ``"loss+"``.
        shared_parameters: module, tensor or iterable of tensors (or give them to
            :meth:`backward`).
        task_names, record_history: see :class:`Weighting`.

    >>> import torch
    >>> from losskit.torch.multitask import MGDA
    >>> theta = torch.zeros(2, requires_grad=True)
    >>> method = MGDA(2)
    >>> _ = method.backward([theta @ torch.tensor([1.0, 0.0]), theta @ torch.tensor([0.0, 2.0])], [theta])
    >>> method.weights, theta.grad  # the min-norm point of the segment
    (tensor([0.8000, 0.2000], dtype=torch.float64), tensor([0.8000, 0.4000]))

    References:
        Sener, Koltun. Multi-task learning as multi-objective optimization.
        NeurIPS 2018. Wolfe. Finding the nearest point in a polytope. Math.
        Programming 11, 1976.
    """

    def __init__(self, num_tasks, *, normalization="none", shared_parameters=None, task_names=None,
                 record_history=True):
        super().__init__(num_tasks, shared_parameters=shared_parameters, task_names=task_names,
                         record_history=record_history)
        self.normalization = check_choice("MGDA", "normalization", normalization, ("none", "l2", "loss", "loss+"))

    def _coefficients(self, gram, values):
        norms = np.sqrt(np.maximum(gram.diagonal(), 0.0))
        if self.normalization in ("loss", "loss+") and np.any(values <= 0):
            raise ValueError(
                f"MGDA: losses must be > 0 with normalization={self.normalization!r}; received {values.tolist()}"
            )
        scale = {"none": np.ones_like(values), "l2": norms, "loss": values, "loss+": values * norms}[self.normalization]
        scale = np.where(scale > 0, scale, 1.0)
        return _min_norm_weights(gram / np.outer(scale, scale))

    def extra_repr(self) -> str:
        return f"num_tasks={self.num_tasks}, normalization={self.normalization!r}"


class CAGrad(_GradientWeighting):
    r"""Conflict-averse gradient descent, CAGrad (Liu, Liu, Jin, Stone and Liu, 2021).

    The update maximises the worst task's local improvement within a ball around the
    average gradient :math:`g_0 = \frac1K\sum_i g_i`:
    :math:`\max_d \min_i g_i\cdot d` subject to
    :math:`\lVert d - g_0\rVert \le c\lVert g_0\rVert`. Its dual over the simplex,

    .. math:: w = \arg\min_{w\in\Delta}\; g_w\cdot g_0 + \sqrt{\phi}\,\lVert g_w\rVert,
              \quad g_w = \sum_i w_i g_i,\quad \phi = c^2\lVert g_0\rVert^2,

    gives :math:`d = g_0 + \frac{\sqrt\phi}{\lVert g_w\rVert} g_w`. The dual is solved
    deterministically on the Gram matrix by projected gradient descent with
    backtracking (the authors' code calls scipy's SLSQP). With ``rescale=True``
    (default, the authors' ``rescale=1``) the update is :math:`d / (1 + c^2)`;
    ``rescale=False`` gives the paper's :math:`d`. ``c = 0`` is the average gradient.

    Args:
        num_tasks: number of tasks.
        c: the radius factor, ``c >= 0`` (default 0.5; the paper uses 0.2 to 0.9).
        rescale: divide the update by ``1 + c**2`` (default True).
        shared_parameters: module, tensor or iterable of tensors (or give them to
            :meth:`backward`).
        task_names, record_history: see :class:`Weighting`.

    >>> import torch
    >>> from losskit.torch.multitask import CAGrad
    >>> theta = torch.zeros(2, requires_grad=True)
    >>> _ = CAGrad(2, c=0.0).backward([theta @ torch.tensor([1.0, 0.0]), theta @ torch.tensor([0.0, 3.0])], [theta])
    >>> theta.grad  # c = 0: the average gradient
    tensor([0.5000, 1.5000])

    References:
        Liu, Liu, Jin, Stone, Liu. Conflict-averse gradient descent for multi-task
        learning. NeurIPS 2021 (code: github.com/Cranial-XIX/CAGrad).
    """

    def __init__(self, num_tasks, *, c=0.5, rescale=True, shared_parameters=None, task_names=None,
                 record_history=True):
        super().__init__(num_tasks, shared_parameters=shared_parameters, task_names=task_names,
                         record_history=record_history)
        self.c = _check_real("CAGrad", "c", c)
        if not isinstance(rescale, bool):
            raise TypeError(f"CAGrad: rescale must be True or False; received {rescale!r}")
        self.rescale = rescale

    def _coefficients(self, gram, values):
        k = len(gram)
        beta = np.full(k, 1.0 / k)
        g0_norm = math.sqrt(max(gram.mean(), 0.0))  # ||g0||^2 = mean of the Gram matrix
        if self.c > 0 and g0_norm > 0:
            w = _cagrad_dual(gram, self.c)
            gw_norm = math.sqrt(max(w @ gram @ w, 0.0))
            if gw_norm > 0:
                beta = beta + (self.c * g0_norm / gw_norm) * w
        return beta / (1.0 + self.c**2) if self.rescale else beta

    def extra_repr(self) -> str:
        return f"num_tasks={self.num_tasks}, c={self.c}, rescale={self.rescale}"


# -- small solvers on the K x K Gram matrix (float64 NumPy: K is small) --------------------


def _min_norm_weights(gram: np.ndarray) -> np.ndarray:
    """Weights on the simplex of the min-norm point of the convex hull of vectors
    whose Gram matrix is ``gram``."""
    k = len(gram)
    if k == 1:
        return np.ones(1)
    if k == 2:  # closed form: min over gamma of ||gamma g1 + (1 - gamma) g2||^2
        a, b, c = gram[0, 0], gram[0, 1], gram[1, 1]
        gap = a + c - 2 * b  # ||g1 - g2||^2; 0 when they are equal (any gamma will do)
        gamma = 0.5 if gap <= 0 else float(np.clip((c - b) / gap, 0.0, 1.0))
        return np.array([gamma, 1.0 - gamma])
    # Wolfe's algorithm: a Frank-Wolfe step adds the vertex most opposed to the current
    # point x; the corrective loop moves x to the min-norm point of the affine hull of
    # the support, shrinking the support while that point leaves the simplex.
    tol = 1e-12 * max(float(gram.diagonal().max()), np.finfo(float).tiny)
    support, lam = [int(np.argmin(gram.diagonal()))], np.ones(1)
    for _ in range(100 * k):
        dots = gram[:, support] @ lam  # g_j . x
        q = int(np.argmin(dots))
        if q in support or lam @ dots[support] - dots[q] <= tol:
            break
        support, lam = support + [q], np.append(lam, 0.0)
        while True:
            mu = _affine_min_norm(gram[np.ix_(support, support)])
            if np.all(mu > 1e-12):
                lam = mu
                break
            out = np.flatnonzero(mu <= 1e-12)
            gaps = lam[out] - mu[out]
            ratios = np.divide(lam[out], gaps, out=np.zeros_like(gaps), where=gaps > 0)
            lam = lam + ratios.min() * (mu - lam)
            lam[out[np.argmin(ratios)]] = 0.0
            keep = lam > 0
            support, lam = [s for s, kept in zip(support, keep) if kept], lam[keep]
    weights = np.zeros(k)
    weights[support] = lam / lam.sum()
    return weights


def _affine_min_norm(gram: np.ndarray) -> np.ndarray:
    """Coefficients (summing to 1) of the min-norm point of the affine hull."""
    k = len(gram)
    kkt = np.zeros((k + 1, k + 1))
    kkt[:k, :k], kkt[:k, k], kkt[k, :k] = gram, 1.0, 1.0
    rhs = np.zeros(k + 1)
    rhs[k] = 1.0
    return np.linalg.lstsq(kkt, rhs, rcond=None)[0][:k]


def _project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the probability simplex (sort-based)."""
    u = np.sort(v)[::-1]
    excess = np.cumsum(u) - 1.0
    rho = np.flatnonzero(u - excess / np.arange(1, len(v) + 1) > 0)[-1]
    return np.maximum(v - excess[rho] / (rho + 1), 0.0)


def _cagrad_dual(gram: np.ndarray, c: float) -> np.ndarray:
    """argmin over the simplex of w.(G g0) + c ||g0|| ||G w||, scaled by mean ||g_i||^2."""
    k = len(gram)
    w = np.full(k, 1.0 / k)
    scale = float(gram.diagonal().mean())
    if scale <= 0:
        return w
    a = gram / scale
    b = a.mean(axis=1)
    radius = c * math.sqrt(max(b.mean(), 0.0))
    tiny = 1e-30  # keeps sqrt differentiable where g_w = 0

    def value(v):
        return v @ b + radius * math.sqrt(max(v @ a @ v, 0.0) + tiny)

    f, step = value(w), 1.0
    for _ in range(1000):
        aw = a @ w
        grad = b + radius * aw / math.sqrt(max(w @ aw, 0.0) + tiny)
        while step >= 1e-12:  # backtracking: accept a step that decreases enough
            trial = _project_simplex(w - step * grad)
            move = trial - w
            f_trial = value(trial)
            if f_trial <= f + grad @ move + move @ move / (2 * step):
                break
            step /= 2
        else:
            break  # no decrease left at machine precision
        w, f, step = trial, f_trial, step * 2
        if np.abs(move).max() <= 1e-10:
            break
    return w

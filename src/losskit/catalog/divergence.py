"""Registry entries: divergences between distributions."""

from .. import domains as D
from ..functional import divergence as F
from ..registry import LossSpec, Param, register

register(LossSpec(
    name="kl_div",
    function=F.kl_div,
    aliases=("kl_divergence",),
    family="divergence",
    task="distribution",
    kind="class_axis",
    input_space="log-probability",
    link="log_softmax",
    summary="KL(target || input) per sample; distillation and matching a target distribution.",
    estimates="the target distribution",
    input_domain=D.NONPOSITIVE,
    target_domain=D.UNIT,
    params=(Param("log_target", False, None, "target holds log-probabilities", kind="bool"),),
    derivatives=F._kl_div_derivatives,
    minimum=0.0,
    param_grid=(),
    peers=('torch.nn.functional.kl_div(reduction="batchmean")', "scipy.stats.entropy(target, p)"),
    references=("Kullback, S. & Leibler, R. A. (1951). On Information and Sufficiency. Ann. Math. Statist. 22(1).",),
    notes="'mean' is the per-sample mean (PyTorch's 'batchmean'), not the mean over elements.",
))

register(LossSpec(
    name="js_div",
    function=F.js_div,
    aliases=("jensen_shannon",),
    family="divergence",
    task="distribution",
    kind="class_axis",
    input_space="probability",
    summary="Symmetric, bounded (by log 2) divergence between two distributions.",
    estimates="the target distribution",
    input_domain=D.UNIT,
    target_domain=D.UNIT,
    convex=True,
    best_input=lambda t: t,
    peers=("scipy.spatial.distance.jensenshannon(p, q) ** 2",),
    references=("Lin, J. (1991). Divergence measures based on the Shannon entropy. IEEE Trans. Inf. Theory 37(1).",),
))

"""Registry entries of functional/sequence.py: CTC.

``ctc`` takes log-probabilities, its raw input (link "identity"); the
closed-form gradient is the true derivative with respect to them.
"""

import numpy as np

from .. import domains as D
from ..functional import sequence as F
from ..registry import LossSpec, Param, register


def _ctc_example(rng, *, T=12, N=3, C=6, S=4):
    """Random log-probabilities (log-softmax of normal logits) and padded
    targets: labels drawn from [1, C - 2], so that both blank=0 and
    blank=C-1 are valid, with at least one repeated label; target lengths in
    [1, S] (so "mean"'s divisor clamp(target_lengths, 1) is the lengths
    themselves) and input lengths in [T - 3, T], always long enough."""
    z = rng.normal(0.0, 1.5, size=(T, N, C))
    log_probs = z - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)) - z.max(-1, keepdims=True)
    targets = rng.integers(1, C - 1, size=(N, S))
    targets[0, 1] = targets[0, 0]  # a repeat needs a blank between its frames
    target_lengths = rng.integers(1, S + 1, size=N)
    target_lengths[0] = S
    input_lengths = rng.integers(T - 3, T + 1, size=N)
    return (log_probs, targets, input_lengths.astype(np.int64), target_lengths.astype(np.int64)), {}


register(LossSpec(
    name="ctc",
    function=F.ctc,
    aliases=("ctc_loss", "connectionist_temporal_classification"),
    family="sequence",
    task="sequence",
    kind="structured",
    input_space="log-probabilities",
    link="identity",
    summary="Connectionist temporal classification: sequence labelling without a frame alignment "
            "(speech, handwriting, OCR).",
    estimates="the probability of the label sequence, summed over its alignments",
    input_domain=D.NONPOSITIVE,
    target_domain=D.CLASS_INDEX,
    params=(
        Param("blank", 0, None, "index of the blank class, in [0, C)", kind="int"),
        Param("zero_infinity", False, None, "replace infinite losses (impossible targets) and their gradients by 0",
              kind="bool"),
    ),
    inputs=("log_probs", "targets", "input_lengths", "target_lengths"),
    example=_ctc_example,
    mean_divides_by="target_lengths",
    robust=False,
    convex=False,
    hessian_nonnegative=False,
    derivatives=F._ctc_derivatives,
    minimum=0.0,
    param_grid=({"blank": 5}, {"zero_infinity": True}),
    peers=("torch.nn.functional.ctc_loss", "optax.losses.ctc_loss"),
    references=(
        ("Graves, A., Fernandez, S., Gomez, F., Schmidhuber, J. (2006). Connectionist Temporal Classification: "
        "Labelling Unsegmented Sequence Data with Recurrent Neural Networks. ICML."),
    ),
    notes="'mean' divides each sequence's loss by max(target_length, 1), then averages over the batch "
          "(PyTorch's mean); with weight/mask, sum(w m l / max(S', 1)) / sum(w m). Impossible targets give inf "
          "(0 with zero_infinity) and a zero gradient. The closed-form gradient is the true derivative with "
          "respect to log_probs; PyTorch's ctc_loss backward adds exp(log_probs) (its gradient with respect to "
          "logits under log_softmax). Concave in log_probs (minus a log-sum-exp of linear functions), so "
          "convex=False.",
))

"""A two-head network on scikit-learn's wine data, trained with every multi-task weighting.

The wine data ships inside scikit-learn (no download): 178 wines, 13 measurements, 3
cultivars. A shared trunk feeds two heads:

* head 1 classifies the cultivar (``losskit.cross_entropy`` on logits);
* head 2 regresses the alcohol content from the 12 other measurements
  (``losskit.mse`` on the standardised value).

Every method trains the same network (same seed, split, initial weights, batches and
optimiser); the loop is the same for all, only the line that builds the method differs.
The table gives the test accuracy, the test RMSE of the alcohol content (% vol) and the
weights of the last step (for PCGrad, MGDA and CAGrad: the coefficients of the task
gradients in the shared update).

    python examples/multitask_two_heads.py            # 60 epochs, seed 0
    python examples/multitask_two_heads.py --epochs 200 --seed 3
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

import losskit
from losskit.torch.multitask import (
    DWA,
    MGDA,
    CAGrad,
    Fixed,
    GradNorm,
    PCGrad,
    RandomWeighting,
    Uncertainty,
)

BATCH = 32


class TwoHeads(torch.nn.Module):
    def __init__(self, n_inputs: int, hidden: int = 32, n_classes: int = 3):
        super().__init__()
        self.trunk = torch.nn.Sequential(
            torch.nn.Linear(n_inputs, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden), torch.nn.ReLU()
        )
        self.classify = torch.nn.Linear(hidden, n_classes)
        self.regress = torch.nn.Linear(hidden, 1)

    def forward(self, x):
        z = self.trunk(x)
        return self.classify(z), self.regress(z).squeeze(-1)


def make_method(name: str, model: TwoHeads, seed: int, steps_per_epoch: int):
    """The one line that changes between runs (a dict of builders, to run them all)."""
    trunk = list(model.trunk.parameters())
    last_shared = model.trunk[2]  # GradNorm's W: the last shared layer, as in the paper
    builders = {
        "Fixed": lambda: Fixed([1.0, 1.0]),
        "Uncertainty": lambda: Uncertainty(2, task_types=["classification", "regression"]),
        "DWA": lambda: DWA(2, temperature=2.0, steps_per_epoch=steps_per_epoch),
        "RandomWeighting": lambda: RandomWeighting(2, generator=torch.Generator().manual_seed(seed)),
        "GradNorm": lambda: GradNorm(2, alpha=1.5, shared_parameters=last_shared),
        "PCGrad": lambda: PCGrad(2, generator=torch.Generator().manual_seed(seed), shared_parameters=trunk),
        "MGDA": lambda: MGDA(2, shared_parameters=trunk),
        "CAGrad": lambda: CAGrad(2, c=0.5, shared_parameters=trunk),
    }
    return builders[name]()


METHODS = ("Fixed", "Uncertainty", "DWA", "RandomWeighting", "GradNorm", "PCGrad", "MGDA", "CAGrad")


def load(seed: int):
    data = load_wine()
    x = torch.tensor(data.data, dtype=torch.float32)
    labels = torch.tensor(data.target)
    alcohol_column = list(data.feature_names).index("alcohol")
    alcohol = x[:, alcohol_column]
    x = torch.cat([x[:, :alcohol_column], x[:, alcohol_column + 1 :]], dim=1)
    train, test = train_test_split(range(len(x)), test_size=0.3, random_state=seed, stratify=data.target)
    train, test = torch.tensor(train), torch.tensor(test)
    mean, std = x[train].mean(0), x[train].std(0)  # standardise with the training split only
    a_mean, a_std = alcohol[train].mean(), alcohol[train].std()
    x = (x - mean) / std
    target = (alcohol - a_mean) / a_std
    return x, labels, target, train, test, float(a_std)


def run(name: str, epochs: int, seed: int, data) -> dict:
    x, labels, target, train, test, a_std = data
    torch.manual_seed(seed)
    model = TwoHeads(x.shape[1])
    steps_per_epoch = math.ceil(len(train) / BATCH)
    method = make_method(name, model, seed, steps_per_epoch)
    # method.parameters() is empty except for Uncertainty's log-variances
    optimizer = torch.optim.Adam([*model.parameters(), *method.parameters()], lr=1e-2)
    order = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(epochs):
        for batch in train[torch.randperm(len(train), generator=order)].split(BATCH):
            logits, alcohol = model(x[batch])
            losses = [losskit.cross_entropy(logits, labels[batch]), losskit.mse(alcohol, target[batch])]
            optimizer.zero_grad()
            method.backward(losses)
            optimizer.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        logits, alcohol = model(x[test])
        accuracy = float((logits.argmax(1) == labels[test]).float().mean())
        rmse = float(losskit.mse(alcohol, target[test]).sqrt()) * a_std
    return {"method": name, "accuracy": accuracy, "rmse": rmse, "weights": method.weights.tolist(), "seconds": seconds}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60, help="training epochs per method (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, initial weights and batches")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1; received {args.epochs}")
    torch.set_num_threads(1)  # a network this small runs fastest on one thread
    data = load(args.seed)
    results = [run(name, args.epochs, args.seed, data) for name in METHODS]
    print(f"wine: {len(data[3])} train / {len(data[4])} test wines, {args.epochs} epochs, seed {args.seed}")
    print(f"{'method':<16} {'accuracy':>8} {'RMSE (% vol)':>12}  {'weights (cultivar, alcohol)':<28} {'time':>6}")
    for r in results:
        weights = ", ".join(f"{w:.3g}" for w in r["weights"])
        print(f"{r['method']:<16} {r['accuracy']:>8.3f} {r['rmse']:>12.3f}  {weights:<28} {r['seconds']:>5.1f}s")
    return results


if __name__ == "__main__":
    main()

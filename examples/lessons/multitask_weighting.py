"""Multi-task weighting on wine: fixed equal weights versus learned ones (uncertainty, GradNorm).

The lesson (Kendall, Gal & Cipolla 2018; Chen et al. 2018): when a network learns several
tasks whose losses live on different scales, a fixed sum lets the largest loss steer the shared
layers; learning the weights (homoscedastic uncertainty) or balancing the tasks' gradient
norms (GradNorm) should match or beat the equal-weight sum without a hand search.

scikit-learn's bundled wine data (178 wines): a shared trunk (12 -> 32 -> 32, ReLU) with two
heads -- the cultivar (3 classes, ``losskit.cross_entropy``) and the alcohol content in g/L
(``losskit.mse``; % vol x 7.89, centred on the training mean but not scaled, so its squared
error starts some 40 times larger than the cross-entropy, as a target in natural units does).
Every method trains the same network (same split, initial weights, batches, Adam lr 1e-2,
batches of 32) for a fixed number of epochs (no early stopping: the weighted totals of
different methods are not comparable, so the final weights are scored; ``best_epoch`` is the
last). Protocol as ``losskit compare``: stratified k-fold x seeds, the same splits for all.
Test metrics: ``accuracy`` of the cultivar (primary) and ``rmse`` of the alcohol in g/L.

    python examples/lessons/multitask_weighting.py            # 5 folds x 3 seeds, < 1 min
    python examples/lessons/multitask_weighting.py --quick    # 2 folds x 1 seed, few epochs

Writes a run folder (config.json, trials.jsonl, summary.csv, report.html) as ``losskit compare``;
the learning curves hold the inner validation split's summed task loss and accuracy per epoch.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lesson_run import print_summary, protocol_parser, splits, write_run

METHODS = ("Fixed", "Uncertainty", "GradNorm")
GRAMS_PER_LITRE = 7.89  # 1 % vol of ethanol
BATCH, LR = 32, 1e-2


def load():
    from sklearn.datasets import load_wine

    data = load_wine()
    column = list(data.feature_names).index("alcohol")
    X = np.delete(data.data, column, axis=1).astype(np.float32)
    return X, data.target.astype(np.int64), (data.data[:, column] * GRAMS_PER_LITRE).astype(np.float32)


class TwoHeads:
    """Built lazily so that importing this file does not import torch."""

    @staticmethod
    def make(n_inputs: int, seed: int, hidden: int = 32):
        import torch

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.trunk = torch.nn.Sequential(torch.nn.Linear(n_inputs, hidden), torch.nn.ReLU(),
                                                 torch.nn.Linear(hidden, hidden), torch.nn.ReLU())
                self.classify = torch.nn.Linear(hidden, 3)
                self.regress = torch.nn.Linear(hidden, 1)

            def forward(self, x):
                z = self.trunk(x)
                return self.classify(z), self.regress(z).squeeze(-1)

        torch.manual_seed(seed)
        return Net()


def method_of(name: str, net):
    from losskit.torch.multitask import Fixed, GradNorm, Uncertainty

    return {"Fixed": lambda: Fixed([1.0, 1.0]),
            "Uncertainty": lambda: Uncertainty(2, task_types=["classification", "regression"]),
            "GradNorm": lambda: GradNorm(2, alpha=1.5, shared_parameters=net.trunk[2])}[name]()


def trial(name, X, labels, alcohol, train, test, fold, seed, *, epochs):
    import torch
    from sklearn.model_selection import train_test_split

    import losskit

    start = time.perf_counter()
    inner, val = train_test_split(train, test_size=0.2, random_state=1000 * seed + fold, stratify=labels[train])
    mean, std = X[inner].mean(0), X[inner].std(0)
    centre = alcohol[inner].mean()
    x = torch.from_numpy((X - mean) / std)
    c, a = torch.from_numpy(labels), torch.from_numpy(alcohol - centre)
    net = TwoHeads.make(X.shape[1], 1000 * seed + fold)
    method = method_of(name, net)
    opt = torch.optim.Adam([*net.parameters(), *method.parameters()], lr=LR)
    gen = torch.Generator().manual_seed(1000 * seed + fold)
    inner_t, val_t, test_t = (torch.from_numpy(r) for r in (inner, val, test))
    curve = {"epoch": [], "train_loss": [], "val_loss": [], "val_metric": []}
    for epoch in range(1, epochs + 1):
        total, batches = 0.0, 0
        for rows in inner_t[torch.randperm(len(inner_t), generator=gen)].split(BATCH):
            logits, pred = net(x[rows])
            losses = [losskit.cross_entropy(logits, c[rows]), losskit.mse(pred, a[rows])]
            opt.zero_grad()
            method.backward(losses)
            opt.step()
            total, batches = total + float(sum(losses).detach()), batches + 1
        with torch.no_grad():
            logits, pred = net(x[val_t])
            val_loss = float(losskit.cross_entropy(logits, c[val_t]) + losskit.mse(pred, a[val_t]))
            accuracy = float((logits.argmax(1) == c[val_t]).float().mean())
        for key, value in zip(curve, (epoch, total / batches, val_loss, accuracy)):
            curve[key].append(value)
    with torch.no_grad():
        logits, pred = net(x[test_t])
        metrics = {"accuracy": float((logits.argmax(1) == c[test_t]).float().mean()),
                   "rmse": float(torch.sqrt(torch.mean((pred - a[test_t]) ** 2)))}
    return {"key": f"{name}|{fold}|{seed}", "loss": name, "label": name, "params": {}, "fold": fold, "seed": seed,
            "task": "multitask", "model": "mlp two heads", "metrics": metrics, "curve": curve, "best_epoch": epochs,
            "epochs": epochs, "seconds": round(time.perf_counter() - start, 4), "test_rows": test.tolist(),
            "weights": [float(w) for w in method.weights]}


def main(argv=None) -> Path:
    parser = protocol_parser(__doc__, "runs/multitask_weighting", "2 folds x 1 seed, 5 epochs (for tests)")
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args(argv)
    if args.quick:
        args.folds, args.seeds, args.epochs = 2, 1, 5
    import torch

    torch.set_num_threads(1)
    X, labels, alcohol = load()
    records = [trial(name, X, labels, alcohol, train, test, fold, seed, epochs=args.epochs)
               for fold, seed, train, test in splits(labels, args.folds, args.seeds) for name in METHODS]
    config = {
        "title": "Multi-task weighting on wine: fixed vs uncertainty vs GradNorm",
        "data": "sklearn.datasets.load_wine", "target": "cultivar (class) + alcohol in g/L (regression)",
        "task": "multitask", "losses": [{"loss": m, "params": {}, "label": m} for m in METHODS],
        "baseline": "Fixed", "model": "mlp two heads", "folds": args.folds, "seeds": args.seeds,
        "metrics": ["accuracy", "rmse"], "n_rows": len(labels), "n_classes": 3, "data_sha256": None,
        "eval_target": None, "max_epochs": args.epochs, "patience": None,
    }
    out = write_run(args.out, config, records)
    print_summary(out)
    for m in METHODS:
        w = np.mean([r["weights"] for r in records if r["label"] == m], axis=0)
        print(f"{m}: mean final weights (cultivar, alcohol) = {w[0]:.3g}, {w[1]:.3g}")
    print(f"report: {out / 'report.html'}")
    return out


if __name__ == "__main__":
    main()

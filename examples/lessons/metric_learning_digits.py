"""Metric learning on handwritten digits: contrastive pairs versus triplets, judged by recall@1.

The lesson (Hadsell et al. 2006; Schroff et al. 2015; Hermans et al. 2017): a pair loss pulls
every same-label pair together and pushes different-label pairs beyond a margin; a triplet
loss only asks each anchor to be nearer its positive than its negative by a margin, which
leaves the embedding freer; mining the hardest triplets of a batch (batch-hard) spends the
training on the pairs that are still wrong.

Protocol as ``losskit compare``: stratified k-fold x seeds (the same splits for every loss), a
small MLP embedder (64 pixels -> 64 -> 64 -> 16, ReLU) trained with Adam (lr 3e-3, batches of
128) on each fold's training rows; 20 % of them (stratified) are an inner validation split whose
recall@1 picks the best epoch (early stopping, patience 10). The test metric is recall@1 within
the test fold: the share of test digits whose nearest other test digit (Euclidean, in the
embedding) has the same label. Losses come from the losskit registry:

* ``contrastive_embeddings`` -- every pair of the batch (margin 1);
* ``triplet_margin`` -- one random (anchor, positive, negative) triplet per row of the batch;
* ``batch_hard_triplet`` -- the hardest positive and negative of each anchor in the batch.

    python examples/lessons/metric_learning_digits.py            # 5 folds x 3 seeds, ~1-2 min
    python examples/lessons/metric_learning_digits.py --quick    # 2 folds x 1 seed, a few epochs

Writes a run folder (config.json, trials.jsonl, summary.csv, report.html) as ``losskit compare``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lesson_run import print_summary, protocol_parser, sha256, splits, write_run

DATA = HERE / "data" / "digits.csv"
LOSSES = [("contrastive_embeddings", {}), ("triplet_margin", {}), ("batch_hard_triplet", {})]
LR, BATCH, DIM = 3e-3, 128, 16


def load():
    import pandas as pd

    frame = pd.read_csv(DATA)
    return frame.drop(columns="digit").to_numpy(np.float32), frame["digit"].to_numpy(np.int64)


def label_of(loss: str, params: dict) -> str:
    return loss if not params else f"{loss}({', '.join(f'{k}={v}' for k, v in params.items())})"


def embedder(seed: int):
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                               torch.nn.Linear(64, DIM))


def random_triplets(y, generator):
    """For each row with a positive: the row, a random other row of its label, a random row of another."""
    import torch

    same = (y[:, None] == y[None, :]) & ~torch.eye(len(y), dtype=torch.bool)
    other = y[:, None] != y[None, :]
    rows = torch.nonzero(same.any(1) & other.any(1)).squeeze(1)
    pos = torch.multinomial(same[rows].float(), 1, generator=generator).squeeze(1)
    neg = torch.multinomial(other[rows].float(), 1, generator=generator).squeeze(1)
    return rows, pos, neg


def batch_loss(loss_fn, name: str, z, y, generator):
    if name == "triplet_margin":
        a, p, n = random_triplets(y, generator)
        return loss_fn(z[a], z[p], z[n])
    return loss_fn(z, y)


def trial(name, params, X, y, train, test, fold, seed, *, max_epochs, patience):
    import torch
    from sklearn.model_selection import train_test_split

    import losskit
    from losskit.compare.metrics import compute

    start = time.perf_counter()
    inner, val = train_test_split(train, test_size=0.2, random_state=1000 * seed + fold, stratify=y[train])
    mean, std = X[inner].mean(0), X[inner].std(0) + 1e-6  # constant pixels stay 0
    t = lambda rows: torch.from_numpy((X[rows] - mean) / std)
    x_in, x_val, x_test = t(inner), t(val), t(test)
    y_in, y_val = torch.from_numpy(y[inner]), torch.from_numpy(y[val])
    net = embedder(1000 * seed + fold)
    loss_fn = losskit.get(name, **params)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(1000 * seed + fold)
    curve = {"epoch": [], "train_loss": [], "val_loss": [], "val_metric": []}
    best, best_epoch, best_state = -np.inf, 0, None
    for epoch in range(1, max_epochs + 1):
        net.train()
        order, total, batches = torch.randperm(len(inner), generator=gen), 0.0, 0
        for s in range(0, len(order), BATCH):
            rows = order[s:s + BATCH]
            loss = batch_loss(loss_fn, name, net(x_in[rows]), y_in[rows], gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, batches = total + float(loss.detach()), batches + 1
        with torch.no_grad():
            z_val = net(x_val)
            val_loss = float(batch_loss(loss_fn, name, z_val, y_val, torch.Generator().manual_seed(0)))
        recall = compute(["recall@1"], "embedding", y[val], z_val.numpy())["recall@1"]
        for key, value in zip(curve, (epoch, total / batches, val_loss, recall)):
            curve[key].append(value)
        if recall > best:
            best, best_epoch = recall, epoch
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        elif epoch - best_epoch >= patience:
            break
    net.load_state_dict(best_state)
    with torch.no_grad():
        z_test = net(x_test).numpy()
    label = label_of(name, params)
    return {"key": f"{label}|{fold}|{seed}", "loss": name, "label": label, "params": params, "fold": fold,
            "seed": seed, "task": "embedding", "model": "mlp",
            "metrics": compute(["recall@1"], "embedding", y[test], z_test), "curve": curve,
            "best_epoch": best_epoch, "epochs": len(curve["epoch"]), "seconds": round(time.perf_counter() - start, 4),
            "test_rows": test.tolist()}


def main(argv=None) -> Path:
    parser = protocol_parser(__doc__, "runs/metric_learning_digits", "2 folds x 1 seed, 3 epochs (for tests)")
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=10)
    args = parser.parse_args(argv)
    if args.quick:
        args.folds, args.seeds, args.max_epochs = 2, 1, 3
    import torch

    torch.set_num_threads(1)
    X, y = load()
    records = []
    for fold, seed, train, test in splits(y, args.folds, args.seeds):
        for name, params in LOSSES:
            records.append(trial(name, params, X, y, train, test, fold, seed, max_epochs=args.max_epochs,
                                 patience=args.patience))
    config = {
        "title": "Metric learning on digits: contrastive pairs vs triplets",
        "data": str(DATA.relative_to(HERE.parent.parent)), "target": "digit", "task": "embedding",
        "losses": [{"loss": n, "params": p, "label": label_of(n, p)} for n, p in LOSSES],
        "baseline": label_of(*LOSSES[0]), "model": f"mlp 64-64-{DIM} embedder", "folds": args.folds,
        "seeds": args.seeds, "metrics": ["recall@1"], "n_rows": len(y), "n_classes": int(y.max()) + 1,
        "data_sha256": sha256(DATA), "eval_target": None, "max_epochs": args.max_epochs, "patience": args.patience,
    }
    out = write_run(args.out, config, records)
    print_summary(out)
    print(f"report: {out / 'report.html'}")
    return out


if __name__ == "__main__":
    main()

"""losskit.distributed on 2 and 3 gloo ranks (CPU processes) against losskit's single-process losses.

Each test spawns W processes (``torch.multiprocessing.start_processes``, a
free port, a timeout); every rank runs a list of cases on its slice of one
deterministic float64 data set and saves what it got (values, gradients of
its inputs) to a file; the parent computes the single-process loss on the
concatenated batch / full vocabulary and compares, rank by rank:

* vocabulary-parallel cross-entropy: value and the logits' gradient slice
  equal ``losskit.cross_entropy`` on the full logits (uneven slices, one
  empty slice, slices in another order, ignore_index, label smoothing,
  class weights, weights, mask, every reduction);
* gathered contrastive and ``global_batch`` losses, local and full-gather
  modes: for "mean"/"sum" the rank's input gradient is W times the slice of
  the single-process gradient (the value the DDP average turns into the
  exact gradient) and the values average to the single-process value; for
  "none" the rank's rows' values and gradients equal the single-process
  ones (uneven batches, an empty rank, weights, masks, anchors without
  positives);
* a real DistributedDataParallel model: parameter gradients after DDP's
  averaging equal the single-process gradient of the global loss;
* invalid input on one rank raises on every rank (no hang), with messages
  naming the problem, and the group still works afterwards.
"""

from __future__ import annotations

import datetime
import os
import socket
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not (dist.is_available() and dist.is_gloo_available()):
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

import torch.multiprocessing as mp

import losskit

TIMEOUT_S = 150  # a whole spawn; a hang fails the test instead of stalling the run
RTOL, ATOL = 1e-10, 1e-12
DIM = 4
LABELS = [0, 1, 0, 2, 1, 3, 0, 1, 2]  # classes 2 and 3 have few members: some anchors lack a positive


# -- spawning ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Ranks start from a fork server that has imported torch and losskit once, so
# that a spawn costs a fork rather than a fresh interpreter importing torch per
# rank (DistributedDataParallel imports torch._dynamo, seconds on its own).
PRELOAD = ["torch", "torch.distributed", "losskit", "losskit.distributed"]


def _spawn(world: int, tmp_path, scenarios: dict) -> list[dict]:
    """Run ``scenarios`` (name -> options) on ``world`` gloo ranks; returns
    each rank's results (name -> what the scenario returned)."""
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    if method == "forkserver":  # no effect once this process's fork server runs
        mp.set_forkserver_preload(PRELOAD + (["torch.nn.parallel", "torch._dynamo"] if "ddp" in scenarios else []))
    ctx = mp.start_processes(
        _rank_main, args=(world, _free_port(), scenarios, str(tmp_path)), nprocs=world, join=False,
        start_method=method,
    )
    deadline = time.monotonic() + TIMEOUT_S
    while not ctx.join(timeout=0.2):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                if p.is_alive():
                    p.kill()
            pytest.fail(f"{list(scenarios)} on {world} ranks did not finish within {TIMEOUT_S} s")
    return [torch.load(tmp_path / f"rank{r}.pt") for r in range(world)]


def _rank_main(rank, world, port, scenarios, outdir):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        results = {name: SCENARIOS[name](rank, world, **options) for name, options in scenarios.items()}
        torch.save(results, os.path.join(outdir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _rows(sizes, rank):
    start = sum(sizes[:rank])
    return slice(start, start + sizes[rank])


def _close(got, want, what):
    got, want = torch.as_tensor(got), torch.as_tensor(want)
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    assert torch.allclose(got, want, rtol=RTOL, atol=ATOL), f"{what}: {got} != {want}"


# -- data shared by the ranks and the parent ------------------------------------------


def _embeddings(sizes):
    g = torch.Generator().manual_seed(2026)
    n = sum(sizes)
    data = {name: torch.randn(n, DIM, generator=g, dtype=torch.float64) for name in ("x", "y", "z")}
    data["labels"] = torch.tensor((LABELS * 2)[:n], dtype=torch.int64)
    data["weight"] = torch.rand(n, generator=g, dtype=torch.float64) + 0.25
    data["mask"] = torch.tensor([i % 4 != 1 for i in range(n)], dtype=torch.bool)
    data["centers"] = torch.randn(4, DIM, generator=g, dtype=torch.float64)
    return data


def _vocab(widths, n=9):
    g = torch.Generator().manual_seed(7)
    v = sum(widths)
    target = torch.randint(0, v, (n,), generator=g)
    target[2] = target[6] = -100
    return {
        "logits": 4.0 * torch.randn(n, v, generator=g, dtype=torch.float64),
        "target": target,
        "class_weight": torch.rand(v, generator=g, dtype=torch.float64) + 0.5,
        "weight": torch.rand(n, generator=g, dtype=torch.float64),
        "mask": torch.tensor([i % 3 != 0 for i in range(n)]),
    }


# -- contrastive and global-batch cases --------------------------------------------------

# name -> (distributed call on this rank's inputs, single-process reference, input keys)
def _dist_calls():
    import losskit.distributed as ld

    return {
        "info_nce": lambda x, y, **kw: ld.gathered_info_nce(x, y, temperature=0.5, **kw),
        "clip": lambda x, y, **kw: ld.gathered_clip_loss(x, y, logit_scale=3.0, **kw),
        "clip_learned_scale": lambda x, y, s, **kw: ld.gathered_clip_loss(x, y, logit_scale=s.exp(), **kw),
        "supcon": lambda x, labels, **kw: ld.gathered_supervised_contrastive(x, labels, temperature=0.5, **kw),
        "contrastive_embeddings": lambda x, labels, local_loss, **kw: ld.global_batch(
            losskit.contrastive_embeddings, local_loss=local_loss)(x, labels, margin=2.0, **kw),
        "batch_hard_euclidean": lambda x, labels, local_loss, **kw: ld.global_batch(
            losskit.get("batch_hard_triplet", margin=0.5), local_loss=local_loss)(x, labels, **kw),
        "batch_all_cosine": lambda x, labels, local_loss, **kw: ld.global_batch(
            losskit.batch_all_triplet, local_loss=local_loss)(x, labels, distance="cosine", margin=0.3, **kw),
        "batch_hard_squared": lambda x, labels, local_loss, **kw: ld.global_batch(
            losskit.batch_hard_triplet, local_loss=local_loss)(x, labels, distance="squared_euclidean", **kw),
        "supcon_wrapped": lambda x, labels, local_loss, **kw: ld.global_batch(
            losskit.supervised_contrastive, local_loss=local_loss)(x, labels, temperature=0.5, **kw),
        "triplet_margin": lambda x, y, z, local_loss, **kw: ld.global_batch(losskit.triplet_margin)(x, y, z, **kw),
        "center_loss": lambda x, labels, centers, local_loss, **kw: ld.global_batch(losskit.center_loss)(
            x, labels, centers, **kw),
    }


def _clip_reference(images, texts, scale, weight=None, mask=None, reduction="mean"):
    """CLIP's loss written out row by row: for pair i, half the cross-entropy
    of image i over the texts of the present pairs (and its own), half that
    of text i over the images."""
    ui = images / images.norm(dim=1, keepdim=True)
    ut = texts / texts.norm(dim=1, keepdim=True)
    n = images.shape[0]
    values = []
    for i in range(n):
        cand = [j for j in range(n) if j == i or mask is None or bool(mask[j])]
        image_to_text = torch.logsumexp(scale * ui[i] @ ut[cand].T, 0) - scale * ui[i] @ ut[i]
        text_to_image = torch.logsumexp(scale * ut[i] @ ui[cand].T, 0) - scale * ut[i] @ ui[i]
        values.append(0.5 * (image_to_text + text_to_image))
    values = torch.stack(values) if values else 0.0 * images.sum(dim=1)
    w = torch.ones(n, dtype=values.dtype) if weight is None else weight
    if mask is not None:
        w = torch.where(mask, w, torch.zeros_like(w))
    if reduction == "none":
        return w * values
    return (w * values).sum() if reduction == "sum" else (w * values).sum() / (w.sum() if w.sum() > 0 else 1.0)


REFERENCES = {
    "info_nce": lambda x, y, **kw: losskit.info_nce(x, y, temperature=0.5, **kw),
    "clip": lambda x, y, **kw: _clip_reference(x, y, 3.0, **kw),
    "clip_learned_scale": lambda x, y, s, **kw: _clip_reference(x, y, s.exp(), **kw),
    "supcon": lambda x, labels, **kw: losskit.supervised_contrastive(x, labels, temperature=0.5, **kw),
    "contrastive_embeddings": lambda x, labels, **kw: losskit.contrastive_embeddings(x, labels, margin=2.0, **kw),
    "batch_hard_euclidean": lambda x, labels, **kw: losskit.batch_hard_triplet(x, labels, margin=0.5, **kw),
    "batch_all_cosine": lambda x, labels, **kw: losskit.batch_all_triplet(
        x, labels, distance="cosine", margin=0.3, **kw),
    "batch_hard_squared": lambda x, labels, **kw: losskit.batch_hard_triplet(
        x, labels, distance="squared_euclidean", **kw),
    "supcon_wrapped": lambda x, labels, **kw: losskit.supervised_contrastive(x, labels, temperature=0.5, **kw),
    "triplet_margin": lambda x, y, z, **kw: losskit.triplet_margin(x, y, z, **kw),
    "center_loss": lambda x, labels, centers, **kw: losskit.center_loss(x, labels, centers, **kw),
}

INPUTS = {
    "info_nce": ("x", "y"), "clip": ("x", "y"), "clip_learned_scale": ("x", "y", "scale"),
    "supcon": ("x", "labels"), "contrastive_embeddings": ("x", "labels"), "batch_hard_euclidean": ("x", "labels"),
    "batch_all_cosine": ("x", "labels"), "batch_hard_squared": ("x", "labels"), "supcon_wrapped": ("x", "labels"),
    "triplet_margin": ("x", "y", "z"), "center_loss": ("x", "labels", "centers"),
}
REPLICATED = ("scale", "centers")  # the same on every rank (parameters), not split
WRAPPED = ("contrastive_embeddings", "batch_hard_euclidean", "batch_all_cosine", "batch_hard_squared",
           "supcon_wrapped", "triplet_margin", "center_loss")

SETTINGS = [("mean", ()), ("mean", ("weight", "mask")), ("sum", ("weight",)), ("none", ("mask",)),
            ("mean", ("mask",))]
CASES = [(name, local_loss, reduction, extras) for name in INPUTS for local_loss in (True, False)
         for reduction, extras in SETTINGS]


def _inputs(data, names, rows):
    out = []
    for name in names:
        if name == "scale":
            value = torch.tensor(1.2, dtype=torch.float64)
        elif name in REPLICATED:
            value = data[name].clone()
        else:
            value = data[name][rows].clone()
        out.append(value.requires_grad_() if value.is_floating_point() else value)
    return out


def _contrastive_rank(rank, world, sizes):
    calls = _dist_calls()
    data = _embeddings(sizes)
    mine = _rows(sizes, rank)
    results = []
    for name, local_loss, reduction, extras in CASES:
        inputs = _inputs(data, INPUTS[name], mine)
        kwargs = {k: data[k][mine] for k in extras}
        out = calls[name](*inputs, local_loss=local_loss, reduction=reduction, **kwargs)
        (out.sum() if reduction == "none" else out).backward()
        results.append({"value": out.detach(),
                        "grads": [torch.zeros_like(t) if t.grad is None else t.grad for t in inputs
                                  if t.is_floating_point()]})
    return results


def _check_contrastive(results, sizes):
    world = len(sizes)
    data = _embeddings(sizes)
    everything = slice(0, sum(sizes))
    for case, per_rank in zip(CASES, zip(*results)):
        name, local_loss, reduction, extras = case
        inputs = _inputs(data, INPUTS[name], everything)
        want = REFERENCES[name](*inputs, reduction=reduction, **{k: data[k] for k in extras})
        (want.sum() if reduction == "none" else want).backward()
        floats = [(key, t) for key, t in zip(INPUTS[name], inputs) if t.is_floating_point()]
        what = f"{name} local_loss={local_loss} reduction={reduction} {extras} on {world} ranks, sizes {sizes}"
        if reduction == "none":
            for r, got in enumerate(per_rank):
                _close(got["value"], want.detach()[_rows(sizes, r)], f"{what}: values of rank {r}")
        else:
            # the value each rank returns: W times its share (local) or the whole loss (full); both average to it
            _close(sum(got["value"] for got in per_rank) / world, want.detach(), f"{what}: mean of the values")
            if not local_loss and name not in ("triplet_margin", "center_loss"):
                for r, got in enumerate(per_rank):
                    _close(got["value"], want.detach(), f"{what}: value of rank {r}")
        # gradients: a rank's rows get W x (its slice of the global gradient) for mean/sum, so that DDP's
        # average over the ranks is exact; replicated parameters average to the global gradient
        factor = 1 if reduction == "none" else world
        for i, (key, tensor) in enumerate(floats):
            grad = torch.zeros_like(tensor) if tensor.grad is None else tensor.grad  # None: an empty batch
            if key in REPLICATED:
                combined = sum(got["grads"][i] for got in per_rank) / (1 if reduction == "none" else world)
                _close(combined, grad, f"{what}: gradient of {key}")
            else:
                for r, got in enumerate(per_rank):
                    _close(got["grads"][i], factor * grad[_rows(sizes, r)],
                           f"{what}: gradient of {key} on rank {r}")


# -- vocabulary-parallel cases ------------------------------------------------------------

VOCAB_SETTINGS = [
    {}, {"label_smoothing": 0.2}, {"class_weight": True}, {"class_weight": True, "label_smoothing": 0.3},
    {"reduction": "sum", "weight": True, "label_smoothing": 0.1}, {"reduction": "none", "mask": True},
    {"reduction": "none", "class_weight": True, "label_smoothing": 0.1, "weight": True},
    {"mask": True, "weight": True, "class_weight": True}, {"ignore_index": 3},
]


def _target(data, setting):
    """The targets, with the ignored rows marked by the setting's ignore_index."""
    target = data["target"]
    if "ignore_index" in setting:
        target = torch.where(target == -100, torch.full_like(target, setting["ignore_index"]), target)
    return target


def _vocab_rank(rank, world, widths, starts=None):
    from losskit.distributed import vocab_parallel_cross_entropy

    data = _vocab(widths)
    start = sum(widths[:rank]) if starts is None else starts[rank]
    cols = slice(start, start + widths[rank])
    results = []
    for setting in VOCAB_SETTINGS:
        z = data["logits"][:, cols].clone().requires_grad_()
        kwargs = {k: data[k] for k in ("weight", "mask") if setting.get(k)}
        if setting.get("class_weight"):
            kwargs["class_weight"] = data["class_weight"][cols]
        for key in ("label_smoothing", "reduction", "ignore_index"):
            if key in setting:
                kwargs[key] = setting[key]
        if starts is not None:
            kwargs["vocab_start"] = starts[rank]
        out = vocab_parallel_cross_entropy(z, _target(data, setting), **kwargs)
        (out.sum() if setting.get("reduction") == "none" else out).backward()
        results.append({"value": out.detach(), "grad": z.grad, "cols": (cols.start, cols.stop)})
    return results


def _check_vocab(results, widths):
    data = _vocab(widths)
    for setting, per_rank in zip(VOCAB_SETTINGS, zip(*results)):
        z = data["logits"].clone().requires_grad_()
        kwargs = {k: data[k] for k in ("weight", "mask", "class_weight") if setting.get(k)}
        kwargs.update({k: setting[k] for k in ("label_smoothing", "reduction", "ignore_index") if k in setting})
        with losskit_kernels_off():
            want = losskit.cross_entropy(z, _target(data, setting), **kwargs)
        (want.sum() if setting.get("reduction") == "none" else want).backward()
        for r, got in enumerate(per_rank):
            what = f"vocab-parallel {setting} widths {widths} rank {r}"
            _close(got["value"], want.detach(), f"{what}: value")
            _close(got["grad"], z.grad[:, slice(*got["cols"])], f"{what}: gradient")


def losskit_kernels_off():
    """The reference math itself, not a fast path that would serve the
    full-vocabulary call."""
    from losskit import kernels

    return kernels.disabled()


# -- DistributedDataParallel ---------------------------------------------------------------


def _ddp_model():
    torch.manual_seed(11)

    class Encoders(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.image = torch.nn.Linear(5, DIM, dtype=torch.float64)
            self.text = torch.nn.Linear(3, DIM, dtype=torch.float64)
            self.log_scale = torch.nn.Parameter(torch.tensor(0.7, dtype=torch.float64))

        def forward(self, images, texts):
            return self.image(images), self.text(texts), self.log_scale.exp()

    return Encoders()


def _ddp_batch(sizes):
    g = torch.Generator().manual_seed(5)
    n = sum(sizes)
    return {"images": torch.randn(n, 5, generator=g, dtype=torch.float64),
            "texts": torch.randn(n, 3, generator=g, dtype=torch.float64),
            "labels": torch.tensor((LABELS * 2)[:n]), "weight": torch.rand(n, generator=g, dtype=torch.float64),
            "mask": torch.tensor([i % 3 != 2 for i in range(n)])}


DDP_CASES = ["info_nce local", "info_nce full, weight and mask", "clip local, learned scale",
             "clip full, learned scale, mask", "supcon local, weight", "batch_hard_triplet local",
             "triplet_margin, weight"]


def _ddp_distributed(name, images, texts, scale, labels, weight, mask):
    """A DDP case on this rank's features."""
    import losskit.distributed as ld

    if name == "info_nce local":
        return ld.gathered_info_nce(images, texts, temperature=0.2)
    if name == "info_nce full, weight and mask":
        return ld.gathered_info_nce(images, texts, temperature=0.2, local_loss=False, weight=weight, mask=mask)
    if name == "clip local, learned scale":
        return ld.gathered_clip_loss(images, texts, logit_scale=scale)
    if name == "clip full, learned scale, mask":
        return ld.gathered_clip_loss(images, texts, logit_scale=scale, local_loss=False, mask=mask)
    if name == "supcon local, weight":
        return ld.gathered_supervised_contrastive(images, labels, weight=weight)
    if name == "batch_hard_triplet local":
        return ld.global_batch(losskit.batch_hard_triplet)(images, labels)
    assert name == "triplet_margin, weight"
    return ld.global_batch(losskit.triplet_margin)(images, texts, texts.flip(0), weight=weight)


def _ddp_reference(name, images, texts, scale, labels, weight, mask, sizes):
    """The same case, single process, on the whole batch."""
    if name.startswith("info_nce"):
        extra = {"weight": weight, "mask": mask} if "mask" in name else {}
        return losskit.info_nce(images, texts, temperature=0.2, **extra)
    if name.startswith("clip"):
        return _clip_reference(images, texts, scale, mask=mask if "mask" in name else None)
    if name.startswith("supcon"):
        return losskit.supervised_contrastive(images, labels, weight=weight)
    if name.startswith("batch_hard"):
        return losskit.batch_hard_triplet(images, labels)
    # each rank reversed its own texts for the negatives
    flipped = torch.cat([texts[_rows(sizes, r)].flip(0) for r in range(len(sizes))])
    return losskit.triplet_margin(images, texts, flipped, weight=weight)


def _ddp_rank(rank, world, sizes):
    from torch.nn.parallel import DistributedDataParallel

    model = _ddp_model()
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ddp = DistributedDataParallel(model, find_unused_parameters=True)
    batch = _ddp_batch(sizes)
    mine = _rows(sizes, rank)
    results = {"initial": initial}
    for name in DDP_CASES:
        ddp.zero_grad()
        images, texts, scale = ddp(batch["images"][mine], batch["texts"][mine])
        loss = _ddp_distributed(name, images, texts, scale, batch["labels"][mine], batch["weight"][mine],
                                batch["mask"][mine])
        loss.backward()
        results[name] = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    return results


def _check_ddp(results, sizes):
    batch = _ddp_batch(sizes)
    for name in DDP_CASES:
        model = _ddp_model()
        model.load_state_dict(results[0]["initial"])
        images, texts, scale = model(batch["images"], batch["texts"])
        _ddp_reference(name, images, texts, scale, batch["labels"], batch["weight"], batch["mask"], sizes).backward()
        for key, p in model.named_parameters():
            want = p.grad if p.grad is not None else torch.zeros_like(p)
            for r, got in enumerate(results):
                _close(got[name].get(key, torch.zeros_like(p)), want, f"DDP {name}: gradient of {key} on rank {r}")


# -- half and single precision: computed in float32, returned in the input's dtype -------------


def _dtypes_rank(rank, world, sizes, widths):
    import losskit.distributed as ld

    data, vocab = _embeddings(sizes), _vocab(widths)
    mine = _rows(sizes, rank)
    start = sum(widths[:rank])
    q = data["x"][mine].to(torch.float32).requires_grad_()
    k = data["y"][mine].to(torch.bfloat16).requires_grad_()  # the key's dtype differs from the query's
    nce = ld.gathered_info_nce(q, k)
    nce.backward()
    z = vocab["logits"][:, start: start + widths[rank]].to(torch.bfloat16).requires_grad_()
    ce = ld.vocab_parallel_cross_entropy(z, vocab["target"], label_smoothing=0.1)
    ce.backward()
    return {"info_nce": (nce.detach(), q.grad.dtype, k.grad.dtype), "vocab": (ce.detach(), z.grad.dtype)}


def _check_dtypes(results, sizes, widths):
    data, vocab = _embeddings(sizes), _vocab(widths)
    want = losskit.info_nce(data["x"].to(torch.float32), data["y"].to(torch.bfloat16).to(torch.float32))
    values = [r["info_nce"][0] for r in results]
    assert all(v.dtype == torch.float32 for v in values), [v.dtype for v in values]
    assert all(r["info_nce"][1:] == (torch.float32, torch.bfloat16) for r in results)
    assert torch.allclose(sum(values) / len(values), want, rtol=1e-5), (values, want)
    with losskit_kernels_off():
        want = losskit.cross_entropy(vocab["logits"].to(torch.bfloat16), vocab["target"], label_smoothing=0.1)
    for got, grad_dtype in (r["vocab"] for r in results):
        assert got.dtype == grad_dtype == torch.bfloat16 == want.dtype
        assert torch.allclose(got.float(), want.float(), rtol=1e-2), (got, want)


# -- errors -----------------------------------------------------------------------------


def _errors_rank(rank, world):
    import losskit.distributed as ld

    x = torch.randn(3, DIM, dtype=torch.float64)
    attempts = {
        "width differs": lambda: ld.gathered_info_nce(torch.randn(3, DIM + rank), torch.randn(3, DIM + rank)),
        "negative weight on rank 1": lambda: ld.gathered_info_nce(
            x, x, weight=torch.tensor([1.0, -1.0 if rank == 1 else 1.0, 1.0], dtype=torch.float64)),
        "weight on rank 0 only": lambda: ld.gathered_supervised_contrastive(
            x, torch.tensor([0, 1, 0]), weight=torch.ones(3, dtype=torch.float64) if rank == 0 else None),
        "rows differ (vocab)": lambda: ld.vocab_parallel_cross_entropy(
            torch.randn(3 + rank, 4), torch.zeros(3 + rank, dtype=torch.int64)),
        "targets differ (vocab)": lambda: ld.vocab_parallel_cross_entropy(
            torch.randn(3, 4), torch.tensor([0, 1, rank])),
        "slices overlap (vocab)": lambda: ld.vocab_parallel_cross_entropy(
            torch.randn(3, 4), torch.tensor([0, 1, 2]), vocab_start=0),
        "target out of range (vocab)": lambda: ld.vocab_parallel_cross_entropy(
            torch.randn(3, 4), torch.tensor([0, 1, 8])),
        "per-element loss, bad shape on rank 0": lambda: ld.global_batch(losskit.triplet_margin)(
            x, x, x[:2] if rank == 0 else x),
        "unknown loss": lambda: ld.global_batch(losskit.mse),
    }
    caught = {}
    for name, attempt in attempts.items():
        try:
            attempt()
            caught[name] = ("no error", "")
        except Exception as e:  # noqa: BLE001 - recorded for the parent to check
            caught[name] = (type(e).__name__, str(e))
    # the group still works: nobody was left inside a collective
    total = torch.tensor([1.0])
    dist.all_reduce(total)
    caught["all_reduce after the errors"] = ("ok", str(float(total)))
    return caught


EXPECTED_ERRORS = {
    "width differs": [("ValueError", (r"width of query and key \(columns\) must be the same on every rank; "
                                     r"received rank 0: 4, rank 1: 5"))] * 2,
    "negative weight on rank 1": [("RuntimeError", r"input on rank\(s\) \[1\] of the group is invalid"),
                                  ("ValueError", r"weight must be >= 0")],
    "weight on rank 0 only": [("ValueError", r"weight \(given or not\) must be the same on every rank")] * 2,
    "rows differ (vocab)": [("ValueError", (r"number of rows of local_logits .* must be the same on every rank; "
                                           r"received rank 0: 3, rank 1: 4"))] * 2,
    "targets differ (vocab)": [("ValueError", r"target, weight and mask must be the same on every rank")] * 2,
    "slices overlap (vocab)": [("ValueError", (r"must tile \[0, 8\) without gaps or overlaps; received "
                                              r"rank 0: \[0, 4\), rank 1: \[0, 4\)"))] * 2,
    "target out of range (vocab)": [("ValueError", (r"target must hold class indices in \[0, 8\) or "
                                                   r"ignore_index=-100; received 8"))] * 2,
    "per-element loss, bad shape on rank 0": [("ValueError", r"negative must have shape \(3, 4\)"),
                                              ("RuntimeError", r"input on rank\(s\) \[0\] of the group is invalid")],
    "unknown loss": [("TypeError", (r"global_batch: loss must be one of losskit's contrastive_embeddings, .*; "
                                   r"received mse"))] * 2,
    "all_reduce after the errors": [("ok", r"2\.0")] * 2,
}


SCENARIOS = {
    "contrastive": _contrastive_rank,
    "one row in all": _contrastive_rank,
    "no row at all": _contrastive_rank,
    "vocab": _vocab_rank,
    "ddp": _ddp_rank,
    "errors": _errors_rank,
    "dtypes": _dtypes_rank,
}


# -- tests ------------------------------------------------------------------------------


def test_without_a_process_group_every_function_says_so():
    """Every function but gathered_clip_loss, which computes as one rank (the next test)."""
    import losskit.distributed as ld

    if dist.is_initialized():  # another test of this worker process left a group behind
        pytest.skip("a process group is initialised in this test process")
    x = torch.ones(2, DIM)
    calls = [
        lambda: ld.gathered_info_nce(x, x),
        lambda: ld.gathered_supervised_contrastive(x, torch.tensor([0, 1])),
        lambda: ld.vocab_parallel_cross_entropy(x, torch.tensor([0, 1])),
        lambda: ld.global_batch(losskit.batch_hard_triplet)(x, torch.tensor([0, 1])),
        lambda: ld.global_batch(losskit.triplet_margin)(x, x, x), lambda: ld.all_gather_with_grad(x),
    ]
    for call in calls:
        with pytest.raises(RuntimeError, match="no process group is initialised; call torch.distributed"):
            call()


@pytest.mark.parametrize("extras", [(), ("weight",), ("mask",), ("weight", "mask")], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gathered_clip_loss_without_a_process_group_is_one_rank(reduction, extras):
    """No group initialised, none given: the CLIP loss of the given batch (the row-by-row
    reference), gradients included (the learned scale's too), with local_loss either way; NumPy
    and JAX arrays give the same values."""
    import losskit.distributed as ld

    if dist.is_initialized():
        pytest.skip("a process group is initialised in this test process")
    data = _embeddings((5, 4))
    kwargs = {k: data[k] for k in extras}
    want_inputs = [data["x"].clone().requires_grad_(), data["y"].clone().requires_grad_(),
                   torch.tensor(1.2, dtype=torch.float64, requires_grad=True)]
    want = _clip_reference(*want_inputs[:2], want_inputs[2].exp(), reduction=reduction, **kwargs)
    want.sum().backward()
    for local_loss in (True, False):
        inputs = [t.detach().clone().requires_grad_() for t in want_inputs]
        got = ld.gathered_clip_loss(*inputs[:2], logit_scale=inputs[2].exp(), local_loss=local_loss,
                                    reduction=reduction, **kwargs)
        got.sum().backward()
        _close(got.detach(), want.detach(), f"value, local_loss={local_loss}")
        for key, g, w in zip(("images", "texts", "scale"), inputs, want_inputs):
            _close(g.grad, w.grad, f"gradient of {key}, local_loss={local_loss}")
    from helpers import BACKENDS, to, to_numpy

    scale = float(want_inputs[2].detach().exp())
    for backend in BACKENDS:  # numpy, and jax / array-api-strict where installed (torch: above)
        if backend == "torch":
            continue
        arrays = [to(backend, t.numpy()) for t in (data["x"], data["y"])]
        got = ld.gathered_clip_loss(*arrays, logit_scale=scale, reduction=reduction,
                                    **{k: to(backend, v.numpy()) for k, v in kwargs.items()})
        assert type(got).__module__.split(".")[0] == type(arrays[0]).__module__.split(".")[0], backend
        _close(torch.tensor(np.asarray(to_numpy(got))), want.detach(), f"{backend} value")


def test_gathered_clip_loss_without_a_process_group_checks_its_input():
    import losskit.distributed as ld

    if dist.is_initialized():
        pytest.skip("a process group is initialised in this test process")
    x = torch.randn(3, DIM, dtype=torch.float64, requires_grad=True)
    empty = torch.zeros(0, DIM, dtype=torch.float64, requires_grad=True)
    out = ld.gathered_clip_loss(empty, empty.detach())
    out.backward()
    assert float(out.detach()) == 0.0 and empty.grad.shape == (0, DIM)
    with pytest.raises(ValueError, match=r"gathered_clip_loss: text_embeddings must have shape \(3, 4\)"):
        ld.gathered_clip_loss(x, x[:2])
    with pytest.raises(ValueError, match=r"gathered_clip_loss: logit_scale must be > 0"):
        ld.gathered_clip_loss(x, x, logit_scale=-1.0)
    with pytest.raises(TypeError, match=r"gathered_clip_loss: local_loss must be"):
        ld.gathered_clip_loss(x, x, local_loss="yes")
    with pytest.raises(TypeError, match=r"logit_scale must be a number, or a 0-d tensor when the embeddings "):
        ld.gathered_clip_loss(x.detach().numpy(), x.detach().numpy(), logit_scale=torch.tensor(2.0))
    with pytest.raises(RuntimeError, match="no process group is initialised"):  # a group given: the gathered path
        ld.gathered_clip_loss(x, x, group=object())


def test_gathered_clip_loss_is_a_registered_loss():
    """Defined with @loss in distributed/contrastive.py: its family is "contrastive", the loss
    object binds its scale, and the module under it imports no torch at import time."""
    import ast
    from pathlib import Path

    import losskit.distributed as ld
    from losskit.distributed import contrastive

    spec = losskit.spec("gathered_clip_loss")
    assert spec.function is ld.gathered_clip_loss and spec.family == "contrastive" and spec.kind == "structured"
    assert spec.inputs == ("image_embeddings", "text_embeddings") and spec.defaults() == {"logit_scale": 10.0}
    assert spec in losskit.specs(family="contrastive")
    x, y = torch.randn(4, DIM, dtype=torch.float64), torch.randn(4, DIM, dtype=torch.float64)
    assert float(losskit.get("gathered_clip_loss", logit_scale=3.0)(x, y)) == float(
        ld.gathered_clip_loss(x, y, logit_scale=3.0))
    # torch is imported inside the functions only (import losskit registers this loss)
    for name in ("__init__.py", "contrastive.py", "global_batch.py"):
        path = Path(contrastive.__file__).parent / name
        top = ast.parse(path.read_text()).body
        names = {a.name for node in top if isinstance(node, ast.Import) for a in node.names}
        names |= {node.module or "" for node in top if isinstance(node, ast.ImportFrom)}
        assert not {n for n in names if n.split(".")[0] == "torch" or n in ("_gather", "_shards", "vocab_parallel")}, path


def test_import_losskit_registers_gathered_clip_loss_without_torch():
    import subprocess
    import sys

    code = ("import sys, losskit; spec = losskit.spec('gathered_clip_loss'); "
            "print(spec.family, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["contrastive", "False"]
    listed = subprocess.run([sys.executable, "-m", "losskit", "list", "--family", "contrastive"],
                            capture_output=True, text=True, check=True).stdout
    assert "\ngathered_clip_loss " in listed, listed


@pytest.mark.parametrize("world", [2, 3], ids=["2 ranks", "3 ranks"])
def test_distributed_losses_equal_the_single_process_losses(tmp_path, world):
    """One spawn per world size runs every check (a spawn costs seconds; the checks milliseconds)."""
    if world == 2:
        sizes, widths, starts = (3, 5), (5, 8), None
        scenarios = {"contrastive": {"sizes": sizes}, "vocab": {"widths": widths, "starts": starts},
                     "ddp": {"sizes": sizes}, "errors": {}, "dtypes": {"sizes": sizes, "widths": widths},
                     "one row in all": {"sizes": (1, 0)}, "no row at all": {"sizes": (0, 0)}}
    else:  # an empty rank, an empty vocabulary slice, slices in another order than the ranks
        sizes, widths, starts = (4, 0, 3), (4, 0, 7), (7, 11, 0)
        scenarios = {"contrastive": {"sizes": sizes}, "vocab": {"widths": widths, "starts": starts}}
    results = _spawn(world, tmp_path, scenarios)
    _check_contrastive([r["contrastive"] for r in results], sizes)
    _check_vocab([r["vocab"] for r in results], widths)
    if world == 2:
        _check_ddp([r["ddp"] for r in results], sizes)
        _check_errors([r["errors"] for r in results])
        _check_dtypes([r["dtypes"] for r in results], sizes, widths)
        _check_contrastive([r["one row in all"] for r in results], (1, 0))
        _check_contrastive([r["no row at all"] for r in results], (0, 0))


def _check_errors(results):
    import re

    for name, expected in EXPECTED_ERRORS.items():
        for rank, (kind, pattern) in enumerate(expected):
            got_kind, message = results[rank][name]
            assert got_kind == kind and re.search(pattern, message), f"{name} on rank {rank}: {got_kind}: {message}"

"""Layers point down (DESIGN.md, "Layers"): kernels/ holds fused fast paths only,
no public loss, no nn.Module, no import of a family module. Read from the
sources with ``ast``, so nothing here imports torch or numba."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import losskit
import losskit.functional

SRC = Path(__file__).parents[1] / "src" / "losskit"
KERNELS = sorted((SRC / "kernels").glob("*.py"))
FAMILIES = {name for name in vars(losskit.functional) if not name.startswith("_")
            and getattr(getattr(losskit.functional, name), "__name__", "").startswith("losskit.functional.")}


def _imported_modules(tree: ast.Module, package: str) -> set[str]:
    """Absolute names of every module an ``import`` / ``from ... import`` reaches,
    ``from X import name`` counted as both ``X`` and ``X.name``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _is_module_base(base: ast.expr) -> bool:
    text = ast.unparse(base)
    return text in ("Module", "nn.Module", "torch.nn.Module") or text.endswith(".nn.Module")


def test_the_family_modules_are_known():
    assert {"classification", "regression", "metric"} <= FAMILIES


@pytest.mark.parametrize("path", KERNELS, ids=lambda p: p.name)
def test_kernels_import_no_family_module(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = _imported_modules(tree, "losskit.kernels")
    families = {f"losskit.functional.{name}" for name in FAMILIES} | {"losskit.functional"}
    assert not imported & families, f"{path.name} imports {sorted(imported & families)}"


@pytest.mark.parametrize("path", KERNELS, ids=lambda p: p.name)
def test_kernels_define_no_nn_module(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    modules = [node.name for node in ast.walk(tree)
               if isinstance(node, ast.ClassDef) and any(_is_module_base(b) for b in node.bases)]
    assert not modules, f"{path.name} defines nn.Module subclasses {modules}"


def test_the_ast_checks_catch_a_leak():
    leak = ast.parse("from ..functional.classification import cross_entropy\n"
                     "from ..functional import metric\n"
                     "import torch\nclass L(torch.nn.Module): pass\n")
    imported = _imported_modules(leak, "losskit.kernels")
    assert {"losskit.functional.classification", "losskit.functional.metric"} <= imported
    assert any(_is_module_base(b) for node in ast.walk(leak) if isinstance(node, ast.ClassDef) for b in node.bases)


def test_linear_cross_entropy_lives_in_the_classification_family():
    torch = pytest.importorskip("torch")
    import losskit.torch as lt
    from losskit.functional import classification
    from losskit.kernels import linear_cross_entropy as blockwise

    assert lt.linear_cross_entropy is classification.linear_cross_entropy is losskit.linear_cross_entropy
    spec = losskit.spec("linear_cross_entropy")
    assert spec.family == "classification" and spec.function is classification.linear_cross_entropy
    # its module is generated from the registry like every other loss's
    assert lt.LinearCrossEntropyLoss.spec is spec and issubclass(lt.LinearCrossEntropyLoss, torch.nn.Module)
    assert not hasattr(blockwise, "linear_cross_entropy") and not hasattr(blockwise, "LinearCrossEntropyLoss")


# -- every stable primitive lives in _array.py --------------------------------

FUNCTIONAL = sorted((SRC / "functional").glob("*.py"))


def _array_primitives() -> set[str]:
    """Every function defined at module level in ``_array.py``, under its own
    name and with a leading underscore (the name a family file would give a
    private copy)."""
    tree = ast.parse((SRC / "_array.py").read_text())
    names = {node.name.lstrip("_") for node in tree.body if isinstance(node, ast.FunctionDef)}
    return names | {f"_{name}" for name in names}


def test_the_moved_primitives_are_in_array():
    primitives = _array_primitives()
    assert {"erf_erfc", "ndtr", "log1p_sq", "clamped_log", "logaddexp3", "unit_rows", "p_norm",
            "divide_or_zero", "stop_gradient"} <= primitives


@pytest.mark.parametrize("path", FUNCTIONAL, ids=lambda p: p.name)
def test_family_modules_define_no_array_primitive(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    copies = sorted(defined & _array_primitives())
    assert not copies, f"{path.name} defines {copies}; import them from losskit._array"


# -- a loss hands the reduction its class weights; it never mutates the batch ---


def _batch_attribute_assignments(tree: ast.Module) -> list[str]:
    """``b.x = ...`` / ``batch.x = ...`` (plain, augmented or annotated)."""
    found = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        for target in targets:
            for t in ast.walk(target):
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id in ("b", "batch"):
                    found.append(f"line {t.lineno}: {ast.unparse(t)}")
    return found


@pytest.mark.parametrize("path", FUNCTIONAL, ids=lambda p: p.name)
def test_family_modules_do_not_mutate_the_batch(path):
    found = _batch_attribute_assignments(ast.parse(path.read_text(), filename=str(path)))
    assert not found, f"{path.name} assigns to the batch ({found}); pass class_weight= to reduce() instead"


def test_the_batch_check_catches_a_mutation():
    assert _batch_attribute_assignments(ast.parse("b.weight = cw_y\nbatch.mask &= m\nc.weight = 1\n")) == [
        "line 1: b.weight", "line 2: batch.mask"]


# -- a layer above functional/ uses its public names only --------------------------


def _private_uses_of_functional(tree: ast.Module, package: str) -> list[str]:
    """Underscore names (not dunders) that a module outside ``functional/`` takes from
    ``losskit.functional`` or one of its modules: imported (``from ..functional.metric import
    _x``), or read as an attribute of a name bound to one of them (``F._x``, ``metric._x``)."""

    def private(name: str) -> bool:
        return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))

    def absolute(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = package.split(".")[: len(package.split(".")) - node.level + 1]
        return ".".join(base + ([node.module] if node.module else []))

    found, bound = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = absolute(node)
            for alias in node.names:
                full = f"{module}.{alias.name}"
                if module == "losskit.functional" or module.startswith("losskit.functional."):
                    if private(alias.name):
                        found.append(f"line {node.lineno}: from {module} import {alias.name}")
                    else:
                        bound.add(alias.asname or alias.name)  # a module or a function: F, metric, info_nce
                elif full == "losskit.functional":
                    bound.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("losskit.functional") and alias.asname:
                    bound.add(alias.asname)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in bound:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


OUTSIDE_FUNCTIONAL = sorted(p for p in SRC.rglob("*.py") if "functional" not in p.relative_to(SRC).parts)


@pytest.mark.parametrize("path", OUTSIDE_FUNCTIONAL, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_outside_functional_uses_a_private_name_of_functional(path):
    parts = path.relative_to(SRC).with_suffix("").parts
    package = ".".join(("losskit", *(parts[:-1] if parts[-1] != "__init__" else parts[:-1])))
    found = _private_uses_of_functional(ast.parse(path.read_text(), filename=str(path)), package)
    assert not found, f"{path.relative_to(SRC)} uses private names of functional/: {found}"


def test_the_private_name_check_catches_a_leak():
    leak = ast.parse("from ..functional.metric import DISTANCES, _labelled_batch\n"
                     "from .. import functional as F\nfrom ..functional import metric\n"
                     "import losskit.functional.metric as M\n"
                     "F._nt_xent(1)\nmetric._pair_masks\nM._x\nF.metric._check_rows\nF.__all__\n")
    found = _private_uses_of_functional(leak, "losskit.distributed")
    assert sorted(f.split(": ", 1)[1] for f in found) == [
        "F._nt_xent", "F.metric._check_rows", "M._x", "from losskit.functional.metric import _labelled_batch",
        "metric._pair_masks"]


def test_the_embedding_math_has_one_implementation():
    """The single-process metric losses and the distributed ones call the same functions of
    functional/embedding_math.py; neither side defines its own copy. No torch needed: the
    distributed modules import it inside their functions."""
    import importlib

    import losskit.distributed as ld
    from losskit.distributed import contrastive
    from losskit.functional import embedding_math as E

    global_batch = importlib.import_module("losskit.distributed.global_batch")  # the module, not the function
    from losskit.functional import metric

    shared = {name: getattr(E, name) for name in E.__all__ if callable(getattr(E, name))}
    for module in (metric, contrastive, global_batch):
        for name, value in vars(module).items():
            if name in shared:
                assert value is shared[name], f"{module.__name__}.{name} is not embedding_math's"
    assert metric.nt_xent_rows is contrastive.nt_xent_rows is E.nt_xent_rows
    assert metric.supcon_rows is contrastive.supcon_rows is E.supcon_rows
    assert metric.labelled_batch is contrastive.labelled_batch is global_batch.labelled_batch is E.labelled_batch
    assert metric.DISTANCES is global_batch.DISTANCES is E.DISTANCES
    assert contrastive.clip_rows is E.clip_rows
    assert {fn.__name__: rows for fn, (rows, _) in global_batch._MINED.items()} == {
        "contrastive_embeddings": E.contrastive_embeddings_rows, "batch_hard_triplet": E.hardest_triplet_rows,
        "batch_all_triplet": E.all_triplet_rows}
    assert ld.gathered_clip_loss is contrastive.gathered_clip_loss
    # and no module defines a function of the same name (or its private spelling)
    names = set(shared) | {f"_{n}" for n in shared}
    for path in [SRC / "functional" / "metric.py", *sorted((SRC / "distributed").glob("*.py"))]:
        defined = {node.name for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assert not defined & names, f"{path.name} defines {sorted(defined & names)}; use embedding_math's"

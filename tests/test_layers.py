"""Layers point down (DESIGN.md, "Layers"): kernels/ holds fused fast paths only,
no public loss, no nn.Module, no import of a family module. Read from the
sources with ``ast``, so nothing here imports torch or numba."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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

    assert lt.linear_cross_entropy is classification.linear_cross_entropy
    assert lt.LinearCrossEntropyLoss.__module__ == "losskit.torch.modules"
    assert issubclass(lt.LinearCrossEntropyLoss, torch.nn.Module)
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
            "pairwise_distances", "divide_or_zero", "stop_gradient"} <= primitives


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

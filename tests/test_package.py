"""The package as a user meets it: import cost, exports, signatures, the CLI."""

import inspect
import subprocess
import sys

import numpy as np
import pytest

import losskit
import losskit.functional as F


def test_import_pulls_in_neither_torch_nor_jax():
    code = "import sys, losskit; losskit.available(); print('torch' in sys.modules, 'jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_import_loads_the_losses_and_registry_only():
    """The test harness and the recommender load on first use, not with the package."""
    code = ("import sys, losskit; print(sorted(m for m in sys.modules if m.startswith('losskit.')"
            " and m.split('.')[1] in ('testing', 'recommend', 'compare', 'bench', 'cli', 'torch', 'gbdt', 'plots')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_check_recommend_and_testing_load_on_first_use():
    code = ("import numpy as np, losskit, losskit.recommend.data; "
            "print(losskit.check.__module__, losskit.testing.properties.__name__, "
            "type(losskit.recommend(np.arange(50.0))).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["losskit.testing.checker", "losskit.testing.properties", "Recommendation"]


def test_every_exported_function_is_registered_and_vice_versa():
    registered = {s.function for s in losskit.specs() if s.function.__module__.startswith("losskit.functional.")}
    exported = {getattr(losskit, name) for name in F.__all__}
    assert registered <= exported
    # aliases exported as functions (e.g. l1) point at a registered function
    assert exported <= registered, sorted(f.__name__ for f in exported - registered)
    # the registered losses of losskit.distributed (gathered_clip_loss) are exported there
    import losskit.distributed as ld

    others = {s.function for s in losskit.specs()} - registered
    assert others <= {getattr(ld, name) for name in ld.__all__}


def test_available_lists_names_and_aliases():
    names = losskit.available()
    for spec in losskit.specs():
        assert spec.name in names and all(a in names for a in spec.aliases)
    assert names == sorted(names)
    assert set(losskit.available(aliases=False)) == {s.name for s in losskit.specs()}


@pytest.mark.parametrize("spec", losskit.specs(), ids=lambda s: s.name)
def test_signature_follows_the_contract(spec):
    params = inspect.signature(spec.function).parameters
    names = list(params)
    assert names[: len(spec.inputs)] == list(spec.inputs), names
    for extra in spec.extra_inputs:
        assert extra in names
    assert params["reduction"].default == "mean"
    assert params["weight"].default is None and params["mask"].default is None
    for p in spec.params:
        assert params[p.name].kind is inspect.Parameter.KEYWORD_ONLY, p.name
        default = params[p.name].default
        assert default == p.default or (default is None and p.default is None), (p.name, default, p.default)


@pytest.mark.parametrize("spec", losskit.specs(), ids=lambda s: s.name)
def test_docstring_has_math_example_and_peer(spec):
    doc = inspect.getdoc(spec.function)
    assert doc and ">>>" in doc, f"{spec.name}: docstring needs a runnable example"
    for peer in spec.peers:
        head = peer.split("(")[0].strip().split(".")[-1]
        assert head in doc, f"{spec.name}: docstring must name the peer {peer}"


def test_cli_lists_every_loss_with_a_worked_value():
    out = subprocess.run([sys.executable, "-m", "losskit"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for spec in losskit.specs():
        assert f"\n{spec.name} " in out.stdout
    assert "ERROR" not in out.stdout


def test_cli_filters_by_family():
    out = subprocess.run([sys.executable, "-m", "losskit", "list", "--family", "divergence"],
                         capture_output=True, text=True, check=True).stdout
    assert "kl_div" in out and "\nmse " not in out
    bad = subprocess.run([sys.executable, "-m", "losskit", "list", "--family", "segmentaton"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--family': must be one of binary, boxes, classification" in bad.stderr
    assert "received 'segmentaton'" in bad.stderr


def test_a_family_is_the_module_that_defines_it():
    """`losskit list --family binary` lists the losses of functional/binary.py, and a built-in whose
    family names another module is refused at registration."""
    import dataclasses

    from losskit import registry

    for s in losskit.specs():
        assert s.function.__module__ in (f"losskit.functional.{s.family}", f"losskit.distributed.{s.family}"), s.name
    wrong = dataclasses.replace(losskit.spec("sigmoid_focal"), name="sigmoid_focal_elsewhere", aliases=(),
                                family="classification")
    with pytest.raises(ValueError, match="family must be 'binary'"):
        registry.register(wrong)
    assert "sigmoid_focal_elsewhere" not in losskit.available()


def test_loss_object_binds_parameters_and_overrides():
    x, y = np.array([0.0, 3.0]), np.zeros(2)
    loss = losskit.get("huber", delta=2.0)
    assert float(loss(x, y)) == float(losskit.huber(x, y, delta=2.0))
    assert float(loss(x, y, delta=1.0)) == float(losskit.huber(x, y, delta=1.0))
    assert loss.spec.param("delta").domain == losskit.domains.POSITIVE


def test_readme_table_of_losses_is_the_registry():
    from pathlib import Path

    from losskit.cli import markdown_table

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert markdown_table(losskit.specs()) in readme, "regenerate with: losskit list --markdown"


def test_jax_jit_with_arrays_closed_over():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    y, w = jnp.zeros(3), jnp.asarray([1.0, 2.0, 1.0])
    x = jnp.asarray([1.0, 2.0, 3.0])
    jitted = jax.jit(lambda t: losskit.mse(t, y, weight=w))
    np.testing.assert_allclose(float(jitted(x)), float(losskit.mse(x, y, weight=w)), rtol=1e-6)


def test_ci_runs_the_readme_test_command():
    from pathlib import Path

    root = Path(__file__).parents[1]
    ci_command = (root / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci_command.endswith("python -m pytest")
    assert f"\n{ci_command}\n" in (root / "README.md").read_text()


def test_declared_python_and_the_parquet_reader_floor():
    """Python >= 3.11 (the CLI imports tomllib; CI tests 3.11), and a pyarrow floor past
    the releases that run code from a crafted Parquet file (CVE-2023-47248, fixed in 14.0.1)."""
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    python = SpecifierSet(project["requires-python"])
    assert "3.10.99" not in python and "3.11.0" in python
    pyarrow = next(Requirement(r) for r in project["optional-dependencies"]["data"] if r.startswith("pyarrow"))
    assert not any(v in pyarrow.specifier for v in ("14.0.0", "14.0.1", "16.1.0")) and "17.0.0" in pyarrow.specifier


def test_docs_parameter_table_is_the_registry():
    import subprocess
    import sys
    from pathlib import Path

    from losskit.cli import parameter_table

    page = (Path(__file__).parents[1] / "docs" / "parameters.md").read_text()
    start, end = "<!-- generated: losskit list --parameters -->\n", "\n<!-- end generated -->"
    generated = page[page.index(start) + len(start):page.index(end)]
    table = parameter_table(losskit.specs())
    assert generated == table, "regenerate docs/parameters.md's table with: losskit list --parameters"
    run = subprocess.run([sys.executable, "-m", "losskit", "list", "--parameters"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout == table + "\n"
    # one name, one range: label_smoothing admits [0, 1] wherever it appears (PyTorch's range)
    smoothing = {s.name: s.param("label_smoothing").domain for s in losskit.specs()
                 if any(p.name == "label_smoothing" for p in s.params)}
    assert len(smoothing) >= 3 and all(d.describe() == "in [0, 1]" for d in smoothing.values()), smoothing
    logits, classes = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]]), np.array([0, 2])
    assert np.isfinite(float(losskit.binary_cross_entropy_with_logits(logits, logits > 0, label_smoothing=1.0)))
    for loss in (losskit.cross_entropy, losskit.poly1_cross_entropy):
        assert np.isfinite(float(loss(logits, classes, label_smoothing=1.0)))

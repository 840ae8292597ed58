"""Bad input to the command line: refused in one line naming the argument (exit 2), before
any file is hashed or allocated and before any progress bar; user data (column names, class
labels) printed as text, never as rich markup; messages that do not depend on the terminal's
width; a report whose panel cannot be drawn still written."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("rich")


from helpers import cli

LOSSKIT = [sys.executable, "-m", "losskit"]


def invoke(*args):
    return cli(*args)


def refused(result) -> str:
    """The one error line of a refused command (exit 2, no traceback)."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import pandas as pd
    from numpy.lib import format as npy

    root = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 2))
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "y": X[:, 0] + 0.1 * rng.normal(size=60)}).to_csv(
        root / "ok.csv", index=False)
    header = io.BytesIO()  # 1e11 float64 claimed, 800 bytes held
    npy.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**11,)})
    (root / "forged.npy").write_bytes(header.getvalue() + bytes(800))
    (root / "latin1.toml").write_bytes('data = "d\xe9j\xe0.csv"\n'.encode("latin-1"))
    (root / "folder").mkdir()
    return root


@pytest.mark.parametrize("command, where, message", [
    (["compare", "{folder}", "--target", "y"], "DATA", "which is a folder, not a file"),
    (["compare", "{forged}", "--target", "0"], "DATA", "a complete .npy file"),
    (["compare", "--config", "{latin1}"], "--config", "UTF-8"),
    (["compare", "--config", "{folder}"], "--config", "readable"),
    (["tune", "{folder}", "--target", "y", "--loss", "huber"], "DATA", "which is a folder, not a file"),
    (["recommend", "{forged}"], "DATA", "a complete .npy file"),
    (["recommend", "{folder}"], "DATA", "is a directory"),
    (["plot", "huber", "--out", "{folder}/missing/huber.png"], "--out", "an existing folder"),
])
def test_a_bad_file_is_refused_in_one_line_naming_the_argument(files, command, where, message):
    paths = {"folder": files / "folder", "forged": files / "forged.npy", "latin1": files / "latin1.toml"}
    args = [a.format(**paths) for a in command]
    line = refused(invoke(*args))
    assert where in line and message in line


# -- markup in user data ---------------------------------------------------------------------


def test_markup_in_column_names_and_class_labels_is_printed_as_text(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(6)
    X = rng.normal(size=(80, 2))
    labels = np.where(X[:, 0] + 0.3 * rng.normal(size=80) > 0, "[/bad]", "[bold]ok")
    data = tmp_path / "markup.csv"
    pd.DataFrame({"[/]": X[:, 0], "[bold]": X[:, 1], "[red]text": ["[/]"] * 80, "[/x]": labels}).to_csv(
        data, index=False)
    result = subprocess.run([*LOSSKIT, "compare", data, "--target", "[/x]", "--losses",
                             "binary_cross_entropy_with_logits", "--folds", "2", "--seeds", "1", "--no-report",
                             "--out", tmp_path / "run"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "'[/bad]' -> 0, '[bold]ok' -> 1" in result.stderr  # the class coding note, verbatim
    assert "left out of the features (not numeric): '[red]text'" in result.stderr
    assert "binary_cross_entropy_with_logits" in result.stdout


# -- values and protocols that cannot work, said up front -------------------------------------


@pytest.mark.parametrize("column, value", [("y", 1e308), ("y", -np.inf), ("b", np.inf), ("b", -1e200)])
def test_non_finite_or_huge_values_are_refused_before_any_trial(tmp_path, column, value):
    import pandas as pd

    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40), "y": rng.normal(size=40)})
    frame.loc[5, column] = value
    frame.to_csv(tmp_path / "d.csv", index=False)
    result = invoke("compare", tmp_path / "d.csv", "--target", "y", "--losses", "mse", "--folds", "2",
                    "--seeds", "1", "--out", tmp_path / "run")
    line = refused(result)
    assert f"column '{column}' must be finite numbers" in line and "at row 5" in line
    assert "━" not in result.output  # reported before any progress bar is drawn
    assert not (tmp_path / "run").exists()


def test_an_inner_validation_split_too_small_for_the_classes_is_refused_with_the_fix(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(8)
    y = np.repeat(np.arange(7), [9, 9, 9, 9, 8, 8, 8])
    pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60), "c": y}).to_csv(tmp_path / "d.csv",
                                                                                     index=False)
    result = invoke("compare", tmp_path / "d.csv", "--target", "c", "--losses", "cross_entropy", "--folds", "2",
                    "--seeds", "1", "--out", tmp_path / "run")
    line = refused(result)
    assert "7 classes" in line and "class counts 0: 9" in line and "use --folds 3 or more" in line
    assert "━" not in result.output


def test_a_report_panel_that_cannot_be_drawn_leaves_the_rest_of_the_report(tmp_path, monkeypatch):
    import pandas as pd

    from losskit.compare import compare, report

    rng = np.random.default_rng(9)
    X = rng.normal(size=(40, 2))
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "y": X[:, 0] - X[:, 1]}).to_csv(tmp_path / "d.csv", index=False)
    compare(str(tmp_path / "d.csv"), "y", losses="mse", folds=2, seeds=1, out=tmp_path / "run", report=False)

    def singular(*args):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(report, "section_residuals", singular)
    html = report.write_report(tmp_path / "run").read_text()
    assert "This panel could not be drawn (LinAlgError: Singular matrix)" in html
    assert 'id="fig-metrics"' in html and 'id="trials"' in html  # the other panels are there


# -- messages that do not depend on the terminal ----------------------------------------------


def test_messages_are_whole_lines_in_a_narrow_terminal_and_a_long_path(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(10)
    X = rng.normal(size=(40, 2))
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "y": X[:, 0] - X[:, 1]}).to_csv(tmp_path / "d.csv", index=False)
    out = tmp_path / ("a-folder-with-a-long-name-" * 6) / "run"
    assert len(str(out)) > 150
    args = [*LOSSKIT, "compare", tmp_path / "d.csv", "--target", "y", "--losses", "mse", "--folds", "2",
            "--seeds", "1", "--no-report", "--out", out]
    env = {**os.environ, "COLUMNS": "40", "LINES": "10"}
    first = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    again = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"note: resumed: 2 finished trials kept from {out}" in again.stderr.splitlines()
    assert "rmse on the test folds: 2 folds x 1 seeds; mean and 95% CI; paired corrected t-test vs mse, " \
           "Holm-adjusted" in again.stdout.splitlines()


def test_memory_and_os_errors_become_one_line_exit_2(tmp_path):
    from losskit.cli.errors import Refused, user_errors

    with pytest.raises(Refused) as memory, user_errors():
        raise MemoryError("Unable to allocate 745. GiB for an array with shape (100000000000,)")
    with pytest.raises(Refused) as denied, user_errors():
        open(tmp_path, "w")  # noqa: SIM115 - a folder: IsADirectoryError, even for root
    assert memory.value.exit_code == 2 and memory.value.message.startswith("not enough memory (Unable to allocate")
    assert denied.value.exit_code == 2 and denied.value.message == f"Is a directory: {str(tmp_path)!r}"

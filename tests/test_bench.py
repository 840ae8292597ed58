"""``losskit bench``: the command runs, prints its tables and writes Markdown;
bad input is refused. No assertion on times (the machine is shared)."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("rich")

from losskit import bench
from helpers import cli


def invoke(*args):
    return cli("bench", *args, catch_exceptions=False)


def test_mse_quick_prints_a_table_and_appends_markdown(tmp_path):
    md = tmp_path / "results.md"
    md.write_text("# earlier results\n")
    result = invoke("--quick", "--no-memory", "--no-compile", "--repeat", "1", "--threads", "1",
                    "--markdown", str(md), "mse")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for column in bench.COLUMNS:
        assert column in out
    assert "mse 256x1024 float32, mean" in out
    assert "torch eager (F.mse_loss)" in out
    assert "losskit [" in out  # the path the call took, fast or reference with its reason
    assert "mismatch" not in out and "error: " not in out
    assert "cross_entropy" not in out  # NAME selects
    text = md.read_text()
    assert text.startswith("# earlier results\n")  # appended, not overwritten
    assert "## `losskit bench mse --quick --repeat 1 --threads 1 --no-memory --no-compile`" in text
    assert "Machine: " in text and "torch 2." in text and "Date: " in text
    assert "| " + " | ".join(bench.COLUMNS) + " |" in text
    assert "| torch eager (F.mse_loss) | " in text


def test_softmax_focal_quick_with_peers():
    result = invoke("--quick", "--no-memory", "--no-compile", "--repeat", "1", "--threads", "1", "softmax_focal")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "softmax_focal 256x100 float32, mean, gamma=2" in out
    assert "torch eager (torch ops)" in out
    assert "no peer: optax has no softmax focal loss" in out
    if bench._skip("kornia") is None:
        assert "kornia focal_loss (sum / N)" in out
    assert "mismatch" not in out


def test_unknown_name_lists_the_choices():
    result = cli("bench", "--quick", "mse", "focal")
    assert result.exit_code == 2
    assert "must be among cross_entropy, binary_cross_entropy_with_logits" in result.output
    assert "'focal'" in result.output


def test_list_names_every_case():
    result = invoke("--list")
    assert result.exit_code == 0
    for case in bench.cases():
        assert case.title in result.stdout
    assert "4096x32768" in result.stdout and "ignore_index" in result.stdout
    quick = invoke("--list", "--quick")
    assert "512x1000" in quick.stdout and "4096x32768" not in quick.stdout


def test_a_peer_that_computes_something_else_is_a_mismatch_not_a_time():
    import torch.nn.functional as F

    case = bench.cases(quick=True, names=["mse"])[0]
    inputs = bench.make_inputs(case)
    reference = bench.Runner(bench.implementations(case, peers=False, compile=False)[1], inputs)
    value = float(reference.forward())
    reference.forward_backward()
    expected = (value, bench._to_numpy(reference.grad()).copy())
    half = bench.Impl("half mse", lambda inputs: lambda x, y: 0.5 * F.mse_loss(x, y))
    row = bench.measure(case, inputs, half, expected, repeat=1, warmup=0)
    assert row.problem.startswith("mismatch: value") and row.fwd is None
    same = bench.Impl("mse", lambda inputs: F.mse_loss)
    assert bench.measure(case, inputs, same, expected, repeat=1, warmup=0).problem is None


def test_peak_memory_of_a_backward_counts_the_gradient():
    case = bench.cases(quick=True, names=["mse"])[0]
    eager = next(i for i in bench.implementations(case, peers=False, compile=False) if i.kind == "eager")
    extra = bench.measure_memory(case, eager, "fwd_bwd", quick=True, threads=1)
    assert isinstance(extra, float), extra
    assert extra >= 0.9  # x.grad alone is one logits size

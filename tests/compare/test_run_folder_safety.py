"""Run folders under attack: a second run on a locked folder, two runs racing, a killed parent
of `--jobs` workers, a crash while a run file is rewritten, a full disk, a read-only folder,
and a trials.jsonl holding JSON that is not a record. Each is refused in one line (exit 2) and
leaves the finished trials as they were."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("rich")


from losskit.compare import store  # noqa: E402
from losskit.compare.store import atomic_write, read_records, run_lock  # noqa: E402
from helpers import cli

LOSSKIT = [sys.executable, "-m", "losskit"]


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    import pandas as pd

    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(scale=0.3, size=120)
    path = tmp_path_factory.mktemp("data") / "d.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y}).to_csv(path, index=False)
    return path


def args_for(data, out, *more):
    return ["compare", str(data), "--target", "y", "--losses", "mse,mae", "--folds", "2", "--seeds", "1",
            "--no-report", "--out", str(out), *more]


def invoke(args):
    """The CLI in this process (faster than a subprocess; the lock is per process either way)."""
    return cli(*args)


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != store.LOCK}


def keys(folder: Path) -> list[str]:
    return [json.loads(line)["key"] for line in (folder / "trials.jsonl").read_text().splitlines()]


# -- 1. one run per folder -------------------------------------------------------------------

HOLD = ("import sys; from losskit.compare.store import run_lock\n"
        "with run_lock(sys.argv[1]):\n    print('locked', flush=True); sys.stdin.read()\n")


def hold_lock(folder: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_locked_folder_is_refused_at_once_naming_the_holder(data_csv, tmp_path):
    out = tmp_path / "run"
    holder = hold_lock(out)
    try:
        result = invoke(args_for(data_csv, out))
        assert result.exit_code == 2, result.output
        assert f"locked by process {holder.pid}" in result.output
        assert len([line for line in result.output.splitlines() if line.startswith("Error:")]) == 1
        assert sorted(p.name for p in out.iterdir()) == [store.LOCK]  # nothing written
    finally:
        holder.kill()  # kill -9: the kernel drops the lock, nothing stale is left
        holder.wait()
    after = invoke(args_for(data_csv, out))
    assert after.exit_code == 0, after.output
    assert sorted(keys(out)) == ["mae|0|0", "mae|1|0", "mse|0|0", "mse|1|0"]
    assert (out / store.LOCK).read_text() == ""  # an idle folder names no holder


def test_the_lock_is_reentrant_in_one_process_and_exclusive_across_processes(tmp_path):
    with run_lock(tmp_path / "r") as folder, run_lock(folder):  # tune's closing compare re-enters
        assert (folder / store.LOCK).read_text() == str(os.getpid())
        probe = subprocess.run([sys.executable, "-c", HOLD, str(folder)], input="", capture_output=True, text=True)
        assert probe.returncode == 1 and f"locked by process {os.getpid()}" in probe.stderr
    assert not (tmp_path / "r").exists()  # created by the lock and nothing written: removed again


def test_two_runs_started_together_never_both_run_a_trial(data_csv, tmp_path):
    out = tmp_path / "race"
    runs = [subprocess.Popen([*LOSSKIT, *args_for(data_csv, out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in runs]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 2]), results  # the loser is refused, or comes after and resumes
    for code, stderr in results:
        assert code == 0 or "locked by process" in stderr, stderr
    assert sorted(keys(out)) == ["mae|0|0", "mae|1|0", "mse|0|0", "mse|1|0"]  # each trial once
    assert json.loads((out / "config.json").read_text())["config"]["losses"][0]["loss"] == "mse"


def test_config_json_is_created_exclusively(tmp_path):
    atomic_write(tmp_path / "config.json", "first", exclusive=True)
    with pytest.raises(FileExistsError):
        atomic_write(tmp_path / "config.json", "second", exclusive=True)
    assert (tmp_path / "config.json").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]  # no temporary file left


# -- 2. workers die with their parent --------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status is left to collect


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_a_parent_killed_by_sigkill(data_csv, tmp_path):
    out = tmp_path / "run"
    # long trials (no early stop), so the run is still going long after its first trial is saved:
    # the test kills it then, with both workers in the middle of a trial
    slow = ["--model", "mlp", "--max-epochs", "1000", "--patience", "1000", "--seeds", "3", "--jobs", "2"]
    parent = subprocess.Popen([*LOSSKIT, *args_for(data_csv, out), *slow], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not (out / "trials.jsonl").exists() or len(workers) < 2:  # workers are running trials
            assert parent.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
            workers = _children(parent.pid)
            time.sleep(0.05)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 30  # generous: the kernel's signal is immediate, the watcher polls each 1 s
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = [w for w in workers if _alive(w)]
    finally:
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)
    assert survivors == []


# -- 3. rewrites are atomic ------------------------------------------------------------------


def test_a_crash_while_trials_jsonl_is_rewritten_keeps_the_finished_trials(data_csv, tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert invoke(args_for(data_csv, out)).exit_code == 0
    lines = (out / "trials.jsonl").read_text().splitlines(keepends=True)
    cut = "".join(lines[:3]) + lines[3][:40]  # the last write was cut by a kill
    (out / "trials.jsonl").write_text(cut)

    def crash(*args, **kwargs):  # dies after truncating (an in-place rewrite) or before the rename
        if args and isinstance(args[0], Path):
            open(args[0], "w").close()
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", crash)
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        read_records(out)
    monkeypatch.undo()
    assert (out / "trials.jsonl").read_text() == cut  # the three finished trials are all there
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
    assert len(read_records(out)) == 3 and (out / "trials.jsonl").read_text() == "".join(lines[:3])


# -- 4. read-only folder, full disk, lines that are not records ---------------------------------


def _full_disk(monkeypatch, after: int):
    """fsync of trials.jsonl fails with ENOSPC once it holds ``after`` lines."""
    real = os.fsync

    def fsync(fd):
        name = os.readlink(f"/proc/self/fd/{fd}")
        if name.endswith("trials.jsonl") and Path(name).read_text().count("\n") > after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
def test_a_full_disk_is_one_line_and_keeps_every_finished_trial(data_csv, tmp_path, monkeypatch):
    out = tmp_path / "run"
    _full_disk(monkeypatch, after=2)
    result = invoke(args_for(data_csv, out))
    monkeypatch.undo()
    assert result.exit_code == 2, result.output
    assert "--out must be a folder on a disk with free space" in result.output
    assert "run the same command to resume" in result.output and "Traceback" not in result.output
    assert len(keys(out)) == 2  # the failed write was cut back off: whole records only
    again = invoke(args_for(data_csv, out))
    assert again.exit_code == 0, again.output
    assert sorted(keys(out)) == ["mae|0|0", "mae|1|0", "mse|0|0", "mse|1|0"]


def test_a_read_only_folder_is_one_line_and_left_untouched(data_csv, tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert invoke(args_for(data_csv, out)).exit_code == 0
    before = snapshot(out)

    def read_only(file, mode="r", *args, **kwargs):  # what a read-only mount answers (root ignores chmod)
        if any(c in mode for c in "wa+x"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
        return open(file, mode, *args, **kwargs)

    monkeypatch.setattr(store, "open", read_only, raising=False)
    result = invoke(args_for(data_csv, out))  # the same run again: it would take the lock, rewrite config.json
    monkeypatch.undo()
    assert result.exit_code == 2, result.output
    assert "--out must be a folder this user can write to" in result.output and "Read-only" in result.output
    assert "Traceback" not in result.output
    assert snapshot(out) == before


@pytest.mark.parametrize("line", ["42", '{"label": "mse", "fold": 0}', "[1, 2]", '"text"'])
def test_a_line_that_is_json_but_not_a_record_is_refused(data_csv, tmp_path, line):
    out = tmp_path / "run"
    assert invoke(args_for(data_csv, out)).exit_code == 0
    (out / "trials.jsonl").write_text(line + "\n" + (out / "trials.jsonl").read_text())
    before = snapshot(out)
    result = invoke(args_for(data_csv, out))
    assert result.exit_code == 2, result.output
    assert "holds one trial record per line" in result.output and "line 1 of" in result.output
    assert "remove that line" in result.output and "Traceback" not in result.output
    assert snapshot(out) == before

"""The run folder: ``config.json`` and one JSON line per finished trial.

A trial's record is appended to ``trials.jsonl``, flushed and fsynced the
moment it finishes, by the one process that writes, so an interrupted run
(Ctrl-C, a killed process, a power cut) loses only the trials still running.
A line cut short by a kill is set aside on the next open (kept in
``trials.jsonl.partial``), never parsed as a result.

Opening a folder that holds another run:

- same configuration (same fingerprint): resume; finished trials are kept;
- different configuration: refused with the settings that differ, unless
  ``reuse=True`` (keep the finished trials the new configuration shares: same
  data, model, folds and training settings; candidates may be added or
  dropped, metrics are recomputed from the stored predictions) or
  ``overwrite=True`` (the old run is moved to ``DIR/previous-<time>/``,
  never deleted).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .config import TRIAL_SETTINGS, CompareConfig, fail

CONFIG = "config.json"
TRIALS = "trials.jsonl"
OURS = {".DS_Store", "tune", "tune.json"}  # what ``losskit tune`` writes before its closing compare


def trial_key(label: str, fold: int, seed: int) -> str:
    return f"{label}|{fold}|{seed}"


class RunFolder:
    """``open`` it once per run; ``records`` holds the finished trials by key; ``append`` saves one."""

    def __init__(self, path: Path, config: CompareConfig, records: dict):
        self.path, self.config, self.records = path, config, records

    @classmethod
    def open(cls, out, config: CompareConfig, *, reuse: bool = False, overwrite: bool = False) -> RunFolder:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise fail("--out", "a folder (new or holding a losskit compare run)", f"the file {str(path)!r}")
        path.mkdir(parents=True, exist_ok=True)
        config_file = path / CONFIG
        records: dict = {}
        if config_file.exists():
            old = _read_config(config_file)
            if old.fingerprint != config.fingerprint:
                records = cls._settle(path, old, config, reuse, overwrite)
            else:
                records = read_records(path)
        elif any(p.name not in OURS for p in path.iterdir()):
            others = sorted(p.name for p in path.iterdir() if p.name not in OURS)
            raise fail("--out", "a new or empty folder, or one holding a losskit compare run",
                       f"{str(path)!r}, which holds other files ({', '.join(others[:5])})")
        _write_json(config_file, {"config": config.as_dict(), "fingerprint": config.fingerprint})
        if records and not (path / TRIALS).exists():  # reused records from a moved-away run
            with open(path / TRIALS, "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in records.values())
        return cls(path, config, records)

    @staticmethod
    def _settle(path: Path, old: CompareConfig, new: CompareConfig, reuse: bool, overwrite: bool) -> dict:
        changed = new.differences(old)
        if overwrite:
            _move_aside(path)
            return {}
        if not reuse:
            raise fail("--out", "a new folder or one holding a run with the same configuration",
                       f"{str(path)!r}, holding a run whose {', '.join(changed)} differ "
                       "(use another --out; --reuse to keep the trials both runs share; "
                       "--overwrite to move the old run aside)")
        blocking = [k for k in changed if k in TRIAL_SETTINGS]
        if blocking:
            raise fail("--reuse", "a run with the same data, model, folds and training settings",
                       f"a run whose {', '.join(blocking)} differ")
        old_records = read_records(path)
        keep = {c.label for c in new.losses}
        kept = {k: r for k, r in old_records.items() if r["label"] in keep and r["seed"] < new.seeds}
        if set(new.metrics) != set(old.metrics):
            from . import metrics

            for r in kept.values():
                r["metrics"] = metrics.compute(list(new.metrics), new.task, _array(r["y_true"]), _array(r["prediction"]))
        _move_aside(path)
        return kept

    def append(self, record: dict) -> None:
        """Save one finished trial (flushed and fsynced before returning)."""
        line = json.dumps(record, allow_nan=True) + "\n"
        with open(self.path / TRIALS, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.records[record["key"]] = record


def _array(x):
    import numpy as np

    return np.asarray(x, dtype=np.float64)


def _read_config(config_file: Path) -> CompareConfig:
    try:
        return CompareConfig.from_dict(json.loads(config_file.read_text())["config"])
    except (ValueError, KeyError, TypeError) as error:
        raise fail("--out", "a folder whose config.json was written by losskit compare",
                   f"{str(config_file)!r} ({type(error).__name__}: {error})") from None


def read_records(path) -> dict:
    """The finished trials in ``path/trials.jsonl``, by key; a last line cut short is set aside."""
    file = Path(path) / TRIALS
    if not file.exists():
        return {}
    records, good = {}, []
    lines = file.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if i != len(lines) - 1:
                raise fail("--out", f"a folder whose {TRIALS} holds one JSON record per line",
                           f"an unreadable line {i + 1} in {str(file)!r}") from None
            with open(file.with_name(TRIALS + ".partial"), "a") as f:
                f.write(line)
            file.write_text("".join(good))  # drop the cut line so appends start on a fresh line
            break
        good.append(line if line.endswith("\n") else line + "\n")
        records[record["key"]] = record
    else:
        if lines and not lines[-1].endswith("\n"):  # a complete record the kill left without its newline
            file.write_text("".join(good))
    return records


def _move_aside(path: Path) -> None:
    aside = path / time.strftime("previous-%Y%m%d-%H%M%S")
    aside.mkdir()
    for p in list(path.iterdir()):
        if p != aside and not p.name.startswith("previous-"):
            p.rename(aside / p.name)


def _write_json(file: Path, obj) -> None:
    tmp = file.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, file)

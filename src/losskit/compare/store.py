"""The run folder: ``config.json`` and one JSON line per finished trial.

A trial's record is appended to ``trials.jsonl``, flushed and fsynced the
moment it finishes, by the one process that writes, so an interrupted run
(Ctrl-C, a killed process, a power cut) loses only the trials still running.
A line cut short by a kill is set aside on the next open (kept in
``trials.jsonl.partial``), never parsed as a result.

One run at a time: a run holds an exclusive OS lock on ``DIR/.lock``
(:func:`run_lock`) for its whole life, taken before ``config.json`` is read;
the kernel drops it when the process ends, however it ends, so a killed run
leaves no stale lock. A second run on a locked folder is refused at once,
naming the holder's PID. Every rewrite of a run file goes through
:func:`atomic_write` (a temporary file in the folder, fsynced, renamed over
the old one, the folder fsynced), so a kill leaves the old file or the new
one, never a half-written one.

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

import contextlib
import errno
import fcntl
import json
import os
import tempfile
import time
from pathlib import Path

from .config import TRIAL_SETTINGS, CompareConfig, fail

CONFIG = "config.json"
TRIALS = "trials.jsonl"
LOCK = ".lock"
# what ``losskit tune`` writes before its closing compare, and the lock every run takes
OURS = {".DS_Store", "tune", "tune.json", LOCK}
RECORD_FIELDS = {"key": str, "label": str, "fold": int, "seed": int, "metrics": dict}


# -- writing files so that a kill or a full disk never leaves half of one ------------------


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a power cut after it keeps the new name)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)  # reading it means setting it: put it straight back
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give: mkstemp's files are private (0600)


def atomic_write(path, text: str, *, exclusive: bool = False) -> None:
    """Replace ``path`` by ``text`` all at once: a temporary file in the same folder, fsynced,
    renamed over ``path``, the folder fsynced. ``exclusive``: fail with FileExistsError
    where ``path`` exists (a hard link is create-exclusive; a rename is not)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(fd, _FILE_MODE)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)


@contextlib.contextmanager
def folder_errors(path):
    """Turn an OSError met reading or writing the run folder into the house error naming --out,
    with what to do (the finished trials are on disk: the same command resumes)."""
    try:
        yield
    except OSError as error:
        if isinstance(error, (BlockingIOError, ConnectionError)) or not error.errno:
            raise  # already ours (a busy folder), or not the folder's (Ray)
        where = f"{str(path)!r} ({error.strerror or error}{': ' + repr(str(error.filename)) if error.filename else ''})"
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            why = ("a folder on a disk with free space", "; free some space and run the same command to resume "
                   "(finished trials are kept)")
        elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            why = ("a folder this user can write to", "; choose another --out or make it writable")
        else:
            why = ("a folder losskit can read and write", "; choose another --out")
        raise fail("--out", why[0], where + why[1], type(error)) from None


# -- one run per folder ---------------------------------------------------------------------

_HELD: dict = {}  # folder -> [lock file, depth]: this process's locks (tune's closing compare re-enters)


@contextlib.contextmanager
def run_lock(out):
    """Hold the exclusive lock of run folder ``out`` (created if missing) for the ``with`` block.

    The lock is ``flock`` on ``out/.lock``, which holds the holder's PID; the kernel releases it
    when the process dies, so there is never a stale lock. Raises BlockingIOError (naming the
    holder's PID) when another process holds it; re-entrant within one process."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise fail("--out", "a folder (new or holding a losskit compare run)", f"the file {str(path)!r}")
    with folder_errors(path):
        created = not path.exists()
        path.mkdir(parents=True, exist_ok=True)
        key = os.path.realpath(path)
        if key in _HELD:
            _HELD[key][1] += 1
        else:
            f = open(path / LOCK, "a+")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip()
                f.close()
                raise fail("--out", "a folder no other run is using",
                           f"{str(path)!r}, locked by {'process ' + holder if holder.isdigit() else 'another process'}"
                           " (wait for that run to end, or use another --out)", BlockingIOError) from None
            except BaseException:
                f.close()
                raise
            f.truncate(0)
            f.write(str(os.getpid()))
            f.flush()
            _HELD[key] = [f, 1]
    try:
        yield path
    finally:
        entry = _HELD[key]
        entry[1] -= 1
        if entry[1] == 0:
            del _HELD[key]
            f = entry[0]
            with contextlib.suppress(OSError):
                f.truncate(0)  # an idle folder names no holder
                if created and {p.name for p in path.iterdir()} == {LOCK}:
                    (path / LOCK).unlink()  # nothing was written: leave no folder behind
                    path.rmdir()
            f.close()  # releases the lock


def trial_key(label: str, fold: int, seed: int) -> str:
    return f"{label}|{fold}|{seed}"


class RunFolder:
    """``open`` it once per run, under :func:`run_lock`; ``records`` holds the finished trials by key;
    ``append`` saves one."""

    def __init__(self, path: Path, config: CompareConfig, records: dict):
        self.path, self.config, self.records = path, config, records

    @classmethod
    def open(cls, out, config: CompareConfig, *, reuse: bool = False, overwrite: bool = False) -> RunFolder:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise fail("--out", "a folder (new or holding a losskit compare run)", f"the file {str(path)!r}")
        with folder_errors(path):
            return cls._open(path, config, reuse, overwrite)

    @classmethod
    def _open(cls, path: Path, config: CompareConfig, reuse: bool, overwrite: bool) -> RunFolder:
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
        text = json.dumps({"config": config.as_dict(), "fingerprint": config.fingerprint}, indent=2)
        if config_file.exists():
            atomic_write(config_file, text)
        else:  # a new run: create-exclusive, so two writers can never both think they made it
            atomic_write(config_file, text, exclusive=True)
        if records and not (path / TRIALS).exists():  # reused records from a moved-away run
            atomic_write(path / TRIALS, "".join(json.dumps(r) + "\n" for r in records.values()))
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
        """Save one finished trial (flushed and fsynced before returning). A write that fails
        (a full disk) is cut back off, so the file holds whole records only."""
        line = json.dumps(record, allow_nan=True) + "\n"
        with folder_errors(self.path), open(self.path / TRIALS, "a") as f:
            end = f.tell()
            try:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            except OSError:
                with contextlib.suppress(OSError):
                    f.truncate(end)
                raise
        self.records[record["key"]] = record


def _array(x):
    import numpy as np

    return np.asarray(x, dtype=np.float64)


def _read_config(config_file: Path) -> CompareConfig:
    try:
        return CompareConfig.from_dict(json.loads(config_file.read_text())["config"])
    except (ValueError, KeyError, TypeError) as error:
        raise fail("--out", "a folder whose config.json was written by losskit compare",
                   f"{str(config_file)!r} ({type(error).__name__}: {error}); use another --out, "
                   "or move the folder's files aside") from None


def _check_record(record, number: int, file: Path) -> None:
    """A line that parses as JSON but is not a trial record (``42``, a dict without ``key``) is refused."""
    if isinstance(record, dict):
        wrong = [k for k, kind in RECORD_FIELDS.items() if not isinstance(record.get(k), kind)]
        if not wrong:
            return
        what = f"a record without a valid {', '.join(wrong)}"
    else:
        what = f"a JSON {type(record).__name__}, not a record"
    raise fail("--out", f"a folder whose {TRIALS} holds one trial record per line",
               f"{what} on line {number} of {str(file)!r}; remove that line (or move {TRIALS} aside to "
               "rerun every trial), or use another --out")


def read_records(path, *, repair: bool = True) -> dict:
    """The finished trials in ``path/trials.jsonl``, by key; a last line cut short is set aside
    (with ``repair``: moved to ``trials.jsonl.partial`` and the file rewritten atomically)."""
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
                           f"an unreadable line {i + 1} in {str(file)!r}; remove that line, or use another "
                           "--out") from None
            if repair:
                with open(file.with_name(TRIALS + ".partial"), "a") as f:
                    f.write(line)
                    f.flush()
                    os.fsync(f.fileno())
                atomic_write(file, "".join(good))  # drop the cut line so appends start on a fresh line
            break
        _check_record(record, i + 1, file)
        good.append(line if line.endswith("\n") else line + "\n")
        records[record["key"]] = record
    else:
        if repair and lines and not lines[-1].endswith("\n"):  # a complete record the kill left without its newline
            atomic_write(file, "".join(good))
    return records


def _move_aside(path: Path) -> None:
    """Move the run in ``path`` to ``path/previous-<time>/`` (the lock stays: it guards the folder)."""
    stamp = time.strftime("previous-%Y%m%d-%H%M%S")
    aside, n = path / stamp, 1
    while aside.exists():  # two moves within one second
        n += 1
        aside = path / f"{stamp}-{n}"
    aside.mkdir()
    for p in list(path.iterdir()):
        if p != aside and not p.name.startswith("previous-") and p.name != LOCK:
            p.rename(aside / p.name)
    _fsync_folder(path)

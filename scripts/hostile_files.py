"""Feed `losskit recommend` and `losskit compare` hostile data files; count clean exits.

A clean exit is exit 0, or exit 2 with an ``Error:`` message and no traceback. Anything else
(a traceback, another exit code, a hang past the time limit) is a failure and is listed.

    python scripts/hostile_files.py [--compare] [--keep DIR]

``--compare`` also runs a small ``losskit compare`` on each file (slower: it trains).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def _csv(rows: list[str]) -> bytes:
    return ("\n".join(rows) + "\n").encode()


def _regression(n=40, target=None, name="y", extra=""):
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    y = 2 * x + rng.normal(size=n) if target is None else target(n)
    head = f"x,{name}{extra}"
    return _csv([head] + [f"{a},{b}" for a, b in zip(x, y)])


def _npy_with_header(shape, dtype="<f8", body=b"") -> bytes:
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (dtype, shape)
    header = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1") + body


def _npy(array) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def _parquet(frame) -> bytes:
    import io

    buf = io.BytesIO()
    frame.to_parquet(buf)
    return buf.getvalue()


def cases() -> dict[str, tuple[str, bytes | None]]:
    """name -> (suffix, content); content None makes a folder of that name."""
    import pandas as pd

    rng = np.random.default_rng(1)
    out = {
        "empty.csv": (".csv", b""),
        "header_only.csv": (".csv", b"x,y\n"),
        "one_row.csv": (".csv", b"x,y\n1,2\n"),
        "binary_garbage.csv": (".csv", bytes(rng.integers(0, 256, 4096, dtype=np.uint8))),
        "latin1_bytes.csv": (".csv", b"x,y\n1,\xe9\xff\n2,3\n"),
        "nan_target.csv": (".csv", _regression(target=lambda n: np.where(np.arange(n) % 5 == 0, np.nan, 1.0))),
        "inf_target.csv": (".csv", _regression(target=lambda n: np.where(np.arange(n) == 3, np.inf, 1.0 * np.arange(n)))),
        "huge_target.csv": (".csv", _regression(target=lambda n: np.where(np.arange(n) % 2, 1e308, -1e308))),
        "constant_target.csv": (".csv", _regression(target=lambda n: np.ones(n))),
        "one_class_text.csv": (".csv", _csv(["x,y"] + [f"{i},yes" for i in range(40)])),
        "free_text_target.csv": (".csv", _csv(["x,y"] + [f"{i},word{i}" for i in range(80)])),
        "no_target_column.csv": (".csv", _csv(["a,b"] + [f"{i},{i}" for i in range(40)])),
        "duplicate_columns.csv": (".csv", _csv(["x,y,y"] + [f"{i},{i},{i}" for i in range(40)])),
        "markup_target_name.csv": (".csv", _regression(name="[/]")),
        "markup_class_labels.csv": (".csv", _csv(["x,y"] + [f"{i},{['[/]', '[bold red]a'][i % 2]}" for i in range(40)])),
        "newline_in_header.csv": (".csv", b'x,"y\nz"\n1,2\n3,4\n'),
        "bom_header.csv": (".csv", b"\xef\xbb\xbf" + _regression()),
        "semicolons.csv": (".csv", _csv(["x;y"] + [f"{i};{i}" for i in range(40)])),
        "ragged_rows.csv": (".csv", _csv(["x,y", "1,2", "3", "4,5,6,7"] + [f"{i},{i}" for i in range(40)])),
        "mixed_types_target.csv": (".csv", _csv(["x,y"] + [f"{i},{i if i % 3 else 'n/a'}" for i in range(40)])),
        "seven_classes_60_rows.csv": (".csv", _csv(["x,y"] + [f"{i},{i % 7}" for i in range(60)])),
        "wide_1000_columns.csv": (".csv", _csv([",".join([f"c{j}" for j in range(999)] + ["y"])]
                                               + [",".join(["1"] * 999 + [str(i)]) for i in range(30)])),
        "huge_field.csv": (".csv", b"x,y\n" + b"1" * 2_000_000 + b",2\n3,4\n"),
        "npy_truncated_header.npy": (".npy", b"\x93NUMPY\x01\x00\x76\x00{'descr'"),
        "npy_header_claims_1e11.npy": (".npy", _npy_with_header("(100000000000,)", body=b"\0" * 800)),
        "npy_header_negative_shape.npy": (".npy", _npy_with_header("(-5,)", body=b"\0" * 800)),
        "npy_bad_descr.npy": (".npy", _npy_with_header("(10,)", dtype="<zz", body=b"\0" * 80)),
        "npy_object_pickle.npy": (".npy", _npy(np.array([{"a": 1}, None], dtype=object))),
        "npy_3d.npy": (".npy", _npy(np.zeros((4, 3, 2)))),
        "npy_complex.npy": (".npy", _npy(np.ones(20, dtype=complex))),
        "npy_empty.npy": (".npy", _npy(np.zeros(0))),
        "npy_structured.npy": (".npy", _npy(np.zeros(10, dtype=[("a", "f8"), ("b", "i4")]))),
        "npy_strings.npy": (".npy", _npy(np.array(["a", "b", "c"] * 10))),
        "npy_nan.npy": (".npy", _npy(np.full(30, np.nan))),
        "npy_bool.npy": (".npy", _npy(np.arange(30) % 2 == 0)),
        "npy_fortran_2d.npy": (".npy", _npy(np.asfortranarray(rng.normal(size=(30, 3))))),
        "parquet_garbage.parquet": (".parquet", b"PAR1" + bytes(rng.integers(0, 256, 512, dtype=np.uint8)) + b"PAR1"),
        "parquet_nested.parquet": (".parquet", _parquet(pd.DataFrame({"x": [[1, 2]] * 30, "y": range(30)}))),
        "parquet_empty.parquet": (".parquet", _parquet(pd.DataFrame({"x": pd.Series([], dtype=float), "y": pd.Series([], dtype=float)}))),
        "parquet_markup.parquet": (".parquet", _parquet(pd.DataFrame({"[/bad]": rng.normal(size=30), "y": rng.normal(size=30)}))),
        "a_folder.csv": (".csv", None),
        "no_suffix": ("", _regression()),
        "json_suffix.json": (".json", b'{"x": [1, 2], "y": [3, 4]}'),
    }
    return out


def _run(args, cwd, timeout):
    env = dict(os.environ, COLUMNS="40", PYTHONWARNINGS="ignore")
    try:
        p = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, "timed out"
    return p.returncode, p.stdout + p.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", action="store_true", help="also run a small losskit compare on each file")
    ap.add_argument("--keep", help="write the files here (kept) instead of a temporary folder")
    ns = ap.parse_args()
    losskit = shutil.which("losskit") or str(Path(sys.executable).with_name("losskit"))
    work = Path(ns.keep) if ns.keep else Path(tempfile.mkdtemp(prefix="losskit-hostile-"))
    work.mkdir(parents=True, exist_ok=True)
    tried = clean = 0
    failures = []
    for name, (suffix, content) in cases().items():
        path = work / name
        if content is None:
            path.mkdir(exist_ok=True)
        else:
            path.write_bytes(content)
        target = [] if suffix == ".npy" and "2d" not in name and "3d" not in name else ["--target", "[/]" if "markup_target" in name else "y"]
        if suffix == ".npy" and ("2d" in name or "3d" in name):
            target = ["--target", "0"]
        commands = [[losskit, "recommend", str(path), *target]]
        if ns.compare:
            commands.append([losskit, "compare", str(path), *target, "--losses", "mse,mae" if "class" not in name else "auto",
                             "--folds", "2", "--seeds", "1", "--max-epochs", "5", "--out", str(work / f"run-{name}")])
        for args in commands:
            tried += 1
            code, output = _run(args, work, timeout=300)
            ok = code == 0 or (code == 2 and "Traceback" not in output and "Error" in output)
            clean += ok
            if not ok:
                failures.append((name, args[1], code, output.strip().splitlines()[-3:]))
    print(f"hostile files: {len(cases())}; commands run: {tried}; clean exits: {clean}; failures: {len(failures)}")
    for name, command, code, tail in failures:
        print(f"  {command} {name}: exit {code}: {' | '.join(tail)}")
    if not ns.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Write examples/lessons/data/digits.csv from scikit-learn's bundled digits (no network).

The 8x8 handwritten digits (1797 rows; pixels p0..p63 with values 0..16; target ``digit``
0..9), as shipped inside scikit-learn (``sklearn.datasets.load_digits``). Rerunning this
script rewrites the same bytes.
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

OUT = Path(__file__).resolve().parent / "data" / "digits.csv"


def main(path: Path = OUT) -> Path:
    digits = load_digits()
    X, y = digits.data.astype(np.int64), digits.target.astype(np.int64)
    header = ",".join([f"p{i}" for i in range(X.shape[1])] + ["digit"])
    lines = [header] + [",".join(map(str, row)) + f",{label}" for row, label in zip(X, y)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    print(main())

"""What the reference does to day 23 before the model sees it (multihot_criteo.py, main.py).

Features pass unchanged (``pre_process_criteo_dlrm`` is the identity): dense as float32 as stored, each table's
multi-hot indices as stored. One LoadGen sample is a group of consecutive rows (user-item pairs): the reference
draws each group's size from the quantile of tools/dist_quantile.txt (100 to 700 rows) with NumPy's legacy
generator seeded 123 (main.py ``--numpy-rand-seed``), ``np.random.randint(0, 20)`` per group, until the rows
are used up (the last group is cut at the end). ``--count-samples`` then keeps the first groups, and the trace
of groups (dlrm_trace_of_aggregated_samples.txt, ``start, end, size`` per line) is written for the accuracy
script.
"""

from __future__ import annotations

import numpy as np

# tools/dist_quantile.txt: the inverse cdf of the number of rows in a group, at p = 0.05, 0.10, ... 1.0
QUANTILE = (100, 100, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 300, 300, 400, 500, 600, 700)
SEED = 123
TRACE_FILE = "dlrm_trace_of_aggregated_samples.txt"


def group_offsets(rows: int, quantile: tuple[int, ...] = QUANTILE, seed: int = SEED) -> np.ndarray:
    """(groups + 1,) int64: group ``i`` is rows ``offsets[i]`` .. ``offsets[i + 1] - 1`` (the reference's
    ``random_offsets``)."""
    rs = np.random.RandomState(seed)
    q = np.asarray(quantile, dtype=np.int64)
    out = [0]
    qo = 0
    while True:
        qo = min(qo + int(q[rs.randint(low=0, high=len(q))]), rows)
        out.append(qo)
        if qo >= rows:
            break
    offsets = np.asarray(out, dtype=np.int64)
    groups = len(offsets) - 1
    if not (rows + q[-1] - 1) // q[-1] <= groups <= (rows + q[0] - 1) // q[0]:
        raise ValueError("dataset: the groups of rows fail the reference's sanity check")
    return offsets


def rows_for(groups: int, quantile: tuple[int, ...] = QUANTILE, seed: int = SEED) -> int:
    """The number of rows whose grouping gives exactly ``groups`` groups, the last one whole."""
    rs = np.random.RandomState(seed)
    return int(sum(quantile[rs.randint(low=0, high=len(quantile))] for _ in range(groups)))


def trace_text(offsets: np.ndarray, count: int) -> str:
    """The reference's trace file of the first ``count`` groups."""
    return "".join(f"{int(offsets[i])}, {int(offsets[i + 1])}, {int(offsets[i + 1] - offsets[i])}\n"
                   for i in range(count))


def trace_sizes(text: str) -> list[int]:
    """Group sizes from a trace file's text (its third column, as accuracy-dlrm.py reads it)."""
    return [int(line.split(", ")[2]) for line in text.splitlines() if line.strip()]


def model_inputs(dense: np.ndarray, sparse: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The model's ``dense`` (n, 13) float32 and ``sparse`` (n, sum of multi-hot sizes) int32: each table's
    indices in its columns, tables in order (the values of the reference's KeyedJaggedTensor, per row). Kept
    int32 as stored (half the memory of the samples LoadGen has loaded); the model's int64 at inference."""
    return (np.ascontiguousarray(dense, dtype=np.float32),
            np.concatenate([np.asarray(s, dtype=np.int32).reshape(len(dense), -1) for s in sparse], axis=1))

"""numpy's matmul rate (its bundled OpenBLAS) at given GEMM shapes, the issue-15 reference.

Reads a JSON list of shapes ``[[m, k, n, trans_a, trans_b], ...]`` on stdin; prints a JSON
list of the best seconds per product, in the same order. Threads: set OPENBLAS_NUM_THREADS
before starting (the Rust roofline bench does).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def best_seconds(m: int, k: int, n: int, trans_a: bool, trans_b: bool, budget: float) -> float:
    """Minimum wall time of one ``a @ b`` (float32) over repeats filling about ``budget`` s."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if trans_a else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n), dtype=np.float32)
    av = a.T if trans_a else a
    bv = b.T if trans_b else b
    out = np.empty((m, n), dtype=np.float32)
    np.matmul(av, bv, out=out)
    best = float("inf")
    spent = 0.0
    reps = 0
    while reps < 5 or (spent < budget and reps < 2000):
        t0 = time.perf_counter()
        np.matmul(av, bv, out=out)
        dt = time.perf_counter() - t0
        best = min(best, dt)
        spent += dt
        reps += 1
    return best


def main() -> None:
    shapes = json.load(sys.stdin)
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 0.2
    out = [
        best_seconds(int(m), int(k), int(n), bool(ta), bool(tb), budget)
        for m, k, n, ta, tb in shapes
    ]
    json.dump({"numpy": np.__version__, "seconds": out}, sys.stdout)


if __name__ == "__main__":
    main()

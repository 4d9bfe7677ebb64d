"""Benchmarks of the Python package (figures, not tests; the numbers go to docs/python.md).

1. Overhead of Python over the command: `anoonly fit` on a file against the same fit from a
   Python process (`load_data`, `DeepSAD().fit`, `save`), whole processes, alternated and
   repeated; plus the in-process split of the Python run.
2. No copy of a C-contiguous float32 X: peak resident memory while scoring a large X given
   as C-contiguous float32, as float64 and in Fortran order, each in a fresh process, and
   the address the library reads against numpy's data pointer.

    .venv/bin/python scripts/python_bench.py [--data FILE] [--repeats 3] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

FIT_SNIPPET = """
import sys, time, json
t0 = time.perf_counter()
import anoonly
t1 = time.perf_counter()
X, y = anoonly.load_data(sys.argv[1])
t2 = time.perf_counter()
clf = anoonly.DeepSAD().fit(X, y)
t3 = time.perf_counter()
clf.save(sys.argv[2])
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "fit": t3 - t2, "save": t4 - t3}))
"""

SCORE_SNIPPET = """
import json, resource, sys
import numpy as np
import anoonly
rows, cols, layout = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
small = rng.random((2000, cols), dtype=np.float32)
labels = np.zeros(2000, dtype=np.uint8)
labels[:20] = 1
clf = anoonly.DeepSAD(epochs=1).fit(small, labels)
# Made directly in its layout, so no temporary copy raises the peak before scoring.
if layout == "float64":
    X = rng.random((rows, cols))
elif layout == "fortran":
    X = rng.random((cols, rows), dtype=np.float32).T
else:
    X = rng.random((rows, cols), dtype=np.float32)
same = None
if layout == "float32":
    same = anoonly._anoonly._buffer_address(X) == X.ctypes.data
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
scores = clf.decision_function(X)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"x_mb": X.nbytes / 2**20, "peak_increase_mb": (after - before) / 1024,
                  "scores_mb": scores.nbytes / 2**20, "library_reads_numpy_buffer": same}))
"""


def overhead(cli: Path, data: Path, repeats: int) -> None:
    print(f"## Python over the command: DeepSAD fit on {data.name}, {repeats} runs each")
    cli_times, py_times, parts = [], [], []
    with tempfile.TemporaryDirectory() as d:
        for _ in range(repeats):
            t = time.perf_counter()
            subprocess.run(
                [
                    str(cli),
                    "fit",
                    "--data",
                    str(data),
                    "--method",
                    "deepsad",
                    "--out",
                    f"{d}/cli.safetensors",
                ],
                check=True,
                capture_output=True,
            )
            cli_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", FIT_SNIPPET, str(data), f"{d}/py.safetensors"],
                check=True,
                capture_output=True,
                text=True,
            )
            py_times.append(time.perf_counter() - t)
            parts.append(json.loads(out.stdout))
        same = (
            Path(f"{d}/cli.safetensors").read_bytes() == Path(f"{d}/py.safetensors").read_bytes()
        )
    c, p = statistics.median(cli_times), statistics.median(py_times)
    for name, med, times in (("anoonly fit", c, cli_times), ("python", p, py_times)):
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(f"{name + ' (process):':24s} median {med:.2f} s  runs {runs}")
    print(f"python / command: {p / c:.2f}x, {p - c:+.2f} s")
    med = {k: statistics.median(r[k] for r in parts) for k in parts[0]}
    print("python in-process medians: " + ", ".join(f"{k} {v:.3f} s" for k, v in med.items()))
    print(f"model files identical: {same}")


def no_copy(rows: int, cols: int) -> None:
    print(f"\n## Scoring a {rows} x {cols} X: peak resident memory increase (fresh process each)")
    for layout in ("float32", "float64", "fortran"):
        out = subprocess.run(
            [sys.executable, "-c", SCORE_SNIPPET, str(rows), str(cols), layout],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(out.stdout)
        extra = (
            ""
            if r["library_reads_numpy_buffer"] is None
            else (f", library reads numpy's buffer: {r['library_reads_numpy_buffer']}")
        )
        print(
            f"{layout:8s}: X {r['x_mb']:.0f} MiB, peak +{r['peak_increase_mb']:.0f} MiB "
            f"(scores {r['scores_mb']:.0f} MiB){extra}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", default=str(REPO.parent / "shared/data/adbench/CV_by_ResNet18/CIFAR10_0.npz")
    )
    ap.add_argument("--cli", default=str(REPO / "target/release/anoonly"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cols", type=int, default=64)
    args = ap.parse_args()
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    overhead(Path(args.cli), Path(args.data), args.repeats)
    no_copy(args.rows, args.cols)


if __name__ == "__main__":
    main()

"""Benchmarks of the Python package (figures, not tests; the numbers go to docs/python.md).

1. Python's `fit` with its defaults against `anoonly fit` (issue 20's measurement):
   DeepSAD and FEAWAD on CIFAR10_0 by default, on the same machine in the same run,
   alternated and repeated, medians. Three runs per repetition: the command with its
   defaults (no preprocessing), the command with `--preprocessing auto` (the Python
   default: the same model file, checked), and a Python process (`load_data`,
   `cls().fit`, `save`) with its defaults (preprocessing "auto", n_jobs=None: all cores,
   as the command's default --threads). Whole processes, and Python's in-process split
   (import, load, fit, save). Prints the load average around every run and the thread
   counts: run it on a quiet machine.
2. No copy of a C-contiguous float32 X: peak resident memory while scoring a large X given
   as C-contiguous float32, as float64 and in Fortran order, each in a fresh process, and
   the address the library reads against numpy's data pointer.

    .venv/bin/python scripts/python_bench.py [--data FILE] [--methods deepsad,feawad]
        [--repeats 5] [--rows 1000000] [--skip-memory]
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
clf = anoonly._estimators.estimator_class(sys.argv[3])().fit(X, y)
t3 = time.perf_counter()
clf.save(sys.argv[2])
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "fit": t3 - t2, "save": t4 - t3,
                  "threads": anoonly._estimators.threads(clf.n_jobs)}))
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


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


def timed(cmd: list[str]) -> tuple[float, str, str]:
    """Wall seconds of a whole process, its stdout, and the 1/5-minute load averages
    before it."""
    before = load()
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - t, out.stdout, before


def python_against_command(cli: Path, data: Path, method: str, repeats: int) -> None:
    print(f"\n## {method} on {data.name}: Python fit (defaults) against `anoonly fit`")
    runs: dict[str, list[float]] = {
        "anoonly fit": [],
        "anoonly fit --preprocessing auto": [],
        "python": [],
    }
    loads: dict[str, list[str]] = {k: [] for k in runs}
    parts = []
    with tempfile.TemporaryDirectory() as d:
        base = [str(cli), "fit", "--data", str(data), "--method", method]
        for _ in range(repeats):
            for name, cmd in (
                ("anoonly fit", [*base, "--out", f"{d}/cli.safetensors"]),
                (
                    "anoonly fit --preprocessing auto",
                    [*base, "--preprocessing", "auto", "--out", f"{d}/auto.safetensors"],
                ),
                (
                    "python",
                    [sys.executable, "-c", FIT_SNIPPET, str(data), f"{d}/py.safetensors", method],
                ),
            ):
                seconds, stdout, before = timed(cmd)
                runs[name].append(seconds)
                loads[name].append(before)
                if name == "python":
                    parts.append(json.loads(stdout))
        same = (
            Path(f"{d}/auto.safetensors").read_bytes() == Path(f"{d}/py.safetensors").read_bytes()
        )
    command = statistics.median(runs["anoonly fit --preprocessing auto"])
    print("| run | median s | / command (same model) | runs s | load 1/5 min before each |")
    print("|---|---:|---:|---|---|")
    for name, times in runs.items():
        med = statistics.median(times)
        print(
            f"| {name} | {med:.2f} | {med / command:.3f}x | "
            f"{', '.join(f'{t:.2f}' for t in times)} | {', '.join(loads[name])} |"
        )
    med = {k: statistics.median(r[k] for r in parts) for k in ("import", "load", "fit", "save")}
    print(
        "python in-process medians: "
        + ", ".join(f"{k} {v:.3f} s" for k, v in med.items())
        + f"; n_jobs=None = {parts[0]['threads']} threads"
    )
    print(f"model files of `--preprocessing auto` and Python identical: {same}")


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
    ap.add_argument("--methods", default="deepsad,feawad")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cols", type=int, default=64)
    ap.add_argument("--skip-memory", action="store_true", help="only the timing")
    args = ap.parse_args()
    import anoonly

    print(
        f"# {os.cpu_count()} CPUs ({anoonly._anoonly.available_threads()} available to this "
        f"process: the command's default --threads and Python's n_jobs=None), load average "
        f"{load()} at start; anoonly {anoonly.__version__} from {Path(anoonly.__file__).parent}"
    )
    for method in args.methods.split(","):
        python_against_command(Path(args.cli), Path(args.data), method.strip(), args.repeats)
    if not args.skip_memory:
        no_copy(args.rows, args.cols)
    print(f"\n# load average {load()} at the end")


if __name__ == "__main__":
    main()

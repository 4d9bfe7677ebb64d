"""Why a peer's fit time can be off by 10x: DeepOD's DeepSAD (the authors' settings) and
anoonly's on the same split of one file, with torch on 1 and 2 threads, first on a quiet
machine and then beside ``--busy`` CPU-bound processes (one per core by default). A
measurement for the performance notes (docs/python.md), not a test.

    .venv-peers/bin/python scripts/peers/loaded_peer.py \\
        ../shared/data/adbench/CV_by_ResNet18/CIFAR10_0.npz [--busy 2] [--repeats 3]

Prints one row per (library, threads, load): the median fit seconds, the process CPU
seconds of the fits and the 1-minute load average before each fit.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from typing import Any, Callable


def burn(stop: Any) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def timed(make: Callable[[], Any], X: Any, y: Any, repeats: int) -> tuple[float, float, str]:
    fits, cpus, loads = [], [], []
    for _ in range(repeats):
        model = make()
        loads.append(f"{os.getloadavg()[0]:.2f}")
        c0, t0 = time.process_time(), time.perf_counter()
        model.fit(X, y)
        fits.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(fits), statistics.median(cpus), " ".join(loads)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--busy", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    import anoonly
    import numpy as np
    import torch
    from deepod.models.tabular import DeepSAD

    X, y = anoonly.load_data(a.data)
    X_train, y_train, _, _ = anoonly.split(X, y, seed=0)
    y_fit = y_train.astype(np.int64)
    authors = dict(
        epochs=50, batch_size=128, lr=1e-4, hidden_dims="100,20", rep_dim=10,
        act="LeakyReLU", bias=False, device="cpu", verbose=0, random_state=0,
    )  # fmt: skip
    print(f"# {os.path.basename(a.data)}: {X_train.shape[0]} train rows x {X.shape[1]}")
    print(f"# torch {torch.__version__}, deepod, anoonly {anoonly.__version__}, {a.repeats} fits")
    print("| library | threads | machine | fit s (median) | CPU s (median) | load before each |")
    print("|---|---|---|---:|---:|---|")
    for machine in ["quiet", f"{a.busy} busy processes"]:
        stop = multiprocessing.Event()
        hogs = []
        if machine != "quiet":
            hogs = [multiprocessing.Process(target=burn, args=(stop,)) for _ in range(a.busy)]
            for h in hogs:
                h.start()
            time.sleep(5)
        try:
            for threads in [1, 2]:
                torch.set_num_threads(threads)
                rows: list[tuple[str, Callable[[], Any]]] = [
                    ("DeepOD DeepSAD", lambda: DeepSAD(**authors)),
                    (
                        "anoonly DeepSAD",
                        lambda t=threads: anoonly.DeepSAD(random_state=0, n_jobs=t),
                    ),
                ]
                for name, make in rows:
                    fit, cpu, loads = timed(make, X_train, y_fit, a.repeats)
                    print(
                        f"| {name} | {threads} | {machine} | {fit:.2f} | {cpu:.2f} | {loads} |",
                        flush=True,
                    )
        finally:
            stop.set()
            for h in hogs:
                h.join()


if __name__ == "__main__":
    main()

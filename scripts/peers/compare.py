"""anoonly side by side with its Python peers, in one run on the same arrays.

Loads one ADBench file, splits it once as `anoonly eval` does (anoonly.split: 70/30
stratified, min-max scaled on the train split, gamma_la of the train anomalies labeled),
then fits every detector on the same (X_train, y_train) and scores the same X_test:

- anoonly's DeepSAD, DevNet, PReNet, FEAWAD, XGBOD (the authors' settings, which are its
  defaults), each also with AnoOnly where the method has it;
- PyOD's DeepSAD (if the installed PyOD has one), DevNet and XGBOD;
- DeepOD's DeepSAD, DevNet, PReNet and FeaWAD;

the peers with their default settings and then with the authors' settings where their
constructor accepts them (on CPU). Prints fit seconds, AUCROC and AUCPR per detector and
the peer's fit time over anoonly's for the same method, as a Markdown table.

Not a test: its own environment (scripts/peers/setup.sh). Fit times depend on the machine
and its load; compare ratios from one run, not figures across runs. For a fair race every
library gets the same `--threads` (torch's intra-op threads, numpy's BLAS through
threadpoolctl, anoonly's `n_jobs`; printed in the header), each fit is repeated
`--repeats` times (a fresh model each time) and the median taken, and the 1-minute load
average before every fit is printed beside its row (`!` above `--max-load`: that row is not
a quiet-machine figure). Torch's OpenMP threads collapse when the cores are shared (a
two-thread torch fit with another process busy can take 10-20x its quiet time), which
inflates exactly the peers' figures: run it on a quiet machine.

    scripts/peers/setup.sh
    .venv-peers/bin/python scripts/peers/compare.py \
        ../shared/data/adbench/CV_by_ResNet18/CIFAR10_0.npz
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import anoonly
import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


@dataclass
class Entry:
    method: str
    library: str
    settings: str
    make: Callable[[int], Any]
    # How this library's fit takes labels: y (1 = labeled anomaly, 0 = unlabeled).
    fit: Callable[[Any, np.ndarray, np.ndarray], Any] = lambda m, X, y: m.fit(X, y)


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def has_module(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False


def anoonly_entries(threads: int) -> list[Entry]:
    out = []
    for name, cls in [
        ("DeepSAD", anoonly.DeepSAD),
        ("DevNet", anoonly.DevNet),
        ("PReNet", anoonly.PReNet),
        ("FEAWAD", anoonly.FEAWAD),
        ("XGBOD", anoonly.XGBOD),
    ]:
        out.append(
            Entry(
                name,
                "anoonly",
                "authors (default)",
                lambda s, cls=cls: cls(random_state=s, n_jobs=threads),
            )
        )
        if name != "XGBOD":
            out.append(
                Entry(
                    name,
                    "anoonly",
                    "authors + AnoOnly",
                    lambda s, cls=cls: cls(anoonly=True, random_state=s, n_jobs=threads),
                )
            )
    return out


def pyod_entries(n_features: int, notes: list[str]) -> list[Entry]:
    out: list[Entry] = []
    if has_module("pyod.models.deep_sad"):
        from pyod.models.deep_sad import DeepSAD

        out.append(
            Entry(
                "DeepSAD",
                "PyOD",
                "default",
                lambda s: DeepSAD(n_features=n_features, random_state=s, verbose=0),
            )
        )
        # The authors' network, optimiser settings and budget where PyOD's DeepSAD takes them.
        out.append(
            Entry(
                "DeepSAD",
                "PyOD",
                "authors",
                lambda s: DeepSAD(
                    n_features=n_features,
                    hidden_neurons=[100, 20, 10],
                    hidden_activation="leakyrelu",
                    epochs=50,
                    batch_size=128,
                    dropout_rate=0.0,
                    l2_regularizer=1e-6,
                    preprocessing=False,
                    random_state=s,
                    verbose=0,
                ),
            )
        )
    else:
        notes.append(f"PyOD {version('pyod')} (PyPI) has no DeepSAD (pyod.models.deep_sad).")
    if has_module("torch"):
        from pyod.models.devnet import DevNet as PyodDevNet

        out.append(Entry("DevNet", "PyOD", "default", lambda s: PyodDevNet(random_seed=s)))
        # The authors' budget: batches of 64, 20 per epoch, 50 epochs (PyOD's smallest
        # network has 1000 hidden units where the authors' has 20).
        out.append(
            Entry(
                "DevNet",
                "PyOD",
                "authors",
                lambda s: PyodDevNet(batch_size=64, nb_batch=20, epochs=50, random_seed=s),
            )
        )
    if has_module("xgboost"):
        from pyod.models.xgbod import XGBOD as PyodXGBOD

        # ADBench runs PyOD's XGBOD with its defaults: they are the authors' settings.
        out.append(
            Entry("XGBOD", "PyOD", "default = authors", lambda s: PyodXGBOD(random_state=s))
        )
    else:
        notes.append("xgboost is not installed: no PyOD XGBOD.")
    return out


def default_and_authors(
    method: str, library: str, cls: Any, common: dict[str, Any], authors: dict[str, Any]
) -> list[Entry]:
    """A peer with its defaults (plus `common`: device, verbosity, seed), then with the
    authors' settings `authors` on top."""
    return [
        Entry(method, library, "default", lambda s: cls(random_state=s, **common)),
        Entry(method, library, "authors", lambda s: cls(random_state=s, **common, **authors)),
    ]


# The authors' settings (as anoonly's defaults follow them) where DeepOD's constructors take
# them; the networks differ otherwise (DeepOD's MLP has no BatchNorm, FeaWAD its own widths).
DEEPOD_AUTHORS: dict[str, dict[str, Any]] = {
    "DeepSAD": dict(
        epochs=50, batch_size=128, lr=1e-4, hidden_dims="100,20", rep_dim=10,
        act="LeakyReLU", bias=False,
    ),
    "DevNet": dict(
        epochs=50, batch_size=64, lr=2e-4, hidden_dims="20", epoch_steps=20, act="ReLU",
        bias=True,
    ),
    "PReNet": dict(
        epochs=50, batch_size=512, lr=1e-3, hidden_dims="20", epoch_steps=20, act="ReLU"
    ),
    "FEAWAD": dict(epochs=30, batch_size=512, lr=1e-4, epoch_steps=20),
}  # fmt: skip


def deepod_entries(notes: list[str]) -> list[Entry]:
    if not has_module("deepod"):
        notes.append("DeepOD is not installed.")
        return []
    from deepod.models.tabular import DeepSAD, DevNet, FeaWAD, PReNet

    classes = {"DeepSAD": DeepSAD, "DevNet": DevNet, "PReNet": PReNet, "FEAWAD": FeaWAD}
    common = {"device": "cpu", "verbose": 0}
    out: list[Entry] = []
    for method, cls in classes.items():
        out += default_and_authors(method, "DeepOD", cls, common, DEEPOD_AUTHORS[method])
    return out


def load1() -> float:
    return os.getloadavg()[0]


def run(entry: Entry, seed: int, data: tuple[np.ndarray, ...], repeats: int) -> dict[str, Any]:
    """`repeats` fits of a fresh model (median fit time, load average before each); the
    metrics of the first (a seeded fit gives the same scores each time)."""
    X_train, y_train, X_test, y_test = data
    row: dict[str, Any] = {"entry": entry, "loads": [], "fits": []}
    try:
        for i in range(repeats):
            # The peers print progress on stdout: keep it out of the table.
            with contextlib.redirect_stdout(sys.stderr):
                model = entry.make(seed)
                row["loads"].append(load1())
                t0 = time.perf_counter()
                entry.fit(model, X_train, y_train)
                row["fits"].append(time.perf_counter() - t0)
                if i == 0:
                    scores = np.asarray(model.decision_function(X_test), dtype=np.float64)
                    scores = scores.ravel()
            if i == 0:
                row["aucroc"] = roc_auc_score(y_test, scores)
                row["aucpr"] = average_precision_score(y_test, scores)
        row["fit"] = statistics.median(row["fits"])
    except Exception as e:  # a peer that fails on this data: say so, go on
        row["error"] = f"{type(e).__name__}: {e}".splitlines()[0][:120]
        traceback.print_exc(file=sys.stderr)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="an ADBench .npz file")
    ap.add_argument("--seed", type=int, default=0, help="split and model seed (default 0)")
    ap.add_argument("--setting", default="clean", choices=["clean", "noisy"])
    ap.add_argument("--gamma-la", type=float, default=0.1)
    ap.add_argument("--only", default="", help="comma-separated libraries (anoonly,PyOD,DeepOD)")
    ap.add_argument("--threads", type=int, default=2, help="threads of every library (default 2)")
    ap.add_argument("--repeats", type=int, default=3, help="fits per detector, median (default 3)")
    ap.add_argument("--max-load", type=float, default=0.5, help="flag fits started above it")
    args = ap.parse_args()
    blas = "numpy BLAS: threadpoolctl not installed"
    if has_module("threadpoolctl"):
        from threadpoolctl import threadpool_info, threadpool_limits

        threadpool_limits(args.threads)
        blas = ", ".join(
            f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info()
        )

    X, y = anoonly.load_data(args.data)
    X_train, y_train, X_test, y_test = anoonly.split(
        X, y, seed=args.seed, setting=args.setting, gamma_la=args.gamma_la
    )
    # Labels as a PyOD or DeepOD user holds them (DeepOD writes -1 into its copy of y).
    data = (X_train, y_train.astype(np.int64), X_test, y_test.astype(np.int64))
    notes: list[str] = []
    entries = anoonly_entries(args.threads)
    entries += pyod_entries(X.shape[1], notes) + deepod_entries(notes)
    if args.only:
        keep = {s.strip().lower() for s in args.only.split(",")}
        entries = [e for e in entries if e.library.lower() in keep]

    threads = "?"
    if has_module("torch"):
        import torch

        torch.set_num_threads(args.threads)
        threads = str(torch.get_num_threads())
    print(
        f"# {os.path.basename(args.data)}: {X.shape[0]} rows x {X.shape[1]} features; "
        f"split as `anoonly eval --seeds {args.seed} --setting {args.setting} "
        f"--gamma-la {args.gamma_la}`: {len(y_train)} train rows "
        f"({int(y_train.sum())} labeled anomalies), {len(y_test)} test rows "
        f"({int(y_test.sum())} anomalies)"
    )
    print(
        f"# anoonly {anoonly.__version__}, pyod {version('pyod')}, deepod {version('deepod')}, "
        f"torch {version('torch')} ({threads} threads), xgboost {version('xgboost')}, "
        f"numpy {np.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    print(
        f"# threads: anoonly n_jobs={args.threads}, torch {threads}, {blas}; "
        f"{args.repeats} fits per detector, median; load = 1-min load average before each "
        f"fit ('!' above {args.max_load})"
    )
    for n in notes:
        print(f"# note: {n}")
    print()
    print(
        "| method | library | settings | fit s (median) | AUCROC | AUCPR "
        "| fit time / anoonly's | load before each fit |"
    )
    print("|---|---|---|---:|---:|---:|---:|---|")
    base: dict[str, float] = {}
    for entry in entries:
        row = run(entry, args.seed, data, max(1, args.repeats))
        loads = " ".join(
            f"{v:.2f}{'!' if v > args.max_load else ''}" for v in row.get("loads", [])
        )
        if "error" in row:
            print(
                f"| {entry.method} | {entry.library} | {entry.settings} | failed: "
                f"{row['error']} | | | | {loads} |",
                flush=True,
            )
            continue
        if entry.library == "anoonly" and entry.settings.startswith("authors (default)"):
            base[entry.method] = row["fit"]
        ratio: float | None = None
        if entry.library != "anoonly" and entry.method in base:
            ratio = row["fit"] / base[entry.method]
        print(
            f"| {entry.method} | {entry.library} | {entry.settings} | {row['fit']:.2f} | "
            f"{row['aucroc']:.3f} | {row['aucpr']:.3f} | "
            f"{'' if ratio is None else f'{ratio:.2f}x' if ratio < 1 else f'{ratio:.1f}x'} | "
            f"{loads} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference values for src/protocol (tests/protocol_*.rs).

1. numpy legacy MT19937 index draws: np.random.seed(seed); np.random.choice(n, size, replace=True)
   (== legacy randint(0, n, size), masked rejection sampling on 32-bit outputs).
2. Counts of the ADBench pipeline (docs/protocol.md 1.2) for the shared files at seed 42,
   la = 0.1, with numpy + sklearn (train_test_split stratified), to compare with the
   docs/protocol.md 1.5 table.

3. ADBench's labeled-count mode (`nla`, `la` an int): the labeled rows of
   `data_generator.generator` for a few counts and the ratio on synthetic labels, written to
   crates/anoonly/tests/fixtures/protocol_nla.json (`--nla`; tests/protocol_nla.rs reads it).

Run once; the printed numbers are pasted into the Rust tests (tests do not run Python).
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split


def mt_prefixes():
    print("# (seed, n, first 12 indices of np.random.choice(n, 1000, replace=True))")
    for seed in [0, 1, 2, 42, 12345, 4294967295]:
        for n in [1, 2, 3, 198, 292, 615, 1000, 999, 65537]:
            np.random.seed(seed)
            idx = np.random.choice(n, 1000, replace=True)
            print(
                f"({seed}, {n}, [{', '.join(str(int(i)) for i in idx[:12])}], {int(idx.sum())}),"
            )
    # seeds beyond 32 bits: RandomState(array of uint32 words) == init_by_array
    print("# init_by_array([lo, hi]) for seed = hi<<32 | lo")
    for seed in [2**32, 2**40 + 7, 2**64 - 1]:
        words = np.array([seed & 0xFFFFFFFF, seed >> 32], dtype=np.uint32)
        rs = np.random.RandomState(words)
        idx = rs.choice(615, 1000, replace=True)
        print(f"({seed}, 615, [{', '.join(str(int(i)) for i in idx[:12])}], {int(idx.sum())}),")


def pipeline_counts(y, seed=42, la=0.1):
    n = len(y)
    np.random.seed(seed)
    if n < 1000:
        np.random.seed(seed)
        idx = np.random.choice(n, 1000, replace=True)
        y = y[idx]
    if len(y) > 10000:
        np.random.seed(seed)
        idx = np.random.choice(len(y), 10000, replace=False)
        y = y[idx]
    X = np.arange(len(y)).reshape(-1, 1)
    _, _, y_train, y_test = train_test_split(X, y, test_size=0.3, shuffle=True, stratify=y)
    n_anom = int((y_train == 1).sum())
    n_norm = int((y_train == 0).sum())
    k = math.ceil(la * n_anom)
    return dict(
        rows_after=len(y),
        anom_after=int(y.sum()),
        clean=n_norm + k,
        noisy=len(y_train),
        n_lab=k,
        n_test=len(y_test),
        test_anom=int(y_test.sum()),
    )


def generator_split(y, seed):
    """The official data_generator.generator up to the split, on row indices (X = original
    row index): seed, resample small files to 1000 rows, subsample large ones to 10000,
    stratified 70/30 split. Returns (X_train, X_test, y_train)."""
    n = len(y)
    X = np.arange(n).reshape(-1, 1)
    np.random.seed(seed)
    if n < 1000:
        np.random.seed(seed)
        idx = np.random.choice(np.arange(n), 1000, replace=True)
        X = X[idx]
        y = y[idx]
    if len(y) > 10000:
        np.random.seed(seed)
        idx = np.random.choice(np.arange(len(y)), 10000, replace=False)
        X = X[idx]
        y = y[idx]
    X_train, X_test, y_train, _y_test = train_test_split(
        X, y, test_size=0.3, shuffle=True, stratify=y
    )
    return X_train, X_test, y_train


def pipeline_indices(y, seed=42, la=0.1, normal_clean=True, norla=1.0):
    """The official data_generator.generator steps on row indices (X = original row index)."""
    X_train, X_test, y_train = generator_split(y, seed)
    idx_normal = np.where(y_train == 0)[0]
    idx_normal = idx_normal[: math.ceil(len(idx_normal) * norla)]
    idx_anomaly = np.where(y_train == 1)[0]
    idx_labeled = np.random.choice(idx_anomaly, math.ceil(la * len(idx_anomaly)), replace=False)
    idx_unlabeled_anomaly = np.setdiff1d(idx_anomaly, idx_labeled)
    idx_unlabeled = idx_normal if normal_clean else np.append(idx_normal, idx_unlabeled_anomaly)
    order = np.append(idx_unlabeled, idx_labeled)
    return X_train[order, 0], X_test[:, 0], len(idx_labeled)


def labeled_rows(y, seed, la):
    """ADBench's `generator(la=...)` on row indices, up to the labeled anomalies
    (data_generator.py 228-353, `at_least_one_labeled=True` as run.py calls it): `la` an
    int is a count (`AssertionError` when the train split has fewer anomalies), a float a
    ratio. Returns (labeled original rows in draw order, train anomalies) or the error."""
    X_train, _X_test, y_train = generator_split(y, seed)
    idx_anomaly = np.where(y_train == 1)[0]
    if type(la) is float:
        n_la = math.ceil(la * len(idx_anomaly))
        idx_labeled = np.random.choice(idx_anomaly, n_la, replace=False)
    elif la > len(idx_anomaly):
        return None, len(idx_anomaly)
    else:
        idx_labeled = np.random.choice(idx_anomaly, la, replace=False)
    return [int(i) for i in X_train[idx_labeled, 0]], len(idx_anomaly)


def nla_fixture(path):
    """Labeled rows for counts and the ratio 0.1 on `y[i] = 1 iff i % 7 == 3`: a duplicated
    file (300 rows), a plain one (2000) and a subsampled one (12000)."""
    cases = []
    for n, seed in [(300, 42), (2000, 0), (2000, 7), (12000, 1)]:
        y = (np.arange(n) % 7 == 3).astype(int)
        for la in [0, 1, 5, 10, 25, 50, 0.1, 10_000]:
            rows, n_anomalies = labeled_rows(y, seed, la)
            mode = "ratio" if type(la) is float else "count"
            cases.append(
                dict(n=n, seed=seed, mode=mode, la=la, train_anomalies=n_anomalies, labeled=rows)
            )
    lines = ",\n".join(json.dumps(c) for c in cases)
    Path(path).write_text('{"cases": [\n' + lines + "\n]}\n")
    print(f"wrote {path} ({len(cases)} cases)")


def fmt(v, k=8):
    return "[" + ", ".join(str(int(i)) for i in v[:k]) + "]"


def synthetic_indices():
    print(
        "# synthetic y: y[i] = 1 iff i % 7 == 3 (n rows); (n, seed, clean, train[:8], "
        "train[-4:], test[:8], len(train), sum(train), sum(test))"
    )
    for n, seed, clean in [
        (300, 42, True),
        (300, 42, False),
        (2000, 0, True),
        (2000, 1, False),
        (12000, 42, True),
        (999, 7, False),
    ]:
        y = (np.arange(n) % 7 == 3).astype(int)
        tr, te, _k = pipeline_indices(y, seed=seed, normal_clean=clean)
        print(
            f"({n}, {seed}, {str(clean).lower()}, {fmt(tr)}, {fmt(tr[-4:])}, {fmt(te)}, "
            f"{len(tr)}, {int(tr.sum())}, {int(te.sum())}),"
        )


def shared_counts(root):
    for f in sorted(Path(root).rglob("*.npz")):
        y = np.load(f, allow_pickle=True)["y"].astype(int)
        c = pipeline_counts(y)
        print(f"{f.parent.name}/{f.stem}: n={len(y)} anom={int(y.sum())} -> {c}")
        tr, te, _k = pipeline_indices(y)
        print(
            f"    clean train[:6]={fmt(tr, 6)} test[:6]={fmt(te, 6)} "
            f"sum(train)={int(tr.sum())} sum(test)={int(te.sum())}"
        )


if __name__ == "__main__":
    if sys.argv[1:] == ["--nla"]:
        nla_fixture(
            Path(__file__).resolve().parents[1] / "crates/anoonly/tests/fixtures/protocol_nla.json"
        )
        sys.exit(0)
    mt_prefixes()
    synthetic_indices()
    root = (
        sys.argv[1]
        if len(sys.argv) > 1
        else str(Path(__file__).resolve().parents[1] / "../shared/data/adbench")
    )
    if Path(root).exists():
        shared_counts(root)

"""Raw (unscaled) features, as a PyOD user passes them: anoonly's estimators with each
``preprocessing`` beside PyOD's DevNet and DeepOD's DeepSAD (PyOD 3.6.7 on PyPI has no
DeepSAD) on PyOD's ``generate_data``. A measurement for docs/python.md, not a test.

Two parts, one per environment, each appending JSON lines to ``--out``:

    .venv/bin/python scripts/peers/raw_data.py --part anoonly --out raw.jsonl
    .venv-peers/bin/python scripts/peers/raw_data.py --part peers --out raw.jsonl
    python scripts/peers/raw_data.py --report raw.jsonl

The data sets (AUCROC on the test rows):
- ``devnet_test``: PyOD's DevNet test, 3,000 x 2,000 train, 1,000 test, contamination 0.1,
  random_state 42, the full training labels, 3 epochs.
- ``deepsad_test``: PyOD's DeepSAD test shape, 6,000 x 300, half the training anomalies
  labeled, 10 epochs, hidden [64, 32].
- ``issue20``: 3,000 x 50 train, 1,000 test, contamination 0.1, random_state 42, 30 of the
  training anomalies labeled (drawn with numpy seed 0), each method at its authors' settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any


def datasets() -> dict[str, dict[str, Any]]:
    import numpy as np
    from pyod.utils.data import generate_data

    out: dict[str, dict[str, Any]] = {}
    xtr, xte, ytr, yte = generate_data(
        n_train=3000, n_test=1000, n_features=2000, contamination=0.1, random_state=42
    )
    out["devnet_test"] = dict(xtr=xtr, xte=xte, ytr=ytr, yte=yte, y_fit=ytr.astype(int))
    xtr, xte, ytr, yte = generate_data(
        n_train=6000, n_test=1000, n_features=300, contamination=0.1, random_state=42
    )
    semi = np.zeros_like(ytr, dtype=int)
    anomalies = np.flatnonzero(ytr == 1)
    semi[anomalies[: len(anomalies) // 2]] = 1
    out["deepsad_test"] = dict(xtr=xtr, xte=xte, ytr=ytr, yte=yte, y_fit=semi)
    xtr, xte, ytr, yte = generate_data(
        n_train=3000, n_test=1000, n_features=50, contamination=0.1, random_state=42
    )
    labeled = np.zeros_like(ytr, dtype=int)
    labeled[np.random.default_rng(0).choice(np.flatnonzero(ytr == 1), 30, replace=False)] = 1
    out["issue20"] = dict(xtr=xtr, xte=xte, ytr=ytr, yte=yte, y_fit=labeled)
    return out


def record(out: str, **fields: Any) -> None:
    fields["loadavg"] = os.getloadavg()[0]
    with open(out, "a") as f:
        f.write(json.dumps(fields) + "\n")
    print(json.dumps(fields), flush=True)


def part_anoonly(out: str) -> None:
    import anoonly
    from sklearn.metrics import roc_auc_score

    data = datasets()
    runs: list[tuple[str, str, dict[str, Any]]] = [
        ("devnet_test", "DevNet", dict(epochs=3)),
        ("deepsad_test", "DeepSAD", dict(epochs=10, hidden=[64, 32])),
        ("issue20", "DeepSAD", {}),
        ("issue20", "DevNet", {}),
        ("issue20", "PReNet", {}),
    ]
    for name, cls, kw in runs:
        d = data[name]
        for pre in ["none", "auto", "standard"]:
            t0 = time.perf_counter()
            clf = getattr(anoonly, cls)(preprocessing=pre, random_state=0, n_jobs=1, **kw)
            clf.fit(d["xtr"], d["y_fit"])
            auc = roc_auc_score(d["yte"], clf.decision_function(d["xte"]))
            record(
                out,
                data=name,
                impl=f"anoonly {cls}",
                preprocessing=pre,
                aucroc=round(float(auc), 4),
                seconds=round(time.perf_counter() - t0, 2),
            )


def part_peers(out: str) -> None:
    import torch
    from sklearn.metrics import roc_auc_score

    torch.set_num_threads(1)
    from deepod.models import DeepSAD
    from pyod.models.devnet import DevNet

    data = datasets()
    for name, kw in [("devnet_test", dict(epochs=3)), ("issue20", {})]:
        d = data[name]
        t0 = time.perf_counter()
        clf = DevNet(random_seed=0, device="cpu", **kw)
        clf.fit(d["xtr"], d["y_fit"])
        auc = roc_auc_score(d["yte"], clf.decision_function(d["xte"]))
        record(
            out,
            data=name,
            impl="PyOD DevNet",
            preprocessing="none (it has none)",
            aucroc=round(float(auc), 4),
            seconds=round(time.perf_counter() - t0, 2),
        )
    for name, kw in [("deepsad_test", dict(epochs=10, hidden_dims="64,32")), ("issue20", {})]:
        d = data[name]
        t0 = time.perf_counter()
        sad = DeepSAD(device="cpu", verbose=0, random_state=0, **kw)
        sad.fit(d["xtr"], d["y_fit"])
        auc = roc_auc_score(d["yte"], sad.decision_function(d["xte"]))
        record(
            out,
            data=name,
            impl="DeepOD DeepSAD",
            preprocessing="none (it has none)",
            aucroc=round(float(auc), 4),
            seconds=round(time.perf_counter() - t0, 2),
        )


def report(path: str) -> None:
    rows = [json.loads(line) for line in open(path)]
    print("| data | implementation | preprocessing | AUCROC | fit+score s | load |")
    print("|---|---|---|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['data']} | {r['impl']} | {r['preprocessing']} | {r['aucroc']:.3f} "
            f"| {r['seconds']} | {r['loadavg']:.2f} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["anoonly", "peers"])
    ap.add_argument("--out", default="raw_data.jsonl")
    ap.add_argument("--report")
    a = ap.parse_args()
    if a.report:
        report(a.report)
    elif a.part == "anoonly":
        part_anoonly(a.out)
    elif a.part == "peers":
        part_peers(a.out)
    else:
        sys.exit("give --part anoonly|peers or --report FILE")


if __name__ == "__main__":
    main()

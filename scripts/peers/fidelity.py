"""Fidelity: anoonly's RoSAS, WSAD-DT and ADSD against their reference implementations, fitted
on the same split arrays in one run.

For every file and seed the data is split once, by anoonly itself (`anoonly.split`: the
arrays `anoonly eval --seeds SEED` makes, float32, min-max scaled on the train split), or
read from a pre-split .npz (keys X_train, y_train [1 = labeled anomaly], X_test, y_test).
Every selected implementation then fits the same (X_train, y_train) and scores the same
X_test:

  method   implementation  what runs                                         paired with
  wsad-dt  ours            anoonly's WSADDT at its defaults
           authors         PyPI wsad-dt 1.0.0 (the authors' code): set_seed,    ours
                           train(5 members), evaluate_ensemble, as its
                           WSADDT.fit does; model seed 100 + SEED (100 is its
                           default; seed 0 would give its 5 members one seed)
  rosas    ours            anoonly's RoSAS at its defaults (the authors')
           ours-deepod     anoonly's RoSAS at DeepOD's settings
                           (RosasParams::deepod)
           authors         RoSAS.py of github xuhongzuo/rosas (--rosas-src) at  ours
                           its configs.yaml settings, use_es off (no
                           validation set here), as published
           authors-safe    the same with one change: its adaptive loss         ours
                           weights exp(z1)/(exp(z1)+exp(z2)) as a max-shifted
                           softmax (equal in exact arithmetic; the published
                           float32 exps overflow to inf/inf = NaN once a loss
                           exceeds ~177x its previous epoch mean, and the whole
                           network turns NaN: docs/protocol.md 2.6); ours is
                           overflow-safe the same way
           deepod          DeepOD 0.4.1's RoSAS at its constructor defaults     ours-deepod
  adsd     ours            anoonly's ADSD at its defaults (fresh batches)
           ours-official   anoonly's ADSD, compat=official (the authors'
                           fixed batches)
           authors         baseline/ADSD of github Minqi824/Overlap             ours-official
                           (--overlap-src), MLP, as its run.py calls it; its
                           unused tensorflow / torchvision imports are stubbed

Ours runs through the installed Python package, or through an `anoonly` binary
(--anoonly-bin: `anoonly fit` on the exported train arrays, `anoonly score` on the test
arrays, the same arrays again). A method the package or binary does not know yet is skipped
with a message; so is a reference whose source folder or package is missing.

One JSON record per (file, method, implementation, seed) goes to --out (appended; records
already there are not run again): AUCROC, AUCPR, fit seconds, the load average before and
after the fit, the thread counts, the settings and the versions. At the end (or with
--report alone) it prints Markdown tables: per file, and per family (CIFAR10, SVHN,
MVTec-AD, 20news, Classical) ours against each reference over the (file, seed) pairs both
have: AUCROC means and their difference in points, fit seconds and their ratio.

What "fit seconds" covers differs: ours through Python includes scoring the train rows (the
PyOD contract), through the binary the process start, reading the arrays and writing the
model; DeepOD's fit scores the train rows; ADSD's fit2test includes its resampling and one
test forward pass; WSAD-DT's is its `train` call alone. Seconds are only comparable from one
run on a quiet machine.

Not a test: its own environment (scripts/peers/setup.sh; scripts/peers/README.md).

    scripts/peers/setup.sh
    .venv-peers/bin/python scripts/peers/fidelity.py --methods wsad-dt \\
        --rosas-src ~/src/rosas --overlap-src ~/src/Overlap --out fidelity.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "adbench"
# The shared files: every CV and NLP file, and Classical files of several sizes and kinds.
DEFAULT_FILES = [
    "CV_by_ResNet18/CIFAR10_0.npz",
    "CV_by_ResNet18/SVHN_0.npz",
    "CV_by_ResNet18/MVTec-AD_bottle.npz",
    "CV_by_ResNet18/MVTec-AD_cable.npz",
    "CV_by_ResNet18/MVTec-AD_capsule.npz",
    "CV_by_ResNet18/MVTec-AD_carpet.npz",
    "CV_by_ResNet18/MVTec-AD_grid.npz",
    "CV_by_ResNet18/MVTec-AD_hazelnut.npz",
    "CV_by_ResNet18/MVTec-AD_leather.npz",
    "CV_by_ResNet18/MVTec-AD_metal_nut.npz",
    "NLP_by_RoBERTa/20news_3.npz",
    "Classical/4_breastw.npz",
    "Classical/6_cardio.npz",
    "Classical/14_glass.npz",
    "Classical/18_Ionosphere.npz",
    "Classical/38_thyroid.npz",
    "Classical/42_WBC.npz",
    "Classical/46_WPBC.npz",
    "Classical/12_fault.npz",
]
# Which of ours each reference is compared with: the same settings.
PAIRED_WITH = {("wsad-dt", "authors"): "ours", ("rosas", "authors"): "ours",
               ("rosas", "authors-safe"): "ours", ("rosas", "deepod"): "ours-deepod",
               ("adsd", "authors"): "ours-official"}  # fmt: skip
# Our variants' parameters (beside random_state / --seed).
OURS_PARAMS: dict[tuple[str, str], dict[str, Any]] = {
    ("rosas", "ours-deepod"): dict(
        epochs=100, batch_size=128, n_emb=32, hidden=32, steps_per_epoch=None, margin=5.0,
        weighting="fixed", emb_norm_weight=0.0, weight_decay=1e-5,
    ),
    ("adsd", "ours-official"): dict(compat="official"),
}  # fmt: skip
# Every implementation of each method, in the order a (file, seed) runs them: ours at its
# defaults, our variants, then the references.
METHODS: dict[str, list[str]] = {
    m: ["ours"]
    + [i for (mm, i) in OURS_PARAMS if mm == m]
    + [r for (mm, r) in PAIRED_WITH if mm == m]
    for m in dict.fromkeys(m for m, _ in PAIRED_WITH)
}
# The authors' RoSAS settings: its repository's configs.yaml (main.py reads it).
ROSAS_AUTHORS = dict(
    nbatch_per_epoch=16, epochs=200, batch_size=32, lr=0.005, n_emb=128, alpha=0.5, margin=1.0,
    beta=1.0, score_loss="smooth", T=2, k=2,
)  # fmt: skip
WSAD_DT_MEMBERS = 5
WSAD_DT_SEED_OFFSET = 100


class Skip(Exception):
    """An implementation that cannot run here (not installed, not built): said, not failed."""


@dataclass
class Split:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    how: str


@dataclass
class Fit:
    scores: np.ndarray
    seconds: float
    settings: dict[str, Any]


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def family(rel: str) -> str:
    """CIFAR10, SVHN, MVTec-AD, 20news (the name before the first `_`); Classical for the
    files of that folder (one family, as the issue's tabular means)."""
    p = Path(rel)
    if p.parent.name == "Classical":
        return "Classical"
    return p.stem.split("_", 1)[0]


# ----------------------------------------------------------------------------- threads


def set_threads(n: int) -> dict[str, Any]:
    """torch's intra-op threads and every BLAS / OpenMP pool numpy and scikit-learn use, to
    `n`; returns what is now set."""
    out: dict[str, Any] = {"requested": n}
    try:
        from threadpoolctl import threadpool_info, threadpool_limits

        threadpool_limits(limits=n)
        out["blas"] = sorted({(i["internal_api"], i["num_threads"]) for i in threadpool_info()})
    except ImportError:
        out["blas"] = "threadpoolctl not installed"
    try:
        import torch

        torch.set_num_threads(n)
        out["torch"] = torch.get_num_threads()
    except ImportError:
        out["torch"] = None
    return out


# ----------------------------------------------------------------------------- data


def load_split(path: Path, seed: int, args: argparse.Namespace) -> Split:
    data = np.load(path, allow_pickle=False)
    if {"X_train", "y_train", "X_test", "y_test"} <= set(data.files):
        return Split(
            np.asarray(data["X_train"], dtype=np.float32),
            np.asarray(data["y_train"]).astype(np.uint8),
            np.asarray(data["X_test"], dtype=np.float32),
            np.asarray(data["y_test"]).astype(np.uint8),
            "pre-split",
        )
    try:
        import anoonly
    except ImportError:
        raise SystemExit(
            "the split needs the anoonly package (scripts/peers/setup.sh installs it), or "
            "pass pre-split .npz files"
        ) from None
    X, y = anoonly.load_data(str(path))
    kw: dict[str, Any] = {"seed": seed, "setting": args.setting}
    if args.n_labeled is not None:
        kw["n_labeled"] = args.n_labeled
    else:
        kw["gamma_la"] = args.gamma_la
    try:
        X_train, y_train, X_test, y_test = anoonly.split(X, y, **kw)
    except TypeError as e:
        raise SystemExit(f"anoonly {anoonly.__version__}: split(): {e}") from None
    label = (
        f"n_labeled={args.n_labeled}"
        if args.n_labeled is not None
        else (f"gamma_la={args.gamma_la}")
    )
    return Split(X_train, y_train, X_test, y_test, f"anoonly eval, {args.setting}, {label}")


# ----------------------------------------------------------------------------- ours


def ours_python(
    method: str, params: dict[str, Any], split: Split, seed: int, args: argparse.Namespace
) -> Fit:
    try:
        import anoonly
    except ImportError:
        raise Skip("the anoonly package is not installed (or pass --anoonly-bin)") from None
    from anoonly._estimators import estimator_class

    try:
        cls = estimator_class(method)
    except ValueError:
        raise Skip(
            f"anoonly {anoonly.__version__} (installed package) has no method {method!r} "
            "yet (built on another branch?): pass --anoonly-bin PATH to a build that has it"
        ) from None
    # n_jobs: the estimator's default (None) is every core; the comparison sets it.
    kw: dict[str, Any] = {**params, "random_state": seed, "n_jobs": args.threads}
    if args.epochs is not None:
        kw["epochs"] = args.epochs
    clf = cls(**kw)
    t0 = time.perf_counter()
    clf.fit(split.X_train, split.y_train)
    seconds = time.perf_counter() - t0
    scores = np.asarray(clf.decision_function(split.X_test), dtype=np.float64)
    settings = {"via": f"python {cls.__name__}", "threads": args.threads, **kw}
    return Fit(scores, seconds, settings)


def ours_binary(
    method: str, params: dict[str, Any], split: Split, seed: int, args: argparse.Namespace
) -> Fit:
    binary = args.anoonly_bin
    threads = ["--threads", str(args.threads)]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        np.save(t / "train.npy", np.ascontiguousarray(split.X_train, dtype=np.float32))
        np.save(t / "train_y.npy", np.asarray(split.y_train, dtype=np.int64))
        np.save(t / "test.npy", np.ascontiguousarray(split.X_test, dtype=np.float32))
        fit = [binary, "fit", *threads, "--data", str(t / "train.npy")]
        fit += ["--labels", str(t / "train_y.npy"), "--method", method]
        fit += ["--seed", str(seed), "--out", str(t / "model.safetensors")]
        for name, value in params.items():
            fit += ["--set", f"{name}={'null' if value is None else value}"]
        if args.epochs is not None:
            fit += ["--epochs", str(args.epochs)]
        t0 = time.perf_counter()
        done = subprocess.run(fit, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if done.returncode != 0:
            if "unknown method" in done.stderr:
                raise Skip(f"{binary} has no method {method!r} yet: {done.stderr.strip()}")
            raise RuntimeError(f"anoonly fit failed: {done.stderr.strip()}")
        score = [binary, "score", *threads, "--model", str(t / "model.safetensors")]
        score += ["--data", str(t / "test.npy"), "--out", str(t / "scores.csv")]
        done = subprocess.run(score, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"anoonly score failed: {done.stderr.strip()}")
        table = np.genfromtxt(t / "scores.csv", delimiter=",", names=True)
        scores = np.asarray(table["score"], dtype=np.float64)
    version_line = subprocess.run([binary, "--version"], capture_output=True, text=True)
    settings = {
        "via": f"{binary} fit/score",
        "binary_version": version_line.stdout.strip(),
        "threads": args.threads,
        "seed": seed,
        **params,
    }
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    return Fit(scores, seconds, settings)


def run_ours(method: str, impl: str, split: Split, seed: int, args: argparse.Namespace) -> Fit:
    params = OURS_PARAMS.get((method, impl), {})
    if args.anoonly_bin:
        return ours_binary(method, params, split, seed, args)
    return ours_python(method, params, split, seed, args)


# ----------------------------------------------------------------------------- references


def wsad_dt_authors(split: Split, seed: int, args: argparse.Namespace) -> Fit:
    try:
        import torch
        from torch.utils.data import DataLoader, TensorDataset
        from wsad_dt._reference import evaluate_ensemble, set_seed, train
    except ImportError as e:
        raise Skip(f"wsad-dt is not installed ({e}): pip install --no-deps wsad-dt==1.0.0") from e
    if args.epochs is not None:
        raise Skip("the wsad-dt package hard-codes its 100 epochs (--epochs not applied)")
    model_seed = WSAD_DT_SEED_OFFSET + seed
    X = np.asarray(split.X_train, dtype=np.float64)  # as its WSADDT.fit converts
    y = np.asarray(split.y_train, dtype=int)
    t0 = time.perf_counter()
    try:
        set_seed(model_seed)  # as WSADDT.fit does (it also turns on deterministic algorithms)
        models, centres = train(WSAD_DT_MEMBERS, X, y, model_seed, parallel=False)
        seconds = time.perf_counter() - t0
        xt = torch.tensor(np.asarray(split.X_test), dtype=torch.float32)
        loader = DataLoader(
            TensorDataset(xt, torch.zeros(len(xt), dtype=torch.long)), batch_size=64
        )
        scores = evaluate_ensemble(models, centres, loader, "cpu")
    finally:
        # set_seed's process-wide switch would bind every later torch fit of this run.
        torch.use_deterministic_algorithms(False)
    settings = {
        "n_ensemble": WSAD_DT_MEMBERS,
        "seed": model_seed,
        "member_seeds": [model_seed * (j + 1) for j in range(WSAD_DT_MEMBERS)],
        "epochs": 100,
        "batch_size": 64,
        "lr": 1e-3,
        "weight_decay": 1e-5,
        "clip": 1.0,
    }
    return Fit(np.asarray(scores, dtype=np.float64), seconds, settings)


def source_dir(path: str | None, marker: str, flag: str) -> str:
    if not path:
        raise Skip(f"no {flag} given (a checkout of the reference's repository)")
    src = os.path.abspath(path)
    if not os.path.isfile(os.path.join(src, marker)):
        raise Skip(f"no {marker} under {flag} {src}")
    return src


# The line of RoSAS.py (5fefc376, Loss.forward) that combines the adaptive weights, and what
# authors-safe runs in its place: the same weights as a max-shifted softmax when both come
# from previous means (the published k1, k2 above it may be inf then, and are left unused).
ROSAS_WEIGHTS = (
    "        loss = (k1 / (k1 + k2)) * loss_emb + (k2 / (k1 + k2)) * loss_score"
    " + self.l2_reg_weight * l2_reg\n"
)
ROSAS_WEIGHTS_SAFE = (
    "        if pre_emb_loss != 0 and pre_score_loss != 0:  # anoonly fidelity.py: safe weights\n"
    "            w = torch.softmax(torch.stack([(loss_emb / pre_emb_loss) / self.T,"
    " (loss_score / pre_score_loss) / self.T]), 0)\n"
    "            loss = w[0] * loss_emb + w[1] * loss_score + self.l2_reg_weight * l2_reg\n"
    "        else:\n"
    "    " + ROSAS_WEIGHTS
)


def rosas_module(src: str, safe: bool) -> Any:
    """RoSAS.py from the checkout, as published or (safe) with the weights' line replaced in
    memory; the checkout is not edited."""
    if src not in sys.path:
        sys.path.insert(0, src)
    if not hasattr(np, "Inf"):
        np.Inf = np.inf  # type: ignore[attr-defined]  # its utils.EarlyStopping (numpy < 2)
    if not safe:
        return importlib.import_module("RoSAS")
    name = "RoSAS_overflow_safe"
    if name in sys.modules:
        return sys.modules[name]
    path = os.path.join(src, "RoSAS.py")
    with open(path) as f:
        text = f.read()
    if text.count(ROSAS_WEIGHTS) != 1:
        raise Skip(f"{path}: the adaptive weights' line of 5fefc376 is not there (other commit?)")
    mod = types.ModuleType(name)
    mod.__file__ = path
    exec(compile(text.replace(ROSAS_WEIGHTS, ROSAS_WEIGHTS_SAFE), path, "exec"), mod.__dict__)
    sys.modules[name] = mod
    return mod


def rosas_authors(split: Split, seed: int, args: argparse.Namespace, safe: bool = False) -> Fit:
    src = source_dir(args.rosas_src, "RoSAS.py", "--rosas-src")
    rosas = rosas_module(src, safe).RoSAS
    params = dict(ROSAS_AUTHORS)
    if args.epochs is not None:
        params["epochs"] = args.epochs
    model = rosas(device="cpu", use_es=False, seed=seed, **params)
    # Its fit scores a validation set each epoch for its log: two unlabeled train rows (no
    # test label is seen; its roc_auc_score then fails inside and logs -1).
    t0 = time.perf_counter()
    model.fit(split.X_train, split.y_train.astype(int), split.X_train[:2], np.zeros(2, int))
    seconds = time.perf_counter() - t0
    scores = np.asarray(model.predict(split.X_test), dtype=np.float64)
    settings = dict(params, use_es=False, device="cpu", seed=seed, overflow_safe=safe)
    return Fit(scores, seconds, settings)


def rosas_deepod(split: Split, seed: int, args: argparse.Namespace) -> Fit:
    try:
        from deepod.models.tabular import RoSAS
    except ImportError as e:
        raise Skip(f"DeepOD is not installed ({e})") from e
    kw: dict[str, Any] = {"device": "cpu", "random_state": seed, "verbose": 0}
    if args.epochs is not None:
        kw["epochs"] = args.epochs
    model = RoSAS(**kw)
    t0 = time.perf_counter()
    model.fit(split.X_train, split.y_train.astype(int))
    seconds = time.perf_counter() - t0
    scores = np.asarray(model.decision_function(split.X_test), dtype=np.float64)
    names = ["epochs", "batch_size", "lr", "rep_dim", "hidden_dims", "act", "bias", "margin",
             "alpha", "T", "k", "epoch_steps"]  # fmt: skip
    return Fit(scores, seconds, dict({n: getattr(model, n, None) for n in names}, seed=seed))


def stub_module(name: str, **attrs: Any) -> types.ModuleType:
    """An empty module that import statements (and torch's find_spec) accept."""
    mod = types.ModuleType(name)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
    for k, v in attrs.items():
        setattr(mod, k, v)
    sys.modules.setdefault(name, mod)
    return sys.modules[name]


def adsd_authors(split: Split, seed: int, args: argparse.Namespace) -> Fit:
    src = source_dir(args.overlap_src, "baseline/ADSD/run.py", "--overlap-src")
    # myutils imports tensorflow only to seed it; baseline/ADSD/run.py imports torchvision
    # and never uses it. Neither is on the MLP path.
    if importlib.util.find_spec("tensorflow") is None:
        stub_module("tensorflow", random=types.SimpleNamespace(set_seed=lambda s: None))
    if importlib.util.find_spec("torchvision") is None:
        tv = stub_module("torchvision")
        tv.datasets = stub_module("torchvision.datasets")  # type: ignore[attr-defined]
        tv.transforms = stub_module("torchvision.transforms")  # type: ignore[attr-defined]
    import matplotlib

    matplotlib.use("Agg")
    if src not in sys.path:
        sys.path.insert(0, src)
    adsd = importlib.import_module("baseline.ADSD.run").adsd
    model = adsd(seed=seed, model_name="ADSD", architecture="MLP", loss_name="ADSD")
    if args.epochs is not None:
        model.epochs = args.epochs
    captured: dict[str, np.ndarray] = {}

    def keep_scores(y_true: Any, y_score: Any, pos_label: int = 1) -> dict[str, float]:
        captured["scores"] = np.asarray(y_score, dtype=np.float64)
        return {"aucroc": float("nan"), "aucpr": float("nan")}

    model.utils.metric = keep_scores  # its fit2test scores X_test itself: keep the scores
    data = {
        "X_train": split.X_train,
        "y_train": split.y_train.astype(int),
        "X_test": split.X_test,
        "y_test": np.zeros(len(split.X_test), dtype=int),
    }
    t0 = time.perf_counter()
    model.fit2test(data)
    seconds = time.perf_counter() - t0
    settings = {
        "architecture": "MLP",
        "loss_name": "ADSD",
        "epochs": model.epochs,
        "batch_size": model.batch_size,
        "lr": model.lr,
        "momentum": model.mom,
        "weight_decay": model.weight_decay,
        "seed": seed,
    }
    return Fit(captured["scores"], seconds, settings)


RUNNERS: dict[tuple[str, str], Callable[[Split, int, argparse.Namespace], Fit]] = {
    ("wsad-dt", "authors"): wsad_dt_authors,
    ("rosas", "authors"): rosas_authors,
    ("rosas", "authors-safe"): lambda split, seed, args: rosas_authors(split, seed, args, True),
    ("rosas", "deepod"): rosas_deepod,
    ("adsd", "authors"): adsd_authors,
}


# ----------------------------------------------------------------------------- records


def key(rec: dict[str, Any]) -> tuple[Any, ...]:
    return (rec["file"], rec["method"], rec["impl"], rec["seed"], rec["split"])


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def loadavg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def run_one(
    method: str, impl: str, rel: str, split: Split, seed: int, args: argparse.Namespace
) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    rec: dict[str, Any] = {
        "file": rel,
        "family": family(rel),
        "method": method,
        "impl": impl,
        "seed": seed,
        "split": split.how,
        "n_train": len(split.y_train),
        "n_labeled": int(split.y_train.sum()),
        "n_test": len(split.y_test),
        "test_anomalies": int(split.y_test.sum()),
    }
    before = loadavg()
    rec["loadavg_before"] = before
    print(f"  {method} {impl} seed {seed}: load average {before} ...", file=sys.stderr, flush=True)
    cwd = os.getcwd()
    try:
        # References print progress on stdout, and the authors' RoSAS writes ./checkpoints/.
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
            os.chdir(tmp)
            try:
                if impl.startswith("ours"):
                    fit = run_ours(method, impl, split, seed, args)
                else:
                    fit = RUNNERS[(method, impl)](split, seed, args)
            finally:
                os.chdir(cwd)
    except Skip as e:
        rec["skipped"] = str(e)
        print(f"  skipped: {e}", file=sys.stderr)
        return rec
    except Exception as e:  # a reference failing on this data: record it, go on
        rec["error"] = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        print(f"  failed: {rec['error']}", file=sys.stderr)
        return rec
    rec["loadavg_after"] = loadavg()
    finite = bool(np.all(np.isfinite(fit.scores))) and len(fit.scores) == len(split.y_test)
    rec["scores_finite"] = finite
    rec["aucroc"] = float(roc_auc_score(split.y_test, fit.scores)) if finite else None
    rec["aucpr"] = float(average_precision_score(split.y_test, fit.scores)) if finite else None
    rec["fit_seconds"] = round(fit.seconds, 3)
    rec["threads"] = args.thread_info
    rec["settings"] = fit.settings
    rec["versions"] = VERSIONS
    rec["python"] = platform.python_version()
    auc = "n/a" if rec["aucroc"] is None else f"{rec['aucroc']:.4f}"
    print(f"  -> AUCROC {auc}, fit {fit.seconds:.1f} s", file=sys.stderr, flush=True)
    return rec


VERSIONS = {
    d: version(d)
    for d in ["anoonly", "torch", "numpy", "scikit-learn", "deepod", "wsad-dt", "threadpoolctl"]
}


# ----------------------------------------------------------------------------- report


def mean(v: list[float]) -> float:
    return float(np.mean(v)) if v else float("nan")


def paired(
    recs: list[dict[str, Any]], method: str, impl: str, group: Callable[[dict[str, Any]], str]
) -> dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]:
    """(ours, reference) records of `method` on the same file, seed and split, by group: ours
    at the settings the reference runs (PAIRED_WITH)."""
    ok = [r for r in recs if r["method"] == method and r.get("aucroc") is not None]
    mine = PAIRED_WITH[(method, impl)]
    ours = {(r["file"], r["seed"], r["split"]): r for r in ok if r["impl"] == mine}
    out: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for r in ok:
        k = (r["file"], r["seed"], r["split"])
        if r["impl"] == impl and k in ours:
            out.setdefault(group(r), []).append((ours[k], r))
    return out


def table(recs: list[dict[str, Any]], by: str) -> list[str]:
    group: Callable[[dict[str, Any]], str] = (
        (lambda r: r["family"]) if by == "family" else (lambda r: r["file"])
    )
    lines = [
        f"| method | reference | ours | {by} | pairs | AUCROC ours | AUCROC ref "
        "| ours - ref (points) | fit s ours | fit s ref | ref / ours |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (method, impl), mine in PAIRED_WITH.items():
        for g, pairs in sorted(paired(recs, method, impl, group).items()):
            a = mean([o["aucroc"] for o, _ in pairs])
            b = mean([r["aucroc"] for _, r in pairs])
            fa = mean([o["fit_seconds"] for o, _ in pairs])
            fb = mean([r["fit_seconds"] for _, r in pairs])
            ratio = f"{fb / fa:.1f}x" if fa > 0 else ""
            lines.append(
                f"| {method} | {impl} | {mine} | {g} | {len(pairs)} | {a:.4f} | {b:.4f} | "
                f"{100 * (a - b):+.2f} | {fa:.2f} | {fb:.2f} | {ratio} |"
            )
    return lines


def results(recs: list[dict[str, Any]]) -> list[str]:
    """Every implementation's means per file, whether or not ours ran beside it."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in recs:
        if r.get("aucroc") is not None:
            groups.setdefault((r["method"], r["impl"], r["file"]), []).append(r)
    lines = [
        "| method | implementation | file | seeds | AUCROC | AUCPR | fit s |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for (method, impl, rel), rs in sorted(groups.items()):
        seeds = ",".join(str(r["seed"]) for r in sorted(rs, key=lambda r: r["seed"]))
        lines.append(
            f"| {method} | {impl} | {rel} | {seeds} | {mean([r['aucroc'] for r in rs]):.4f} | "
            f"{mean([r['aucpr'] for r in rs]):.4f} | "
            f"{mean([r['fit_seconds'] for r in rs]):.2f} |"
        )
    return lines


def report(recs: list[dict[str, Any]]) -> None:
    # A record run again (--redo) replaces the earlier one.
    recs = list({key(r): r for r in recs}.values())
    print("\n".join(results(recs)))
    print()
    print("\n".join(table(recs, "file")))
    print()
    print("\n".join(table(recs, "family")))
    skipped = sorted({(r["method"], r["impl"], r["skipped"]) for r in recs if "skipped" in r})
    failed = [r for r in recs if "error" in r]
    for r in recs:
        if r.get("scores_finite") is False:
            print(f"\n- non-finite scores: {r['method']} {r['impl']} {r['file']} seed {r['seed']}")
    for m, i, why in skipped:
        print(f"\n- skipped {m} {i}: {why}")
    for r in failed:
        print(f"\n- failed {r['method']} {r['impl']} {r['file']} seed {r['seed']}: {r['error']}")


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("files", nargs="*", help="ADBench .npz files (default: the shared set)")
    ap.add_argument("--data-dir", default=str(DEFAULT_DATA), help="root of relative files")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated")
    ap.add_argument(
        "--impls",
        default=",".join(sorted({i for v in METHODS.values() for i in v})),
        help="comma-separated implementations, IMPL (every method's) or METHOD:IMPL "
        "(default: all)",
    )
    ap.add_argument("--seeds", default="0,1,2", help="split and model seeds, comma-separated")
    ap.add_argument("--setting", default="clean", choices=["clean", "noisy"])
    ap.add_argument("--gamma-la", type=float, default=0.1)
    ap.add_argument("--n-labeled", type=int, default=None, help="a count instead of gamma_la")
    ap.add_argument("--threads", type=int, default=1, help="torch, BLAS and anoonly threads")
    ap.add_argument("--epochs", type=int, default=None, help="override (smoke runs only)")
    ap.add_argument(
        "--anoonly-bin",
        default=os.environ.get("ANOONLY_BIN"),
        help="run ours through this `anoonly` binary instead of the Python package",
    )
    ap.add_argument("--rosas-src", default=os.environ.get("ROSAS_SRC"))
    ap.add_argument("--overlap-src", default=os.environ.get("OVERLAP_SRC"))
    ap.add_argument("--out", default="fidelity.jsonl", help="JSONL records (appended)")
    ap.add_argument("--redo", action="store_true", help="run again what --out already has")
    ap.add_argument("--report", action="store_true", help="only print the tables of --out")
    args = ap.parse_args()

    out = Path(args.out)
    if args.report:
        report(read_records(out))
        return
    if args.anoonly_bin and shutil.which(args.anoonly_bin) is None:
        raise SystemExit(f"--anoonly-bin {args.anoonly_bin}: not an executable")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m not in METHODS:
            raise SystemExit(f"unknown method {m!r} (known: {', '.join(METHODS)})")
    impls = {i.strip() for i in args.impls.split(",") if i.strip()}
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    files = args.files or DEFAULT_FILES
    args.thread_info = set_threads(args.threads)
    print(
        f"# threads: {args.thread_info}; versions: {VERSIONS}; Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs",
        file=sys.stderr,
    )
    done = {key(r) for r in read_records(out) if "aucroc" in r}
    for rel in files:
        path = Path(rel) if Path(rel).is_absolute() else Path(args.data_dir) / rel
        if not path.is_file():
            raise SystemExit(f"{path}: no such file")
        for seed in seeds:
            split = load_split(path, seed, args)
            print(
                f"# {rel} seed {seed}: {len(split.y_train)} train rows "
                f"({int(split.y_train.sum())} labeled), {len(split.y_test)} test rows "
                f"({int(split.y_test.sum())} anomalies), {split.how}",
                file=sys.stderr,
            )
            for method in methods:
                for impl in METHODS[method]:
                    if impl not in impls and f"{method}:{impl}" not in impls:
                        continue
                    k = (rel, method, impl, seed, split.how)
                    if k in done and not args.redo:
                        continue
                    rec = run_one(method, impl, rel, split, seed, args)
                    with open(out, "a") as f:
                        f.write(json.dumps(rec) + "\n")
    report(read_records(out))


if __name__ == "__main__":
    main()

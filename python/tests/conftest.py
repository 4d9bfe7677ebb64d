"""Shared fixtures of the Python tests: small PyOD data, fast settings per method, the
`anoonly` command and the shared ADBench files (tests needing them skip with the reason)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anoonly
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data" / "adbench"

# Every estimator class, in the registry's order, and the registry's facts about it: the
# per-method lists come from the library (`_anoonly.methods()`), so a new method is tested
# with no edit here.
METHODS = {info.class_name: info for info in anoonly._anoonly.methods()}
CLASSES: list[type[anoonly.BaseDetector]] = [getattr(anoonly, name) for name in METHODS]
WITH_ANOONLY = [c for c in CLASSES if METHODS[c.__name__].supports_anoonly]
# The methods that learn from unlabeled rows alone (DeepSAD trains as Deep SVDD then).
WITHOUT_ANOMALIES = [c for c in CLASSES if METHODS[c.__name__].trains_without_anomalies]


def fast(cls: type[anoonly.BaseDetector]) -> dict[str, Any]:
    """Keywords that make any method fit in about a second: 2 epochs where it trains in
    epochs and a small value for each training-length hyperparameter it has, by name (the
    rule of crates/anoonly/tests/conformance.rs)."""
    info = METHODS[cls.__name__]
    out: dict[str, Any] = {"epochs": 2} if info.trains_in_epochs else {}
    names = cls().get_params()
    # (XGBOD: 20 rounds; at 10 its training scores on the contract's data are all equal.)
    for name, value in (("pretrain_epochs", 2), ("n_estimators", 20)):
        if name in names:
            out[name] = value
    return out


FAST: dict[type[anoonly.BaseDetector], dict[str, Any]] = {cls: fast(cls) for cls in CLASSES}


def loud_skip(reason: str) -> None:
    """Skips with a line on the real stderr, so the skip shows in any pytest output."""
    sys.__stderr__.write(f"\nSKIPPED {reason}\n")
    pytest.skip(reason)


def semi_labels(y: np.ndarray, share: float = 0.5) -> np.ndarray:
    """PyOD's test convention: the first `share` of the anomalies labeled (1), the rest 0."""
    out = np.zeros(len(y), dtype=np.int64)
    idx = np.flatnonzero(y == 1)
    out[idx[: max(1, int(len(idx) * share))]] = 1
    return out


@pytest.fixture(scope="session")
def data() -> dict[str, np.ndarray]:
    """PyOD's generate_data: 600 train, 300 test rows, 8 features, 10 % outliers."""
    # Imported here: the contract tests (test_sklearn.py) run without PyOD in the
    # environment of the oldest supported scikit-learn (scripts/test.sh).
    from pyod.utils.data import generate_data

    X_train, X_test, y_train, y_test = generate_data(
        n_train=600, n_test=300, n_features=8, contamination=0.1, random_state=42
    )
    return {
        "X_train": X_train,
        "X_test": X_test,
        "y_train": y_train,
        "y_test": y_test,
        "y_semi": semi_labels(y_train),
    }


@pytest.fixture(scope="session")
def cli() -> Path:
    """The `anoonly` command built by `cargo build --release`; ANOONLY_BIN names another
    (scripts/test.sh names the one it built: missing, the tests fail instead of skipping)."""
    named = os.environ.get("ANOONLY_BIN")
    path = Path(named or REPO / "target" / "release" / "anoonly")
    if not path.is_file():
        if named:
            pytest.fail(f"ANOONLY_BIN={named} not found")
        loud_skip(f"needs {path}: run `cargo build --release` (scripts/test.sh does)")
    return path


def run_cli(cli: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(cli), *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"anoonly {' '.join(args)} failed: {proc.stderr}"
    return proc


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        loud_skip(f"needs ../shared/data: {SHARED} not found")
    return SHARED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How many cases the property-based tests ran (test_properties.py), after the run."""
    properties = sys.modules.get("test_properties")
    if properties is not None and properties.OUTCOMES:
        terminalreporter.write_line(properties.summary())

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
from pyod.utils.data import generate_data

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data" / "adbench"

CLASSES = [
    anoonly.DeepSAD,
    anoonly.DevNet,
    anoonly.PReNet,
    anoonly.FEAWAD,
    anoonly.GANomaly,
    anoonly.REPEN,
    anoonly.XGBOD,
]
WITH_ANOONLY = [anoonly.DeepSAD, anoonly.DevNet, anoonly.PReNet, anoonly.FEAWAD]

# Few epochs (and FEAWAD's pretraining cut; XGBOD's boosting rounds, as it has no epochs)
# so that every class fits in about a second.
FAST: dict[type[anoonly.BaseDetector], dict[str, Any]] = {
    anoonly.DeepSAD: {"epochs": 3},
    anoonly.DevNet: {"epochs": 3},
    anoonly.PReNet: {"epochs": 2},
    anoonly.FEAWAD: {"epochs": 2, "pretrain_epochs": 2},
    anoonly.GANomaly: {"epochs": 2},
    anoonly.REPEN: {"epochs": 2},
    anoonly.XGBOD: {"n_estimators": 10},
}


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

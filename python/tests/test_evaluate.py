"""`anoonly.evaluate` is `anoonly eval --json` in one call (the same records, timings
aside), and the `anoonly` console script the package installs is the command itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anoonly
import numpy as np
import pytest
from conftest import run_cli

TIMINGS = ("fit_seconds", "score_seconds")


@pytest.fixture(scope="module")
def labeled(
    tmp_path_factory: pytest.TempPathFactory, data: dict[str, np.ndarray]
) -> dict[str, Any]:
    """The test data with its true labels, as an ADBench-style .npz."""
    X = np.vstack([data["X_train"], data["X_test"]]).astype(np.float32)
    y = np.r_[data["y_train"], data["y_test"]].astype(np.int64)
    path = tmp_path_factory.mktemp("eval") / "gen.npz"
    np.savez(path, X=X, y=y)
    return {"X": X, "y": y, "path": path}


EVAL_FLAGS = ["--method", "devnet", "--epochs", "2", "--gamma-la", "0.2", "--seeds", "4,5"]


def without(record: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in keys}


def test_evaluate_gives_the_records_of_eval_json(cli: Path, labeled: dict[str, Any]) -> None:
    proc = run_cli(cli, "eval", "--data", str(labeled["path"]), *EVAL_FLAGS, "--json")
    expected = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["seed"] for r in expected] == [4, 5]
    from_file = anoonly.evaluate(
        labeled["path"], method="devnet", epochs=2, gamma_la=0.2, seeds=[4, 5]
    )
    assert [without(r, *TIMINGS) for r in from_file] == [without(r, *TIMINGS) for r in expected]
    assert all(r[t] >= 0 for r in from_file for t in TIMINGS)
    # Arrays instead of the file: the same records under the name given.
    from_arrays = anoonly.evaluate(
        labeled["X"], labeled["y"], method="devnet", epochs=2, gamma_la=0.2, seeds=[4, 5],
        name="gen",
    )  # fmt: skip
    assert [without(r, *TIMINGS) for r in from_arrays] == [without(r, *TIMINGS) for r in expected]


def test_evaluate_takes_the_estimators_keywords(labeled: dict[str, Any]) -> None:
    (r,) = anoonly.evaluate(
        labeled["path"], method="xgbod", n_estimators=5, max_depth=2, setting="noisy"
    )
    assert r["method"] == "xgbod" and r["setting"] == "noisy"
    assert r["method_params"]["n_estimators"] == 5 and r["method_params"]["max_depth"] == 2
    (r,) = anoonly.evaluate(labeled["path"], method="deepsad", anoonly=True, epochs=2)
    assert r["anoonly"] is True and r["lambda_n"] == 0.0
    assert 0.0 <= r["aucroc"] <= 1.0


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"method": "svm"}, ValueError, "unknown method `svm`"),
        ({"method": "xgbod", "epochs": 3}, TypeError, "'epochs'.*n_estimators"),
        ({"method": "xgbod", "anoonly": True}, TypeError, "'anoonly'"),
        ({"seeds": []}, ValueError, "no seed"),
        ({"seeds": [1.5]}, TypeError, "seeds"),
        ({"random_state": 3}, TypeError, "seeds set the split"),
        ({"protocol": "kfold"}, ValueError, "protocol"),
        ({"gamma_la": 2.0}, ValueError, "gamma_la"),
        ({"lr": -1.0}, ValueError, "lr"),
    ],
)
def test_evaluate_bad_arguments(
    labeled: dict[str, Any], kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        anoonly.evaluate(labeled["path"], **kwargs)


def test_evaluate_data_errors(labeled: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="needs the true labels"):
        anoonly.evaluate(labeled["X"])
    with pytest.raises(TypeError, match="pass no y"):
        anoonly.evaluate(labeled["path"], labeled["y"])
    with pytest.raises(FileNotFoundError, match=r"missing\.npz"):
        anoonly.evaluate(tmp_path / "missing.npz")
    X = labeled["X"].copy()
    X[7, 3] = np.nan
    with pytest.raises(ValueError, match=r"row 7.*column 3|row 7, column 3"):
        anoonly.evaluate(X, labeled["y"])


def script() -> Path:
    """The `anoonly` console script installed beside this Python."""
    path = Path(sys.executable).parent / ("anoonly.exe" if os.name == "nt" else "anoonly")
    assert path.is_file(), f"{path}: the package's console script is not installed"
    return path


def run(cmd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(cmd), *args], capture_output=True, text=True, check=False)


def test_console_script_is_the_command(cli: Path, labeled: dict[str, Any]) -> None:
    for args in (["demo", "--help"], ["--version"]):
        ours, native = run(script(), *args), run(cli, *args)
        assert (ours.returncode, ours.stdout) == (0, native.stdout), ours.stderr
    # A tiny eval: the same records as the native binary's.
    args = ["eval", "--data", str(labeled["path"]), *EVAL_FLAGS, "--json"]
    ours, native = run(script(), *args), run(cli, *args)
    assert ours.returncode == 0, ours.stderr
    got = [without(json.loads(line), *TIMINGS) for line in ours.stdout.splitlines()]
    want = [without(json.loads(line), *TIMINGS) for line in native.stdout.splitlines()]
    assert got == want and len(got) == 2
    # Usage errors and failures: the same status and message.
    for args, status in ((["eval", "--bogus"], 2), (["eval", "--data", "missing.npz"], 1)):
        ours, native = run(script(), *args), run(cli, *args)
        assert ours.returncode == native.returncode == status
        assert ours.stderr == native.stderr and ours.stderr.startswith("error: ")


# --- Labeled-count mode (issue 19) ---------------------------------------------------------


def test_count_mode_is_evals_and_nested(cli: Path, labeled: dict[str, Any]) -> None:
    """``n_labeled`` labels exactly that many train anomalies, the first of the draw the
    ratio makes (nested), gives ``eval --n-labeled``'s records, and is exclusive with
    ``gamma_la``; too many is a ValueError naming the counts."""
    X, y = labeled["X"], labeled["y"]
    prev: set[bytes] = set()
    for k in (1, 3, 5):
        X_train, y_train, _, _ = anoonly.split(X, y, seed=2, n_labeled=k)
        assert int(y_train.sum()) == k
        rows = {r.tobytes() for r in X_train[y_train == 1]}
        assert prev <= rows
        prev = rows
    proc = run_cli(
        cli, "eval", "--data", str(labeled["path"]), "--method", "devnet", "--epochs", "2",
        "--n-labeled", "3", "--seeds", "4", "--json",
    )  # fmt: skip
    expected = [json.loads(line) for line in proc.stdout.splitlines()]
    got = anoonly.evaluate(labeled["path"], method="devnet", epochs=2, n_labeled=3, seeds=[4])
    assert [without(r, *TIMINGS) for r in got] == [without(r, *TIMINGS) for r in expected]
    assert got[0]["n_labeled_requested"] == 3 and "gamma_la" not in got[0]
    with pytest.raises(ValueError, match="exclusive"):
        anoonly.split(X, y, gamma_la=0.2, n_labeled=3)
    too_many = r"n_labeled = 100000 but the train split has \d+ anomalies"
    with pytest.raises(ValueError, match=too_many):
        anoonly.evaluate(X, y, method="devnet", epochs=2, n_labeled=100_000)

"""The same seed, data and parameters give the same model and the same scores from Python
as from the `anoonly` command, bit for bit, and model files cross between them both ways.
Each case maps the estimator's keywords to the command's flags."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import anoonly
import numpy as np
import pytest
from conftest import run_cli

# (estimator, keywords, the `anoonly fit` flags that say the same). The estimators'
# preprocessing default is "auto", the command's "none": each case says which it uses, so
# all four kinds cross between the two (the model file keeps the scaler).
CASES: list[tuple[type[anoonly.BaseDetector], dict[str, Any], list[str]]] = [
    (
        anoonly.DeepSAD,
        {"epochs": 3},
        ["--method", "deepsad", "--epochs", "3", "--preprocessing", "auto"],
    ),
    (
        anoonly.DeepSAD,
        {"anoonly": True, "epochs": 3, "hidden": [16, 8], "lr": 0.001, "preprocessing": None},
        [
            "--method",
            "deepsad",
            "--anoonly",
            "--epochs",
            "3",
            "--set",
            "hidden=[16,8]",
            "--set",
            "lr=0.001",
        ],
    ),
    (
        anoonly.DeepSAD,
        {
            "anoonly": True,
            "epochs": 2,
            "norm": "bn-loss",
            "bn_loss_weight": 0.5,
            "empty_batch": "skip",
            "batch_size": 64,
            "preprocessing": "standard",
        },
        [
            "--preprocessing",
            "standard",
            "--method",
            "deepsad",
            "--anoonly",
            "--epochs",
            "2",
            "--norm",
            "bn-loss",
            "--bn-loss-weight",
            "0.5",
            "--skip-empty-batches",
            "--batch-size",
            "64",
        ],
    ),
    (
        anoonly.DevNet,
        {"lambda_n": 0.5, "norm": "layernorm", "loss": "paper", "epochs": 3},
        [
            "--preprocessing",
            "auto",
            "--method",
            "devnet",
            "--lambda-n",
            "0.5",
            "--norm",
            "layernorm",
            "--loss",
            "paper",
            "--epochs",
            "3",
        ],
    ),
    (
        anoonly.PReNet,
        {"anoonly": True, "epochs": 2, "preprocessing": "minmax"},
        ["--method", "prenet", "--anoonly", "--epochs", "2", "--preprocessing", "minmax"],
    ),
    (
        anoonly.FEAWAD,
        {"compat": "official", "epochs": 2, "pretrain_epochs": 2, "preprocessing": False},
        [
            "--method",
            "feawad",
            "--compat",
            "official",
            "--epochs",
            "2",
            "--set",
            "pretrain_epochs=2",
        ],
    ),
    (
        anoonly.GANomaly,
        {"epochs": 2, "preprocessing": True},
        ["--method", "ganomaly", "--epochs", "2", "--preprocessing", "standard"],
    ),
    (
        anoonly.REPEN,
        {"epochs": 2},
        ["--method", "repen", "--epochs", "2", "--preprocessing", "auto"],
    ),
    (
        anoonly.XGBOD,
        {"n_estimators": 10, "max_depth": 2, "preprocessing": "auto"},
        [
            "--method",
            "xgbod",
            "--set",
            "n_estimators=10",
            "--set",
            "max_depth=2",
            "--preprocessing",
            "auto",
        ],
    ),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """The test data as the command reads it: .npy features with a sibling labels file."""
    d = tmp_path_factory.mktemp("cli")
    X = data["X_train"].astype(np.float32)
    np.save(d / "train_X.npy", X)
    np.save(d / "train_y.npy", data["y_semi"].astype(np.int64))
    np.save(d / "test_X.npy", data["X_test"].astype(np.float32))
    return {"dir": d, "train": d / "train_X.npy", "test": d / "test_X.npy"}


def cli_scores(cli: Path, model: Path, data: Path, out: Path) -> np.ndarray:
    run_cli(cli, "score", "--model", str(model), "--data", str(data), "--out", str(out))
    with out.open() as f:
        # The command prints f32 scores in their shortest round-trip form.
        return np.array([float(r["score"]) for r in csv.DictReader(f)], dtype=np.float32)


def bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32).view(np.uint32)


@pytest.mark.parametrize(
    "cls, kwargs, flags", CASES, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CASES)]
)
def test_same_model_and_scores_as_the_command(
    cli: Path,
    files: dict[str, Any],
    data: dict[str, np.ndarray],
    tmp_path: Path,
    cls: type[anoonly.BaseDetector],
    kwargs: dict[str, Any],
    flags: list[str],
) -> None:
    seed = 11
    cli_model = tmp_path / "cli.safetensors"
    run_cli(
        cli,
        "fit",
        "--data",
        str(files["train"]),
        *flags,
        "--seed",
        str(seed),
        "--out",
        str(cli_model),
    )
    est = cls(random_state=seed, **kwargs).fit(data["X_train"], data["y_semi"])
    py_model = tmp_path / "py.safetensors"
    est.save(py_model)
    # The model file is a pure function of the model: the same bytes.
    assert py_model.read_bytes() == cli_model.read_bytes()
    # Scores of the command on its own model = Python's, bit for bit.
    s_cli = cli_scores(cli, cli_model, files["test"], tmp_path / "s_cli.csv")
    s_py = est.decision_function(data["X_test"])
    np.testing.assert_array_equal(bits(s_cli), bits(s_py))
    # The command's model in Python, and Python's model in the command.
    np.testing.assert_array_equal(
        bits(anoonly.load(cli_model).decision_function(data["X_test"])), bits(s_cli)
    )
    s_cross = cli_scores(cli, py_model, files["test"], tmp_path / "s_py.csv")
    np.testing.assert_array_equal(bits(s_cross), bits(s_py))


def test_contamination_predictions_match_the_command(
    cli: Path, files: dict[str, Any], data: dict[str, np.ndarray], tmp_path: Path
) -> None:
    est = anoonly.DevNet(epochs=3, contamination=0.05).fit(data["X_train"], data["y_semi"])
    model = tmp_path / "m.safetensors"
    est.save(model)
    out = tmp_path / "s.csv"
    run_cli(
        cli,
        "score",
        "--model",
        str(model),
        "--data",
        str(files["test"]),
        "--out",
        str(out),
        "--contamination",
        "0.05",
    )
    with out.open() as f:
        predicted = np.array([int(r["prediction"]) for r in csv.DictReader(f)])
    np.testing.assert_array_equal(predicted, est.predict(data["X_test"]))


def test_eval_split_and_metrics_equal_the_commands_eval(
    cli: Path, tmp_path: Path, data: dict[str, np.ndarray]
) -> None:
    """`anoonly eval` on a file = anoonly.split + fit + metrics in Python, bit for bit."""
    X = np.vstack([data["X_train"], data["X_test"]]).astype(np.float32)
    y = np.r_[data["y_train"], data["y_test"]].astype(np.int64)
    path = tmp_path / "set.npz"
    np.savez(path, X=X, y=y)
    seed = 4
    proc = run_cli(
        cli,
        "eval",
        "--data",
        str(path),
        "--method",
        "deepsad",
        "--anoonly",
        "--epochs",
        "3",
        "--gamma-la",
        "0.2",
        "--setting",
        "noisy",
        "--seeds",
        str(seed),
        "--json",
    )
    record = json.loads(proc.stdout.splitlines()[0])
    X_train, y_train, X_test, y_test = anoonly.split(
        X, y, seed=seed, gamma_la=0.2, setting="noisy"
    )
    assert (len(y_train), int(y_train.sum()), len(y_test)) == (
        record["n_train"],
        record["n_labeled"],
        record["n_test"],
    )
    est = anoonly.DeepSAD(anoonly=True, epochs=3, random_state=seed).fit(X_train, y_train)
    m = anoonly.metrics(y_test, est.decision_function(X_test))
    for key in ("aucroc", "aucpr", "aucpr_normal", "aucpr_normal_official"):
        assert m[key] == record[key], key


def test_load_data_reads_as_the_command_does(cli: Path, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1,2,0\n3,4.5,1\n5,6,0\n")
    X, y = anoonly.load_data(path, label_column="label")
    assert X.dtype == np.float32 and X.tolist() == [[1, 2], [3, 4.5], [5, 6]]
    assert y.tolist() == [0, 1, 0]
    path.write_text("a,b,label\n1,2,0\n3,x,1\n")
    with pytest.raises(ValueError, match=r"t\.csv.*line 3"):
        anoonly.load_data(path, label_column="label")
    with pytest.raises(FileNotFoundError, match=r"missing\.npz"):
        anoonly.load_data(tmp_path / "missing.npz")

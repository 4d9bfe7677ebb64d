"""Functions beside the estimators: data files, the protocol's split and the paper's
metrics, each one call into the library."""

from __future__ import annotations

import os
from typing import Any, Union

import numpy as np
import numpy.typing as npt

from anoonly import _anoonly
from anoonly._inputs import as_features, as_labels, as_scores

PathLike = Union[str, "os.PathLike[str]"]


def load_data(
    path: PathLike,
    label_column: str | None = None,
    labels: PathLike | None = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """Reads a labeled data file as ``anoonly eval`` and ``anoonly fit`` do: an ADBench
    ``.npz``, ``.npy`` features (labels from ``labels`` or a sibling ``y.npy`` /
    ``NAME_y.npy``) or a CSV with a header (label column ``label_column``, default ``y``).
    Returns ``(X, y)``: float32 features and uint8 labels (1 = anomaly). Errors name the
    file and the row, column or field."""
    return _anoonly.load_data(
        os.fspath(path), label_column, None if labels is None else os.fspath(labels)
    )


def split(
    X: Any,
    y: Any,
    *,
    seed: int = 0,
    protocol: str = "adbench",
    setting: str = "clean",
    gamma_la: float = 0.1,
    normal_ratio: float = 1.0,
    max_rows: int | None = 10000,
) -> tuple[
    npt.NDArray[np.float32],
    npt.NDArray[np.uint8],
    npt.NDArray[np.float32],
    npt.NDArray[np.uint8],
]:
    """The train/test split ``anoonly eval`` makes at ``seed`` (same options, same
    defaults; ``max_rows=None`` is ``--max-rows none``): returns ``(X_train, y_train,
    X_test, y_test)``, both parts min-max scaled with the train split. ``y`` holds the true
    labels (1 = anomaly); ``y_train`` has 1 for the labeled anomalies only (``gamma_la`` of
    the train anomalies) and ``y_test`` the true labels. Fitting an estimator with
    ``random_state=seed`` on the train part and scoring the test part gives ``eval``'s
    scores bit for bit."""
    x = as_features(X)
    labels = as_labels(y, x.shape[0])
    return _anoonly.split(x, labels, seed, protocol, setting, gamma_la, normal_ratio, max_rows)


def metrics(y_true: Any, scores: Any) -> dict[str, float]:
    """The paper's metrics of ``scores`` (higher = more anomalous) against ``y_true``
    (1 = anomaly, 0 = normal), as fractions: ``aucroc`` (scikit-learn's
    ``roc_auc_score``), ``aucpr`` (``average_precision_score``), ``aucpr_normal`` (normals
    as positives, score negated) and ``aucpr_normal_official`` (the authors' sign error,
    for their Table 4). Scores are compared as float32."""
    s = as_scores(scores)
    return _anoonly.metrics(as_labels(y_true, s.shape[0], "y_true"), s)

"""Functions beside the estimators: data files, the protocol's split, the paper's
metrics and whole evaluations, each one call into the library."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any, Union

import numpy as np
import numpy.typing as npt

from anoonly import _anoonly
from anoonly._estimators import _count, estimator_class, threads
from anoonly._inputs import as_features, as_labels, as_scores

PathLike = Union[str, "os.PathLike[str]"]

# The split's defaults, the library's (`SplitParams::default()`, those of `anoonly eval`).
_SPLIT: dict[str, Any] = json.loads(_anoonly.split_defaults())


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
    protocol: str = _SPLIT["protocol"],
    setting: str = _SPLIT["setting"],
    gamma_la: float | None = None,
    n_labeled: int | None = None,
    normal_ratio: float = _SPLIT["normal_ratio"],
    max_rows: int | None = _SPLIT["max_rows"],
) -> tuple[
    npt.NDArray[np.float32],
    npt.NDArray[np.uint8],
    npt.NDArray[np.float32],
    npt.NDArray[np.uint8],
]:
    """The train/test split ``anoonly eval`` makes at ``seed`` (same options, same
    defaults; ``max_rows=None`` is ``--max-rows none``): returns ``(X_train, y_train,
    X_test, y_test)``, both parts min-max scaled with the train split. ``y`` holds the true
    labels (1 = anomaly); ``y_train`` has 1 for the labeled anomalies only and ``y_test`` the
    true labels. The labeled anomalies are a ratio ``gamma_la`` of the train anomalies
    (``--gamma-la``; the library's default, 0.1, when neither is given) or, exclusive with
    it, a count ``n_labeled`` (``--n-labeled``, ADBench's ``nla``: the first ``n_labeled``
    of the draw the ratio makes; a train split with fewer anomalies is a ``ValueError``).
    Fitting an estimator with ``random_state=seed`` on the train part and scoring the test
    part gives ``eval``'s scores bit for bit."""
    x = as_features(X)
    labels = as_labels(y, x.shape[0])
    return _anoonly.split(
        x,
        labels,
        seed,
        protocol,
        setting,
        gamma_la,
        normal_ratio,
        max_rows,
        n_labeled=_count("n_labeled", n_labeled),
    )


def metrics(y_true: Any, scores: Any) -> dict[str, float]:
    """The paper's metrics of ``scores`` (higher = more anomalous) against ``y_true``
    (1 = anomaly, 0 = normal), as fractions: ``aucroc`` (scikit-learn's
    ``roc_auc_score``), ``aucpr`` (``average_precision_score``), ``aucpr_normal`` (normals
    as positives, score negated) and ``aucpr_normal_official`` (the authors' sign error,
    for their Table 4). Scores are compared as float32."""
    s = as_scores(scores)
    return _anoonly.metrics(as_labels(y_true, s.shape[0], "y_true"), s)


def evaluate(
    X: Any,
    y: Any = None,
    *,
    method: str = "deepsad",
    anoonly: bool = False,
    setting: str = _SPLIT["setting"],
    protocol: str = _SPLIT["protocol"],
    gamma_la: float | None = None,
    n_labeled: int | None = None,
    normal_ratio: float = _SPLIT["normal_ratio"],
    max_rows: int | None = _SPLIT["max_rows"],
    seeds: Sequence[int] = (0,),
    label_column: str | None = None,
    name: str = "arrays",
    n_jobs: int | None = None,
    verbose: bool = False,
    **params: Any,
) -> list[dict[str, Any]]:
    """``anoonly eval`` in one call (the library's ``experiment::EvalRequest``): for each
    seed, split the data as ``split`` does, fit ``method`` on the train part, score the test
    part, and return one dict per seed with the fields of ``anoonly eval --json`` (metrics
    as fractions, ``fit_seconds``, ``n_train``, ``method_params``, ...). ``method`` is read
    as ``--method`` is (case-insensitive: ``"devnet"``, ``"DevNet"``); the split keywords
    default to the library's, as ``split``'s do (``gamma_la`` or ``n_labeled``, exclusive;
    a count-mode record has ``n_labeled_requested`` in place of ``gamma_la``).

    ``X`` is a data file (read as ``load_data`` reads it, ``y`` not given) or the features
    with ``y`` the true labels (1 = anomaly; the records call the data ``name``). Any other
    keyword is the estimator's (``epochs``, ``lambda_n``, ``hidden``, ``n_estimators``, ...);
    the seeds set both the split and the model. ``preprocessing`` defaults to none here,
    as in ``anoonly eval`` (the split scales the data; ``"auto"`` would leave it as it is,
    bit for bit). The same options give the same records as the command, bit for bit
    (apart from timings). ``n_jobs`` as the estimators' (``None``: all cores, as
    ``eval``'s default ``--threads``); ``verbose`` and Ctrl-C as in ``fit``."""
    cls = estimator_class(method)
    for own in ("random_state", "contamination", "device"):
        if own in params:
            raise TypeError(f"evaluate() takes no {own!r}: the seeds set the split and the model")
    if anoonly:
        params["anoonly"] = True
    params.setdefault("preprocessing", None)
    n_threads = threads(n_jobs)
    fit_params = cls(**params)._fit_params()
    seed_list = []
    for seed in seeds:
        n = _count("seeds", seed)
        if n is None:
            raise TypeError("seeds must be integers, got None")
        seed_list.append(n)
    options = (protocol, setting, gamma_la, normal_ratio, max_rows, bool(verbose))
    count = _count("n_labeled", n_labeled)
    if isinstance(X, (str, os.PathLike)):
        if y is not None:
            raise TypeError("evaluate(path, y): a data file holds its own labels; pass no y")
        lines = _anoonly.evaluate(
            fit_params,
            seed_list,
            *options,
            path=os.fspath(X),
            label_column=label_column,
            n_labeled=count,
            threads=n_threads,
        )
    else:
        if y is None:
            raise TypeError("evaluate(X) needs the true labels y (or a data file path as X)")
        x = as_features(X)
        lines = _anoonly.evaluate(
            fit_params,
            seed_list,
            *options,
            x=x,
            y=as_labels(y, x.shape[0]),
            name=name,
            n_labeled=count,
            threads=n_threads,
        )
    records: list[dict[str, Any]] = [json.loads(line) for line in lines]
    return records

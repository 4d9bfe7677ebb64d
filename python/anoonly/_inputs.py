"""Python inputs turned into the arrays the extension reads: features as a C-contiguous
float32 matrix, labels as a uint8 vector of 0/1.

Anything ``numpy.asarray`` accepts goes in (lists, pandas frames, float64, Fortran order);
a C-contiguous float32 matrix is passed on as it is (the extension reads it in place), any
other is converted once. What cannot be converted without changing its meaning (objects,
strings, a wrong number of dimensions, labels other than 0/1, a finite value that float32
cannot hold) raises here, naming the problem (in scikit-learn's words where its estimator
checks expect them); finiteness, shapes against the model and the
rest are the library's checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

# Kinds numpy converts to float32 without losing what a value means: bool, signed and
# unsigned integers, floats.
_NUMERIC_KINDS = "biuf"


def _numeric(name: str, arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``arr`` with a numeric dtype: itself when it has one; an object array (a frame with
    an object column) converted when every value is a number, as scikit-learn converts it.
    Complex values are a ``ValueError`` (scikit-learn's "Complex data not supported"),
    strings, and objects that are not numbers, a ``TypeError``."""
    if arr.dtype.kind in _NUMERIC_KINDS:
        return arr
    if arr.dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: {name} has dtype {arr.dtype} "
            f"(anoonly needs real numbers, e.g. {name}.real or abs({name}))"
        )
    if arr.dtype.kind == "O":
        try:
            return arr.astype(np.float64)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"{name} has dtype object with a value that is not a number ({e}): "
                "anoonly needs numbers (bool, integer or float)"
            ) from None
    raise TypeError(
        f"{name} has dtype {arr.dtype}: anoonly needs numbers "
        f"(bool, integer or float), e.g. {name}.astype(float) if its values are numeric"
    )


def as_features(X: Any, name: str = "X") -> npt.NDArray[np.float32]:
    """``X`` as a C-contiguous float32 matrix of at least one row and one column; ``X``
    itself when it already is one (no copy)."""
    if X is None:
        raise TypeError(f"{name} is None: expected a 2-D array (n_samples, n_features)")
    if hasattr(X, "toarray") and hasattr(X, "nnz"):
        raise TypeError(f"{name} is a sparse matrix: pass a dense array ({name}.toarray())")
    arr = _numeric(name, np.asarray(X))
    if arr.ndim != 2:
        hint = (
            " (Reshape your data: one feature X.reshape(-1, 1), one row X.reshape(1, -1))"
            if arr.ndim == 1
            else ""
        )
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got {arr.ndim}-D with shape "
            f"{arr.shape}{hint}"
        )
    # The wording after the colon is scikit-learn's, which its estimator checks expect.
    if arr.shape[0] == 0:
        raise ValueError(
            f"{name} has no rows: found array with 0 sample(s) (shape={arr.shape}) while a "
            "minimum of 1 is required."
        )
    if arr.shape[1] == 0:
        raise ValueError(
            f"{name} has no columns: found array with 0 feature(s) (shape={arr.shape}) while "
            "a minimum of 1 is required."
        )
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(arr, dtype=np.float32)
    if out is not arr and arr.dtype.kind == "f" and arr.dtype.itemsize > 4:
        # float64 values beyond float32's range would become +-inf and be reported as
        # non-finite input; say what happened instead. The extremes first (fmax/fmin skip
        # NaN and allocate nothing); the cell-by-cell search only when one is out of range.
        limit = float(np.finfo(np.float32).max)
        if np.fmax.reduce(arr, axis=None) > limit or np.fmin.reduce(arr, axis=None) < -limit:
            overflow = np.isfinite(arr) & ~np.isfinite(out)
        else:
            overflow = np.zeros(0, dtype=bool)
        if overflow.any():
            row, col = (int(i) for i in np.argwhere(overflow)[0])
            raise ValueError(
                f"{name}[{row}, {col}] = {arr[row, col].item()!r} is outside float32's range "
                f"(anoonly computes in float32): row {row}, column {col}"
            )
    return out


def as_labels(y: Any, n_rows: int, name: str = "y") -> npt.NDArray[np.uint8]:
    """``y`` as a uint8 vector: 1 = labeled anomaly, 0 = unlabeled. ``None`` means no
    labeled row (all 0)."""
    if y is None:
        return np.zeros(n_rows, dtype=np.uint8)
    arr = _numeric(name, np.asarray(y))
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n_samples,), got shape {arr.shape}")
    if arr.shape[0] != n_rows:
        raise ValueError(f"{name} has {arr.shape[0]} labels but X has {n_rows} rows")
    bad = np.flatnonzero((arr != 0) & (arr != 1))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name}[{i}] = {arr[i].item()!r}: labels must be 1 (labeled anomaly) or 0 "
            "(unlabeled), "
            f"row {i}"
        )
    return np.ascontiguousarray(arr, dtype=np.uint8)


def as_scores(scores: Any, name: str = "scores") -> npt.NDArray[np.float32]:
    """A 1-D float32 vector of scores (for the metrics)."""
    arr = _numeric(name, np.asarray(scores))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)

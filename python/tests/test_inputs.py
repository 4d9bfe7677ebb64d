"""Inputs: what numpy.asarray accepts goes in and gives the scores of the same float32
matrix; a C-contiguous float32 matrix is read in place; every bad input is a ValueError
or TypeError naming the problem (row and column where there is one)."""

from __future__ import annotations

import warnings
from typing import Any

import anoonly
import numpy as np
import pandas as pd
import pytest
from anoonly._inputs import as_features
from conftest import CLASSES, FAST, WITHOUT_ANOMALIES


@pytest.fixture(scope="module")
def small(data: dict[str, np.ndarray]) -> dict[str, Any]:
    # generate_data puts the outliers last: take a shuffled subset that holds some.
    rows = np.random.default_rng(0).permutation(len(data["y_semi"]))[:300]
    X = np.ascontiguousarray(data["X_train"][rows], dtype=np.float32)
    y = data["y_semi"][rows]
    est = anoonly.DevNet(epochs=2, random_state=0).fit(X, y)
    return {"X": X, "y": y, "est": est}


def bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def test_float32_c_contiguous_is_not_copied() -> None:
    X = np.random.default_rng(0).random((50, 4), dtype=np.float32)
    assert as_features(X) is X
    # And the library reads numpy's buffer itself.
    assert anoonly._anoonly._buffer_address(X) == X.ctypes.data
    # Anything else is converted (once).
    for other in (X.astype(np.float64), np.asfortranarray(X), X[:, ::2]):
        out = as_features(other)
        assert out is not other and out.flags.c_contiguous and out.dtype == np.float32


@pytest.mark.parametrize(
    "convert",
    [
        lambda X: X.tolist(),
        lambda X: X.astype(np.float64),
        lambda X: np.asfortranarray(X),
        lambda X: pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]),
        lambda X: np.hstack([X, X])[:, : X.shape[1]],  # a non-contiguous view
    ],
    ids=["list", "float64", "fortran", "pandas", "strided"],
)
def test_accepted_inputs_give_the_float32_scores(small: dict[str, Any], convert: Any) -> None:
    X, y, est = small["X"], small["y"], small["est"]
    expected = est.decision_function(X)
    np.testing.assert_array_equal(bits(est.decision_function(convert(X))), bits(expected))
    # Fitting on the converted input gives the same model.
    refit = anoonly.DevNet(epochs=2, random_state=0).fit(convert(X), list(y))
    assert refit.model_.to_bytes() == est.model_.to_bytes()


def test_integer_and_bool_features_and_labels(small: dict[str, Any]) -> None:
    X, y = small["X"], small["y"]
    Xi = (X * 10).astype(np.int16)
    est = anoonly.DevNet(epochs=1).fit(Xi, y.astype(bool))
    ref = anoonly.DevNet(epochs=1).fit(Xi.astype(np.float32), y)
    assert est.model_.to_bytes() == ref.model_.to_bytes()
    # PyOD's generate_data gives float labels 0.0 / 1.0; a column vector is accepted.
    est2 = anoonly.DevNet(epochs=1).fit(Xi, y.astype(np.float64).reshape(-1, 1))
    assert est2.model_.to_bytes() == ref.model_.to_bytes()


def bad_X(X: np.ndarray, row: int, col: int, value: float) -> np.ndarray:
    out = X.astype(np.float64)
    out[row, col] = value
    return out


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_features_name_row_and_column(small: dict[str, Any], value: float) -> None:
    X, y, est = small["X"], small["y"], small["est"]
    with pytest.raises(ValueError, match="row 7, column 3"):
        anoonly.DevNet(epochs=1).fit(bad_X(X, 7, 3, value), y)
    with pytest.raises(ValueError, match="row 11, column 0"):
        est.decision_function(bad_X(X, 11, 0, value))


def test_float64_overflowing_float32_names_the_cell(small: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"X\[4, 2\].*float32.*row 4, column 2"):
        small["est"].decision_function(bad_X(small["X"], 4, 2, 1e300))


@pytest.mark.parametrize(
    "X, error, message",
    [
        (np.zeros(10), ValueError, "2-D.*reshape"),
        (np.zeros((2, 3, 4)), ValueError, "2-D.*3-D"),
        (np.zeros((0, 8)), ValueError, r"no rows.*0 sample\(s\)"),
        (np.zeros((5, 0)), ValueError, r"no columns.*0 feature\(s\)"),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, "dtype <U1"),
        (np.array([[1.0, {}], [2.0, 3.0]], dtype=object), TypeError, "dtype object.*number"),
        # None is NaN (numpy's conversion, as in scikit-learn); at scoring the width fails first.
        (
            np.array([[1.0, None], [2.0, 3.0]], dtype=object),
            ValueError,
            "row 0, column 1|expecting",
        ),
        (np.ones((3, 2), dtype=complex), ValueError, "Complex data not supported"),
        (None, TypeError, "None"),
        ("not an array", TypeError, "dtype"),
    ],
    ids=[
        "1-D",
        "3-D",
        "zero-rows",
        "zero-cols",
        "strings",
        "objects",
        "object-None",
        "complex",
        "None",
        "str",
    ],
)
def test_bad_feature_arrays(
    small: dict[str, Any], X: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        n = np.shape(X)[0] if np.ndim(X) else 1
        anoonly.DeepSAD(epochs=1).fit(X, np.ones(n))
    with pytest.raises(error, match=message):
        small["est"].decision_function(X)


def test_mixed_type_dataframe_is_a_type_error(small: dict[str, Any]) -> None:
    df = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    with pytest.raises(TypeError, match="dtype object"):
        small["est"].decision_function(df)


def test_sparse_matrix_is_refused(small: dict[str, Any]) -> None:
    from scipy import sparse

    with pytest.raises(TypeError, match=r"sparse.*toarray"):
        small["est"].decision_function(sparse.csr_matrix(small["X"]))


def test_feature_count_at_scoring(small: dict[str, Any]) -> None:
    # scikit-learn's message (its validate_data); the library's own check stays behind it.
    with pytest.raises(ValueError, match="X has 5 features, but DevNet is expecting 8"):
        small["est"].decision_function(small["X"][:, :5])
    with pytest.raises(ValueError, match="X has 5 features, but DevNet is expecting 8"):
        small["est"].predict_proba(small["X"][:, :5])
    with pytest.raises(ValueError, match="trained on 8 features, the data has 5"):
        small["est"].model_.decision_function(np.zeros((2, 5), dtype=np.float32))


@pytest.mark.parametrize(
    "y, error, message",
    [
        (lambda n: np.zeros(n - 1), ValueError, "has 299 labels but X has 300 rows"),
        (lambda n: np.r_[np.zeros(n - 1), 2], ValueError, r"y\[299\] = .*2.*row 299"),
        (lambda n: np.r_[np.ones(3), -1, np.zeros(n - 4)], ValueError, r"y\[3\] = .*-1"),
        (lambda n: np.r_[0.5, np.ones(n - 1)], ValueError, r"y\[0\] = .*0\.5"),
        (lambda n: np.r_[np.ones(2), np.nan, np.zeros(n - 3)], ValueError, r"y\[2\] = .*nan"),
        (lambda n: np.zeros((n, 2)), ValueError, "1-D"),
        (lambda n: np.array(["1"] * n), TypeError, "dtype <U1"),
    ],
    ids=["length", "two", "minus-one", "half", "nan", "2-D", "strings"],
)
def test_bad_labels(small: dict[str, Any], y: Any, error: type[Exception], message: str) -> None:
    X = small["X"]
    with pytest.raises(error, match=message):
        anoonly.DevNet(epochs=1).fit(X, y(X.shape[0]))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_no_labeled_anomaly_says_the_method_needs_one(
    cls: type[anoonly.BaseDetector], small: dict[str, Any]
) -> None:
    X = small["X"]
    for y in (None, np.zeros(X.shape[0])):
        if cls in WITHOUT_ANOMALIES:
            est = cls(random_state=0, **FAST[cls]).fit(X, y)
            assert est.decision_scores_.shape == (X.shape[0],)
            assert np.isfinite(est.decision_scores_).all()
        else:
            with pytest.raises(ValueError, match=f"no labeled anomaly.*{cls._method} needs"):
                cls(**FAST[cls]).fit(X, y)


def test_deepsad_without_labels_is_deep_svdd(small: dict[str, Any]) -> None:
    X = small["X"]
    svdd = anoonly.DeepSAD(epochs=3, random_state=0).fit(X).decision_scores_
    # y=None is all rows unlabeled: the same fit as zeros, bit for bit ...
    zeros = anoonly.DeepSAD(epochs=3, random_state=0).fit(X, np.zeros(len(X))).decision_scores_
    np.testing.assert_array_equal(bits(svdd), bits(zeros))
    # ... and not the fit with the labeled anomalies.
    sad = anoonly.DeepSAD(epochs=3, random_state=0).fit(X, small["y"]).decision_scores_
    assert not np.array_equal(bits(svdd), bits(sad))
    # AnoOnly has no loss without a labeled anomaly.
    with pytest.raises(ValueError, match=r"no labeled anomaly.*lambda_n = 0"):
        anoonly.DeepSAD(anoonly=True, epochs=1).fit(X)


def test_prenet_on_few_unlabeled_rows_draws_with_replacement_and_warns(
    data: dict[str, np.ndarray],
) -> None:
    # 200 rows (a small MVTec-AD train split): fewer unlabeled rows than PReNet's
    # batch_size/2 = 256 it draws without replacement. It trains, as DeepOD does, and says so.
    rows = np.random.default_rng(1).permutation(len(data["y_semi"]))[:200]
    X, y = data["X_train"][rows], data["y_semi"][rows]
    unlabeled = int((y == 0).sum())
    assert unlabeled < 256
    with pytest.warns(
        UserWarning, match=rf"prenet: {unlabeled} unlabeled .*with replacement"
    ) as w:
        est = anoonly.PReNet(epochs=1, random_state=0).fit(X, y)
    assert len(w) == 1
    assert est.decision_scores_.shape == (200,)
    assert np.isfinite(est.decision_scores_).all()
    # With enough unlabeled rows the authors' sampler runs, and nothing is said.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        anoonly.PReNet(epochs=1, random_state=0).fit(data["X_train"], data["y_semi"])


def test_failed_refit_leaves_the_estimator_unfitted(small: dict[str, Any]) -> None:
    est = anoonly.DevNet(epochs=1).fit(small["X"], small["y"])
    with pytest.raises(ValueError):
        est.fit(bad_X(small["X"], 0, 0, np.nan), small["y"])
    with pytest.raises(anoonly.NotFittedError):
        est.decision_function(small["X"])


def test_bad_contamination_at_fit(small: dict[str, Any]) -> None:
    est = anoonly.DevNet(epochs=1)
    est.contamination = 0.0  # set directly, bypassing set_params: fit checks again
    with pytest.raises(ValueError, match="contamination 0 must lie in"):
        est.fit(small["X"], small["y"])

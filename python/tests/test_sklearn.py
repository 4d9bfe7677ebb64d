"""scikit-learn's estimator contract: the classes derive from its BaseEstimator and
OutlierMixin, pass the `check_estimator` checks that apply to a semi-supervised detector
with PyOD's conventions (the table below lists the others, each with its reason), and work
in Pipeline, clone, GridSearchCV and cross_val_score with a scorer reading
decision_function; frames set feature_names_in_ and mismatched names warn or fail as in
scikit-learn. Runs with the newest scikit-learn and, in CI, with the oldest supported
(scripts/test.sh's second environment)."""

from __future__ import annotations

import warnings
from typing import Any

import anoonly
import numpy as np
import pandas as pd
import pytest
import sklearn
from conftest import CLASSES, FAST, WITHOUT_ANOMALIES, semi_labels
from sklearn.base import BaseEstimator, OutlierMixin, clone, is_outlier_detector
from sklearn.metrics import make_scorer, roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import check_estimator

SKLEARN = tuple(int(p) for p in sklearn.__version__.split(".")[:2])


def labeled_blobs(n: int = 300, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Normal rows around the origin and 10 % anomalies far off, half of them labeled."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.zeros(n, dtype=int)
    k = n // 10
    X[:k] += rng.choice([-6.0, 6.0], size=(k, d))
    y[:k] = 1
    order = rng.permutation(n)
    return X[order], y[order]


def test_classes_are_scikit_learn_outlier_detectors() -> None:
    for cls in CLASSES:
        est = cls()
        assert isinstance(est, BaseEstimator) and isinstance(est, OutlierMixin)
        assert is_outlier_detector(est)
        tags = get_tags(est)
        assert tags.estimator_type == "outlier_detector"
        assert not tags.input_tags.allow_nan


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_pipeline_with_a_scaler_scores_raw_data(cls: type[anoonly.BaseDetector]) -> None:
    # The failure: make_pipeline(StandardScaler(), DeepSAD()) fitted, then
    # decision_function raised AttributeError (__sklearn_tags__).
    X, y = labeled_blobs()
    pipe = make_pipeline(StandardScaler(), cls(random_state=0, **FAST[cls])).fit(X, y)
    scores = pipe.decision_function(X)
    assert scores.shape == (len(X),)
    alone = cls(random_state=0, **FAST[cls]).fit(StandardScaler().fit_transform(X), y)
    np.testing.assert_array_equal(
        scores, alone.decision_function(StandardScaler().fit(X).transform(X))
    )
    assert pipe.predict(X).shape == (len(X),)


def test_clone_keeps_parameters_and_drops_the_fit() -> None:
    est = anoonly.DeepSAD(anoonly=True, epochs=2, hidden=[16, 8], n_jobs=1, random_state=4)
    est.fit(*labeled_blobs())
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "model_") and not hasattr(twin, "n_features_in_")


def test_grid_search_over_lambda_n_with_a_decision_function_scorer() -> None:
    X, y_true = labeled_blobs(n=360)
    y = semi_labels(y_true)  # the semi-supervised labels are the y of fit and of the scorer
    scorer = make_scorer(roc_auc_score, response_method="decision_function")
    search = GridSearchCV(
        anoonly.DeepSAD(anoonly=True, epochs=3, random_state=0),
        {"lambda_n": [0.0, 0.5, 1.0]},
        scoring=scorer,
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    assert search.best_params_["lambda_n"] in (0.0, 0.5, 1.0)
    assert search.cv_results_["mean_test_score"].shape == (3,)
    assert np.all(search.cv_results_["mean_test_score"] > 0.5)
    # The refitted best estimator is a fitted DeepSAD with that lambda_n.
    assert search.best_estimator_.lambda_n == search.best_params_["lambda_n"]
    assert roc_auc_score(y_true, search.decision_function(X)) > 0.9


def test_cross_val_score_reads_decision_function() -> None:
    X, y_true = labeled_blobs(n=300, seed=1)
    y = semi_labels(y_true)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    est = anoonly.DevNet(random_state=0)
    scores = cross_val_score(
        est, X, y, scoring=make_scorer(roc_auc_score, response_method="decision_function"), cv=cv
    )
    # Each fold's score is the AUCROC of decision_function on its held-out rows against
    # the semi-supervised labels (unlabeled anomalies count as 0, so it is below the AUCROC
    # against the true labels), computed by hand here.
    for score, (train, test) in zip(scores, cv.split(X, y)):
        fold = clone(est).fit(X[train], y[train])
        assert score == roc_auc_score(y[test], fold.decision_function(X[test]))
        assert roc_auc_score(y_true[test], fold.decision_function(X[test])) > 0.6
    assert np.all(scores > 0.5), scores


def test_frames_set_feature_names_and_mismatches_warn_or_fail() -> None:
    X, y = labeled_blobs(d=4)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = anoonly.DevNet(epochs=2, random_state=0).fit(frame, y)
    np.testing.assert_array_equal(est.feature_names_in_, ["a", "b", "c", "d"])
    assert est.n_features_in_ == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = est.decision_function(frame)
    # A frame and its array give the same scores; the array warns as scikit-learn does.
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        np.testing.assert_array_equal(est.decision_function(X), same)
    with pytest.raises(ValueError, match="The feature names should match"):
        est.decision_function(frame[["b", "a", "c", "d"]])
    with pytest.raises(ValueError, match="X has 3 features, but DevNet is expecting 4"):
        est.decision_function(X[:, :3])
    # Fitted on an array, scored on a frame: scikit-learn's warning.
    plain = anoonly.DevNet(epochs=2, random_state=0).fit(X, y)
    assert not hasattr(plain, "feature_names_in_")
    with pytest.warns(UserWarning, match="fitted without feature names"):
        plain.decision_function(frame)
    # Refit on an array forgets the names; a pickle keeps them.
    import pickle

    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).feature_names_in_, list("abcd"))
    est.fit(X, y)
    assert not hasattr(est, "feature_names_in_")


def test_unfitted_estimators_raise_scikit_learns_not_fitted_error() -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    est = anoonly.DeepSAD()
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    with pytest.raises(NotFittedError):
        est.decision_function(np.zeros((2, 3)))


# ---- check_estimator ------------------------------------------------------------------


# The checks feed classification or regression targets as y (make_blobs' classes 0, 1, 2,
# integer parts of a feature, ...). Here y is the semi-supervised labels (1 = labeled
# anomaly, 0 = unlabeled), and any other value is refused with a ValueError naming the row,
# which would fail most checks for a reason that is not theirs. So the checks run with
# their targets made into such labels: 1 where the check's target takes its largest value
# (when it takes more than one), else 0. X, and what each check asserts, are the checks'
# own.
@pytest.fixture
def semi_supervised_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.utils import estimator_checks

    original = estimator_checks._enforce_estimator_tags_y

    def as_labels(estimator: Any, y: Any) -> Any:
        y = np.asarray(original(estimator, y))
        if y.dtype.kind not in "biuf" or y.ndim != 1 or y.size == 0:
            return y
        return ((y == y.max()) & (y != y.min())).astype(np.int64)

    monkeypatch.setattr(estimator_checks, "_enforce_estimator_tags_y", as_labels)


# The checks that do not apply, each with the reason; every other check passes. A listed
# check that passes fails the test, so the table cannot go stale. (docs/python.md shows it.)
PYOD_CONVENTION = (
    "scikit-learn's outlier convention (predict: -1 outlier / +1 inlier, decision_function "
    "negative for outliers, score_samples) is not PyOD's, which anoonly follows: predict "
    "1 = anomaly / 0 = normal, decision_function higher = more anomalous"
)
EXPECTED_FAILURES: dict[str, str] = {
    "check_outliers_train": PYOD_CONVENTION,
    "check_outliers_fit_predict": PYOD_CONVENTION,
    "check_do_not_raise_errors_in_init_or_set_params": (
        "parameters are checked by the constructor and set_params (as PyOD checks "
        "contamination there), so a bad value fails at once rather than minutes into a fit"
    ),
}


NO_ANOMALY = (
    "fits without a labeled anomaly (y=None, or one row), which this method refuses with "
    "a ValueError saying it needs one (only {} train without)"
)


def expected_failures(cls: type[anoonly.BaseDetector]) -> dict[str, str]:
    out = dict(EXPECTED_FAILURES)
    if cls not in WITHOUT_ANOMALIES:
        without = ", ".join(c.__name__ for c in WITHOUT_ANOMALIES)
        for check in ("check_outliers_train", "check_outliers_fit_predict"):
            out[check] = f"{NO_ANOMALY.format(without)}; and {PYOD_CONVENTION}"
        out["check_fit2d_1sample"] = NO_ANOMALY.format(without)
    if cls.__name__ == "GANomaly":
        out["check_fit2d_1feature"] = (
            "GANomaly needs 2 features (its latent width is d/2); the error says so in "
            "other words than the check's"
        )
    return out


@pytest.mark.usefixtures("semi_supervised_targets")
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_check_estimator(cls: type[anoonly.BaseDetector]) -> None:
    est = cls(random_state=0, n_jobs=1, **FAST[cls])
    expected = expected_failures(cls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(est, expected_failed_checks=expected, on_fail=None)
    failed = {r["check_name"]: r for r in results if r["status"] == "failed"}
    xfailed = {r["check_name"] for r in results if r["status"] == "xfail"}
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    print(f"{cls.__name__}: {len(passed)} checks passed, {len(xfailed)} expected failures")
    assert not failed, {k: repr(v["exception"])[:400] for k, v in failed.items()}
    assert xfailed == set(expected), set(expected) - xfailed

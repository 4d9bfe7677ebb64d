"""PyOD's detector contract, for every class: fitted attributes, shapes, threshold and
labels against contamination, probabilities and confidences, fit_predict, the
scikit-learn estimator protocol, pickling and model files."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import anoonly
import numpy as np
import pytest
from conftest import CLASSES, FAST, METHODS, WITH_ANOONLY
from pyod.models.base import BaseDetector as PyodBase
from sklearn.base import clone

Detector = anoonly.BaseDetector


@pytest.fixture(scope="module", params=CLASSES, ids=lambda c: c.__name__)
def fitted(request: pytest.FixtureRequest, data: dict[str, np.ndarray]) -> Detector:
    cls = request.param
    return cls(contamination=0.1, random_state=3, **FAST[cls]).fit(data["X_train"], data["y_semi"])


def bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def test_fitted_attributes(fitted: Detector, data: dict[str, np.ndarray]) -> None:
    n, d = data["X_train"].shape
    assert fitted.decision_scores_.shape == (n,)
    assert fitted.decision_scores_.dtype == np.float32
    assert fitted.labels_.shape == (n,)
    assert set(np.unique(fitted.labels_)) <= {0, 1}
    assert fitted.n_features_in_ == d
    assert np.isfinite(fitted.decision_scores_).all()
    # The training scores are what decision_function gives on the training rows.
    np.testing.assert_array_equal(
        bits(fitted.decision_function(data["X_train"])), bits(fitted.decision_scores_)
    )


def test_threshold_and_labels_follow_contamination(fitted: Detector) -> None:
    s = fitted.decision_scores_
    # PyOD: threshold_ = percentile(decision_scores_, 100 (1 - contamination)).
    expected = np.percentile(s.astype(np.float64), 100 * (1 - fitted.contamination))
    assert fitted.threshold_ == pytest.approx(expected, rel=1e-6, abs=1e-7)
    np.testing.assert_array_equal(fitted.labels_, (s > fitted.threshold_).astype(int))
    # At most the contamination share is flagged (ties can only lower it).
    assert fitted.labels_.mean() <= fitted.contamination + 1.0 / len(s)


def test_predict_shapes_and_consistency(fitted: Detector, data: dict[str, np.ndarray]) -> None:
    X = data["X_test"]
    scores = fitted.decision_function(X)
    assert scores.shape == (X.shape[0],)
    labels = fitted.predict(X)
    assert labels.shape == (X.shape[0],)
    np.testing.assert_array_equal(labels, (scores > fitted.threshold_).astype(int))
    labels2, conf = fitted.predict(X, return_confidence=True)
    np.testing.assert_array_equal(labels, labels2)
    assert conf.shape == (X.shape[0],)
    assert conf.min() >= 0 and conf.max() <= 1


@pytest.mark.parametrize("method", ["linear", "unify"])
def test_probabilities_in_unit_interval(
    fitted: Detector, data: dict[str, np.ndarray], method: str
) -> None:
    X = data["X_test"]
    p = fitted.predict_proba(X, method=method)
    assert p.shape == (X.shape[0], 2)
    assert p.min() >= 0 and p.max() <= 1
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    p2, conf = fitted.predict_proba(X, method=method, return_confidence=True)
    np.testing.assert_array_equal(p, p2)
    assert conf.min() >= 0 and conf.max() <= 1


def test_predict_proba_refuses_other_methods(
    fitted: Detector, data: dict[str, np.ndarray]
) -> None:
    with pytest.raises(ValueError, match="linear"):
        fitted.predict_proba(data["X_test"], method="something")


class _Reference(PyodBase):  # type: ignore[misc]
    """PyOD's own BaseDetector with our scores plugged in: its predict_proba and
    predict_confidence are the reference formulas."""

    def __init__(self, est: Detector) -> None:
        super().__init__(contamination=est.contamination)
        self.est = est
        self.decision_scores_ = est.decision_scores_.astype(np.float64)
        self._process_decision_scores()

    def fit(self, X: Any, y: Any = None) -> None:
        raise NotImplementedError

    def decision_function(self, X: Any) -> np.ndarray:
        return self.est.decision_function(X).astype(np.float64)


def test_probabilities_and_confidence_equal_pyods(
    fitted: Detector, data: dict[str, np.ndarray]
) -> None:
    ref = _Reference(fitted)
    ref._classes = 2
    X = data["X_test"]
    for method in ("linear", "unify"):
        np.testing.assert_allclose(
            fitted.predict_proba(X, method=method),
            ref.predict_proba(X, method=method),
            rtol=1e-5,
            atol=1e-6,
        )
    np.testing.assert_allclose(
        fitted.predict_confidence(X), ref.predict_confidence(X), rtol=1e-9, atol=1e-9
    )
    np.testing.assert_array_equal(fitted.predict(X), ref.predict(X))


def test_fit_predict_returns_training_labels(data: dict[str, np.ndarray]) -> None:
    for cls in CLASSES:
        est = cls(random_state=1, **FAST[cls])
        labels = est.fit_predict(data["X_train"], data["y_semi"])
        assert labels.shape == data["y_train"].shape
        np.testing.assert_array_equal(labels, est.labels_)


def test_clone_and_params_round_trip(fitted: Detector) -> None:
    params = fitted.get_params()
    twin = clone(fitted)
    assert type(twin) is type(fitted)
    assert twin.get_params() == params
    assert not hasattr(twin, "decision_scores_")
    # set_params back and forth.
    twin.set_params(contamination=0.2, random_state=1)
    assert twin.get_params()["contamination"] == 0.2
    twin.set_params(**params)
    assert twin.get_params() == params


def test_parameters_are_stored_as_given() -> None:
    hidden = [32, 8]
    est = anoonly.DeepSAD(hidden=hidden, lr=np.float32(0.001), anoonly=True)
    assert est.get_params()["hidden"] is hidden
    assert est.hidden is hidden
    assert repr(est).startswith("DeepSAD(")
    assert "anoonly=True" in repr(est) and "hidden=[32, 8]" in repr(est)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_rust_hyperparameter_is_a_keyword(cls: type[Detector]) -> None:
    import json

    info = METHODS[cls.__name__]
    rust = set(json.loads(info.defaults_json)) - {"method"}
    keywords = set(cls().get_params())
    # Every Rust field is a keyword; `epochs` exactly where the method trains in epochs
    # (not XGBOD: its rounds are `n_estimators`, as in PyOD).
    assert rust <= keywords
    assert ("epochs" in keywords) == info.trains_in_epochs == ("epochs" in rust)
    assert ("epochs" in keywords) == (cls is not anoonly.XGBOD)
    assert {"contamination", "random_state", "verbose"} <= keywords
    has_variant = cls in WITH_ANOONLY
    assert ("anoonly" in keywords) == has_variant
    assert ("lambda_n" in keywords) == has_variant
    assert ("norm" in keywords) == has_variant


def test_unknown_keyword_is_a_type_error_listing_known_ones() -> None:
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'hiden'.*known:.*hidden"):
        anoonly.DeepSAD(hiden=[10])
    with pytest.raises(TypeError, match="'anoonly'"):
        anoonly.XGBOD(anoonly=True)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'epochs'.*n_estimators"):
        anoonly.XGBOD(epochs=10)
    with pytest.raises(ValueError, match="Invalid parameter 'foo'"):
        anoonly.DevNet().set_params(foo=1)


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (anoonly.DeepSAD, {"lr": -1.0}, "lr"),
        (anoonly.DeepSAD, {"batch_size": 0}, "batch_size"),
        (anoonly.DeepSAD, {"hidden": "wide"}, "hidden"),
        (anoonly.DevNet, {"loss": "hinge"}, "loss"),
        (anoonly.FEAWAD, {"compat": "old"}, "compat"),
        (anoonly.PReNet, {"batch_size": 10}, "multiple of 4"),
        (anoonly.DeepSAD, {"norm": "groupnorm"}, "unknown norm"),
        (anoonly.DeepSAD, {"lambda_n": -0.5}, "lambda_n"),
        (anoonly.DeepSAD, {"empty_batch": "drop"}, "empty_batch"),
        (anoonly.DeepSAD, {"contamination": 0.7}, "contamination"),
        (anoonly.XGBOD, {"n_estimators": 0}, "n_estimators"),
        (anoonly.DeepSAD, {"epochs": -2}, "epochs"),
        (anoonly.DeepSAD, {"random_state": -1}, "random_state"),
    ],
)
def test_bad_values_are_value_errors_with_the_librarys_message(
    cls: type[Detector], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)
    # The same value set later is refused by set_params (and would be by fit).
    est = cls()
    with pytest.raises(ValueError, match=message):
        est.set_params(**kwargs)


def test_wrong_types_are_type_errors() -> None:
    with pytest.raises(TypeError, match="epochs"):
        anoonly.DeepSAD(epochs=2.5)
    with pytest.raises(TypeError, match="random_state"):
        anoonly.DeepSAD(random_state=np.random.RandomState(0))


def test_not_fitted(data: dict[str, np.ndarray]) -> None:
    est = anoonly.DevNet()
    with pytest.raises(anoonly.NotFittedError, match="not fitted"):
        est.decision_function(data["X_test"])
    with pytest.raises(AttributeError):
        est.predict(data["X_test"])
    with pytest.raises(ValueError):
        est.save("never.safetensors")


def test_pickle_and_deepcopy_score_identically(
    fitted: Detector, data: dict[str, np.ndarray]
) -> None:
    X = data["X_test"]
    s = fitted.decision_function(X)
    for twin in (pickle.loads(pickle.dumps(fitted)), copy.deepcopy(fitted)):
        assert type(twin) is type(fitted)
        assert twin.get_params() == fitted.get_params()
        np.testing.assert_array_equal(bits(twin.decision_function(X)), bits(s))
        np.testing.assert_array_equal(bits(twin.decision_scores_), bits(fitted.decision_scores_))
        assert twin.threshold_ == fitted.threshold_
        np.testing.assert_array_equal(twin.labels_, fitted.labels_)
    # An unfitted estimator pickles too.
    fresh = pickle.loads(pickle.dumps(anoonly.DeepSAD(anoonly=True)))
    assert fresh.anoonly is True and not hasattr(fresh, "model_")


def test_save_and_load(fitted: Detector, data: dict[str, np.ndarray], tmp_path: Any) -> None:
    path = tmp_path / "model.safetensors"
    fitted.save(path)
    back = anoonly.load(path, contamination=fitted.contamination)
    assert type(back) is type(fitted)
    X = data["X_test"]
    np.testing.assert_array_equal(
        bits(back.decision_function(X)), bits(fitted.decision_function(X))
    )
    assert back.threshold_ == fitted.threshold_
    # The loaded parameters rebuild the same fit: refitting gives the same model file.
    refit = clone(back).fit(data["X_train"], data["y_semi"])
    assert refit.model_.to_bytes() == fitted.model_.to_bytes()


def test_same_seed_same_scores_other_seed_other_scores(data: dict[str, np.ndarray]) -> None:
    X, y = data["X_train"], data["y_semi"]
    a = anoonly.DeepSAD(epochs=2, random_state=5).fit(X, y).decision_scores_
    b = anoonly.DeepSAD(epochs=2, random_state=5).fit(X, y).decision_scores_
    c = anoonly.DeepSAD(epochs=2, random_state=6).fit(X, y).decision_scores_
    np.testing.assert_array_equal(bits(a), bits(b))
    assert not np.array_equal(a, c)


def test_anoonly_changes_the_model(data: dict[str, np.ndarray]) -> None:
    X, y = data["X_train"], data["y_semi"]
    for cls in WITH_ANOONLY:
        base = cls(random_state=0, **FAST[cls]).fit(X, y)
        ao = cls(anoonly=True, random_state=0, **FAST[cls]).fit(X, y)
        assert not np.array_equal(base.decision_scores_, ao.decision_scores_), cls.__name__
        assert '"anoonly":true' in ao.model_.params_json()

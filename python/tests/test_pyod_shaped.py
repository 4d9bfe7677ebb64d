"""PyOD's own per-detector tests (pyod/test/test_deep_sad.py, test_devnet.py,
test_xgbod.py), in their shape and on their generate_data, run against anoonly's classes:
what a PyOD user's code relies on. PyOD's sizes, epochs, labels and ROC floors, on the raw
features (the estimators' default preprocessing="auto" scales them, as PyOD's deep
detectors standardise theirs)."""

from __future__ import annotations

import unittest
from typing import Any, ClassVar

import anoonly
import numpy as np
from conftest import semi_labels
from numpy.testing import assert_equal, assert_raises
from pyod.utils.data import generate_data
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split


class _PyodShape:
    """The tests PyOD's detector test files share; subclasses fit `clf` in setUpClass."""

    clf: ClassVar[Any]
    X_train: ClassVar[np.ndarray]
    X_test: ClassVar[np.ndarray]
    y_train: ClassVar[np.ndarray]
    y_test: ClassVar[np.ndarray]
    fit_y: ClassVar[np.ndarray]
    roc_floor: ClassVar[float]

    def test_parameters(self) -> None:
        for attr in ("decision_scores_", "labels_", "threshold_", "_mu", "_sigma", "model_"):
            assert getattr(self.clf, attr, None) is not None, attr

    def test_train_scores(self) -> None:
        assert_equal(len(self.clf.decision_scores_), self.X_train.shape[0])

    def test_prediction_scores(self) -> None:
        pred_scores = self.clf.decision_function(self.X_test)
        assert_equal(pred_scores.shape[0], self.X_test.shape[0])
        assert roc_auc_score(self.y_test, pred_scores) >= self.roc_floor

    def test_prediction_labels(self) -> None:
        assert_equal(self.clf.predict(self.X_test).shape, self.y_test.shape)

    def test_prediction_proba(self) -> None:
        for kwargs in ({}, {"method": "linear"}, {"method": "unify"}):
            pred_proba = self.clf.predict_proba(self.X_test, **kwargs)
            assert pred_proba.min() >= 0
            assert pred_proba.max() <= 1

    def test_prediction_proba_parameter(self) -> None:
        with assert_raises(ValueError):
            self.clf.predict_proba(self.X_test, method="something")

    def test_prediction_labels_confidence(self) -> None:
        pred_labels, confidence = self.clf.predict(self.X_test, return_confidence=True)
        assert_equal(pred_labels.shape, self.y_test.shape)
        assert_equal(confidence.shape, self.y_test.shape)
        assert confidence.min() >= 0
        assert confidence.max() <= 1

    def test_prediction_proba_linear_confidence(self) -> None:
        pred_proba, confidence = self.clf.predict_proba(
            self.X_test, method="linear", return_confidence=True
        )
        assert pred_proba.min() >= 0
        assert pred_proba.max() <= 1
        assert_equal(confidence.shape, self.y_test.shape)
        assert confidence.min() >= 0
        assert confidence.max() <= 1

    def test_fit_predict(self) -> None:
        pred_labels = clone(self.clf).fit_predict(self.X_train, self.fit_y)
        assert_equal(pred_labels.shape, self.y_train.shape)

    def test_model_clone(self) -> None:
        # sklearn's clone: a new, unfitted estimator with the same parameters, which refit
        # on the same data (same random_state) gives the fitted one's scores bit for bit.
        clf_clone = clone(self.clf)
        assert clf_clone is not self.clf
        assert clf_clone.get_params() == self.clf.get_params()
        assert not hasattr(clf_clone, "decision_scores_")
        clf_clone.fit(self.X_train, self.fit_y)
        assert_equal(
            clf_clone.decision_function(self.X_test), self.clf.decision_function(self.X_test)
        )


class TestDeepSAD(_PyodShape, unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.X_train, cls.X_test, cls.y_train, cls.y_test = generate_data(
            n_train=6000, n_test=1000, n_features=300, contamination=0.1, random_state=42
        )
        # Deep SAD is semi-supervised: half the training anomalies labeled (PyOD's test).
        cls.fit_y = semi_labels(cls.y_train)
        cls.roc_floor = 0.5
        cls.clf = anoonly.DeepSAD(epochs=10, hidden=[64, 32], contamination=0.1, random_state=2021)
        cls.clf.fit(cls.X_train, cls.fit_y)
        # PyOD's second detector: unsupervised (y=None, Deep SVDD), unscaled features.
        cls.clf_unsup = anoonly.DeepSAD(
            epochs=5, hidden=[32, 16], contamination=0.1, preprocessing=False
        )
        cls.clf_unsup.fit(cls.X_train)

    def test_unsupervised_detector(self) -> None:
        scores = self.clf_unsup.decision_function(self.X_test)
        assert roc_auc_score(self.y_test, scores) >= self.roc_floor
        twin = clone(self.clf_unsup)
        assert twin.get_params() == self.clf_unsup.get_params()
        assert twin.preprocessing is False

    def test_anoonly_variant(self) -> None:
        clf = anoonly.DeepSAD(anoonly=True, epochs=10, hidden=[64, 32], random_state=2021)
        clf.fit(self.X_train, self.fit_y)
        assert roc_auc_score(self.y_test, clf.decision_function(self.X_test)) >= self.roc_floor


class TestDevNet(_PyodShape, unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.X_train, cls.X_test, cls.y_train, cls.y_test = generate_data(
            n_train=3000, n_test=1000, n_features=2000, contamination=0.1, random_state=42
        )
        # PyOD's DevNet test passes the full labels and trains 3 epochs. On these raw
        # features without preprocessing anoonly's DevNet (the authors' network, which
        # expects ADBench's min-max scaled features) scores AUCROC 0.38; with the default
        # preprocessing="auto" 0.82, with "standard" (PyOD's) 1.00 (docs/python.md).
        cls.fit_y = cls.y_train
        cls.roc_floor = 0.8
        cls.clf = anoonly.DevNet(epochs=3, contamination=0.1)
        cls.clf.fit(cls.X_train, cls.fit_y)


class TestXGBOD(_PyodShape, unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        # PyOD's XGBOD test: generate_data(train_only=True) when pima.csv is absent, split
        # 60/40 with train_test_split(random_state=42).
        X, y = generate_data(train_only=True, random_state=42)
        cls.X_train, cls.X_test, cls.y_train, cls.y_test = train_test_split(
            X, y, test_size=0.4, random_state=42
        )
        cls.fit_y = cls.y_train
        cls.roc_floor = 0.75
        cls.clf = anoonly.XGBOD(random_state=42)
        cls.clf.fit(cls.X_train, cls.fit_y)

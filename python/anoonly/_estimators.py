"""The estimators: one class per method with PyOD's detector contract, on the library's
fit and scoring.

Each class learns its hyperparameters (names and the authors' defaults) from the extension
at import, so a method's parameters are declared once, in its Rust params struct. The
training options (``anoonly``, ``lambda_n``, ``norm``, ``empty_batch``,
``bn_loss_weight``) are the library's ``TrainParams`` fields; the baselines (GANomaly,
REPEN, XGBOD) have no AnoOnly variant and take none of them.

scikit-learn's estimator protocol is implemented by duck typing (``get_params``,
``set_params``, parameters stored as given), so ``sklearn.base.clone`` works without a
dependency on scikit-learn or PyOD.
"""

from __future__ import annotations

import copy
import inspect
import json
import operator
import os
import warnings
from typing import Any, ClassVar, Literal, Union, overload

import numpy as np
import numpy.typing as npt

from anoonly import _anoonly
from anoonly._inputs import as_features, as_labels

PathLike = Union[str, "os.PathLike[str]"]

# The training options every method with an AnoOnly variant takes, with their defaults,
# from the library's TrainParams (the seed is `random_state`).
_TRAIN_DEFAULTS: dict[str, Any] = {
    k: v for k, v in json.loads(_anoonly.train_defaults()).items() if k != "seed"
}
_HAS_ANOONLY: dict[str, bool] = dict(_anoonly.methods())

# Keywords every estimator takes besides its method's hyperparameters (PyOD's names);
# `epochs` only where the method trains in epochs (XGBOD's rounds are `n_estimators`).
_COMMON_DEFAULTS: dict[str, Any] = {
    "contamination": 0.1,
    "epochs": None,
    "random_state": None,
    "verbose": False,
}


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit`` (scikit-learn's exception of the same name
    derives from the same two classes)."""


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"a {type(value).__name__} is not a number, string or list")


def _json(name: str, value: Any) -> str:
    try:
        return json.dumps(value, default=_json_default)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name}={value!r}: {e}") from None


def _count(name: str, value: Any) -> int | None:
    """A non-negative integer keyword (``epochs``, ``random_state``), or None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer or None, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an integer or None, got {type(value).__name__} {value!r}"
        ) from None
    if n < 0 or n >= 2**64:
        raise ValueError(f"{name} = {n}: must be a non-negative integer below 2**64")
    return n


class BaseDetector:
    """What every anoonly estimator shares: PyOD's detector contract.

    After ``fit``: ``decision_scores_`` (scores of the training rows, float32),
    ``threshold_`` (the ``1 - contamination`` quantile of ``decision_scores_``),
    ``labels_`` (``decision_scores_ > threshold_`` as 0/1), ``n_features_in_`` and
    ``model_`` (the fitted library model).
    """

    _estimator_type = "outlier_detector"
    # Set by each subclass: the library's method name.
    _method: ClassVar[str] = ""
    # Filled by __init_subclass__ from the extension, in declaration order.
    _hyperparameters: ClassVar[dict[str, Any]] = {}
    _train_options: ClassVar[dict[str, Any]] = {}
    _has_epochs: ClassVar[bool] = True

    contamination: float
    epochs: int | None
    random_state: int | None
    verbose: bool

    model_: _anoonly.Model
    decision_scores_: npt.NDArray[np.float32]
    threshold_: float
    labels_: npt.NDArray[np.int64]
    n_features_in_: int
    _mu: float
    _sigma: float
    _fit_contamination: float

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        defaults = json.loads(_anoonly.method_defaults(cls._method))
        # `epochs` is the common keyword (the CLI's --epochs, None = the authors' count),
        # where the method trains in epochs; the rest are the method's own.
        cls._has_epochs = "epochs" in defaults
        cls._hyperparameters = {k: v for k, v in defaults.items() if k not in ("method", "epochs")}
        cls._train_options = dict(_TRAIN_DEFAULTS) if _HAS_ANOONLY[cls._method] else {}
        params = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
            for name, default in cls._defaults().items()
        ]
        cls.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        listing = ", ".join(f"{k}={v!r}" for k, v in cls._hyperparameters.items())
        cls.__doc__ = (
            f"{cls.__doc__ or ''}\n\n    Hyperparameters (the authors' defaults): {listing}.\n"
        )

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        """Every constructor keyword and its default, in signature order."""
        head = {
            k: v for k, v in cls._train_options.items() if k in ("anoonly", "lambda_n", "norm")
        }
        tail = {k: v for k, v in cls._train_options.items() if k not in head}
        common = {k: v for k, v in _COMMON_DEFAULTS.items() if k != "epochs" or cls._has_epochs}
        return {**head, **common, **tail, **cls._hyperparameters}

    def __init__(self, **params: Any) -> None:
        defaults = self._defaults()
        unknown = [k for k in params if k not in defaults]
        if unknown:
            raise TypeError(
                f"{type(self).__name__}() got an unexpected keyword argument {unknown[0]!r} "
                f"(known: {', '.join(defaults)})"
            )
        for name, default in defaults.items():
            setattr(self, name, params[name] if name in params else copy.deepcopy(default))
        self._check()

    # -- scikit-learn's estimator protocol -----------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor keywords and their values, as given."""
        return {name: getattr(self, name) for name in self._defaults()}

    def set_params(self, **params: Any) -> BaseDetector:
        """Sets constructor keywords (scikit-learn's ``set_params``); an unknown name is a
        ``ValueError``, as in scikit-learn."""
        defaults = self._defaults()
        for name in params:
            if name not in defaults:
                raise ValueError(
                    f"invalid parameter {name!r} for {type(self).__name__} "
                    f"(known: {', '.join(defaults)})"
                )
        for name, value in params.items():
            setattr(self, name, value)
        self._check()
        return self

    def __repr__(self) -> str:
        defaults = self._defaults()
        given = [
            f"{k}={v!r}"
            for k, v in self.get_params().items()
            if _json(k, v) != _json(k, defaults[k])
        ]
        return f"{type(self).__name__}({', '.join(given)})"

    # -- parameters into the library's terms ----------------------------------------------

    def _fit_params(self) -> _anoonly.FitParams:
        """The library's fit parameters for this estimator's keywords, validated:
        hyperparameters that differ from the authors' default go in as ``(name, JSON)``
        (equal settings reach the library as the CLI's ``--set`` would), then the training
        options, epochs and seed."""
        hyper = []
        for name, default in self._hyperparameters.items():
            value = _json(name, getattr(self, name))
            if value != _json(name, default):
                hyper.append((name, value))
        train = {k: getattr(self, k, v) for k, v in _TRAIN_DEFAULTS.items()}
        seed = _count("random_state", self.random_state)
        epochs = _count("epochs", self.epochs) if self._has_epochs else None
        return _anoonly.FitParams(
            self._method,
            hyper,
            epochs=epochs,
            seed=0 if seed is None else seed,
            **train,
        )

    def _check(self) -> None:
        self._fit_params()
        _anoonly.check_contamination(self.contamination)

    # -- fitting and scoring --------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> BaseDetector:
        """Trains on ``X`` with labels ``y`` (1 = labeled anomaly, 0 = unlabeled, PyOD's and
        DeepOD's convention) and sets ``decision_scores_``, ``threshold_``, ``labels_`` and
        ``n_features_in_``. Returns ``self``.

        ``y=None`` (or no 1 in ``y``): DeepSAD trains as Deep SVDD and GANomaly as it always
        does (both learn from unlabeled rows); the other methods, and AnoOnly (no loss on
        unlabeled rows), raise a ``ValueError`` saying they need a labeled anomaly.

        The GIL is released while it trains. ``verbose=True`` writes one progress line per
        epoch to ``sys.stderr``; Ctrl-C stops the fit within one epoch
        (``KeyboardInterrupt``) and leaves the estimator unfitted. Where the fit had to
        depart from the authors' code to train on this data (PReNet on few unlabeled rows
        draws its pairs with replacement), it says so in a ``UserWarning``."""
        params = self._fit_params()
        _anoonly.check_contamination(self.contamination)
        x = as_features(X)
        labels = as_labels(y, x.shape[0])
        for name in ("model_", "decision_scores_", "threshold_", "labels_", "n_features_in_"):
            self.__dict__.pop(name, None)
        model = _anoonly.fit(params, x, labels, verbose=bool(self.verbose))
        for note in model.notes:
            warnings.warn(note, UserWarning, stacklevel=2)
        self._set_fitted(model, self.contamination)
        return self

    def _set_fitted(self, model: _anoonly.Model, contamination: float) -> None:
        scores = model.train_scores
        threshold = model.threshold(contamination)
        self.model_ = model
        self.decision_scores_ = scores
        self.threshold_ = threshold
        self.labels_ = _anoonly.labels(scores, threshold).astype(np.int64)
        self.n_features_in_ = model.n_features
        self._mu = float(np.mean(scores, dtype=np.float64))
        self._sigma = float(np.std(scores, dtype=np.float64))
        self._fit_contamination = contamination

    def _model(self) -> _anoonly.Model:
        model: _anoonly.Model | None = self.__dict__.get("model_")
        if model is None:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(X, y) first"
            )
        return model

    def decision_function(self, X: Any) -> npt.NDArray[np.float32]:
        """Anomaly scores of ``X`` (higher = more anomalous), float32."""
        model = self._model()
        return model.decision_function(as_features(X))

    @overload
    def predict(
        self, X: Any, return_confidence: Literal[False] = ...
    ) -> npt.NDArray[np.int64]: ...

    @overload
    def predict(
        self, X: Any, return_confidence: Literal[True]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...

    def predict(
        self, X: Any, return_confidence: bool = False
    ) -> npt.NDArray[np.int64] | tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """1 for rows scoring above ``threshold_``, else 0; with ``return_confidence``, also
        ``predict_confidence``."""
        scores = self.decision_function(X)
        labels = _anoonly.labels(scores, self.threshold_).astype(np.int64)
        if return_confidence:
            return labels, self._confidence(scores)
        return labels

    @overload
    def predict_proba(
        self, X: Any, method: str = ..., return_confidence: Literal[False] = ...
    ) -> npt.NDArray[np.float64]: ...

    @overload
    def predict_proba(
        self, X: Any, method: str, return_confidence: Literal[True]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...

    @overload
    def predict_proba(
        self, X: Any, *, return_confidence: Literal[True]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...

    def predict_proba(
        self, X: Any, method: str = "linear", return_confidence: bool = False
    ) -> npt.NDArray[np.float64] | tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``(n_samples, 2)`` probabilities ``[normal, anomaly]``, as PyOD computes them:
        ``method="linear"`` scales the scores by the training scores' range, ``"unify"``
        uses the error function of the standardised score; with ``return_confidence``,
        also ``predict_confidence``."""
        if method not in ("linear", "unify"):
            raise ValueError(
                f"method {method!r} is not a probability conversion method "
                "(known: 'linear', 'unify')"
            )
        scores = self.decision_function(X)
        anomaly = _anoonly.probability(self.decision_scores_, scores, method)
        probs = np.column_stack([1.0 - anomaly, anomaly])
        if return_confidence:
            return probs, self._confidence(scores)
        return probs

    def predict_confidence(self, X: Any) -> npt.NDArray[np.float64]:
        """PyOD's confidence in each 0/1 prediction (Perini et al. 2020), in [0, 1]."""
        return self._confidence(self.decision_function(X))

    def _confidence(self, scores: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        return _anoonly.confidence(
            self.decision_scores_, scores, float(self.contamination), self.threshold_
        )

    def fit_predict(self, X: Any, y: Any = None) -> npt.NDArray[np.int64]:
        """``fit(X, y)``, then ``labels_``."""
        return self.fit(X, y).labels_

    # -- files and pickling ---------------------------------------------------------------

    def save(self, path: PathLike) -> None:
        """Writes the model file ``anoonly fit --out`` writes (readable by ``anoonly score``
        and ``anoonly.load``)."""
        self._model().save(os.fspath(path))

    def __getstate__(self) -> dict[str, Any]:
        model = self.__dict__.get("model_")
        return {
            "params": self.get_params(),
            "model": None if model is None else model.to_bytes(),
            "fit_contamination": self.__dict__.get("_fit_contamination"),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state["params"].items():
            setattr(self, name, value)
        if state["model"] is not None:
            self._set_fitted(_anoonly.from_bytes(state["model"]), state["fit_contamination"])


class DeepSAD(BaseDetector):
    """Deep SAD (Ruff et al. 2020): a one-class hypersphere around normal rows, labeled
    anomalies pushed out. ``anoonly=True`` trains on the anomalies' loss only."""

    _method = "deepsad"


class DevNet(BaseDetector):
    """DevNet (Pang et al. 2019): deviation networks, scores as z-scores against a Gaussian
    prior. ``loss=`` picks ``"official"`` (the authors' code) or ``"paper"``."""

    _method = "devnet"


class PReNet(BaseDetector):
    """PReNet (Pang et al. 2023): pairwise relation networks scoring a row against reference
    anomalies and unlabeled rows."""

    _method = "prenet"


class FEAWAD(BaseDetector):
    """FEAWAD (Zhou et al. 2021): an autoencoder's features and reconstruction error fed to
    a deviation scorer. ``compat="official"`` replicates the authors' code's bugs."""

    _method = "feawad"


class GANomaly(BaseDetector):
    """GANomaly (Akcay et al. 2018), a baseline of the paper: no AnoOnly variant."""

    _method = "ganomaly"


class REPEN(BaseDetector):
    """REPEN (Pang et al. 2018), a baseline of the paper: no AnoOnly variant."""

    _method = "repen"


class XGBOD(BaseDetector):
    """XGBOD (Zhao & Hryniewicki 2018), a baseline of the paper: no AnoOnly variant. It
    does not train in epochs: its boosting rounds are ``n_estimators``, as in PyOD's XGBOD
    (the CLI's ``--set n_estimators=N``)."""

    _method = "xgbod"


_CLASSES: dict[str, type[BaseDetector]] = {
    cls._method: cls for cls in (DeepSAD, DevNet, PReNet, FEAWAD, GANomaly, REPEN, XGBOD)
}


def estimator_class(method: str) -> type[BaseDetector]:
    """The class of ``method``, a name read as the library reads it everywhere
    (case-insensitive: ``"deepsad"``, ``"DeepSAD"``); an unknown name is a ``ValueError``
    listing the known ones."""
    return _CLASSES[_anoonly.method_name(method)]


def load(path: PathLike, *, contamination: float = 0.1) -> BaseDetector:
    """Reads a model file written by ``anoonly fit`` or ``save`` into a fitted estimator of
    its method, with the parameters it was trained with (``contamination`` is not part of a
    model file)."""
    model = _anoonly.load(os.fspath(path))
    cls = estimator_class(model.method)
    config = json.loads(model.params_json())
    method, train = config["method"], config["train"]
    params: dict[str, Any] = {"contamination": contamination, "random_state": train["seed"]}
    if cls._has_epochs:
        params["epochs"] = method["epochs"]
    params.update({k: train[k] for k in cls._train_options})
    params.update({k: method[k] for k in cls._hyperparameters})
    est = cls(**params)
    est._set_fitted(model, contamination)
    return est

"""The estimators: one class per method of the library's registry, with PyOD's detector
contract, on the library's fit and scoring.

The classes are made at import from ``_anoonly.methods()`` (the registry: each method's
name, class name, summary, hyperparameters and their defaults, AnoOnly support, whether it
trains in epochs), so a method added to the Rust registry is a Python class with no Python
edit. Each class is bound here and in ``anoonly`` under its name, with ``__module__`` and
``__qualname__`` naming this module, so pickle finds it. Its ``__init__`` declares every
keyword in its signature (``inspect.signature(cls.__init__)``, as scikit-learn's
``get_params`` machinery reads it). The training options (``anoonly``, ``lambda_n``,
``norm``, ``empty_batch``, ``bn_loss_weight``) are the library's ``TrainParams`` fields;
the baselines have no AnoOnly variant and take none of them.

scikit-learn's estimator contract: the classes derive from scikit-learn's ``BaseEstimator``
and ``OutlierMixin`` (scikit-learn >= 1.6 is a runtime dependency, as it is for PyOD and
DeepOD). The contract has changed in most scikit-learn releases (1.6 replaced the tag
dictionaries by ``__sklearn_tags__`` and ``Tags`` objects, and ``validate_data`` became a
function); the base classes carry each version's form, where a copy of the protocol here
would have to follow them release by release. ``validate_data(..., skip_check_array=True)``
sets and checks ``n_features_in_`` and ``feature_names_in_`` as every scikit-learn
estimator does (same warnings, same errors), while the arrays themselves go through
``anoonly._inputs`` (no copy of a C-contiguous float32 matrix). docs/python.md lists the
``check_estimator`` checks that do not apply and why.

Static typing: the classes do not exist until import, so a type checker cannot see them.
This module and ``anoonly`` declare a module-level ``__getattr__`` returning
``type[BaseDetector]``: to mypy, pyright and IDEs, ``anoonly.DeepSAD`` is a
``BaseDetector`` class whose constructor takes keywords, and every method of the contract
is typed. The alternative, a generated ``.pyi`` stub listing each class and its keywords,
would check keyword names statically but is a second copy of the registry that must be
regenerated (and checked by a test) whenever a method or a hyperparameter changes in Rust,
which is exactly the Python edit per method this design removes. Unknown keywords are
caught at run time instead, by the constructor (``TypeError`` listing the known ones). At
run time the ``__getattr__`` only ever raises ``AttributeError``: the classes are real
module attributes.
"""

from __future__ import annotations

import copy
import inspect
import json
import operator
import os
import textwrap
import warnings
from typing import Any, Callable, ClassVar, Literal, Union, cast, overload

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.validation import validate_data

from anoonly import _anoonly
from anoonly._inputs import as_features, as_labels

PathLike = Union[str, "os.PathLike[str]"]

# The training options every method with an AnoOnly variant takes, with their defaults,
# from the library's TrainParams (the seed is `random_state`).
_TRAIN_DEFAULTS: dict[str, Any] = {
    k: v for k, v in json.loads(_anoonly.train_defaults()).items() if k != "seed"
}

# Keywords every estimator takes besides its method's hyperparameters (PyOD's, DeepOD's
# and scikit-learn's names); `epochs` only where the method trains in epochs (XGBOD's rounds
# are `n_estimators`).
_COMMON_DEFAULTS: dict[str, Any] = {
    "contamination": 0.1,
    "preprocessing": "auto",
    "epochs": None,
    "random_state": None,
    "n_jobs": None,
    "device": None,
    "verbose": False,
}

# `preprocessing=` values besides the library's names: PyOD's booleans (True: standardise,
# as PyOD's deep detectors do; False: none) and None.
_PREPROCESSING_ALIASES: dict[Any, str] = {True: "standard", False: "none", None: "none"}


def _preprocessing(value: Any) -> str:
    """The library's name of a ``preprocessing=`` value (checked by the library)."""
    if isinstance(value, bool) or value is None:
        return _PREPROCESSING_ALIASES[value]
    if not isinstance(value, str):
        raise TypeError(
            f"preprocessing must be a string ('auto', 'minmax', 'standard', 'none'), "
            f"True, False or None, got {type(value).__name__} {value!r}"
        )
    return value


def threads(n_jobs: Any) -> int:
    """The matrix products' thread count of ``n_jobs``, scikit-learn's meaning: a positive
    count, -1 all cores, -2 all but one (``cores + 1 + n_jobs``, at least 1); ``None`` all
    cores, as the command's default ``--threads`` (scores do not depend on it)."""
    cores = _anoonly.available_threads()
    if n_jobs is None:
        return cores
    if isinstance(n_jobs, bool):
        raise TypeError(f"n_jobs must be an integer or None, got {n_jobs!r}")
    try:
        n = operator.index(n_jobs)
    except TypeError:
        raise TypeError(
            f"n_jobs must be an integer or None, got {type(n_jobs).__name__} {n_jobs!r}"
        ) from None
    if n == 0:
        raise ValueError("n_jobs == 0 has no meaning: a positive count, -1 = all cores, or None")
    return max(1, cores + 1 + n) if n < 0 else min(n, 1 << 16)


def _check_device(device: Any) -> None:
    """DeepOD's ``device=``: only the CPU exists here."""
    if device is None or (isinstance(device, str) and device.lower() == "cpu"):
        return
    raise ValueError(f"anoonly computes on the CPU; device={device!r} is not available")


def _keyword_defaults(
    train_options: dict[str, Any], has_epochs: bool, hyperparameters: dict[str, Any]
) -> dict[str, Any]:
    """Every constructor keyword of a method's class and its default, in signature order:
    the AnoOnly switches, PyOD's common keywords, the other training options, then the
    method's hyperparameters."""
    head = {k: v for k, v in train_options.items() if k in ("anoonly", "lambda_n", "norm")}
    tail = {k: v for k, v in train_options.items() if k not in head}
    common = {k: v for k, v in _COMMON_DEFAULTS.items() if k != "epochs" or has_epochs}
    return {**head, **common, **tail, **hyperparameters}


class NotFittedError(SklearnNotFittedError):  # type: ignore[misc]
    """The estimator is used before ``fit``: scikit-learn's exception (a ``ValueError`` and
    an ``AttributeError``), so ``except sklearn.exceptions.NotFittedError`` catches it."""


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


class BaseDetector(OutlierMixin, BaseEstimator):  # type: ignore[misc]
    """What every anoonly estimator shares: PyOD's detector contract on scikit-learn's
    estimator base classes.

    After ``fit``: ``decision_scores_`` (scores of the training rows, float32),
    ``threshold_`` (the ``1 - contamination`` quantile of ``decision_scores_``),
    ``labels_`` (``decision_scores_ > threshold_`` as 0/1), ``n_features_in_``,
    ``feature_names_in_`` (when ``X`` was a frame with string column names) and ``model_``
    (the fitted library model).
    """

    # Set on each method's class from the registry (`_make_class`): the library's method
    # name, its hyperparameters with their defaults in declaration order, its training
    # options and whether it trains in epochs.
    _method: ClassVar[str] = ""
    _hyperparameters: ClassVar[dict[str, Any]] = {}
    _train_options: ClassVar[dict[str, Any]] = {}
    _has_epochs: ClassVar[bool] = True

    contamination: float
    preprocessing: Any
    epochs: int | None
    random_state: int | None
    n_jobs: int | None
    device: str | None
    verbose: bool

    model_: _anoonly.Model
    decision_scores_: npt.NDArray[np.float32]
    threshold_: float
    labels_: npt.NDArray[np.int64]
    n_features_in_: int
    _mu: float
    _sigma: float
    _fit_contamination: float

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        """Every constructor keyword and its default, in signature order."""
        return _keyword_defaults(cls._train_options, cls._has_epochs, cls._hyperparameters)

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

    def set_params(self, **params: Any) -> BaseDetector:
        """Sets constructor keywords (scikit-learn's ``set_params``: an unknown name is a
        ``ValueError``), then checks the values as the constructor does."""
        super().set_params(**params)
        self._check()
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return "model_" in self.__dict__

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
            preprocessing=_preprocessing(self.preprocessing),
            **train,
        )

    def _check(self) -> None:
        self._fit_params()
        _anoonly.check_contamination(self.contamination)
        threads(self.n_jobs)
        _check_device(self.device)

    # -- fitting and scoring --------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> BaseDetector:
        """Trains on ``X`` with labels ``y`` (1 = labeled anomaly, 0 = unlabeled, PyOD's and
        DeepOD's convention) and sets ``decision_scores_``, ``threshold_``, ``labels_`` and
        ``n_features_in_``. Returns ``self``.

        Features are scaled as ``preprocessing`` says (default ``"auto"``: raw columns
        min-max scaled onto [0, 1] from the training rows, columns already in [0, 1] left
        bit for bit as they are), and every scoring call applies the same scaling.
        ``n_jobs`` threads compute the matrix products (``None``: all cores; the scores do
        not depend on it).

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
        n_threads = threads(self.n_jobs)
        _check_device(self.device)
        x = as_features(X)
        labels = as_labels(y, x.shape[0])
        for name in (*_FITTED, "feature_names_in_"):
            self.__dict__.pop(name, None)
        # Sets n_features_in_ and, for a frame with string column names, feature_names_in_
        # (scikit-learn's own bookkeeping; the arrays were checked above).
        validate_data(self, X, reset=True, skip_check_array=True)
        try:
            model = _anoonly.fit(params, x, labels, verbose=bool(self.verbose), threads=n_threads)
        except BaseException:
            # A failed or interrupted fit leaves the estimator unfitted.
            for name in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(name, None)
            raise
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

    def _features(self, X: Any) -> npt.NDArray[np.float32]:
        """``X`` as the library reads it, checked against the fit: the same feature count
        (scikit-learn's error message) and names (its warning or error)."""
        self._model()
        x = as_features(X)
        validate_data(self, X, reset=False, skip_check_array=True)
        return x

    def _scores(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The model's scores of checked features, on ``n_jobs`` threads."""
        return self._model().decision_function(x, threads=threads(self.n_jobs))

    @overload
    def decision_function(
        self, X: Any, return_rep: Literal[False] = ...
    ) -> npt.NDArray[np.float32]: ...

    @overload
    def decision_function(
        self, X: Any, return_rep: Literal[True]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...

    def decision_function(
        self, X: Any, return_rep: bool = False
    ) -> npt.NDArray[np.float32] | tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Anomaly scores of ``X`` (higher = more anomalous), float32, after the fit's
        preprocessing. With ``return_rep`` (DeepOD's keyword), ``(scores, reps)``: also the
        hidden features before the method's last layer, one float32 row per row of ``X``
        (the paper's Fig. 10; a ``ValueError`` for XGBOD, which has none; docs/python.md
        lists each method's)."""
        x = self._features(X)
        scores = self._scores(x)
        if return_rep:
            reps = self._model().representation(x, threads=threads(self.n_jobs))
            return scores, reps
        return scores

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
            "feature_names_in_": self.__dict__.get("feature_names_in_"),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state["params"].items():
            setattr(self, name, value)
        if state["model"] is not None:
            self._set_fitted(_anoonly.from_bytes(state["model"]), state["fit_contamination"])
        if state.get("feature_names_in_") is not None:
            self.feature_names_in_ = state["feature_names_in_"]


# What a fit sets (and a failed or interrupted fit leaves unset).
_FITTED = (
    "model_",
    "decision_scores_",
    "threshold_",
    "labels_",
    "n_features_in_",
    "_mu",
    "_sigma",
    "_fit_contamination",
)


def _immutable(value: Any) -> Any:
    """A default as scikit-learn wants it in a signature: lists (``hidden=[100, 20]``) as
    tuples (``check_parameters_default_constructible`` allows no mutable default); the
    library reads both as the same JSON array."""
    return tuple(_immutable(v) for v in value) if isinstance(value, list) else value


def _make_init(name: str, defaults: dict[str, Any]) -> Callable[..., None]:
    """A class's ``__init__``: ``BaseDetector.__init__`` with a signature that declares
    every keyword (keyword-only, with its default), as scikit-learn's ``_get_param_names``
    and ``inspect.signature`` read it."""

    def __init__(self: BaseDetector, **params: Any) -> None:
        BaseDetector.__init__(self, **params)

    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    keywords = [
        inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v)
        for k, v in defaults.items()
    ]
    __init__.__signature__ = inspect.Signature([self_param, *keywords])  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{name}.__init__"
    __init__.__module__ = __name__
    return __init__


def _make_class(info: _anoonly.MethodInfo) -> type[BaseDetector]:
    """The estimator class of one registered method, from what the registry says of it."""
    defaults = json.loads(info.defaults_json)
    defaults.pop("method")
    # `epochs` is the common keyword (the CLI's --epochs, None = the authors' count),
    # where the method trains in epochs; the rest are the method's own.
    hyperparameters = {k: _immutable(v) for k, v in defaults.items() if k != "epochs"}
    train_options = dict(_TRAIN_DEFAULTS) if info.supports_anoonly else {}
    keywords = _keyword_defaults(train_options, info.trains_in_epochs, hyperparameters)
    listing = ", ".join(f"{k}={v!r}" for k, v in hyperparameters.items())
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__qualname__": info.class_name,
        "__doc__": f"{textwrap.fill(info.summary, 88)}\n\n"
        f"Hyperparameters (the authors' defaults): {listing}.\n",
        "__init__": _make_init(info.class_name, keywords),
        "_method": info.name,
        "_hyperparameters": hyperparameters,
        "_train_options": train_options,
        "_has_epochs": info.trains_in_epochs,
    }
    return cast("type[BaseDetector]", type(info.class_name, (BaseDetector,), namespace))


# Every registered method's class, by the library's name, in the registry's order.
_CLASSES: dict[str, type[BaseDetector]] = {
    info.name: _make_class(info) for info in _anoonly.methods()
}
# ... and bound under its class name (pickle looks classes up here by `__qualname__`).
globals().update({cls.__name__: cls for cls in _CLASSES.values()})

# The class names, in the registry's order (`anoonly.__all__` lists them).
ESTIMATORS: list[str] = [cls.__name__ for cls in _CLASSES.values()]


def __getattr__(name: str) -> type[BaseDetector]:
    """For type checkers only: the classes above are made at import, so this module's
    unknown attributes are typed ``type[BaseDetector]`` (see the module docstring). At run
    time every class is a real attribute and this is reached only for other names."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    params: dict[str, Any] = {
        "contamination": contamination,
        "random_state": train["seed"],
        "preprocessing": config.get("preprocessing", "none"),
    }
    if cls._has_epochs:
        params["epochs"] = method["epochs"]
    params.update({k: train[k] for k in cls._train_options})
    params.update({k: _immutable(method[k]) for k in cls._hyperparameters})
    est = cls(**params)
    est._set_fitted(model, contamination)
    return est

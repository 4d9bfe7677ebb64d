"""anoonly: semi-supervised anomaly detection with AnoOnly (loss on anomalies only), on a
Rust core.

PyOD-compatible estimators (``fit(X, y)`` with 1 = labeled anomaly, 0 = unlabeled;
``decision_function``, ``predict``, ``predict_proba``, ``predict_confidence``,
``fit_predict``; ``decision_scores_``, ``threshold_``, ``labels_``)::

    from anoonly import DeepSAD
    clf = DeepSAD(anoonly=True).fit(X_train, y_train)
    scores = clf.decision_function(X_test)

One class per method of the library, made from the Rust registry at import
(``anoonly.__all__`` names them, beside the functions).

Model files are those of the ``anoonly`` command (``clf.save(path)``,
``anoonly.load(path)``); ``load_data``, ``split`` and ``metrics`` are the command's readers,
its evaluation split and the paper's metrics; ``evaluate`` is ``anoonly eval`` in one call
and ``bench`` is ``anoonly bench`` (a grid of evaluations, its report's tables returned).
The estimators follow scikit-learn's estimator contract (``Pipeline``, ``clone``,
``GridSearchCV``), scale raw features themselves (``preprocessing="auto"``) and compute on
every core (``n_jobs=None``).
Installing the package also installs the ``anoonly`` command.
"""

from anoonly import _estimators
from anoonly._anoonly import __version__
from anoonly._bench import bench
from anoonly._estimators import BaseDetector, NotFittedError, load
from anoonly._functions import evaluate, load_data, metrics, split

# One class per method of the library's registry (DeepSAD, DevNet, ..., made at import by
# `_estimators`), bound here under its class name.
globals().update({name: getattr(_estimators, name) for name in _estimators.ESTIMATORS})

__all__ = [
    *_estimators.ESTIMATORS,
    "BaseDetector",
    "NotFittedError",
    "__version__",
    "bench",
    "evaluate",
    "load",
    "load_data",
    "metrics",
    "split",
]


def __getattr__(name: str) -> type[BaseDetector]:
    """For type checkers only: ``anoonly.DeepSAD`` and the other estimator classes are
    made at import (see ``anoonly._estimators``), so they are typed
    ``type[BaseDetector]``. At run time it is reached only for names that do not exist."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

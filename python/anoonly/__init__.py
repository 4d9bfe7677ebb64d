"""anoonly: semi-supervised anomaly detection with AnoOnly (loss on anomalies only), on a
Rust core.

PyOD-compatible estimators (``fit(X, y)`` with 1 = labeled anomaly, 0 = unlabeled;
``decision_function``, ``predict``, ``predict_proba``, ``predict_confidence``,
``fit_predict``; ``decision_scores_``, ``threshold_``, ``labels_``)::

    from anoonly import DeepSAD
    clf = DeepSAD(anoonly=True).fit(X_train, y_train)
    scores = clf.decision_function(X_test)

Model files are those of the ``anoonly`` command (``clf.save(path)``,
``anoonly.load(path)``); ``load_data``, ``split`` and ``metrics`` are the command's readers,
its evaluation split and the paper's metrics; ``evaluate`` is ``anoonly eval`` in one call.
Installing the package also installs the ``anoonly`` command.
"""

from anoonly._anoonly import __version__
from anoonly._estimators import (
    FEAWAD,
    REPEN,
    XGBOD,
    BaseDetector,
    DeepSAD,
    DevNet,
    GANomaly,
    NotFittedError,
    PReNet,
    load,
)
from anoonly._functions import evaluate, load_data, metrics, split

__all__ = [
    "FEAWAD",
    "REPEN",
    "XGBOD",
    "BaseDetector",
    "DeepSAD",
    "DevNet",
    "GANomaly",
    "NotFittedError",
    "PReNet",
    "__version__",
    "evaluate",
    "load",
    "load_data",
    "metrics",
    "split",
]

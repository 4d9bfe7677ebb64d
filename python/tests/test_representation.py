"""``decision_function(X, return_rep=True)`` (DeepOD's keyword): the scores and the hidden
features before each method's last layer, as the library's ``Model::representation``
gives them."""

from __future__ import annotations

import anoonly
import numpy as np
import pytest
from conftest import CLASSES, METHODS, fast


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_return_rep_gives_the_scores_and_row_wise_features(
    cls: type[anoonly.BaseDetector], data: dict[str, np.ndarray]
) -> None:
    est = cls(random_state=0, **fast(cls)).fit(data["X_train"], data["y_train"])
    X = data["X_test"]
    scores = est.decision_function(X)
    if cls.__name__ == "XGBOD":
        with pytest.raises(ValueError, match="no hidden features"):
            est.decision_function(X, return_rep=True)
        return
    same, reps = est.decision_function(X, return_rep=True)
    np.testing.assert_array_equal(same, scores)
    assert reps.dtype == np.float32 and reps.shape[0] == len(X) and reps.shape[1] > 0
    assert np.isfinite(reps).all(), METHODS[cls.__name__].name
    # A row's features do not depend on the other rows.
    _, part = est.decision_function(X[3:9], return_rep=True)
    np.testing.assert_array_equal(part, reps[3:9])

"""Property-based tests (hypothesis) of everything a user can pass: shapes, dtypes, memory
orders, containers, NaN/infinity/out-of-float32 positions, label vectors and keyword
values, for every estimator class and its constructor, fit, decision_function,
predict_proba, save and load (and pickling). Each call returns a result or raises
ValueError or TypeError with a message that is not a panic or an internal error: never a
crash, an abort or another exception. (The library's one other outcome, a fit whose
training diverged to non-finite scores, is a RuntimeError saying so; it is accepted and
counted.) Runs are derandomized (the same cases every run) and bounded: tiny data, at most
2 epochs, a fixed number of examples per class; the number of cases that ran is printed."""

from __future__ import annotations

import pickle
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import anoonly
import numpy as np
import pandas as pd
import pytest
from conftest import CLASSES, FAST
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Examples per estimator class: about a minute for the whole file on 2 loaded cores.
EXAMPLES_PER_CLASS = 250

OUTCOMES: Counter[str] = Counter()

PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES_PER_CLASS,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def summary() -> str:
    """The line conftest's pytest_terminal_summary prints after the run."""
    counts = dict(OUTCOMES)
    total = counts.pop("cases", 0)
    detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return f"hypothesis: {total} cases ran ({detail})"


FORBIDDEN = ("panic", "internal error", "this is a bug")


def call(what: str, fn: Callable[[], Any]) -> Any:
    """``fn()``, or None when it raised ValueError or TypeError (an answer about the input);
    anything else fails the test."""
    try:
        out = fn()
    except (ValueError, TypeError) as e:
        text = str(e).lower()
        assert not any(f in text for f in FORBIDDEN), f"{what}: {e!r}"
        assert text.strip(), f"{what}: {type(e).__name__} without a message"
        OUTCOMES[f"{what} refused"] += 1
        return None
    except RuntimeError as e:
        assert str(e).startswith("training diverged"), f"{what}: {e!r}"
        OUTCOMES[f"{what} diverged"] += 1
        return None
    OUTCOMES[f"{what} ok"] += 1
    return out


DTYPES: list[Any] = [
    np.float32,
    np.float64,
    np.float16,
    np.int8,
    np.int64,
    np.uint16,
    np.bool_,
    np.complex64,
    object,
    "U4",
]
SPECIAL = [np.nan, np.inf, -np.inf, 1e39, -1e39, -0.0, 1e-45, 3.4e38]


@st.composite
def features(draw: st.DrawFn, n_cols: int | None = None) -> Any:
    """A feature matrix as a user might pass one: mostly a valid 2-D matrix, sometimes
    with special values, another dtype, memory order, container or dimension."""
    n = draw(st.sampled_from([0, 1, 2, 3, 5, 8, 12, 12, 12, 12, 12, 12]))
    if n_cols is not None and draw(st.integers(0, 3)):
        d = n_cols
    else:
        d = draw(st.sampled_from([0, 1, 2, 3, 4, 4, 4, 4, 5]))
    values = draw(
        st.lists(st.floats(-1e4, 1e4, allow_nan=False, width=32), min_size=n * d, max_size=n * d)
    )
    x = np.array(values, dtype=np.float64).reshape(n, d)
    if n * d and draw(st.integers(0, 3)) == 0:
        for _ in range(draw(st.integers(1, 3))):
            x[draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))] = draw(
                st.sampled_from(SPECIAL)
            )
    dtype = draw(st.sampled_from(DTYPES[:3] * 4 + DTYPES))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr = x.astype(dtype)
    layout = draw(st.sampled_from(["C"] * 8 + ["F", "strided", "readonly", "1d", "3d", "scalar"]))
    if layout == "F":
        arr = np.asfortranarray(arr)
    elif layout == "strided":
        wide = np.repeat(arr, 2, axis=1) if d else arr
        arr = wide[:, ::2]
    elif layout == "readonly":
        arr = arr.copy()
        arr.flags.writeable = False
    elif layout == "1d":
        arr = arr.ravel()
    elif layout == "3d":
        arr = arr.reshape(1, n, d)
    elif layout == "scalar":
        arr = np.asarray(1.0, dtype=np.float64)
    container = draw(st.sampled_from(["array"] * 4 + ["list", "frame"]))
    if container == "list":
        return arr.tolist()
    if container == "frame" and arr.ndim == 2:
        return pd.DataFrame(arr, columns=[f"f{j}" for j in range(arr.shape[1])])
    return arr


@st.composite
def labels(draw: st.DrawFn, n: int) -> Any:
    """A label vector: mostly 0/1 of the right length, sometimes not."""
    kind = draw(
        st.sampled_from(
            ["good"] * 8 + ["none", "bool", "float", "bad", "short", "2d", "col", "str"]
        )
    )
    y = np.zeros(n, dtype=np.int64)
    if n:
        for i in draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3)):
            y[i] = 1
    if kind == "none":
        return None
    if kind == "bool":
        return y.astype(bool)
    if kind == "float":
        return y.astype(np.float32)
    if kind == "bad" and n:
        out = y.astype(np.float64)
        out[draw(st.integers(0, n - 1))] = draw(st.sampled_from([2.0, -1.0, 0.5, np.nan]))
        return out
    if kind == "short":
        return y[:-1] if n else np.ones(1, dtype=int)
    if kind == "2d":
        return np.stack([y, y], axis=1)
    if kind == "col":
        return y.reshape(-1, 1)
    if kind == "str":
        return y.astype(str)
    return y


# Values a keyword may be given. Training-length keywords (below) draw from a short list
# instead, so no case trains for long.
VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2,
    0.0,
    0.5,
    -0.5,
    1e9,
    float("nan"),
    float("inf"),
    "x",
    "auto",
    "standard",
    "minmax",
    "cpu",
    "cuda",
    [],
    [3],
    [0],
    (4, 2),
    {},
]
LENGTHS: list[Any] = [0, 1, 2, -1, 1.5, "2", [2]]
TRAINING_LENGTH = {"epochs", "pretrain_epochs", "n_estimators", "max_depth"}


@st.composite
def keywords(draw: st.DrawFn, cls: type[anoonly.BaseDetector]) -> dict[str, Any]:
    """The fast settings, then up to three keywords (sometimes an unknown one) set to
    drawn values."""
    names = sorted(cls().get_params())
    out: dict[str, Any] = dict(FAST[cls])
    if draw(st.booleans()):
        return out
    for name in draw(st.lists(st.sampled_from([*names, "bogus"]), max_size=3, unique=True)):
        pool = LENGTHS if name in TRAINING_LENGTH else VALUES
        out[name] = draw(st.sampled_from(pool))
    return out


def exercise(cls: type[anoonly.BaseDetector], data: st.DataObject, tmp: Path) -> None:
    OUTCOMES["cases"] += 1
    kw = data.draw(keywords(cls), label="keywords")
    est = call("constructor", lambda: cls(**kw))
    if est is None:
        return
    X = data.draw(features(), label="X")
    n = len(X) if hasattr(X, "__len__") and np.ndim(X) >= 1 else 0
    y = data.draw(labels(n), label="y")
    if call("fit", lambda: est.fit(X, y)) is None:
        assert not hasattr(est, "model_"), "a failed fit left a model"
        return
    d = est.n_features_in_
    X2 = data.draw(features(n_cols=d), label="X2")
    scores = call("decision_function", lambda: est.decision_function(X2))
    if scores is not None:
        assert scores.dtype == np.float32 and scores.ndim == 1
        assert np.isfinite(scores).all(), "non-finite scores returned silently"
    method = data.draw(st.sampled_from(["linear", "unify", "linear", "bogus", None]))
    proba = call("predict_proba", lambda: est.predict_proba(X2, method=method))
    if proba is not None:
        assert proba.shape[1] == 2 and np.all((proba >= 0) & (proba <= 1))
    path = tmp / "model.safetensors"
    if call("save", lambda: est.save(path)) is not None or path.is_file():
        loaded = call("load", lambda: anoonly.load(path))
        assert loaded is not None, "a model file written by save does not load"
        if scores is not None:
            np.testing.assert_array_equal(loaded.decision_function(X2), scores)
        # A damaged file is refused with the reader's error, never a crash.
        raw = path.read_bytes()
        cut = data.draw(st.integers(0, len(raw)), label="cut")
        flip = data.draw(st.integers(0, len(raw) - 1), label="flip")
        damaged = bytearray(raw[:cut]) if data.draw(st.booleans()) else bytearray(raw)
        if flip < len(damaged):
            damaged[flip] ^= 0xFF
        path.write_bytes(bytes(damaged))
        call("load damaged", lambda: anoonly.load(path))
    again = call("pickle", lambda: pickle.loads(pickle.dumps(est)))
    assert again is not None and again.get_params().keys() == est.get_params().keys()


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_any_input_gives_a_result_or_a_value_or_type_error(
    cls: type[anoonly.BaseDetector],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:

        @PROPERTY_SETTINGS
        @given(data=st.data())
        def run(data: st.DataObject) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exercise(cls, data, Path(tmp))

        run()

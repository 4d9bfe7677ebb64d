"""The estimator classes are the library's registry: exactly its methods, under their names,
with their keywords in the signature (as scikit-learn reads it), picklable, and every
method's model file loads back into its class. The split defaults and method names are the
library's too, so Python and the command cannot drift apart."""

from __future__ import annotations

import inspect
import json
import pickle
import re
import subprocess
from pathlib import Path
from typing import Any

import anoonly
import numpy as np
import pytest
from conftest import CLASSES, FAST, METHODS
from sklearn.base import BaseEstimator, clone


def test_the_classes_are_exactly_the_registrys_methods(cli: Path) -> None:
    infos = anoonly._anoonly.methods()
    names = [info.class_name for info in infos]
    exported = [getattr(anoonly, n) for n in anoonly.__all__]
    estimators = [
        c.__name__
        for c in exported
        if isinstance(c, type) and issubclass(c, anoonly.BaseDetector)
        and c is not anoonly.BaseDetector
    ]  # fmt: skip
    assert estimators == names
    assert names == anoonly._estimators.ESTIMATORS
    for info in infos:
        cls = getattr(anoonly, info.class_name)
        assert cls is getattr(anoonly._estimators, info.class_name)
        assert cls._method == info.name
        assert cls.__module__ == "anoonly._estimators" and cls.__qualname__ == info.class_name
        assert cls.__doc__ is not None and cls.__doc__.startswith(info.summary.split()[0])
    # The command's own list (MethodKind::ALL, as its error for an unknown method gives it).
    proc = subprocess.run(
        [str(cli), "fit", "--data", "x.csv", "--out", "m.st", "--method", "nosuch"],
        capture_output=True,
        text=True,
        check=False,
    )
    known = re.search(r"known: ([a-z0-9, -]+)\)", proc.stderr)  # names may hold a hyphen
    assert known is not None, proc.stderr
    assert known.group(1).split(", ") == [info.name for info in infos]


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="NoSuchMethod"):
        _ = anoonly.NoSuchMethod
    with pytest.raises(AttributeError, match="NoSuchMethod"):
        _ = anoonly._estimators.NoSuchMethod


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_keyword_is_in_the_signature(cls: type[anoonly.BaseDetector]) -> None:
    sig = inspect.signature(cls.__init__)
    params = list(sig.parameters.values())
    assert params[0].name == "self"
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:])
    est = cls()
    # get_params is scikit-learn's: the signature's names, sorted.
    assert sorted(p.name for p in params[1:]) == list(est.get_params())
    assert {p.name: p.default for p in params[1:]} == est.get_params()
    assert list(inspect.signature(cls).parameters) == [p.name for p in params[1:]]
    # scikit-learn's own reading of the signature (it refuses **kwargs) and its clone.
    assert BaseEstimator._get_param_names.__func__(cls) == sorted(est.get_params())
    given = cls(random_state=4, contamination=0.2, **FAST[cls])
    twin = clone(given)
    assert type(twin) is cls and twin.get_params() == given.get_params()
    with pytest.raises(TypeError):
        cls(0.1)


def test_estimators_pickle_by_reference(data: dict[str, np.ndarray]) -> None:
    for cls in CLASSES:
        est = cls(random_state=2, **FAST[cls])
        back = pickle.loads(pickle.dumps(est))
        assert type(back) is cls and back.get_params() == est.get_params()


def test_every_methods_model_file_loads_back(tmp_path: Path, data: dict[str, np.ndarray]) -> None:
    """Fits each registered method (fast settings), saves it and reads it with
    `anoonly.load`: the class of its method, its parameters, its scores bit for bit."""
    X, y, X_test = data["X_train"], data["y_semi"], data["X_test"]
    for info in anoonly._anoonly.methods():
        cls = anoonly._estimators.estimator_class(info.name)
        est = cls(random_state=1, **FAST[cls]).fit(X, y)
        path = tmp_path / f"{info.name}.safetensors"
        est.save(path)
        back = anoonly.load(path)
        assert type(back) is cls
        assert back.get_params() == est.get_params()
        np.testing.assert_array_equal(
            back.decision_function(X_test).view(np.uint32),
            est.decision_function(X_test).view(np.uint32),
        )
        np.testing.assert_array_equal(back.labels_, est.labels_)


def test_method_names_are_case_insensitive(data: dict[str, np.ndarray]) -> None:
    for info in anoonly._anoonly.methods():
        for spelling in (info.name, info.class_name, info.name.upper()):
            assert anoonly._estimators.estimator_class(spelling) is getattr(
                anoonly, info.class_name
            )
    X = np.vstack([data["X_train"], data["X_test"]])
    y = np.r_[data["y_train"], data["y_test"]]
    lower = anoonly.evaluate(X, y, method="devnet", epochs=1)
    mixed = anoonly.evaluate(X, y, method="DevNet", epochs=1)
    drop = ("fit_seconds", "score_seconds")
    assert [{k: v for k, v in r.items() if k not in drop} for r in mixed] == [
        {k: v for k, v in r.items() if k not in drop} for r in lower
    ]
    assert mixed[0]["method"] == "devnet"
    with pytest.raises(ValueError, match=r"unknown method `svm` \(known: .*deepsad"):
        anoonly.evaluate(X, y, method="svm")


def help_default(cli: Path, flag: str) -> str:
    """The `[default: ...]` of `flag` in `anoonly eval --help`."""
    text = subprocess.run(
        [str(cli), "eval", "--help"], capture_output=True, text=True, check=True
    ).stdout
    block = text.split(f"--{flag} <")[1].split("\n  -")[0]
    found = re.search(r"\[default: ([^\]]+)\]", block)
    assert found is not None, block
    return found.group(1)


def test_split_defaults_are_the_librarys_and_the_commands(cli: Path) -> None:
    library: dict[str, Any] = json.loads(anoonly._anoonly.split_defaults())
    for func in (anoonly.split, anoonly.evaluate):
        sig = inspect.signature(func).parameters
        for name in ("protocol", "setting", "normal_ratio", "max_rows"):
            assert sig[name].default == library[name], (func.__name__, name)
        # The labeled anomalies: a ratio or a count, exclusive; neither given is the
        # library's default ratio (resolved by the library).
        assert sig["gamma_la"].default is None and sig["n_labeled"].default is None
    for name in ("protocol", "setting", "gamma_la", "normal_ratio", "max_rows"):
        shown = help_default(cli, name.replace("_", "-"))
        value = library[name]
        if isinstance(value, str):
            assert shown == value, name
        elif value is None:
            assert shown == "none", name
        else:
            assert float(shown) == value, name
    assert help_default(cli, "bn-loss-weight") == "1"
    assert json.loads(anoonly._anoonly.train_defaults())["bn_loss_weight"] == 1.0


def test_labels_are_the_librarys_rule() -> None:
    scores = np.array([0.5, 1.0, 1.5, np.nextafter(np.float32(1.0), np.float32(2))], np.float32)
    labels = anoonly._anoonly.labels(scores, 1.0)
    assert labels.dtype == np.uint8
    # Strictly above the threshold; a tie is normal.
    np.testing.assert_array_equal(labels, [0, 0, 1, 1])


def test_registry_facts_match_the_classes() -> None:
    for name, info in METHODS.items():
        cls = getattr(anoonly, name)
        keywords = cls().get_params()
        assert ("anoonly" in keywords) == info.supports_anoonly
        assert ("epochs" in keywords) == info.trains_in_epochs

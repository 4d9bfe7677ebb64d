"""The package under test is the one installed in the environment, not the checkout's
python/anoonly: scripts/test.sh installs the wheel it built into a fresh environment
outside the checkout and names that environment in ANOONLY_INSTALLED."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anoonly
import pytest
from conftest import REPO


def test_the_package_comes_from_the_installed_wheel() -> None:
    where = os.environ.get("ANOONLY_INSTALLED")
    if not where:
        pytest.skip("ANOONLY_INSTALLED is not set (scripts/test.sh sets it)")
    prefix = Path(where).resolve()
    for module in (anoonly, anoonly._anoonly):
        path = Path(module.__file__ or "").resolve()
        assert prefix in path.parents, f"{module.__name__} from {path}, not from {prefix}"
        assert REPO not in path.parents, f"{module.__name__} imported from the checkout: {path}"
    assert str(REPO / "python") not in [str(Path(p).resolve()) for p in sys.path if p]
    # The environment resolves scikit-learn from the package's own dependencies.
    import sklearn

    assert prefix in Path(sklearn.__file__).resolve().parents

"""On the shared ADBench files (skipped loudly without ../shared): the readers give numpy's
arrays, the README's Python example runs as written and prints the AUCROC values
`anoonly eval` reports for the same file, method and seed, and docs/python.md's notebook
example (a Pipeline, a GridSearchCV over lambda_n, anoonly.bench on two files) runs as
written and prints the output the page shows."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from pathlib import Path

import anoonly
import numpy as np
import pytest
from conftest import REPO, run_cli


@pytest.mark.parametrize(
    "rel",
    [
        "Classical/4_breastw.npz",
        "Classical/2_annthyroid.npz",
        "CV_by_ResNet18/MVTec-AD_bottle.npz",
    ],
)
def test_load_data_equals_numpy(shared: Path, rel: str) -> None:
    X, y = anoonly.load_data(shared / rel)
    with np.load(shared / rel) as f:
        np.testing.assert_array_equal(X, f["X"].astype(np.float32))
        np.testing.assert_array_equal(y, f["y"].astype(np.uint8).ravel())
    assert X.flags.c_contiguous and X.dtype == np.float32 and y.dtype == np.uint8


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    m = re.search(r"<!-- python-example[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert m, "README.md has no <!-- python-example --> block"
    return m.group(1)


def test_readme_example_runs_and_prints_evals_aucroc(shared: Path, cli: Path) -> None:
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(REPO)  # the example uses ../shared relative to the repository
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(readme_example(), "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    printed = [float(v) for v in re.findall(r"AUCROC (\d\.\d+)", out.getvalue())]
    assert len(printed) == 2, out.getvalue()
    data = shared / "CV_by_ResNet18" / "CIFAR10_0.npz"
    for flags, value in (([], printed[0]), (["--anoonly"], printed[1])):
        proc = run_cli(
            cli,
            "eval",
            "--data",
            str(data),
            "--method",
            "deepsad",
            *flags,
            "--seeds",
            "0",
            "--json",
        )
        assert round(json.loads(proc.stdout)["aucroc"], 3) == value
    # The paper's effect on this file: AnoOnly above the vanilla method.
    assert printed[1] > printed[0]


def doc_block(marker: str, lang: str) -> str:
    text = (REPO / "docs" / "python.md").read_text()
    m = re.search(rf"<!-- {marker}[^>]*-->\s*(?:[^`]*?)```{lang}\n(.*?)```", text, re.S)
    assert m, f"docs/python.md has no <!-- {marker} --> block"
    return m.group(1)


def test_python_md_notebook_example_prints_what_the_page_shows(shared: Path) -> None:
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(REPO)  # the example uses ../shared relative to the repository
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(doc_block("notebook-example", "python"), "python.md", "exec"), {})
    finally:
        os.chdir(cwd)
    assert out.getvalue() == doc_block("notebook-output", "text")

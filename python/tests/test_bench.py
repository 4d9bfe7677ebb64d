"""`anoonly.bench`: the command's grid run from Python (the bench crate's build_grids and
run_grids), its report's tables returned as records or frames, the same files and numbers
as `anoonly bench` with the same options. (Ctrl-C: test_progress.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anoonly
import pandas as pd
import pytest
from conftest import run_cli

# The `quick` suite (built-in synthetic data: no files) cut to DevNet, one seed, 2 epochs.
GRID: dict[str, Any] = {"suite": "quick", "methods": "devnet", "seeds": 0, "epochs": 2}
FLAGS = ["--suite", "quick", "--methods", "devnet", "--seeds", "0", "--epochs", "2"]


def untimed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if not k.endswith("_seconds")} for r in records]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_bench_writes_and_returns_what_the_command_does(cli: Path, tmp_path: Path) -> None:
    got = anoonly.bench(**GRID, out=tmp_path / "py", n_jobs=2, as_frame=False)
    run_cli(cli, "bench", *FLAGS, "--out", str(tmp_path / "cli"), "--threads", "2", "--quiet")
    py, ref = tmp_path / "py", tmp_path / "cli"
    for name in ("report.csv", "evidence.csv", "ranks.csv"):
        assert (py / name).read_bytes() == (ref / name).read_bytes(), name
    # 2 synthetic datasets x DevNet x {base, anoonly} x 1 seed.
    assert got["summary"]["cells"] == 4 and got["summary"]["ran"] == 4
    assert got["summary"]["failed"] == 0 and got["failures"] == []
    assert got["out"] == py
    results = sorted(untimed(got["results"]), key=lambda r: r["key"])
    assert results == sorted(untimed(read_jsonl(ref / "results.jsonl")), key=lambda r: r["key"])
    # The report's rows as records: typed values, the CSV's columns.
    rows = got["report"]
    header = (ref / "report.csv").read_text().splitlines()[0].split(",")
    assert rows and list(rows[0]) == header
    assert {r["method"] for r in rows} == {"devnet"}
    assert all(isinstance(r["mean"], float) for r in rows)


def test_bench_returns_frames_and_shows_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    got = anoonly.bench(**GRID, out=tmp_path, n_jobs=1, verbose=True)
    for name in ("report", "evidence", "ranks", "results"):
        assert isinstance(got[name], pd.DataFrame), name
    assert len(got["results"]) == 4
    pd.testing.assert_frame_equal(got["report"], pd.read_csv(tmp_path / "report.csv"))
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "anoonly bench: 4 cell(s) to run, 0 already done"
    assert len(err) == 5 and all(
        re.match(r"anoonly bench: \[\d/4\] .+ AUCROC 0\.\d{3}$", e) for e in err[1:]
    )
    # A resumed run recomputes nothing.
    again = anoonly.bench(**GRID, out=tmp_path, resume=True, as_frame=False)
    assert (again["summary"]["skipped"], again["summary"]["ran"]) == (4, 0)


def test_bench_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown method `nope`"):
        anoonly.bench(suite="quick", methods="nope", out=tmp_path)
    with pytest.raises(ValueError, match="suite"):
        anoonly.bench(suite="no-such-suite", out=tmp_path)
    with pytest.raises(ValueError, match="not both"):
        anoonly.bench(suite="quick", grid="g.toml", out=tmp_path)
    with pytest.raises(FileNotFoundError):
        anoonly.bench(files=[tmp_path / "missing.npz"], out=tmp_path / "o", methods="devnet")

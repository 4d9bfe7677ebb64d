"""``anoonly.bench``: a grid of evaluations (``anoonly bench``) from Python, its report's
tables returned as records or pandas frames."""

from __future__ import annotations

import csv
import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Union

from anoonly import _anoonly
from anoonly._estimators import threads

PathLike = Union[str, "os.PathLike[str]"]

# The report's tables, by the name `bench` returns them under, and the file each is read
# from in the run directory (the files `anoonly bench` writes).
_CSV_TABLES = {"report": "report.csv", "evidence": "evidence.csv", "ranks": "ranks.csv"}
_JSONL_TABLES = {"results": "results.jsonl", "failures": "failures.jsonl"}


def _cell(text: str) -> Any:
    """A CSV field as a Python value: empty is None, then int, float, or the text."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _read_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="") as f:
        return [{k: _cell(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def _names(what: str, values: Any) -> list[str]:
    """A list of names (``"deepsad"`` or ``["deepsad", "devnet"]``), or empty for None."""
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    if not isinstance(values, Iterable):
        raise TypeError(f"{what} must be a name or a list of names, got {values!r}")
    return [str(v) for v in values]


def _sets(set: Any) -> list[tuple[str, str, str]]:
    """``set=`` as ``(method, name, value text)``: a mapping ``{"feawad": {"compat":
    "official"}}`` or strings ``"feawad:compat=official"`` (the command's ``--set``)."""
    if set is None:
        return []
    out: list[tuple[str, str, str]] = []
    if isinstance(set, Mapping):
        for method, params in set.items():
            if not isinstance(params, Mapping):
                raise TypeError(f"set[{method!r}] must be a mapping of parameter to value")
            for name, value in params.items():
                out.append((str(method), str(name), json.dumps(value)))
        return out
    for item in _names("set", set):
        method, sep, assignment = item.partition(":")
        name, eq, value = assignment.partition("=")
        if not sep or not eq or not name.strip():
            raise ValueError(f"set: {item!r} is not METHOD:NAME=VALUE")
        out.append((method.strip(), name.strip(), value.strip()))
    return out


def bench(
    suite: str | None = None,
    files: PathLike | Iterable[PathLike] | None = None,
    out: PathLike | None = None,
    *,
    grid: PathLike | None = None,
    data_dir: PathLike = "../shared/data/adbench",
    methods: str | Iterable[str] | None = None,
    variants: str | Iterable[str] | None = None,
    settings: str | Iterable[str] | None = None,
    gamma_la: float | Iterable[float] | None = None,
    n_labeled: int | Iterable[int] | None = None,
    seeds: int | Iterable[int] | None = None,
    protocol: str | None = None,
    epochs: int | None = None,
    set: Any = None,
    resume: bool = False,
    cache: PathLike | None = None,
    n_jobs: int | None = None,
    verbose: bool = False,
    as_frame: bool | None = None,
) -> dict[str, Any]:
    """``anoonly bench`` in one call: runs the grid of ``suite`` (a shipped suite:
    ``"quick"``, ``"paper"``, ...; see ``anoonly bench --help``) or of ``grid`` (a TOML grid
    file), with the axes given here replacing the grid's (``files``, ``methods``,
    ``variants`` ``"base"``/``"anoonly"``, ``settings``, ``gamma_la``, ``n_labeled`` (ADBench's
    counts of labeled anomalies, in place of ``gamma_la``), ``seeds``,
    ``protocol``, ``epochs``, ``set={"feawad": {"compat": "official"}}``), into the run
    directory ``out`` (a new temporary directory when None), and returns its tables::

        {"report": ..., "evidence": ..., "ranks": ..., "results": ..., "failures": ...,
         "summary": {"cells", "skipped", "ran", "failed", "wall_seconds", "threads",
                     "outputs"},
         "out": Path}

    ``report``, ``evidence`` and ``ranks`` are the run's ``report.csv``, ``evidence.csv``
    and ``ranks.csv`` (the sections' family means beside the paper's, the paired
    comparisons, the rank comparisons); ``results`` has one record per cell
    (``results.jsonl``), ``failures`` one per failed cell. Each table is a pandas
    ``DataFrame`` when pandas is installed (``as_frame=None``; ``True`` requires it) and a
    list of dicts otherwise (``as_frame=False``). The command's ``report.md`` and figures
    are in ``out`` too.

    ``n_jobs`` cells run at a time (``None``: all cores, as the command's default), each
    on one core; results do not depend on it. ``verbose`` writes a line per finished cell
    to ``sys.stderr``. Ctrl-C stops the run (``KeyboardInterrupt``): no new cell starts,
    the cells in flight finish first, and ``resume=True`` on the same ``out`` continues
    it. Failed cells are in ``failures`` and raise a ``UserWarning``."""
    if as_frame:
        import pandas
    if suite is not None and grid is not None:
        raise ValueError("bench: give a suite or a grid file, not both")
    run_dir = Path(tempfile.mkdtemp(prefix="anoonly-bench-") if out is None else out)
    file_list = (
        []
        if files is None
        else [os.fspath(files)]
        if isinstance(files, (str, os.PathLike))
        else [os.fspath(f) for f in files]
    )
    floats = [gamma_la] if isinstance(gamma_la, (int, float)) else list(gamma_la or [])
    ints = [seeds] if isinstance(seeds, int) else list(seeds or [])
    counts = [n_labeled] if isinstance(n_labeled, int) else list(n_labeled or [])
    summary = _anoonly.bench(
        os.fspath(run_dir),
        suite=suite,
        grid=None if grid is None else os.fspath(grid),
        data_dir=os.fspath(data_dir),
        files=file_list,
        methods=_names("methods", methods),
        variants=_names("variants", variants),
        settings=_names("settings", settings),
        gamma_la=[float(g) for g in floats],
        n_labeled=[int(n) for n in counts],
        seeds=[int(s) for s in ints],
        protocol=protocol,
        epochs=epochs,
        set=_sets(set),
        resume=bool(resume),
        threads=threads(n_jobs),
        cache=None if cache is None else os.fspath(cache),
        verbose=bool(verbose),
    )
    tables: dict[str, Any] = {}
    records = {name: _read_csv(run_dir / f) for name, f in _CSV_TABLES.items()}
    records.update({name: _read_jsonl(run_dir / f) for name, f in _JSONL_TABLES.items()})
    frames = as_frame
    if frames is None:
        try:
            import pandas  # noqa: F401
        except ImportError:
            frames = False
        else:
            frames = True
    if frames:
        import pandas as pd

        for name, f in _CSV_TABLES.items():
            tables[name] = pd.read_csv(run_dir / f)
        for name in _JSONL_TABLES:
            tables[name] = pd.DataFrame(records[name])
    else:
        tables.update(records)
    if summary["failed"]:
        warnings.warn(
            f"{summary['failed']} of {summary['cells']} cells failed: their errors are in "
            f"the 'failures' table and {run_dir / 'failures.jsonl'}",
            UserWarning,
            stacklevel=2,
        )
    tables["summary"] = summary
    tables["out"] = run_dir
    return tables

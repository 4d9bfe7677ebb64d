"""Long runs: `verbose=True` shows the library's progress line per epoch on sys.stderr,
and Ctrl-C (SIGINT) stops a fit within one epoch with KeyboardInterrupt, leaving the
estimator unfitted.

The Ctrl-C tests install Python's own SIGINT handler for their duration: started under
`nohup` or as a background job, the suite inherits SIGINT ignored, and then
`_thread.interrupt_main()` does nothing. Their runs are also bounded (EPOCHS): a Ctrl-C
that never lands fails the test ("DID NOT RAISE") in seconds instead of hanging it."""

from __future__ import annotations

import _thread
import re
import signal
import threading
from pathlib import Path
from typing import Any, Callable

import anoonly
import numpy as np
import pytest
from conftest import semi_labels
from pyod.utils.data import generate_data

# Epochs (or XGBOD's rounds) of an interrupted run: five times the 1,000 progress lines
# within which the interrupt must stop it, so it needs the interrupt, yet a run the
# interrupt misses ends by itself in seconds.
EPOCHS = 5_000


def test_verbose_prints_one_line_per_epoch(
    data: dict[str, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    anoonly.DevNet(epochs=3, verbose=True).fit(data["X_train"], data["y_semi"])
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3, lines
    for i, line in enumerate(lines):
        assert re.fullmatch(rf"anoonly: devnet: epoch {i + 1}/3 loss \d+\.\d{{4}}", line), line
    # FEAWAD's two stages, XGBOD's rounds: each says which.
    anoonly.FEAWAD(epochs=1, pretrain_epochs=2, verbose=True).fit(data["X_train"], data["y_semi"])
    err = capsys.readouterr().err
    assert "feawad: pretraining epoch 2/2 loss" in err and "feawad: epoch 1/1 loss" in err
    anoonly.XGBOD(n_estimators=3, verbose=True).fit(data["X_train"], data["y_semi"])
    assert "xgbod: boosting round 3/3" in capsys.readouterr().err
    # Quiet by default.
    anoonly.DevNet(epochs=2).fit(data["X_train"], data["y_semi"])
    assert capsys.readouterr().err == ""


class _Progress:
    """A sys.stderr that counts the progress lines and tells when the first one came."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.started = threading.Event()

    def write(self, text: str) -> int:
        self.lines.append(text)
        self.started.set()
        return len(text)

    def flush(self) -> None:
        pass


def interrupted(run: Callable[[], object], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Runs `run` (verbose) with a Ctrl-C as a user's, SIGINT to the main thread, once the
    run is inside the library (its first epoch reported); checks that it raised
    KeyboardInterrupt and returns the progress lines written until then."""
    progress = _Progress()
    monkeypatch.setattr("sys.stderr", progress)

    def ctrl_c() -> None:
        if progress.started.wait(timeout=60):
            _thread.interrupt_main()

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Thread(target=ctrl_c)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run()
    finally:
        timer.join()
        # None: the previous handler was not set from Python; keep Python's then.
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    # It stopped within an epoch or so of the interrupt, far from the end.
    assert 1 <= len(progress.lines) < 1000, len(progress.lines)
    return progress.lines


def big() -> tuple[np.ndarray, np.ndarray]:
    X, _, y, _ = generate_data(
        n_train=2000, n_test=1, n_features=8, contamination=0.1, random_state=0
    )
    return X, y


@pytest.mark.parametrize(
    "cls, kwargs",
    [(anoonly.DeepSAD, {"epochs": EPOCHS}), (anoonly.XGBOD, {"n_estimators": EPOCHS})],
    ids=["DeepSAD", "XGBOD"],
)
def test_ctrl_c_stops_the_fit_and_leaves_it_unfitted(
    cls: type[anoonly.BaseDetector],
    kwargs: dict[str, Any],
    data: dict[str, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, y = data["X_train"], data["y_semi"]
    est = cls(verbose=True, random_state=0, **kwargs)
    est.set_params(**{k: 2 for k in kwargs}).fit(X, y)
    est.set_params(**kwargs)
    # A fitted estimator: the interrupted refit must leave it unfitted, not half-trained.
    assert hasattr(est, "decision_scores_")
    big_X, big_y = big()
    interrupted(lambda: est.fit(big_X, semi_labels(big_y)), monkeypatch)
    assert not hasattr(est, "decision_scores_") and not hasattr(est, "n_features_in_")
    with pytest.raises(anoonly.NotFittedError):
        est.decision_function(X)


def test_ctrl_c_stops_evaluate(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = big()
    lines = interrupted(
        lambda: anoonly.evaluate(
            X, y, method="deepsad", epochs=EPOCHS, seeds=[0, 1], verbose=True
        ),
        monkeypatch,
    )
    # The progress names the data and the seed, as the command's.
    assert lines[0].startswith(f"anoonly: arrays seed 0: epoch 1/{EPOCHS} loss ")


def test_ctrl_c_stops_bench_and_resume_finishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2 datasets x 2 methods x 2 variants x 20 seeds = 160 short cells on one worker.
    grid = {"suite": "quick", "seeds": range(20), "epochs": 3, "n_jobs": 1}
    lines = interrupted(
        lambda: anoonly.bench(**grid, out=tmp_path, verbose=True, as_frame=False), monkeypatch
    )
    assert lines[0].startswith("anoonly bench: 160 cell(s) to run")
    done = len((tmp_path / "results.jsonl").read_text().splitlines())
    assert 0 < done < 160, done
    rest = anoonly.bench(**grid, out=tmp_path, resume=True, as_frame=False)
    assert (rest["summary"]["skipped"], rest["summary"]["ran"]) == (done, 160 - done)
    assert len(rest["results"]) == 160

"""The GIL is released while the library trains: another Python thread keeps running.
Fits in two threads at once give the models of the same fits run one after the other."""

from __future__ import annotations

import threading
import time

import anoonly
import numpy as np
from conftest import semi_labels
from pyod.utils.data import generate_data


def test_main_thread_keeps_counting_during_a_fit() -> None:
    X, _, y, _ = generate_data(
        n_train=4000, n_test=1, n_features=64, contamination=0.1, random_state=0
    )
    est = anoonly.DeepSAD(epochs=60, random_state=0)
    done = threading.Event()

    def work() -> None:
        est.fit(X, semi_labels(y))
        done.set()

    ticks: list[float] = []
    worker = threading.Thread(target=work)
    start = time.perf_counter()
    worker.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        sum(range(200))  # some Python work, which needs the GIL
    worker.join()
    duration = time.perf_counter() - start
    # Cut the fit's wall time into 10 slices: the main thread ran in nearly all of them.
    # Were the GIL held by the fit, it would run only before the fit enters the library
    # and after it returns (at most 2 slices).
    slices = {min(9, int(10 * (t - start) / duration)) for t in ticks}
    assert len(slices) >= 8, (len(slices), len(ticks), duration)
    assert hasattr(est, "decision_scores_")


def test_concurrent_fits_equal_sequential_fits() -> None:
    X, _, y, _ = generate_data(
        n_train=800, n_test=1, n_features=16, contamination=0.1, random_state=1
    )
    labels = semi_labels(y)
    seeds = [0, 1, 2, 3]
    sequential = [
        anoonly.DevNet(epochs=5, random_state=s).fit(X, labels).model_.to_bytes() for s in seeds
    ]
    results: dict[int, bytes] = {}

    def work(seed: int) -> None:
        results[seed] = (
            anoonly.DevNet(epochs=5, random_state=seed).fit(X, labels).model_.to_bytes()
        )

    threads = [threading.Thread(target=work, args=(s,)) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[s] for s in seeds] == sequential
    assert len(set(sequential)) == len(seeds)
    np.testing.assert_equal(len(results), len(seeds))

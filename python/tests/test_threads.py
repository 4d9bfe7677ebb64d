"""The GIL is released while the library trains: another Python thread keeps running.
Fits in two threads at once give the models of the same fits run one after the other.
`n_jobs` (the matrix products' threads) changes no bit of a model or a score; `device` is
the CPU."""

from __future__ import annotations

import threading
import time

import anoonly
import numpy as np
import pytest
from conftest import CLASSES, FAST, semi_labels
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


@pytest.fixture(scope="module")
def wide() -> tuple[np.ndarray, np.ndarray]:
    """Wide enough (768 features) that the training products of 128 rows and more run on
    several threads (the library threads a product from 2^23 multiply-adds on)."""
    X, _, y, _ = generate_data(
        n_train=900, n_test=1, n_features=768, contamination=0.1, random_state=5
    )
    return X, semi_labels(y)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_n_jobs_1_and_2_give_the_same_bits(
    cls: type[anoonly.BaseDetector], wide: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = wide
    one = cls(n_jobs=1, random_state=1, **FAST[cls]).fit(X, y)
    two = cls(n_jobs=2, random_state=1, **FAST[cls]).fit(X, y)
    assert one.model_.to_bytes() == two.model_.to_bytes()
    s1 = one.decision_function(X)
    for n_jobs in (2, -1, None):
        one.set_params(n_jobs=n_jobs)
        np.testing.assert_array_equal(one.decision_function(X).view(np.uint32), s1.view(np.uint32))


def test_evaluate_records_do_not_depend_on_n_jobs(wide: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = wide
    runs = [anoonly.evaluate(X, y, method="devnet", epochs=2, n_jobs=n, seeds=[0]) for n in (1, 2)]
    for r in runs:
        for record in r:
            record.pop("fit_seconds")
            record.pop("score_seconds")
    assert runs[0] == runs[1]


def test_n_jobs_follows_scikit_learn() -> None:
    from anoonly._estimators import threads

    cores = anoonly._anoonly.available_threads()
    assert threads(None) == cores and threads(-1) == cores
    assert threads(-2) == max(1, cores - 1) and threads(3) == 3
    with pytest.raises(ValueError, match="n_jobs == 0"):
        anoonly.DeepSAD(n_jobs=0)
    with pytest.raises(TypeError, match="n_jobs must be an integer"):
        anoonly.DeepSAD(n_jobs=1.5)


def test_device_is_the_cpu() -> None:
    for device in (None, "cpu", "CPU"):
        anoonly.DeepSAD(device=device)
    with pytest.raises(
        ValueError, match=r"^anoonly computes on the CPU; device='cuda' is not available$"
    ):
        anoonly.DeepSAD(device="cuda")
    with pytest.raises(ValueError, match="device='mps'"):
        anoonly.DevNet().set_params(device="mps")

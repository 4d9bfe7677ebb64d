"""Type stubs of the extension module (crates/anoonly-py/src/lib.rs)."""

from typing import Any, final

import numpy as np
import numpy.typing as npt

__version__: str

# PyO3 classes cannot be subclassed.
@final
class Model:
    """A fitted model of the library."""

    @property
    def method(self) -> str: ...
    @property
    def n_features(self) -> int: ...
    @property
    def preprocessing(self) -> str: ...
    @property
    def train_scores(self) -> npt.NDArray[np.float32]: ...
    @property
    def notes(self) -> list[str]: ...
    def params_json(self) -> str: ...
    def decision_function(
        self, x: npt.NDArray[np.float32], threads: int = 1
    ) -> npt.NDArray[np.float32]: ...
    def representation(
        self, x: npt.NDArray[np.float32], threads: int = 1
    ) -> npt.NDArray[np.float32]: ...
    def threshold(self, contamination: float) -> float: ...
    def to_bytes(self) -> bytes: ...
    def save(self, path: str) -> None: ...

@final
class FitParams:
    """The library's fit parameters, validated when built."""

    # PyO3's #[new] is __new__ (there is no __init__ to call).
    def __new__(
        cls,
        method: str,
        hyperparameters: list[tuple[str, str]],
        anoonly: bool,
        lambda_n: float | None,
        norm: str | None,
        empty_batch: str,
        bn_loss_weight: float,
        epochs: int | None,
        seed: int,
        preprocessing: str = "none",
    ) -> FitParams: ...
    def to_json(self) -> str: ...

@final
class MethodInfo:
    """A registered method, as the estimator classes are made from it."""

    @property
    def name(self) -> str: ...
    @property
    def class_name(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def supports_anoonly(self) -> bool: ...
    @property
    def trains_in_epochs(self) -> bool: ...
    @property
    def trains_without_anomalies(self) -> bool: ...
    @property
    def defaults_json(self) -> str: ...

def methods() -> list[MethodInfo]: ...
def method_name(method: str) -> str: ...
def train_defaults() -> str: ...
def split_defaults() -> str: ...
def labels(scores: npt.NDArray[np.float32], threshold: float) -> npt.NDArray[np.uint8]: ...
def check_contamination(contamination: float) -> None: ...
def fit(
    params: FitParams,
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.uint8],
    verbose: bool = False,
    threads: int = 1,
) -> Model: ...
def available_threads() -> int: ...
def load(path: str) -> Model: ...
def from_bytes(data: bytes, name: str = "<memory>") -> Model: ...
def load_data(
    path: str, label_column: str | None = None, labels: str | None = None
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]: ...
def split(
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.uint8],
    seed: int,
    protocol: str,
    setting: str,
    gamma_la: float | None,
    normal_ratio: float,
    max_rows: int | None,
    n_labeled: int | None = None,
) -> tuple[
    npt.NDArray[np.float32],
    npt.NDArray[np.uint8],
    npt.NDArray[np.float32],
    npt.NDArray[np.uint8],
]: ...
def metrics(y: npt.NDArray[np.uint8], scores: npt.NDArray[np.float32]) -> dict[str, float]: ...
def probability(
    train: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], method: str
) -> npt.NDArray[np.float64]: ...
def confidence(
    train: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    contamination: float,
    threshold: float,
) -> npt.NDArray[np.float64]: ...
def evaluate(
    params: FitParams,
    seeds: list[int],
    protocol: str,
    setting: str,
    gamma_la: float | None,
    normal_ratio: float,
    max_rows: int | None,
    verbose: bool,
    x: npt.NDArray[np.float32] | None = None,
    y: npt.NDArray[np.uint8] | None = None,
    name: str = "arrays",
    path: str | None = None,
    label_column: str | None = None,
    n_labeled: int | None = None,
    threads: int = 1,
) -> list[str]: ...
def bench(
    out: str,
    *,
    suite: str | None,
    grid: str | None,
    data_dir: str,
    files: list[str],
    methods: list[str],
    variants: list[str],
    settings: list[str],
    gamma_la: list[float],
    n_labeled: list[int],
    seeds: list[int],
    protocol: str | None,
    epochs: int | None,
    set: list[tuple[str, str, str]],
    resume: bool,
    threads: int,
    cache: str | None,
    verbose: bool,
) -> dict[str, Any]: ...
def run_cli(args: list[str]) -> int: ...
def _buffer_address(x: npt.NDArray[np.float32]) -> int: ...

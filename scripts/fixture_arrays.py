"""The array encoding of the PyTorch fixtures under crates/anoonly/tests/fixtures (made by
torch_fixture.py, wsaddt_fixture.py and rosas_fixture.py; read by the tests' `common::floats`):
a float32 tensor as its shape and the base64 of its little-endian bytes (exact)."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import torch


def f32(t: torch.Tensor) -> dict[str, Any]:
    a = np.ascontiguousarray(t.detach().cpu().numpy().astype("<f4"))
    return {"shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode("ascii")}

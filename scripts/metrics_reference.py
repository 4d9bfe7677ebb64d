#!/usr/bin/env python3
"""Reference values for tests/metrics_sklearn.rs: a few random cases (with ties, via rounding)
scored by scikit-learn. Run once; the printed Rust literals are pasted into the test."""

import numpy as np
import sklearn
from sklearn.metrics import average_precision_score, roc_auc_score

print(f"// numpy {np.__version__}, scikit-learn {sklearn.__version__}")
rng = np.random.RandomState(20240601)
for case, (n, p_anom, decimals) in enumerate(
    [(20, 0.3, 1), (57, 0.1, 2), (200, 0.05, 1), (500, 0.2, 3), (1000, 0.5, 0)]
):
    y = (rng.rand(n) < p_anom).astype(np.uint8)
    y[0] = 1
    y[1] = 0
    s = (rng.randn(n) + 1.0 * y).astype(np.float32)
    s = np.round(s, decimals).astype(np.float32)  # creates ties
    vals = [
        roc_auc_score(y, s),
        average_precision_score(y, s, pos_label=1),
        average_precision_score(y, -s, pos_label=0),
        average_precision_score(y, s, pos_label=0),
    ]
    ys = ", ".join(str(int(v)) for v in y)
    ss = ", ".join(
        repr(float(v)) + "f32" if False else np.format_float_positional(v, unique=True) for v in s
    )
    print(f"// case {case}: n={n}, ties={n - len(np.unique(s))}")
    print(
        f"Case {{ y: &[{ys}],\n  s: &[{ss}],\n"
        f"  expect: [{', '.join(repr(float(v)) for v in vals)}] }},"
    )

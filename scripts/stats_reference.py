#!/usr/bin/env python3
"""Reference values for crates/anoonly-bench/tests/stats_scipy.rs (the statistics of
crates/anoonly-bench/src/stats/), written to
crates/anoonly-bench/tests/fixtures/stats_reference.json.

Pinned versions (the fixture records the ones that made it and the test checks nothing else):
    python 3.11, numpy 2.4.6, scipy 1.17.1, statsmodels 0.15.0

Run from the repository root in a scratch virtual environment:
    python3 -m venv /tmp/statsvenv
    /tmp/statsvenv/bin/pip install numpy==2.4.6 scipy==1.17.1 statsmodels==0.15.0
    /tmp/statsvenv/bin/python scripts/stats_reference.py

Every input value is a multiple of 1/256 (or a small integer), so its decimal form in the JSON
is exact and parses to the same double in Rust and Python: ties and zero differences survive
the round trip bit for bit.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import statsmodels
from scipy import stats
from statsmodels.stats.multitest import multipletests

OUT = Path("crates/anoonly-bench/tests/fixtures/stats_reference.json")
RNG = np.random.default_rng(20240614)


def grid(x: np.ndarray) -> list[float]:
    """Rounds to multiples of 1/256 (exact in binary and in short decimals)."""
    return [float(v) for v in np.round(np.asarray(x, dtype=float) * 256.0) / 256.0]


def wilcoxon_case(
    name: str, d: list[float], alternative: str = "two-sided", method: str = "auto"
) -> dict[str, Any]:
    arr = np.asarray(d, dtype=float)
    res = stats.wilcoxon(arr, alternative=alternative, method=method)
    nonzero = arr[arr != 0]
    ranks = stats.rankdata(np.abs(nonzero))
    return {
        "name": name,
        "d": d,
        "alternative": alternative,
        "method": method,
        "statistic": float(res.statistic),
        "pvalue": float(res.pvalue),
        "r_plus": float(ranks[nonzero > 0].sum()),
        "r_minus": float(ranks[nonzero < 0].sum()),
    }


def wilcoxon_cases() -> list[dict[str, Any]]:
    cases = []
    # Exact null distribution: no ties, no zeros, n <= 50 (all three alternatives).
    small = grid(RNG.normal(0.3, 1.0, 10))
    assert len(set(np.abs(small))) == 10 and 0.0 not in small
    for alt in ("two-sided", "less", "greater"):
        cases.append(wilcoxon_case(f"exact_n10_{alt}", small, alt))
    cases.append(wilcoxon_case("exact_n5_all_positive", [0.5, 1.0, 1.5, 2.0, 2.5]))
    cases.append(wilcoxon_case("exact_n1", [0.25]))
    cases.append(wilcoxon_case("exact_n2_signs", [-0.5, 0.25]))
    for n in (20, 50):
        d = list(RNG.permutation(np.arange(1, n + 1)) / 256.0 * RNG.choice([-1.0, 1.0], n))
        d = [float(v) for v in d]
        d = [abs(v) if i % 3 else v for i, v in enumerate(d)]  # a shift towards positive
        for alt in ("two-sided", "greater"):
            cases.append(wilcoxon_case(f"exact_n{n}_{alt}", d, alt))
    # Ties or zeros with n <= 13 (zeros counted): scipy's 'auto' runs an exact sign-flip
    # permutation test (2^n <= 9999 resamples, so every flip is enumerated).
    ties = [0.25, -0.25, 0.5, 0.5, 0.75, -1.0, 1.0, 1.25, 0.5, -0.125]
    for alt in ("two-sided", "less", "greater"):
        cases.append(wilcoxon_case(f"ties_n10_{alt}", ties, alt))
    zeros = [0.0, 0.25, 0.0, 0.5, -0.25, 0.75, 0.75, 1.0, 0.0, 1.5, 2.0, -0.5, 1.25]
    assert len(zeros) == 13
    for alt in ("two-sided", "less", "greater"):
        cases.append(wilcoxon_case(f"zeros_n13_{alt}", zeros, alt))
    cases.append(wilcoxon_case("all_zero_n5", [0.0] * 5))
    cases.append(wilcoxon_case("one_nonzero_and_zeros", [0.0, 0.0, 0.5]))
    # Zeros push the total past 13 although only 12 are non-zero: normal approximation.
    cases.append(wilcoxon_case("zeros_n14_asymptotic", [*zeros, 0.0]))
    # Ties, 13 < n <= 50: normal approximation with the tie-corrected variance.
    mid = grid(np.round(RNG.normal(0.2, 1.0, 30) * 4) / 4)
    assert len(set(np.abs(mid))) < 30
    for alt in ("two-sided", "less", "greater"):
        cases.append(wilcoxon_case(f"ties_n30_{alt}", mid, alt))
    # n > 50: normal approximation, with and without ties.
    big = grid(RNG.normal(0.1, 1.0, 80))
    big = [v if v != 0 else 1.0 / 512 for v in big]
    for alt in ("two-sided", "less", "greater"):
        cases.append(wilcoxon_case(f"large_n80_{alt}", big, alt))
    cases.append(wilcoxon_case("large_n80_forced_exact", big, "two-sided", "exact"))
    huge = grid(np.round(RNG.normal(-0.05, 1.0, 300) * 8) / 8)
    cases.append(wilcoxon_case("large_n300_ties_zeros", huge))
    # Forced methods on the small tied sets: the tie-corrected normal approximation, and
    # scipy's conservative rounding of a non-integral statistic for 'exact'.
    cases.append(wilcoxon_case("ties_n10_forced_asymptotic", ties, "two-sided", "asymptotic"))
    cases.append(wilcoxon_case("zeros_n13_forced_asymptotic", zeros, "two-sided", "asymptotic"))
    cases.append(wilcoxon_case("ties_n10_forced_exact", ties, "two-sided", "exact"))
    cases.append(wilcoxon_case("small_n10_forced_asymptotic", small, "less", "asymptotic"))
    # Realistic AUC differences (percentage points on a 1/256 grid) across 20 files.
    auc = grid(RNG.normal(1.5, 3.0, 20) / 100)
    cases.append(wilcoxon_case("auc_like_n20", auc))
    return cases


def holm_cases() -> list[dict[str, Any]]:
    families = [
        [0.01, 0.04, 0.03, 0.005],
        [0.2, 0.01, 0.01, 0.5, 0.04, 0.3],
        [0.03],
        [0.6, 0.7, 0.9],
        [1e-6, 0.02, 0.0125, 0.0124, 0.5, 0.049, 0.011, 0.3],
        list(RNG.uniform(0, 0.2, 12)),
    ]
    out = []
    for p in families:
        reject, adj, _, _ = multipletests(p, alpha=0.05, method="holm")
        out.append(
            {
                "p": [float(v) for v in p],
                "adjusted": [float(v) for v in adj],
                "reject": [bool(v) for v in reject],
            }
        )
    return out


def friedman_case(name: str, table: np.ndarray) -> dict[str, Any]:
    """table: blocks x treatments."""
    table = np.asarray(table, dtype=float)
    res = stats.friedmanchisquare(*[table[:, j] for j in range(table.shape[1])])
    ranks_low = np.apply_along_axis(stats.rankdata, 1, table)
    ranks_high = np.apply_along_axis(stats.rankdata, 1, -table)
    return {
        "name": name,
        "table": [[float(v) for v in row] for row in table],
        "statistic": float(res.statistic),
        "pvalue": float(res.pvalue),
        "mean_ranks_lower_is_better": [float(v) for v in ranks_low.mean(axis=0)],
        "mean_ranks_higher_is_better": [float(v) for v in ranks_high.mean(axis=0)],
    }


def friedman_cases() -> list[dict[str, Any]]:
    cases = []
    base = RNG.normal(0, 1, (20, 1))
    effect = np.array([0.0, 0.3, 0.6, 0.2, 1.0])
    cases.append(
        friedman_case(
            "n20_k5_effect",
            np.array([grid(r) for r in base + effect + RNG.normal(0, 0.5, (20, 5))]),
        )
    )
    # Discrete scores: many ties within blocks.
    cases.append(friedman_case("n15_k4_ties", RNG.integers(0, 4, (15, 4)).astype(float)))
    # No difference: every treatment takes every rank equally often (statistic 0, p = 1).
    latin = np.array([[(i + j) % 4 for j in range(4)] for i in range(8)], dtype=float)
    cases.append(friedman_case("latin_no_difference", latin))
    # Nearly no difference: noise only.
    cases.append(
        friedman_case("n30_k6_noise", np.array([grid(r) for r in RNG.normal(0, 1, (30, 6))]))
    )
    cases.append(friedman_case("n2_k3_small", np.array([[1.0, 2.0, 3.0], [2.0, 1.0, 3.0]])))
    # A block where all treatments tie, beside blocks that rank.
    cases.append(
        friedman_case(
            "n5_k3_tied_block",
            np.array(
                [
                    [0.5, 0.5, 0.5],
                    [0.1, 0.2, 0.3],
                    [0.3, 0.2, 0.25],
                    [0.9, 0.8, 0.9],
                    [0.0, 0.5, 1.0],
                ]
            ),
        )
    )
    cases.append(
        friedman_case(
            "n40_k12_strong",
            np.array([grid(r) for r in RNG.normal(0, 1, (40, 12)) + np.linspace(0, 2, 12)]),
        )
    )
    return cases


def studentized_range() -> dict[str, Any]:
    quantiles = []
    for alpha in (0.05, 0.10, 0.01):
        for k in range(2, 21):
            q = float(stats.studentized_range.ppf(1 - alpha, k, np.inf))
            quantiles.append({"alpha": alpha, "k": k, "q": q})
    cdf = []
    for k in (2, 3, 5, 10, 20):
        for q in (0.5, 1.0, 2.0, 3.0, 4.5, 6.0):
            cdf.append({"k": k, "q": q, "cdf": float(stats.studentized_range.cdf(q, k, np.inf))})
    return {"quantiles": quantiles, "cdf": cdf}


def nemenyi(quantiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in quantiles:
        k = row["k"]
        for n in (5, 20, 47):
            qa = row["q"] / math.sqrt(2)
            cd = qa * math.sqrt(k * (k + 1) / (6 * n))
            out.append({"alpha": row["alpha"], "k": k, "n": n, "q_alpha": qa, "cd": cd})
    return out


def main() -> None:
    sr = studentized_range()
    data = {
        "made_by": "scripts/stats_reference.py",
        "versions": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__,
        },
        "wilcoxon": wilcoxon_cases(),
        "holm": holm_cases(),
        "friedman": friedman_cases(),
        "studentized_range": sr,
        "nemenyi": nemenyi(sr["quantiles"]),
    }
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

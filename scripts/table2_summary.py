#!/usr/bin/env python3
"""Table 2 from `scripts/table2.sh` output (JSON lines of `anoonly eval --json`): AUCROC %,
mean over seeds per file, then over the files of a family, then over the families, beside
the paper's Table 2. Usage: scripts/table2_summary.py table2.jsonl"""

import json
import sys
from collections import defaultdict

PAPER = {  # (DeepSAD, +AnoOnly), paper Table 2
    "none": (61.96, 52.38),
    "layernorm": (64.56, 54.77),
    "bn-noaffine": (64.58, 86.26),
    "bn": (67.80, 86.30),
    "bn-loss": (None, 86.25),
}
LABEL = {
    "none": "w/o BN",
    "layernorm": "LN",
    "bn-noaffine": "BN*",
    "bn": "BN",
    "bn-loss": "BN-dagger",
}


def family(name):
    return name.split("_")[0]


def main(path):
    runs = defaultdict(list)  # (norm, anoonly, dataset) -> [aucroc]
    for line in open(path):
        r = json.loads(line)
        # records written before the serde names were aligned with the CLI's
        r["norm"] = {"layer-norm": "layernorm", "bn-no-affine": "bn-noaffine"}.get(
            r["norm"], r["norm"]
        )
        runs[(r["norm"], r["anoonly"], r["dataset"])].append(r["aucroc"])
    fams = sorted({family(d) for (_, _, d) in runs})
    print(f"families: {', '.join(fams)}")
    head = (
        "| norm | DeepSAD | +AnoOnly | paper DeepSAD | paper +AnoOnly | "
        + " | ".join(f"{f} van/AO" for f in fams)
        + " |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for norm in PAPER:
        cells, fam_cells = [], []
        per_fam = {}
        for ao in (False, True):
            fam_means = {}
            for f in fams:
                files = [
                    sum(v) / len(v)
                    for (n, a, d), v in runs.items()
                    if n == norm and a == ao and family(d) == f
                ]
                if files:
                    fam_means[f] = 100 * sum(files) / len(files)
            per_fam[ao] = fam_means
            cells.append(f"{sum(fam_means.values()) / len(fam_means):.2f}" if fam_means else "-")
        for f in fams:
            v, a = per_fam[False].get(f), per_fam[True].get(f)
            fam_cells.append(f"{v:.1f}/{a:.1f}" if v is not None and a is not None else "-")
        p = PAPER[norm]
        paper = [f"{x:.2f}" if x is not None else "-" for x in p]
        print(
            f"| {LABEL[norm]} | {cells[0]} | {cells[1]} | {paper[0]} | {paper[1]} | "
            + " | ".join(fam_cells)
            + " |"
        )
    n = {k: len(v) for k, v in runs.items()}
    print(f"\n{len(runs)} (norm, variant, file) cells, seeds per cell: {sorted(set(n.values()))}")


if __name__ == "__main__":
    main(sys.argv[1])

#!/usr/bin/env python3
"""Generates crates/anoonly/tests/fixtures/rosas_step.json: three training steps of RoSAS run
by the authors' own code (`RoSAS.py` of github xuhongzuo/rosas, commit 5fefc376, imported
from a checkout, not copied), for crates/anoonly/tests/rosas.rs to replay with anoonly's
network, loss and optimiser (no Python needed at test time).

From `RoSAS.py`: the network `EDOSNet` (d -> h -> n_emb embedding, n_emb -> n_emb/2 -> 1
score head, LeakyReLU, tanh, only the last Linear with a bias; h = d + int((n_emb - d)/2)),
the loss `Loss` at the settings `RoSAS.fit` gives it (l2_reg_weight 1e-2, margin 1,
SmoothL1, k = 2, T = 2) and the step of `RoSAS.fit`: Adam(lr=5e-3, weight_decay=1e-4),
backward, step. The loss draws a permutation (`torch.randperm`) and mixup weights
(`Dirichlet([alpha, alpha]).sample`) inside its forward; here both return the values the
fixture stores, so the step is reproducible without torch's generator. The previous-epoch
means `pre` are (1, 1) as `RoSAS.fit` starts, then other values, so the adaptive weights are
exercised away from 1/2.

Per step the fixture holds the triplet rows, the permutation, the mixup weights, `pre`,
the losses (total, L_emb, L_score) and the gradients (each at the weights the previous
steps left); then the weights after the last step and the eval-mode scores of every row as
`RoSAS.predict` gives them. float32 arrays are stored as base64 of their little-endian
bytes (exact).

Usage (in an environment with torch and numpy; scripts/peers/setup.sh makes one):
    python scripts/rosas_fixture.py ROSAS_CHECKOUT [out.json]
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import torch
from fixture_arrays import f32

D, N, N_EMB, B = 6, 24, 8, 4
ANOMALIES = [2, 9, 17, 21]
# (anchors, positives, anomalies, previous-epoch means of L_emb and L_score)
STEPS = [
    ([0, 5, 11, 14], [3, 6, 14, 20], [2, 9, 9, 21], (1.0, 1.0)),
    ([1, 4, 7, 23], [0, 10, 12, 18], [17, 17, 2, 21], (1.0, 1.0)),
    ([8, 13, 15, 19], [16, 22, 4, 1], [21, 9, 2, 17], (0.6, 1.7)),
]
WEIGHTS = [
    "hidden_layer.weight",
    "emb_layer.weight",
    "hidden_layer2.weight",
    "out_layer.weight",
    "out_layer.bias",
]


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    sys.path.insert(0, sys.argv[1])
    out_path = (
        sys.argv[2] if len(sys.argv) > 2 else "crates/anoonly/tests/fixtures/rosas_step.json"
    )
    if not hasattr(np, "Inf"):
        np.Inf = np.inf  # type: ignore[attr-defined]  # its utils.EarlyStopping (numpy < 2)
    import RoSAS as R

    torch.manual_seed(0)
    x = torch.rand(N, D)
    x[ANOMALIES] += 0.8  # anomalies shifted, as a real data set would have them
    hidden = D + int((N_EMB - D) * 0.5)
    net = R.EDOSNet(n_feature=D, n_hidden=hidden, n_hidden2=N_EMB // 2, n_emb=N_EMB)
    initial = {k: v.clone() for k, v in net.state_dict().items()}
    criterion = R.Loss(l2_reg_weight=1e-2, score_loss="smooth", margin=1.0, alpha=0.5, T=2, k=2,
                       device="cpu")  # fmt: skip
    optimizer = torch.optim.Adam(net.parameters(), lr=5e-3, weight_decay=1e-4)

    g = torch.Generator().manual_seed(1)
    steps = []
    for anchors, positives, anomalies, pre in STEPS:
        perm = torch.randperm(3 * B, generator=g)
        lam = torch.distributions.Beta(0.5, 0.5).sample((3 * B,))
        # What the loss draws inside its forward: these values.
        real_randperm, real_sample = torch.randperm, torch.distributions.Dirichlet.sample

        def fixed_perm(n: int, *a: Any, p: torch.Tensor = perm, **k: Any) -> torch.Tensor:
            return p.clone()

        def fixed_lam(self: Any, shape: Any = None, w: torch.Tensor = lam) -> torch.Tensor:
            return torch.stack([1 - w, w], 1)

        torch.randperm = fixed_perm  # type: ignore[assignment]
        torch.distributions.Dirichlet.sample = fixed_lam  # type: ignore[method-assign]
        try:
            net.train()
            loss, loss_emb, loss_score, _, _ = criterion(
                net, x[anchors], x[positives], x[anomalies], pre[0], pre[1]
            )
        finally:
            torch.randperm, torch.distributions.Dirichlet.sample = real_randperm, real_sample
        optimizer.zero_grad()
        loss.backward()
        grads = {name: f32(p.grad) for name, p in net.named_parameters() if name in WEIGHTS}
        optimizer.step()
        steps.append(
            {
                "anchors": anchors,
                "positives": positives,
                "anomalies": anomalies,
                "pre": list(pre),
                "perm": [int(v) for v in perm.tolist()],
                "lam": f32(lam),
                "loss": float(loss.item()),
                "loss_emb": float(loss_emb.item()),
                "loss_score": float(loss_score.item()),
                "grads": grads,
            }
        )
    net.eval()
    with torch.no_grad():
        _, scores = net(x)

    fixture = {
        "torch_version": torch.__version__,
        "d": D,
        "n": N,
        "n_emb": N_EMB,
        "hidden": hidden,
        "x": f32(x),
        "initial_weights": {name: f32(initial[name]) for name in WEIGHTS},
        "steps": steps,
        "final_weights": {name: f32(net.state_dict()[name]) for name in WEIGHTS},
        "scores": f32(scores.flatten()),
    }
    with open(out_path, "w") as f:
        json.dump(fixture, f, indent=1)


if __name__ == "__main__":
    main()

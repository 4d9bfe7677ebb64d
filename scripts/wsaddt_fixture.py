#!/usr/bin/env python3
"""Generates crates/anoonly/tests/fixtures/wsaddt_step.json: three training steps of one
WSAD-DT member run by the authors' own code (PyPI wsad-dt 1.0.0, imported, not copied), for
crates/anoonly/tests/wsad_dt.rs to replay with anoonly's network, loss and optimiser (no
Python needed at test time).

From `wsad_dt._reference`: the network `NNetwork` (d -> 100 -> 50 -> 128, SELU, no biases),
the centres from `calculate_centers` (here over one pass of the rows in file order, so the
sampler's draws play no part), the loss `TDistributionLoss` (light/heavy-tailed kernels and
the `mm` regulariser) and the step of their `f`: Adam(lr=1e-3, weight_decay=1e-5), backward,
`clip_grad_norm_(max_norm=1.0)`, step. Each batch holds at most 8 unlabeled rows and 8
labeled anomalies, so `mm`'s `randperm(n)[:8]` takes every latent (in an order its mean does
not depend on): the regulariser is reproducible without torch's generator. Batches repeat
anomaly rows, as the authors' sampler draws them with replacement; batch 3 has no unlabeled
row (an empty `loss_normal`, replaced by 0).

Per step the fixture holds the loss, the gradient norm and the gradients before clipping
(each computed at the weights the previous steps left); then the weights after the last
step and the eval-mode scores of every row as `evaluate_ensemble` gives them for this
one member. float32 arrays are stored as base64 of their little-endian bytes (exact).

Usage (in an environment with `pip install wsad-dt==1.0.0`):
    python scripts/wsaddt_fixture.py [out.json]
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from fixture_arrays import f32
from torch.utils.data import DataLoader, TensorDataset
from wsad_dt._reference import NNetwork, TDistributionLoss, calculate_centers, evaluate_ensemble

D, N = 6, 40
ANOMALIES = [3, 11, 19, 27, 35]
BATCHES = [
    [0, 3, 3, 5, 11, 19, 19, 19, 8, 9, 12, 27],  # 6 unlabeled, 6 anomaly draws (3 rows)
    [1, 2, 4, 6, 7, 10, 13, 14, 35, 35, 3, 11, 27, 19, 35],  # 8 unlabeled, 7 draws
    [3, 11, 11, 35, 27],  # anomalies only
]
WEIGHTS = ["encoder_fc1.weight", "encoder_fc2.weight", "encoder_fc3.weight"]


def main() -> None:
    out_path = (
        sys.argv[1] if len(sys.argv) > 1 else "crates/anoonly/tests/fixtures/wsaddt_step.json"
    )
    torch.manual_seed(0)
    x = torch.rand(N, D)
    y = torch.zeros(N, dtype=torch.long)
    y[ANOMALIES] = 1
    x[ANOMALIES] += 0.8  # anomalies shifted, as a real data set would have them
    model = NNetwork(D, 128)
    initial = {k: v.clone() for k, v in model.state_dict().items()}

    c_n, c_a = calculate_centers(model, [(x, y)], "cpu")
    criterion = TDistributionLoss(c_n.clone(), c_a.clone())
    optimizer = torch.optim.Adam(list(model.parameters()), lr=1e-3, weight_decay=1e-5)
    model.train()
    steps = []
    for idx in BATCHES:
        xb, yb = x[idx], y[idx]
        latent, _ = model(xb)
        optimizer.zero_grad()
        loss = criterion(latent, yb, latent, yb)
        loss.backward()
        grads = {name: f32(p.grad) for name, p in model.named_parameters()}
        total = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        steps.append(
            {
                "rows": idx,
                "loss": float(loss.item()),
                "grad_norm": float(total.item()),
                "grads": grads,
            }
        )
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=False)
    scores = evaluate_ensemble([model], [(c_n, c_a)], loader, "cpu")

    fixture = {
        "torch_version": torch.__version__,
        "d": D,
        "n": N,
        "x": f32(x),
        "y": [int(v) for v in y.tolist()],
        "c_n": f32(c_n),
        "c_a": f32(c_a),
        "initial_weights": {name: f32(initial[name]) for name in WEIGHTS},
        "steps": steps,
        "final_weights": {name: f32(model.state_dict()[name]) for name in WEIGHTS},
        "scores": f32(torch.as_tensor(np.asarray(scores, dtype=np.float32))),
    }
    with open(out_path, "w") as f:
        json.dump(fixture, f, indent=1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generates tests/fixtures/deepsad_step.json: three DeepSAD training steps in PyTorch, for
tests/nn_torch_fixture.rs to replay with anoonly::nn (no Python needed at test time).

The network, centre, loss, optimiser and scheduler follow the authors' DeepSAD code
(docs/protocol.md 2.1): MLP(d, [100, 20], 10, bias=False) with affine-free BatchNorm1d
(eps 1e-4) and LeakyReLU(0.01); c = mean of eval-mode outputs with |c_j| < 0.1 pushed to
+-0.1; Adam(lr=1e-3, weight_decay=1e-6) + MultiStepLR(milestones=[0], gamma=0.1) stepped
after every optimiser step (effective lr 1e-4).

Two variants from the same initial weights: "vanilla" (mean over the batch of dist for
unlabeled rows and (dist+1e-6)^-1 for labeled anomalies) and "anoonly" (mean over the
batch's anomalies of (dist+1e-6)^-1). Batch 3 holds no anomaly: the AnoOnly loss is then the
mean of an empty tensor, NaN, whose backward gives zero gradients; the Adam step is still
taken (weight decay and momentum move the weights, BN running stats were updated by the
forward).

Size budget (< 300 KB): float32 arrays are stored as base64 of their little-endian bytes
(exact). Per step we store the loss, all weight gradients and the BN running stats; weights
are stored initially and after the last step. Intermediate weights are checked indirectly:
the gradients of step k+1 are computed at the weights after step k.

Usage: python3 scripts/torch_fixture.py [out.json]
"""

import json
import sys

import numpy as np
import torch
from fixture_arrays import f32
from torch import nn

D, N, B = 32, 64, 16
ETA, EPS = 1.0, 1e-6
ANOMALIES = [5, 17, 38, 51]
BATCHES = [
    [0, 5, 9, 12, 17, 20, 23, 27, 30, 33, 41, 44, 47, 55, 60, 63],  # two anomalies
    [1, 3, 8, 11, 14, 19, 24, 29, 34, 38, 43, 48, 50, 53, 57, 61],  # one anomaly
    [2, 4, 6, 7, 10, 13, 15, 16, 18, 21, 22, 25, 26, 28, 31, 32],  # none
]
LINEARS = ["0.weight", "3.weight", "6.weight"]
BNS = ["1", "4"]


def build_net():
    return nn.Sequential(
        nn.Linear(D, 100, bias=False),
        nn.BatchNorm1d(100, eps=1e-4, affine=False),
        nn.LeakyReLU(0.01),
        nn.Linear(100, 20, bias=False),
        nn.BatchNorm1d(20, eps=1e-4, affine=False),
        nn.LeakyReLU(0.01),
        nn.Linear(20, 10, bias=False),
    )


def dist_of(out, c):
    return torch.sum((out - c) ** 2, dim=1)


def run_variant(init_state, x, y, c, variant):
    net = build_net()
    net.load_state_dict(init_state)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-6)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[0], gamma=0.1)
    steps = []
    for idx in BATCHES:
        net.train()
        opt.zero_grad()
        xb, yb = x[idx], y[idx]
        lr_used = opt.param_groups[0]["lr"]
        dist = dist_of(net(xb), c)
        if variant == "vanilla":
            losses = torch.where(yb == 0, dist, ETA * ((dist + EPS) ** -1.0))
            loss = torch.mean(losses)
        else:
            loss = torch.mean(ETA * ((dist[yb == 1] + EPS) ** -1.0))
        loss.backward()
        for p in net.parameters():  # the empty-mean case must give zero, finite grads
            assert torch.isfinite(p.grad).all()
        opt.step()
        sched.step()
        lv = float(loss.item())
        sd = net.state_dict()
        steps.append(
            {
                "lr": lr_used,
                "loss": None if np.isnan(lv) else lv,
                "grads": {name: f32(dict(net.named_parameters())[name].grad) for name in LINEARS},
                "running": {
                    f"{b}.{k}": f32(sd[f"{b}.{k}"])
                    for b in BNS
                    for k in ["running_mean", "running_var"]
                },
            }
        )
    sd = net.state_dict()
    net.eval()
    with torch.no_grad():
        scores = dist_of(net(x), c)
    return {
        "steps": steps,
        "final_weights": {name: f32(sd[name]) for name in LINEARS},
        "scores": f32(scores),
    }


def main():
    out_path = (
        sys.argv[1] if len(sys.argv) > 1 else "crates/anoonly/tests/fixtures/deepsad_step.json"
    )
    torch.manual_seed(0)
    x = torch.randn(N, D)
    y = torch.zeros(N)
    y[ANOMALIES] = 1.0
    x[ANOMALIES] += 1.5  # anomalies shifted, as a real data set would have them
    net = build_net()
    init_state = {k: v.clone() for k, v in net.state_dict().items()}

    # Centre as the authors compute it (eval mode, mean over all rows, |c_j| < 0.1 -> +-0.1).
    net.eval()
    with torch.no_grad():
        c = torch.mean(net(x), dim=0)
    eps_c = 0.1
    c[(abs(c) < eps_c) & (c < 0)] = -eps_c
    c[(abs(c) < eps_c) & (c > 0)] = eps_c

    fixture = {
        "torch_version": torch.__version__,
        "d": D,
        "n": N,
        "x": f32(x),
        "y": [int(v) for v in y.tolist()],
        "c": f32(c),
        "batches": BATCHES,
        "eta": ETA,
        "eps": EPS,
        "initial_weights": {name: f32(init_state[name]) for name in LINEARS},
        "variants": {v: run_variant(init_state, x, y, c, v) for v in ["vanilla", "anoonly"]},
    }
    with open(out_path, "w") as f:
        json.dump(fixture, f, indent=1)


if __name__ == "__main__":
    main()

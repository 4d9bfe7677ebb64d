#!/usr/bin/env bash
# The environment of scripts/peers/compare.py and fidelity.py: .venv-peers (or $PEERS_VENV)
# with anoonly from this checkout, PyOD, DeepOD, torch, xgboost and wsad-dt, from PyPI only
# (scripts/peers/README.md; the RoSAS and ADSD references are repositories, not packages).
# - torch: PyPI has only CUDA builds for Linux x86_64; the wheel (~540 MB) does not import
#   without its nvidia-* dependencies (~2.5 GB more), so they are installed; it runs on CPU.
# - deepod 0.4.1 pins torch<1.13.1, which has no wheel for Python 3.11: installed with
#   --no-deps on the torch above (its other dependencies are in requirements.txt).
# - xgboost (PyOD's XGBOD needs it) requires nvidia-nccl-cu12, used only on GPUs:
#   --no-deps.
# - wsad-dt 1.0.0 (the WSAD-DT authors' code, for fidelity.py): its dependencies are in
#   requirements.txt. rtdl 0.0.13 and delu 0.0.26, imported by the ADSD repository's fit.py
#   (and DeepOD's networks): rtdl pins torch<2 and numpy<2, so --no-deps; it works on both.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${PEERS_VENV:-.venv-peers}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --disable-pip-version-check -r scripts/peers/requirements.txt
"$venv/bin/pip" install --disable-pip-version-check --no-deps deepod xgboost wsad-dt==1.0.0 \
    rtdl==0.0.13 delu==0.0.26
"$venv/bin/pip" install --disable-pip-version-check .

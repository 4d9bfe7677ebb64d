#!/bin/sh
# Table 2 of the paper on the shared ADBench files: DeepSAD with and without AnoOnly for
# each of the five --norm choices, clean setting, gamma_la 0.1, seeds 0,1,2.
# Usage: scripts/table2.sh [DATA_DIR] > table2.jsonl   (then scripts/table2_summary.py)
set -eu
D=${1:-../shared/data/adbench}
BIN=${BIN:-target/release/anoonly}
for f in CV_by_ResNet18/CIFAR10_0 CV_by_ResNet18/SVHN_0 \
    CV_by_ResNet18/MVTec-AD_bottle CV_by_ResNet18/MVTec-AD_cable CV_by_ResNet18/MVTec-AD_capsule \
    CV_by_ResNet18/MVTec-AD_carpet CV_by_ResNet18/MVTec-AD_grid CV_by_ResNet18/MVTec-AD_hazelnut \
    CV_by_ResNet18/MVTec-AD_leather CV_by_ResNet18/MVTec-AD_metal_nut NLP_by_RoBERTa/20news_3; do
  for norm in none layernorm bn-noaffine bn bn-loss; do
    for ao in "" --anoonly; do
      # shellcheck disable=SC2086
      "$BIN" eval --data "$D/$f.npz" --method deepsad --norm "$norm" $ao \
        --setting clean --gamma-la 0.1 --seeds 0,1,2 --json --threads 1 2>/dev/null
    done
  done
done

#!/usr/bin/env bash
# Instructions per fit, counted by valgrind's callgrind (load-independent: the figure does
# not move with what else runs on the machine, unlike wall time). Counts only the method's
# training (`MethodParams::fit_method`: not the data loading, not the scoring of the
# training rows that `fit` does afterwards), at shortened epochs so that each run takes a
# minute or two under valgrind; the profiles are kept for `callgrind_annotate`.
# Usage: scripts/perf/instructions.sh OUTDIR BIN [BIN...]   (one column per binary)
#   PERF_CASES="repen-bottle devnet" to run a subset; PERF_THREADS (default 1).
set -euo pipefail
OUT=$1
shift
mkdir -p "$OUT"
D=$(cd "$(dirname "$0")/../.." && pwd)/../shared/data/adbench
T=${PERF_THREADS:-1}
# name | file | method and options (epochs shortened: the per-step figures are what matter)
CASES=(
  "repen-bottle|CV_by_ResNet18/MVTec-AD_bottle|repen --epochs 2"
  "repen-cardio|Classical/6_cardio|repen --epochs 2"
  "repen-cifar|CV_by_ResNet18/CIFAR10_0|repen --epochs 2"
  "devnet|CV_by_ResNet18/CIFAR10_0|devnet --epochs 5"
  "devnet-anoonly|CV_by_ResNet18/CIFAR10_0|devnet --anoonly --epochs 5"
  "deepsad|CV_by_ResNet18/CIFAR10_0|deepsad --epochs 3"
  "prenet|CV_by_ResNet18/CIFAR10_0|prenet --epochs 3"
  "prenet-anoonly|CV_by_ResNet18/CIFAR10_0|prenet --anoonly --epochs 3"
  "feawad|CV_by_ResNet18/CIFAR10_0|feawad --epochs 1 --set pretrain_epochs=1 --set steps_per_epoch=3"
)
[ -z "${PERF_CASES:-}" ] && PERF_CASES="repen-bottle repen-cardio repen-cifar devnet devnet-anoonly deepsad prenet prenet-anoonly feawad"
printf '%-16s' case
for b in "$@"; do printf ' %16s' "$(basename "$b")"; done
echo
for c in "${CASES[@]}"; do
  IFS='|' read -r name file args <<<"$c"
  if [ -n "${PERF_CASES:-}" ] && ! grep -qw -- "$name" <<<"$PERF_CASES"; then continue; fi
  printf '%-16s' "$name"
  for b in "$@"; do
    prof="$OUT/$name.$(basename "$b").cg"
    # shellcheck disable=SC2086
    valgrind --tool=callgrind --callgrind-out-file="$prof" \
      --toggle-collect='anoonly::methods::MethodParams::fit_method' \
      "$b" fit --data "$D/$file.npz" --method $args --out "$OUT/$name.st" --threads "$T" \
      >/dev/null 2>"$OUT/$name.$(basename "$b").log"
    ir=$(grep -E '^(summary|totals):' "$prof" | head -1 | awk '{print $2}')
    printf ' %16s' "$(printf "%'d" "$ir")"
  done
  echo
done

#!/usr/bin/env bash
# Do two builds of `anoonly` give the same outputs? For refactors that must not change a
# number: every method with and without AnoOnly (FEAWAD, GANomaly and REPEN at 2 epochs) on
# three shared files and seeds 0,1 (so both `eval`'s copying and in-place splits run),
# `eval --json` records without their timings, model files and `score` CSVs from `fit`, and
# the report.csv of `bench --suite quick`. Prints one line per output: `same` or `DIFFERENT`.
# Exit status 1 if anything differs.
# Usage: scripts/same_outputs.sh OLD_BINARY NEW_BINARY [--quick]
#   (--quick: CIFAR10_0 only). Needs ../shared/data/adbench beside the repository.
set -euo pipefail
OLD=$1
NEW=$2
QUICK=${3:-}
D=$(cd "$(dirname "$0")/.." && pwd)/../shared/data/adbench
FILES="CV_by_ResNet18/CIFAR10_0 Classical/6_cardio NLP_by_RoBERTa/20news_3"
[ "$QUICK" = --quick ] && FILES="CV_by_ResNet18/CIFAR10_0"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
status=0
compare() { # label file_a file_b
  if cmp -s "$2" "$3"; then echo "same       $1"; else echo "DIFFERENT  $1"; status=1; fi
}
strip_timings() { sed -E 's/"(fit|score)_seconds":[0-9.e+-]+,?//g'; }
runs=(
  "deepsad" "deepsad --anoonly" "devnet" "devnet --anoonly" "prenet" "prenet --anoonly"
  "feawad --epochs 2 --set pretrain_epochs=2" "feawad --anoonly --epochs 2 --set pretrain_epochs=2"
  "ganomaly --epochs 2" "repen --epochs 2" "xgbod"
)
for f in $FILES; do
  for r in "${runs[@]}"; do
    tag=$(echo "$f $r" | tr ' /=' '___')
    for side in OLD NEW; do
      bin=${!side}
      # shellcheck disable=SC2086
      "$bin" eval --data "$D/$f.npz" --method $r --seeds 0,1 --json 2>/dev/null |
        strip_timings >"$TMP/$tag.$side.jsonl"
    done
    compare "eval $f $r" "$TMP/$tag.OLD.jsonl" "$TMP/$tag.NEW.jsonl"
  done
done
f=Classical/6_cardio
for r in "${runs[@]}"; do
  tag=$(echo "fit $r" | tr ' /=' '___')
  for side in OLD NEW; do
    bin=${!side}
    # shellcheck disable=SC2086
    "$bin" fit --data "$D/$f.npz" --method $r --out "$TMP/$tag.$side.st" 2>/dev/null
    "$bin" score --model "$TMP/$tag.$side.st" --data "$D/$f.npz" --out "$TMP/$tag.$side.csv" 2>/dev/null
  done
  compare "model $f $r" "$TMP/$tag.OLD.st" "$TMP/$tag.NEW.st"
  compare "score $f $r" "$TMP/$tag.OLD.csv" "$TMP/$tag.NEW.csv"
done
for side in OLD NEW; do
  "${!side}" bench --suite quick --out "$TMP/quick.$side" --quiet 2>/dev/null
done
compare "bench --suite quick report.csv" "$TMP/quick.OLD/report.csv" "$TMP/quick.NEW/report.csv"
exit $status

#!/usr/bin/env bash
# A fit on a shared machine: a DevNet and a DeepSAD fit (CIFAR10_0, the authors' settings,
# `--threads 2` unless PERF_THREADS says otherwise) first on a quiet machine, then with
# PERF_BUSY (default 2) competing CPU-bound processes running, each repeated PERF_REPEATS
# times (default 3), medians compared. A benchmark that prints figures, not a test: the
# issue's aim is a loaded fit at most 3x its quiet time (with one busy process per core a
# fit gets about half a core per thread, so about 2x is what a fair scheduler gives).
#
# Prints a Markdown table, one row per fit: method, quiet or loaded, the `--threads` given,
# the 1-minute load average before the fit, the most threads the process had (sampled from
# /proc every 10 ms: the pool of `--threads` threads plus the waiting main thread), eval's
# `fit_seconds`, the process's wall and CPU seconds (user + system) and CPU/wall; then per
# method the median fit seconds quiet and loaded and their ratio. A spinning worker would
# show as CPU seconds well above the work's own: compare the 2-thread CPU seconds with
# PERF_THREADS=1's. Start it on an otherwise quiet machine (check the first rows' load);
# the busy processes are its own shell loops, killed when it ends.
#
# Usage: scripts/perf/loaded.sh [BIN]    (default target/release/anoonly)
#   PERF_THREADS=2  PERF_BUSY=2  PERF_REPEATS=3  PERF_METHODS="devnet deepsad"
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$ROOT/target/release/anoonly}
D=$ROOT/../shared/data/adbench/CV_by_ResNet18/CIFAR10_0.npz
T=${PERF_THREADS:-2}
BUSY=${PERF_BUSY:-2}
REPEATS=${PERF_REPEATS:-3}
METHODS=${PERF_METHODS:-devnet deepsad}
TMP=$(mktemp -d)
HOGS=()
cleanup() {
  for p in "${HOGS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

load1() { cut -d' ' -f1 /proc/loadavg; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# One fit: prints "fit_s wall_s cpu_s max_threads load".
one_fit() { # method
  local load start end pid max=0 n
  load=$(load1)
  start=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$TMP/time" "$BIN" eval --data "$D" --method "$1" --json \
    --threads "$T" >"$TMP/out.json" 2>/dev/null &
  pid=$!
  # /usr/bin/time's child is the fit.
  while kill -0 "$pid" 2>/dev/null; do
    for c in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
      n=$(awk '/^Threads:/ { print $2 }' /proc/"$c"/status 2>/dev/null || echo 0)
      [ "${n:-0}" -gt "$max" ] && max=$n
    done
    sleep 0.01
  done
  wait "$pid"
  end=$(date +%s.%N)
  local fit cpu wall
  fit=$(grep -o '"fit_seconds":[0-9.e+-]*' "$TMP/out.json" | head -1 | cut -d: -f2)
  cpu=$(awk '{ print $1 + $2 }' "$TMP/time")
  wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
  echo "$fit $wall $cpu $max $load"
}

run_set() { # label method
  : >"$TMP/set"
  for _ in $(seq "$REPEATS"); do
    read -r fit wall cpu max load < <(one_fit "$2")
    echo "$fit $wall $cpu" >>"$TMP/set"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %.2f |\n' "$2" "$1" "$T" "$load" "$max" "$fit" \
      "$wall" "$cpu" "$(awk -v c="$cpu" -v w="$wall" 'BEGIN { print (w > 0 ? c / w : 0) }')"
  done
}

echo "# $(date -u +%FT%TZ) $(nproc) CPUs; $BIN; --threads $T; $BUSY busy processes when loaded"
echo
echo "| method | machine | --threads | load before | threads (max) | fit s | wall s | CPU s | CPU/wall |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
declare -A QUIET LOADED
for m in $METHODS; do
  run_set quiet "$m"
  QUIET[$m]=$(cut -d' ' -f1 "$TMP/set" | median)
done
for _ in $(seq "$BUSY"); do
  sh -c 'while :; do :; done' &
  HOGS+=($!)
done
sleep 2
for m in $METHODS; do
  run_set loaded "$m"
  LOADED[$m]=$(cut -d' ' -f1 "$TMP/set" | median)
done
for p in "${HOGS[@]}"; do kill "$p" 2>/dev/null || true; done
HOGS=()
echo
for m in $METHODS; do
  awk -v m="$m" -v q="${QUIET[$m]}" -v l="${LOADED[$m]}" \
    'BEGIN { printf "%s: median fit %.3f s quiet, %.3f s loaded: %.2fx (aim: at most 3x)\n", m, q, l, l / q }'
done

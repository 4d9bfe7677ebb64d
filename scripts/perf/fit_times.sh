#!/usr/bin/env bash
# Fit times before and after, per method, at 1 and 2 threads: a benchmark for a quiet
# machine (it prints figures; it is not a test). Old and new binaries are interleaved in
# the same run (old, new, old, new, ...), each fit repeated, the median `fit_seconds` of
# `anoonly eval --json` taken per binary, and the ratio old/new printed (> 1: the new one
# is faster). The 1-minute load average is printed before every fit, and a fit started
# above PERF_MAX_LOAD (default 0.5) is flagged with `!` (its figures are not those of a
# quiet machine); the CPU seconds of the process (user + system) are printed beside the
# wall figures, they move less with load.
#
# Prints a Markdown table, one row per method and thread count: the method and options,
# `--threads`, the load average before each of its fits (`!` when above PERF_MAX_LOAD),
# the median fit seconds of each binary and old/new, the median CPU seconds of each; one
# line per fit goes to stderr as it finishes. Runs `anoonly eval --seeds 0` on the
# authors' settings (the defaults), so a row takes a few seconds to minutes (FEAWAD).
#
# Usage: scripts/perf/fit_times.sh OLD_BIN NEW_BIN
#   PERF_REPEATS=3  PERF_THREADS="1 2"  PERF_METHODS="deepsad devnet ..."  PERF_MAX_LOAD=0.5
#   PERF_WAIT=1 (wait, up to 10 minutes, for the load to fall below PERF_MAX_LOAD first)
# Needs ../shared/data/adbench beside the repository.
set -euo pipefail
OLD=$1
NEW=$2
D=$(cd "$(dirname "$0")/../.." && pwd)/../shared/data/adbench
REPEATS=${PERF_REPEATS:-3}
THREADS=${PERF_THREADS:-1 2}
MAX_LOAD=${PERF_MAX_LOAD:-0.5}
CIFAR=CV_by_ResNet18/CIFAR10_0
BOTTLE=CV_by_ResNet18/MVTec-AD_bottle
# label | file | method and options (the authors' settings: the defaults)
ALL=(
  "deepsad|$CIFAR|deepsad"
  "deepsad --anoonly|$CIFAR|deepsad --anoonly"
  "devnet|$CIFAR|devnet"
  "devnet --anoonly|$CIFAR|devnet --anoonly"
  "prenet|$CIFAR|prenet"
  "prenet --anoonly|$CIFAR|prenet --anoonly"
  "feawad|$CIFAR|feawad"
  "feawad --anoonly|$CIFAR|feawad --anoonly"
  "ganomaly|$CIFAR|ganomaly"
  "repen|$CIFAR|repen"
  "repen (bottle)|$BOTTLE|repen"
  "xgbod|$CIFAR|xgbod"
)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

load1() { cut -d' ' -f1 /proc/loadavg; }
above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

wait_quiet() {
  [ "${PERF_WAIT:-0}" = 1 ] || return 0
  local waited=0
  while above "$(load1)" "$MAX_LOAD" && [ $waited -lt 600 ]; do
    sleep 10
    waited=$((waited + 10))
  done
}

# One fit: prints "fit_seconds cpu_seconds load".
one_fit() { # bin file threads args...
  local bin=$1 file=$2 t=$3
  shift 3
  wait_quiet
  local load
  load=$(load1)
  # shellcheck disable=SC2068
  /usr/bin/time -f "%U %S" -o "$TMP/time" "$bin" eval --data "$D/$file.npz" --method $@ \
    --json --threads "$t" 2>/dev/null >"$TMP/out.json"
  local fit cpu
  fit=$(grep -o '"fit_seconds":[0-9.e+-]*' "$TMP/out.json" | head -1 | cut -d: -f2)
  cpu=$(awk '{ print $1 + $2 }' "$TMP/time")
  echo "$fit $cpu $load"
}

echo "# $(date -u +%FT%TZ) $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# old: $OLD"
echo "# new: $NEW"
echo "# $REPEATS repeats per binary, interleaved; median fit s (eval's fit_seconds) and CPU s"
echo "# (user + system of the whole eval); load = 1-min load average before each fit, '!' above $MAX_LOAD"
echo
echo "| method | threads | loads before the fits | old fit s | new fit s | old/new | old CPU s | new CPU s |"
echo "|---|---|---|---:|---:|---:|---:|---:|"
for c in "${ALL[@]}"; do
  IFS='|' read -r label file args <<<"$c"
  if [ -n "${PERF_METHODS:-}" ] && ! grep -qw -- "${args%% *}" <<<"$PERF_METHODS"; then continue; fi
  for t in $THREADS; do
    : >"$TMP/old" && : >"$TMP/new" && loads=""
    for _ in $(seq "$REPEATS"); do
      for side in old new; do
        bin=$OLD && [ $side = new ] && bin=$NEW
        # shellcheck disable=SC2086
        read -r fit cpu load < <(one_fit "$bin" "$file" "$t" $args)
        echo "$fit $cpu" >>"$TMP/$side"
        flag="" && above "$load" "$MAX_LOAD" && flag="!"
        loads="$loads $load$flag"
        echo "  $label t=$t $side: fit $fit s, CPU $cpu s, load $load$flag" >&2
      done
    done
    of=$(cut -d' ' -f1 "$TMP/old" | median)
    nf=$(cut -d' ' -f1 "$TMP/new" | median)
    oc=$(cut -d' ' -f2 "$TMP/old" | median)
    nc=$(cut -d' ' -f2 "$TMP/new" | median)
    ratio=$(awk -v a="$of" -v b="$nf" 'BEGIN { printf (b > 0 ? "%.2fx" : "-"), a / b }')
    printf '| %s | %s |%s | %.3f | %.3f | %s | %.2f | %.2f |\n' \
      "$label" "$t" "$loads" "$of" "$nf" "$ratio" "$oc" "$nc"
  done
done

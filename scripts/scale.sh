#!/bin/sh
# Fit time and peak memory at scale: DeepSAD and DevNet, leakage-free protocol, no row cap,
# on ADBench's two largest Classical files. Prints one line per run:
#   file method epochs threads train_rows fit_seconds total_seconds max_rss_mb data_f32_mb
# Usage: scripts/scale.sh [epochs-override] [threads]   (default: the authors' epochs, 1 thread)
# Needs ../shared/data/adbench and a release build (cargo build --release).
set -eu
cd "$(dirname "$0")/.."
BIN=target/release/anoonly
DATA=../shared/data/adbench/Classical
EPOCHS=${1:-}
THREADS=${2:-1}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for f in 16_http 10_cover; do
  for m in deepsad devnet; do
    set -- eval --data "$DATA/$f.npz" --method "$m" --protocol leakage-free --max-rows none \
      --seeds 0 --json --threads "$THREADS"
    [ -n "$EPOCHS" ] && set -- "$@" --epochs "$EPOCHS"
    /usr/bin/time -v "$BIN" "$@" > "$TMP/out.json" 2> "$TMP/time.txt"
    python3 - "$f" "$m" "${EPOCHS:-default}" "$THREADS" "$TMP/out.json" "$TMP/time.txt" <<'PY'
import json, re, sys
f, m, epochs, threads, out, tv = sys.argv[1:]
r = json.loads(open(out).read().splitlines()[0])
t = open(tv).read()
rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", t).group(1)
parts = [float(p) for p in wall.split(":")]
total = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))

x_mb = {"16_http": 567498 * 3, "10_cover": 286048 * 10}[f] * 4 / 2**20
print(f"{f} {m} epochs={epochs} threads={threads} train_rows={r.get('n_train', '?')} "
      f"fit_s={r['fit_seconds']:.1f} total_s={total:.1f} max_rss_mb={rss_kb/1024:.1f} "
      f"data_f32_mb={x_mb:.1f} aucroc={100*r['aucroc']:.1f}")
PY
  done
done

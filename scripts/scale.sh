#!/bin/sh
# Fit time and peak memory at scale: DeepSAD and DevNet on ADBench's two largest Classical
# files, (1) `eval` with the leakage-free protocol and no row cap (fit on the 70 % train
# split), (2) `fit` on the whole file. One line per run:
#   file command method threads rows fit_s (wall, from the record; eval only) wall_s cpu_s
#   max_rss_mb data_f32_mb rss/data [aucroc]
# Usage: scripts/scale.sh [epochs-override] [threads] [eval-seeds]
#   (default: the authors' epochs, 1 thread, eval seed 0; e.g. `scripts/scale.sh '' 1 0,1,2`)
# Needs ../shared/data/adbench and a release build (cargo build --release). Wall times depend
# on the machine's load; cpu_s (user + sys) much less so.
set -eu
cd "$(dirname "$0")/.."
BIN=target/release/anoonly
DATA=../shared/data/adbench/Classical
EPOCHS=${1:-}
THREADS=${2:-1}
SEEDS=${3:-0}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for f in 16_http 10_cover; do
  for cmd in eval fit; do
    for m in deepsad devnet; do
      if [ "$cmd" = eval ]; then
        set -- eval --data "$DATA/$f.npz" --method "$m" --protocol leakage-free --max-rows none \
          --seeds "$SEEDS" --json
      else
        set -- fit --data "$DATA/$f.npz" --method "$m" --out "$TMP/model.st"
      fi
      set -- "$@" --threads "$THREADS"
      [ -n "$EPOCHS" ] && set -- "$@" --epochs "$EPOCHS"
      /usr/bin/time -v "$BIN" "$@" > "$TMP/out.json" 2> "$TMP/time.txt"
      python3 - "$f" "$cmd" "$m" "$THREADS" "$TMP/out.json" "$TMP/time.txt" "$SEEDS" <<'PY'
import json, re, sys
f, cmd, m, threads, out, tv, seeds = sys.argv[1:]
seeds = f" seeds={seeds}" if cmd == "eval" else ""
t = open(tv).read()
num = lambda pat: float(re.search(pat, t).group(1))
rss_mb = num(r"Maximum resident set size \(kbytes\): (\d+)") / 1024
cpu = num(r"User time \(seconds\): ([\d.]+)") + num(r"System time \(seconds\): ([\d.]+)")
wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", t).group(1)
wall_s = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.split(":"))))
n_rows, n_feat = {"16_http": (567498, 3), "10_cover": (286048, 10)}[f]
data_mb = n_rows * n_feat * 4 / 2**20
if cmd == "eval":
    r = json.loads(open(out).read().splitlines()[0])
    rows, fit_s, auc = r["n_train"], f"{r['fit_seconds']:.1f}", f" aucroc={100 * r['aucroc']:.1f}"
else:
    rows, fit_s, auc = n_rows, "-", ""
print(f"{f} {cmd} {m} threads={threads}{seeds} rows={rows} fit_s={fit_s} wall_s={wall_s:.1f} "
      f"cpu_s={cpu:.1f} max_rss_mb={rss_mb:.1f} data_f32_mb={data_mb:.1f} "
      f"rss/data={rss_mb / data_mb:.1f}{auc}")
PY
    done
  done
done

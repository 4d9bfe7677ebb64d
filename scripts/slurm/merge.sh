#!/usr/bin/env bash
# The merge job of an `anoonly bench` array job (submitted by scripts/slurm/submit.sh with
# --dependency=afterok on the array): joins DIR/shard-1-of-N ... DIR/shard-N-of-N into
# DIR/merged with `anoonly bench merge`, which writes the report and figures.
set -euo pipefail

prog=merge.sh

usage() {
  cat <<EOF
Usage (inside a Slurm job, after the array job has finished):
  sbatch --dependency=afterok:<array job id> scripts/slurm/merge.sh --out DIR --shards N [--bin PATH]

Runs: anoonly bench merge DIR/shard-1-of-N ... DIR/shard-N-of-N --out DIR/merged
and fails (exit 1, after writing the report) if any cell of the grid failed, listing them.
The binary is --bin, else \$ANOONLY_BIN, else target/release/anoonly under the submit
directory, else \`anoonly\` on PATH.
EOF
}

die() {
  printf '%s: error: %s\n' "$prog" "$*" >&2
  exit 2
}

out='' shards='' bin=${ANOONLY_BIN:-}
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --out) [ $# -ge 2 ] || die "--out needs a value"; out=$2; shift 2 ;;
    --shards) [ $# -ge 2 ] || die "--shards needs a value"; shards=$2; shift 2 ;;
    --bin) [ $# -ge 2 ] || die "--bin needs a value"; bin=$2; shift 2 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

[ -n "${SLURM_JOB_ID:-}" ] ||
  die "not running under Slurm (no SLURM_JOB_ID): submit it with scripts/slurm/submit.sh"
[ -n "$out" ] || die "--out DIR is required"
case $shards in '' | *[!0-9]* | 0*) die "--shards '$shards': expected a whole number >= 1" ;; esac
if [ -z "$bin" ]; then
  if [ -x "${SLURM_SUBMIT_DIR:-.}/target/release/anoonly" ]; then
    bin=${SLURM_SUBMIT_DIR:-.}/target/release/anoonly
  else
    bin=$(command -v anoonly || true)
  fi
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  die "no anoonly binary${bin:+ at $bin} on $(hostname): pass --bin PATH or set ANOONLY_BIN"
fi

dirs=()
missing=0
for ((i = 1; i <= shards; i++)); do
  d=$out/shard-$i-of-$shards
  if [ ! -f "$d/results.jsonl" ]; then
    echo "$prog: $d/results.jsonl is missing: task $i never ran to its first write" >&2
    missing=$((missing + 1))
  fi
  dirs+=("$d")
done
[ "$missing" = 0 ] ||
  die "$missing of $shards shard(s) missing: rerun them (submit.sh ... --only I) and merge again"

echo "== anoonly bench merge of $shards shard(s): job $SLURM_JOB_ID, host $(hostname)," \
  "$(date '+%Y-%m-%d %H:%M:%S')"
set -x
"$bin" bench merge "${dirs[@]}" --out "$out/merged"
{ set +x; } 2> /dev/null
failures=$out/merged/failures.jsonl
if [ -s "$failures" ]; then
  echo "$prog: $(wc -l < "$failures") cell(s) failed (listed in $out/merged/report.md):" >&2
  cat "$failures" >&2
  echo "$prog: fix the cause and rerun the submit command: only those cells run again" >&2
  exit 1
fi
echo "== report: $out/merged/report.md"

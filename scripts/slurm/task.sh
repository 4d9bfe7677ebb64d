#!/usr/bin/env bash
# One task of an `anoonly bench` array job (submitted by scripts/slurm/submit.sh, or by hand
# with sbatch --array=1-N): runs shard SLURM_ARRAY_TASK_ID of N into DIR/shard-I-of-N with
# --resume, so a requeued task continues where it stopped and recomputes nothing finished.
set -euo pipefail

prog=task.sh

usage() {
  cat <<EOF
Usage (inside a Slurm array job; indices must start at 1):
  sbatch --array=1-N [--cpus-per-task=C ...] scripts/slurm/task.sh --out DIR \\
      [--shards N] [--bin PATH] [--] BENCH-ARGS...

Runs: anoonly --threads C bench BENCH-ARGS --shard I/N --resume --out DIR/shard-I-of-N
with I = SLURM_ARRAY_TASK_ID, N = --shards (default SLURM_ARRAY_TASK_COUNT; give it when
the array holds only some of the N tasks, as submit.sh --only does) and C =
SLURM_CPUS_PER_TASK (default 1). The binary is --bin, else \$ANOONLY_BIN, else
target/release/anoonly under the submit directory, else \`anoonly\` on PATH.
scripts/slurm/submit.sh is the usual way in: it also submits the merge job.
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
    --) shift; break ;;
    *) break ;;
  esac
done

[ -n "${SLURM_JOB_ID:-}" ] ||
  die "not running under Slurm (no SLURM_JOB_ID): submit it with scripts/slurm/submit.sh"
[ -n "${SLURM_ARRAY_TASK_ID:-}" ] ||
  die "job $SLURM_JOB_ID is not an array job (no SLURM_ARRAY_TASK_ID): submit with --array=1-N"
[ -n "$out" ] || die "--out DIR is required"
shards=${shards:-${SLURM_ARRAY_TASK_COUNT:-}}
i=$SLURM_ARRAY_TASK_ID
case $shards in '' | *[!0-9]* | 0*) die "--shards '$shards': expected a whole number >= 1" ;; esac
case $i in *[!0-9]*) die "SLURM_ARRAY_TASK_ID '$i' is not a number" ;; esac
if [ "$i" -lt 1 ] || [ "$i" -gt "$shards" ]; then
  die "array task $i is not a shard 1..$shards: array indices must be 1..N (--array=1-$shards)"
fi
threads=${SLURM_CPUS_PER_TASK:-1}

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

dir=$out/shard-$i-of-$shards
# One header per attempt: a requeued task appends to the same log (--open-mode=append), so
# the log shows every attempt and each attempt's "N already done".
echo "== anoonly bench task $i/$shards: job ${SLURM_ARRAY_JOB_ID:-?}_$i (id $SLURM_JOB_ID)," \
  "attempt $((${SLURM_RESTART_COUNT:-0} + 1)) (restart count ${SLURM_RESTART_COUNT:-0})," \
  "host $(hostname), $threads thread(s), $(date '+%Y-%m-%d %H:%M:%S')"
if [ -s "$dir/results.jsonl" ]; then
  echo "== $dir/results.jsonl holds $(wc -l < "$dir/results.jsonl") finished cell(s) from earlier attempts: resuming"
fi
set -x
exec "$bin" --threads "$threads" bench "$@" --shard "$i/$shards" --resume --out "$dir"

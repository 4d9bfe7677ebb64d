#!/usr/bin/env bash
# The two batch jobs of an `anoonly bench` grid on Slurm, as scripts/slurm/submit.sh submits
# them: `job.sh task` is one task of the array job (shard SLURM_ARRAY_TASK_ID of N, with
# --resume, so a requeued task continues where it stopped and recomputes nothing finished);
# `job.sh merge` is the job that joins the N shards with `bench merge` once they all succeeded.
set -euo pipefail

prog=job.sh

usage() {
  cat << EOF
Usage (inside Slurm jobs; scripts/slurm/submit.sh submits both):
  sbatch --array=1-N [--cpus-per-task=C ...] scripts/slurm/job.sh task --out DIR \\
      [--shards N] [--bin PATH] [--] BENCH-ARGS...
  sbatch --dependency=afterok:<array job id> scripts/slurm/job.sh merge --out DIR --shards N \\
      [--bin PATH]

task   runs  anoonly --threads C bench BENCH-ARGS --shard I/N --resume --allow-failed-cells
             --out DIR/shard-I-of-N
       with I = SLURM_ARRAY_TASK_ID (array indices must be 1..N), N = --shards (default
       SLURM_ARRAY_TASK_COUNT; give it when the array holds only some of the N tasks, as
       submit.sh --only does) and C = SLURM_CPUS_PER_TASK (default 1). A task whose cells
       all ran succeeds even when some of them failed (--allow-failed-cells): the merge
       job lists them and fails; any other error fails the task (and cancels the merge).
merge  runs  anoonly bench merge DIR/shard-1-of-N ... DIR/shard-N-of-N --out DIR/merged
       and fails (exit 1, after writing the report) if any cell of the grid failed, listing
       them.

The binary is --bin, else \$ANOONLY_BIN, else target/release/anoonly under the submit
directory, else \`anoonly\` on PATH.
EOF
}

die() {
  printf '%s: error: %s\n' "$prog" "$*" >&2
  exit 2
}

mode=${1:-}
case $mode in
  -h | --help) usage; exit 0 ;;
  task | merge) shift ;;
  *) die "expected 'task' or 'merge' first, not '$mode' (see --help)" ;;
esac
out='' shards='' bin=${ANOONLY_BIN:-}
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --out) [ $# -ge 2 ] || die "--out needs a value"; out=$2; shift 2 ;;
    --shards) [ $# -ge 2 ] || die "--shards needs a value"; shards=$2; shift 2 ;;
    --bin) [ $# -ge 2 ] || die "--bin needs a value"; bin=$2; shift 2 ;;
    --) shift; break ;;
    *) [ "$mode" = task ] || die "unknown argument '$1' (see --help)"; break ;;
  esac
done

[ -n "${SLURM_JOB_ID:-}" ] ||
  die "not running under Slurm (no SLURM_JOB_ID): submit it with scripts/slurm/submit.sh"
[ -n "$out" ] || die "--out DIR is required"
if [ "$mode" = task ]; then
  [ -n "${SLURM_ARRAY_TASK_ID:-}" ] ||
    die "job $SLURM_JOB_ID is not an array job (no SLURM_ARRAY_TASK_ID): submit with --array=1-N"
  shards=${shards:-${SLURM_ARRAY_TASK_COUNT:-}}
fi
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

if [ "$mode" = task ]; then
  i=$SLURM_ARRAY_TASK_ID
  case $i in *[!0-9]*) die "SLURM_ARRAY_TASK_ID '$i' is not a number" ;; esac
  if [ "$i" -lt 1 ] || [ "$i" -gt "$shards" ]; then
    die "array task $i is not a shard 1..$shards: array indices must be 1..N (--array=1-$shards)"
  fi
  threads=${SLURM_CPUS_PER_TASK:-1}
  dir=$out/shard-$i-of-$shards
  # One header per attempt: a requeued task appends to the same log (--open-mode=append),
  # so the log shows every attempt and each attempt's "N already done".
  echo "== anoonly bench task $i/$shards: job ${SLURM_ARRAY_JOB_ID:-?}_$i (id $SLURM_JOB_ID)," \
    "attempt $((${SLURM_RESTART_COUNT:-0} + 1)) (restart count ${SLURM_RESTART_COUNT:-0})," \
    "host $(hostname), $threads thread(s), $(date '+%Y-%m-%d %H:%M:%S')"
  if [ -s "$dir/results.jsonl" ]; then
    echo "== $dir/results.jsonl holds $(wc -l < "$dir/results.jsonl") finished cell(s)" \
      "from earlier attempts: resuming"
  fi
  set -x
  exec "$bin" --threads "$threads" bench "$@" --shard "$i/$shards" --resume \
    --allow-failed-cells --out "$dir"
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

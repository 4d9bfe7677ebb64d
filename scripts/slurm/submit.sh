#!/usr/bin/env bash
# Submits an `anoonly bench` grid to Slurm: an array job whose task I runs the I-th of N
# disjoint slices of the grid (`bench --shard I/N --resume`) into its own directory, and a
# merge job that starts once every task has succeeded (--dependency=afterok) and joins them
# with `bench merge`. Run it on a login node; --help says how.
set -euo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)

usage() {
  cat <<EOF
Usage: $prog --tasks N --out DIR [options] [--] BENCH-ARGS...

Runs \`anoonly bench BENCH-ARGS\` as a Slurm array job of N tasks plus a merge job:

  task I (1..N)  anoonly --threads C bench BENCH-ARGS --shard I/N --resume
                     --out DIR/shard-I-of-N
  merge          anoonly bench merge DIR/shard-1-of-N ... DIR/shard-N-of-N --out DIR/merged
                 (submitted with --dependency=afterok:<array job> --kill-on-invalid-dep=yes)

The report is DIR/merged/report.md (and report.csv, figures). Logs go to DIR/logs/.
BENCH-ARGS are any \`anoonly bench\` run options (--suite, --files, --methods, --variants,
--settings, --gamma-la, --seeds, --grid, --set, ...) except --out, --shard and --resume,
which this script sets. Relative paths in them are resolved from the directory you submit
from (the jobs run there). The grid is checked before anything is queued (\`anoonly bench
BENCH-ARGS --list\`): a typo in a suite, file or flag fails here, not in every task.

Every task runs with --resume, so nothing finished is ever computed twice: a task that was
requeued (preemption, node failure, \`scontrol requeue\`) continues where it stopped. If a
task fails, times out or is cancelled, the merge job is cancelled; rerun the same command
(finished cells are skipped, failed ones run again), or only the tasks that did not finish
with --only (e.g. --only 3,7).

Options:
  -n, --tasks N          number of array tasks (shards of the grid); required
  -o, --out DIR          results root (created); required
  -c, --cpus-per-task C  CPUs per task, and bench worker threads (one cell each) [1]
  -t, --time T           time limit per task, as sbatch --time (e.g. 2:00:00) [cluster default]
  -p, --partition P      partition for both jobs [cluster default]
      --mem M            memory per task, as sbatch --mem (e.g. 4G) [cluster default]
      --merge-time T     time limit of the merge job [00:30:00]
      --only LIST        submit only these task indices of the N (sbatch --array syntax:
                         3 or 2,5-7); for rerunning tasks that did not finish
      --max-running K    run at most K tasks at once (array throttle %K)
      --job-name NAME    job name of the array; the merge job gets NAME-merge [anoonly-bench]
      --sbatch OPT       one more sbatch option for both jobs, repeatable
                         (e.g. --sbatch --account=mygroup --sbatch --qos=short)
      --bin PATH         the anoonly binary (must be readable on the compute nodes)
      --no-merge         submit only the array job
      --dry-run          check the grid, print its cell count and the sbatch commands,
                         and submit nothing
  -h, --help             this text

Environment:
  ANOONLY_BIN      the anoonly binary when --bin is not given; otherwise this checkout's
                   target/release/anoonly (cargo build --release), else \`anoonly\` on PATH
  SBATCH_*         sbatch's own input variables (SBATCH_ACCOUNT, SBATCH_PARTITION,
                   SBATCH_TIMELIMIT, ...) apply to both jobs as usual
  The tasks read SLURM_ARRAY_TASK_ID (the shard I), SLURM_CPUS_PER_TASK and
  SLURM_RESTART_COUNT (logged); see scripts/slurm/job.sh --help.

Examples:
  # The paper's grid (Table 1) as 8 tasks of 2 CPUs, at most 4 hours each:
  $prog --tasks 8 --cpus-per-task 2 --time 4:00:00 --out runs/paper -- --suite paper
  # Any grid by flags; print the commands first:
  $prog -n 4 -o runs/x --dry-run -- --files a.npz,b.npz --methods deepsad,devnet --seeds 0,1,2
  # Task 3 was cancelled: rerun it and merge again (the other shards are kept):
  $prog -n 8 -c 2 -o runs/paper --only 3 -- --suite paper
EOF
}

die() {
  printf '%s: error: %s\n' "$prog" "$*" >&2
  printf "Run '%s --help' for usage.\n" "$prog" >&2
  exit 2
}

need_value() { [ "$2" -ge 2 ] || die "$1 needs a value"; }

tasks='' out='' cpus=1 time_limit='' partition='' mem='' merge_time=00:30:00 only=''
max_running='' job_name=anoonly-bench bin=${ANOONLY_BIN:-} merge=1 dry_run=0
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    -n | --tasks) need_value "$1" $#; tasks=$2; shift 2 ;;
    -o | --out) need_value "$1" $#; out=$2; shift 2 ;;
    -c | --cpus-per-task) need_value "$1" $#; cpus=$2; shift 2 ;;
    -t | --time) need_value "$1" $#; time_limit=$2; shift 2 ;;
    -p | --partition) need_value "$1" $#; partition=$2; shift 2 ;;
    --mem) need_value "$1" $#; mem=$2; shift 2 ;;
    --merge-time) need_value "$1" $#; merge_time=$2; shift 2 ;;
    --only) need_value "$1" $#; only=$2; shift 2 ;;
    --max-running) need_value "$1" $#; max_running=$2; shift 2 ;;
    --job-name) need_value "$1" $#; job_name=$2; shift 2 ;;
    --sbatch) need_value "$1" $#; extra+=("$2"); shift 2 ;;
    --bin) need_value "$1" $#; bin=$2; shift 2 ;;
    --no-merge) merge=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    --tasks=* | --out=* | --cpus-per-task=* | --time=* | --partition=* | --mem=* | \
      --merge-time=* | --only=* | --max-running=* | --job-name=* | --sbatch=* | --bin=*)
      set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
    --) shift; break ;;
    *) break ;;
  esac
done
bench_args=("$@")

is_count() { case $1 in '' | *[!0-9]* | 0*) return 1 ;; *) return 0 ;; esac; }
[ -n "$tasks" ] || die "--tasks N is required (the number of array tasks)"
is_count "$tasks" || die "--tasks $tasks: expected a whole number >= 1"
[ -n "$out" ] || die "--out DIR is required (the results root)"
is_count "$cpus" || die "--cpus-per-task $cpus: expected a whole number >= 1"
[ -z "$max_running" ] || is_count "$max_running" ||
  die "--max-running $max_running: expected a whole number >= 1"
if [ -n "$only" ]; then
  case $only in *[!0-9,-]*) die "--only $only: expected indices such as 3 or 2,5-7" ;; esac
  for part in ${only//,/ }; do
    for i in ${part//-/ }; do
      if ! is_count "$i" || [ "$i" -gt "$tasks" ]; then
        die "--only $only: task $i is not in 1..$tasks"
      fi
    done
  done
fi
for a in ${bench_args[@]+"${bench_args[@]}"}; do
  case $a in
    --out | --out=* | --shard | --shard=* | --resume | --allow-failed-cells)
      die "BENCH-ARGS must not contain $a: this script sets --out, --shard, --resume and --allow-failed-cells per task" ;;
    --list | --dry-run)
      die "BENCH-ARGS must not contain $a: use this script's own --dry-run" ;;
    merge | report)
      die "BENCH-ARGS are options of a bench run; \`bench $a\` is not submitted this way" ;;
    --threads | --threads=*)
      die "BENCH-ARGS must not contain $a: --cpus-per-task sets the threads" ;;
  esac
done
[ ${#bench_args[@]} -gt 0 ] ||
  die "no BENCH-ARGS: say which grid to run (e.g. -- --suite paper)"

# The binary: --bin, $ANOONLY_BIN, this checkout's release build, then PATH.
if [ -z "$bin" ]; then
  checkout=$(cd "$here/../.." && pwd)
  if [ -x "$checkout/target/release/anoonly" ]; then
    bin=$checkout/target/release/anoonly
  else
    bin=$(command -v anoonly || true)
  fi
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  msg="no anoonly binary${bin:+ at $bin}: build it (cargo build --release) or pass --bin PATH / set ANOONLY_BIN"
  if [ "$dry_run" = 1 ]; then
    printf '%s: warning: %s\n' "$prog" "$msg" >&2
    bin=${bin:-anoonly}
  else
    die "$msg"
  fi
fi
case $bin in /*) ;; */*) bin=$(cd "$(dirname "$bin")" && pwd)/${bin##*/} ;; esac
case $out in /*) ;; *) out=$PWD/$out ;; esac

if [ "$dry_run" = 0 ]; then
  command -v sbatch > /dev/null ||
    die "sbatch not found: submit from a Slurm login node (or use --dry-run to see the commands)"
fi

# The grid, checked here before anything is queued: `bench --list` builds it from
# BENCH-ARGS (suites, files, flags) and prints its cells without running any.
cells=''
if [ -x "$bin" ]; then
  list_err=$(mktemp)
  if ! "$bin" bench ${bench_args[@]+"${bench_args[@]}"} --list > /dev/null 2> "$list_err"; then
    msg=$(cat "$list_err")
    rm -f "$list_err"
    die "BENCH-ARGS do not make a grid: ${msg#error: }"
  fi
  cells=$(sed -n 's/^\([0-9][0-9]*\) cells.*/\1/p' "$list_err" | tail -n 1)
  rm -f "$list_err"
  if [ -n "$cells" ] && [ "$cells" -lt "$tasks" ]; then
    printf '%s: warning: %s cells for %s tasks: %s task(s) will have nothing to run\n' \
      "$prog" "$cells" "$tasks" "$((tasks - cells))" >&2
  fi
fi

array=${only:-1-$tasks}${max_running:+%$max_running}
common=(--chdir="$PWD")
[ -z "$partition" ] || common+=(--partition="$partition")
common+=(${extra[@]+"${extra[@]}"})

task_cmd=(sbatch --parsable --job-name="$job_name" --array="$array"
  --cpus-per-task="$cpus" --requeue --open-mode=append
  --output="$out/logs/task-%A_%a.out")
[ -z "$time_limit" ] || task_cmd+=(--time="$time_limit")
[ -z "$mem" ] || task_cmd+=(--mem="$mem")
task_cmd+=("${common[@]}" "$here/job.sh" task --bin "$bin" --out "$out" --shards "$tasks" --
  "${bench_args[@]}")

merge_cmd=(sbatch --parsable --job-name="$job_name-merge" --cpus-per-task=1
  --time="$merge_time" --kill-on-invalid-dep=yes --output="$out/logs/merge-%j.out"
  "${common[@]}")

# Prints a command as it can be pasted into a shell (words quoted only where needed).
show() {
  local sep='' a
  for a in "$@"; do
    case $a in
      '' | *[!A-Za-z0-9_./=:,%@+-]*) a="'${a//\'/\'\\\'\'}'" ;;
    esac
    printf '%s%s' "$sep" "$a"
    sep=' '
  done
  printf '\n'
}

if [ "$dry_run" = 1 ]; then
  echo "# $tasks task(s), array $array, results under $out (nothing submitted)"
  [ -z "$cells" ] || echo "# the grid holds $cells cells (bench --list)"
  show mkdir -p "$out/logs"
  show "${task_cmd[@]}"
  if [ "$merge" = 1 ]; then
    show "${merge_cmd[@]}" --dependency=afterok:ARRAY_JOB_ID "$here/job.sh" \
      merge --bin "$bin" --out "$out" --shards "$tasks"
    echo "# ARRAY_JOB_ID: the job id the first sbatch prints"
  fi
  exit 0
fi

mkdir -p "$out/logs"
array_out=$("${task_cmd[@]}") || die "sbatch refused the array job (its message is above)"
array_id=${array_out%%;*}
case $array_id in '' | *[!0-9]*) die "unexpected sbatch output: $array_out" ;; esac
echo "array job $array_id: tasks $array of $tasks, shards in $out/shard-I-of-$tasks"
if [ "$merge" = 1 ]; then
  merge_out=$("${merge_cmd[@]}" --dependency=afterok:"$array_id" "$here/job.sh" \
    merge --bin "$bin" --out "$out" --shards "$tasks") ||
    die "sbatch refused the merge job (its message is above); the array job $array_id runs on"
  merge_id=${merge_out%%;*}
  echo "merge job $merge_id: after every task succeeds, report in $out/merged/report.md"
  echo "watch: squeue -j $array_id,$merge_id    logs: $out/logs/"
else
  echo "watch: squeue -j $array_id    logs: $out/logs/"
fi

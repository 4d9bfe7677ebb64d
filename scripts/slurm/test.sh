#!/usr/bin/env bash
# shellcheck disable=SC2015 # `A && B || fail ...` asserts: fail exits.
# Tests scripts/slurm/ on a real single-node Slurm started here, as root, without systemd or
# cgroups (munged, slurmctld and slurmd in a temporary directory, on 127.0.0.1):
#   case 1  a 4-task array job and its merge job give a report.csv byte-identical to a
#           one-process run of the same grid;
#   case 2  one running task is requeued (`scontrol requeue`) and another cancelled
#           (`scancel`): the merge job is cancelled (afterok never satisfied), the cancelled
#           task is resubmitted with `submit.sh --only`, the merge equals the one-process run,
#           and both interrupted tasks resumed: the lines written before the kill are kept
#           byte for byte and the resumed attempt ran only the cells that were not finished;
#   case 3  a grid whose cells fail: the tasks succeed, the merge job fails listing them.
# Every daemon it starts is stopped by PID on exit, also on failure. Needs a release build
# (cargo build --release) and Debian's slurm-wlm and munge (--install installs them with
# apt-get). Usage: scripts/slurm/test.sh [--install] [--keep] [--run N DIR -- BENCH-ARGS]
#   --keep   keep the temporary directory (configuration, logs, results) after a pass
#   --run N DIR -- BENCH-ARGS
#            instead of the cases, submit BENCH-ARGS as an N-task array (1 CPU per task)
#            and its merge job into DIR on the same Slurm, wait for both and print their
#            run times (how the README's whole-paper time is measured)
# Environment: ANOONLY_BIN (default target/release/anoonly), SLURM_TEST_SEEDS (seeds of the
# grid, default 12: 36 cells, 10-30 s, per task on one core).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
slurm_dir=$repo/scripts/slurm
bin=${ANOONLY_BIN:-$repo/target/release/anoonly}
install=0 keep=0 run_tasks='' run_out='' run_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --install) install=1 ;;
    --keep) keep=1 ;;
    --run)
      [ $# -ge 4 ] && [ "$4" = -- ] || { echo "test.sh: usage: --run N DIR -- BENCH-ARGS" >&2; exit 2; }
      run_tasks=$2 run_out=$(realpath -m "$3")
      shift 4
      run_args=("$@")
      break
      ;;
    -h | --help) sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

start=$(date +%s.%N)
elapsed() { awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }'; }
say() { printf '[%6ss] %s\n' "$(elapsed)" "$*"; }
passed=0
W=''
pids=()       # daemons we started: munged slurmctld slurmd
pid_names=()

ok() { passed=$((passed + 1)); say "ok: $*"; }
fail() {
  say "FAIL: $*"
  exit 1
}

# ---- prerequisites -------------------------------------------------------------------
[ "$(id -u)" = 0 ] || { echo "test.sh: needs root (it runs slurmctld and slurmd as root)" >&2; exit 2; }
[ -x "$bin" ] || { echo "test.sh: no binary at $bin: run cargo build --release" >&2; exit 2; }

retry() { # retry N CMD...: runs CMD up to N times, 10 s apart
  local n=$1 i
  shift
  for ((i = 1; i <= n; i++)); do
    "$@" && return 0
    [ "$i" = "$n" ] || { echo "test.sh: attempt $i of $n failed: $*; retrying in 10 s" >&2; sleep 10; }
  done
  return 1
}
if ! command -v slurmctld > /dev/null || ! command -v slurmd > /dev/null ||
  ! command -v munged > /dev/null || ! command -v mungekey > /dev/null; then
  if [ "$install" = 0 ]; then
    echo "test.sh: slurm-wlm and munge are not installed: pass --install, or" >&2
    echo "  apt-get install --no-install-recommends slurm-wlm munge" >&2
    exit 2
  fi
  say "installing slurm-wlm and munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt_log=$(mktemp /tmp/anoonly-slurm-apt.XXXXXX)
  retry 3 apt-get update -q > "$apt_log" 2>&1 || { cat "$apt_log"; fail "apt-get update"; }
  retry 3 apt-get install -y -q --no-install-recommends slurm-wlm munge >> "$apt_log" 2>&1 ||
    { tail -n 40 "$apt_log"; fail "apt-get install slurm-wlm munge"; }
  rm -f "$apt_log"
  say "installed: $(dpkg-query -W -f '${Package} ${Version}; ' slurm-wlm munge)"
fi

# ---- daemons -------------------------------------------------------------------------
W=$(mktemp -d /tmp/anoonly-slurm-test.XXXXXX)
chmod 755 "$W" # munged wants every directory above its socket searchable by all
mkdir -m 755 "$W/munge"
mkdir "$W/state" "$W/spool" "$W/log"

stop_daemons() {
  local i pid t
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do # slurmd, slurmctld, then munged
    pid=${pids[i]}
    kill -0 "$pid" 2> /dev/null || continue
    kill -TERM "$pid" 2> /dev/null || true
    for ((t = 0; t < 50; t++)); do kill -0 "$pid" 2> /dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2> /dev/null; then
      echo "test.sh: ${pid_names[i]} (pid $pid) ignored SIGTERM for 10 s: SIGKILL" >&2
      kill -KILL "$pid" 2> /dev/null || true
    fi
    wait "$pid" 2> /dev/null || true
  done
}

on_exit() {
  local rc=$? p left
  trap - EXIT
  set +e
  if [ "$rc" != 0 ] && [ -n "$W" ]; then
    echo "==== test.sh failed (exit $rc): Slurm state and logs from $W"
    squeue 2> /dev/null
    scontrol show node 2> /dev/null | head -n 20
    for f in "$W"/log/*.log "$W"/munged.log; do
      [ -f "$f" ] && { echo "---- tail of $f"; tail -n 30 "$f"; }
    done
    for f in "$W"/case*/logs/*.out; do
      [ -f "$f" ] && { echo "---- tail of $f"; tail -n 15 "$f"; }
    done
  fi
  # Jobs first (their processes end with them), then the daemons, by PID.
  if [ ${#pids[@]} -gt 0 ] && kill -0 "${pids[1]:-0}" 2> /dev/null; then
    left=$(squeue -h -o %A 2> /dev/null | sort -u | tr '\n' ' ')
    if [ -n "$left" ]; then
      echo "test.sh: cancelling jobs still queued: $left"
      # shellcheck disable=SC2086 # job ids, one word each
      scancel $left
      for ((p = 0; p < 100; p++)); do [ -z "$(squeue -h 2> /dev/null)" ] && break; sleep 0.2; done
    fi
  fi
  stop_daemons
  # Any process still running from this test's directory (a job step cut off): by PID.
  left=''
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = $$ ] && continue
    tr '\0' ' ' 2> /dev/null < "/proc/$p/cmdline" | grep -qF "$W/" && left="$left $p"
  done
  if [ -n "$left" ]; then
    echo "test.sh: killing leftover processes of this test:$left"
    # shellcheck disable=SC2086 # pids
    kill -KILL $left 2> /dev/null
  fi
  if [ "$rc" = 0 ] && [ "$keep" = 0 ]; then
    rm -rf "$W"
  elif [ -n "$W" ]; then
    echo "test.sh: kept $W"
  fi
  say "total time"
  if [ "$rc" = 0 ]; then echo "slurm: $passed passed, 0 failed"; else echo "slurm: $passed passed, 1 failed"; fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Two free TCP ports for slurmctld and slurmd (another Slurm may use the defaults).
port_free() {
  local hex
  hex=$(printf ':%04X ' "$1")
  ! grep -q "$hex" /proc/net/tcp /proc/net/tcp6 2> /dev/null
}
port=$((20000 + RANDOM % 20000))
while ! port_free "$port" || ! port_free $((port + 1)); do port=$((port + 2)); done

mungekey -c -k "$W/munge.key"
munged -F --socket="$W/munge/munge.sock" --key-file="$W/munge.key" \
  --pid-file="$W/munge/munged.pid" --log-file="$W/munged.log" --seed-file="$W/munged.seed" \
  > "$W/log/munged.out" 2>&1 &
pids+=($!) pid_names+=(munged)

node=$(slurmd -C | head -n 1)                # NodeName=... CPUs=... RealMemory=...
name=$(printf '%s\n' "$node" | sed 's/^NodeName=\([^ ]*\).*/\1/')
cat > "$W/slurm.conf" << EOF
# Single-node test cluster of scripts/slurm/test.sh (no systemd, no cgroups, no accounting).
ClusterName=anoonlytest
SlurmctldHost=$name(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (default 120 s; 10 s here).
AuthInfo=socket=$W/munge/munge.sock,cred_expire=10
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/log/slurmctld.log
SlurmdLogFile=$W/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
DependencyParameters=kill_invalid_depend
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=900
KillWait=5
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$W/slurm.conf
slurmctld -D -f "$SLURM_CONF" > "$W/log/slurmctld.out" 2>&1 &
pids+=($!) pid_names+=(slurmctld)
slurmd -D -f "$SLURM_CONF" > "$W/log/slurmd.out" 2>&1 &
pids+=($!) pid_names+=(slurmd)

# wait_until SECONDS DESCRIPTION CMD...: polls CMD every 0.2 s.
wait_until() {
  local limit=$1 what=$2 t0
  shift 2
  t0=$(date +%s)
  until "$@"; do
    [ $(($(date +%s) - t0)) -lt "$limit" ] || fail "timed out after ${limit}s waiting for $what"
    sleep 0.2
  done
}
node_idle() { [ "$(sinfo -h -o %T 2> /dev/null)" = idle ]; }
wait_until 60 "the node to register idle" node_idle
say "Slurm $(slurmctld -V | cut -d' ' -f2) up: munged, slurmctld, slurmd (pids ${pids[*]}), node: $node"
say "directory: $W, ports $port/$((port + 1))"
cd "$W"

# ---- helpers -------------------------------------------------------------------------
field() { # field JOB NAME: a field of `scontrol show job`
  scontrol show job -o "$1" 2> /dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
show_jobs() { # one line per job: id, name, state, reason, exit code, restarts, run time
  local j
  for j in "$@"; do
    scontrol show job -o "$j" | tr ' ' '\n' |
      awk -F= '/^(JobId|ArrayJobId|ArrayTaskId|JobName|JobState|Reason|ExitCode|Restarts|RunTime)=/ { v[$1] = $2 }
        END { id = v["ArrayTaskId"] != "" ? v["ArrayJobId"] "_" v["ArrayTaskId"] : v["JobId"]
              printf "    %-8s %-20s %-10s reason=%-24s exit=%s restarts=%s run=%s\n", id, v["JobName"], v["JobState"], v["Reason"], v["ExitCode"], v["Restarts"], v["RunTime"] }'
  done
}
queue_empty() { [ -z "$(squeue -h -j "$1" 2> /dev/null)" ]; }
submit() { # submit OUTFILE ARGS...: runs submit.sh, sets array_id and merge_id
  local o=$1
  shift
  "$slurm_dir/submit.sh" "$@" | tee "$o"
  array_id=$(sed -n 's/^array job \([0-9]*\):.*/\1/p' "$o")
  merge_id=$(sed -n 's/^merge job \([0-9]*\):.*/\1/p' "$o")
  [ -n "$array_id" ] && [ -n "$merge_id" ] || fail "submit.sh printed no job ids"
}
lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; } # complete lines

if [ -n "$run_out" ]; then
  say "run: bench ${run_args[*]} as a $run_tasks-task array (1 CPU each) into $run_out"
  run_start=$(date +%s)
  submit "$W/submit-run.txt" --tasks "$run_tasks" --cpus-per-task 1 --out "$run_out" -- "${run_args[@]}"
  wait_until 86400 "the run's jobs" queue_empty "$array_id,$merge_id"
  tasks=()
  for ((i = 1; i <= run_tasks; i++)); do tasks+=("${array_id}_$i"); done
  show_jobs "${tasks[@]}" "$merge_id"
  [ "$(field "$merge_id" JobState)" = COMPLETED ] || fail "the merge job: $(field "$merge_id" JobState)"
  tail -n 3 "$run_out/logs/merge-$merge_id.out"
  ok "run: $(lines "$run_out/merged/results.jsonl") cells merged into $run_out/merged, submission to merge end in $(($(date +%s) - run_start)) s"
  exit 0
fi
keys_of_results() { sed 's/^{"key":"\([^"]*\)".*/\1/' "$@"; }
cell_keys_of_log() { sed -n 's/^\[[0-9]*\/[0-9]*\] \([^:]*\): .*/\1/p' "$@"; }
running_with() { # running_with TASK FILE N: task running and FILE has >= N complete lines
  [ "$(field "$1" JobState)" = RUNNING ] && [ "$(lines "$2")" -ge "$3" ]
}

# ---- the grid and its one-process run ------------------------------------------------
seeds=$(seq -s, 0 $((${SLURM_TEST_SEEDS:-12} - 1)))
# shellcheck disable=SC2054 # comma-separated values of one option
grid=(--suite quick --methods deepsad,devnet,prenet --seeds "$seeds")
say "grid: ${grid[*]}"
say "case 0: usage and refusals"
"$slurm_dir/submit.sh" --help > "$W/help.txt" && grep -q 'Usage: submit.sh --tasks N --out DIR' "$W/help.txt" ||
  fail "submit.sh --help"
if "$slurm_dir/submit.sh" --out x -- --suite quick 2> "$W/err.txt"; then fail "submit.sh without --tasks ran"; fi
grep -q -- '--tasks N is required' "$W/err.txt" || fail "submit.sh without --tasks: $(cat "$W/err.txt")"
if "$slurm_dir/submit.sh" -n 2 -o x -- --suite quick --shard 1/2 2> "$W/err.txt"; then fail "--shard passed through"; fi
grep -q 'must not contain --shard' "$W/err.txt" || fail "submit.sh with --shard: $(cat "$W/err.txt")"
if env -u SLURM_JOB_ID "$slurm_dir/job.sh" task --out x -- --suite quick 2> "$W/err.txt"; then fail "job.sh task ran outside Slurm"; fi
grep -q 'not running under Slurm' "$W/err.txt" || fail "job.sh task outside Slurm: $(cat "$W/err.txt")"
"$slurm_dir/submit.sh" -n 4 -o "$W/dry" --dry-run -- "${grid[@]}" | tee "$W/dry.txt"
[ "$(grep -c '^sbatch ' "$W/dry.txt")" = 2 ] && [ ! -e "$W/dry" ] || fail "--dry-run"
ok "usage text, refusals (no --tasks, --shard in BENCH-ARGS, job.sh outside Slurm), --dry-run submits nothing"

say "one-process run of the grid (2 threads)"
"$bin" --threads 2 bench "${grid[@]}" --out "$W/whole" 2>&1 | tail -n 5
cells=$(lines "$W/whole/results.jsonl")
say "one-process run: $cells cells"

# ---- case 1: array + merge -----------------------------------------------------------
say "case 1: 4-task array job and merge job"
submit "$W/submit1.txt" --tasks 4 --cpus-per-task 1 --out "$W/case1" -- "${grid[@]}"
wait_until 900 "case 1's jobs" queue_empty "$array_id,$merge_id"
show_jobs "${array_id}_1" "${array_id}_2" "${array_id}_3" "${array_id}_4" "$merge_id"
for i in 1 2 3 4; do
  [ "$(field "${array_id}_$i" JobState)" = COMPLETED ] || fail "task $i did not complete"
done
[ "$(field "$merge_id" JobState)" = COMPLETED ] || fail "merge job: $(field "$merge_id" JobState)"
echo "---- merge log"
cat "$W/case1/logs/merge-$merge_id.out"
cmp "$W/whole/report.csv" "$W/case1/merged/report.csv" ||
  fail "case 1: merged report.csv differs from the one-process run"
[ "$(lines "$W/case1/merged/results.jsonl")" = "$cells" ] || fail "case 1: merged cell count"
ok "case 1: merged report.csv ($cells cells from 4 tasks) is byte-identical to the one-process run"

# ---- case 2: requeue one running task, cancel another, resubmit, merge ----------------
say "case 2: kill and requeue"
submit "$W/submit2.txt" --tasks 4 --cpus-per-task 1 --out "$W/case2" -- "${grid[@]}"
a2=$array_id m2=$merge_id
r2=$W/case2/shard-2-of-4/results.jsonl
r3=$W/case2/shard-3-of-4/results.jsonl
wait_until 600 "task 2 running with 3 finished cells" running_with "${a2}_2" "$r2" 3
head -n "$(lines "$r2")" "$r2" > "$W/before-kill-2.jsonl"
scontrol requeue "${a2}_2"
say "scontrol requeue ${a2}_2 (running, $(lines "$W/before-kill-2.jsonl") cells in its results.jsonl)"
wait_until 600 "task 3 running with 3 finished cells" running_with "${a2}_3" "$r3" 3
head -n "$(lines "$r3")" "$r3" > "$W/before-kill-3.jsonl"
scancel "${a2}_3"
say "scancel ${a2}_3 (running, $(lines "$W/before-kill-3.jsonl") cells in its results.jsonl)"
squeue
merge_gone() { [ "$(field "$m2" JobState)" != PENDING ]; }
wait_until 900 "the merge job to leave PENDING" merge_gone
show_jobs "${a2}_1" "${a2}_2" "${a2}_3" "${a2}_4" "$m2"
[ "$(field "$m2" JobState)" = CANCELLED ] && [ "$(field "$m2" Reason)" = DependencyNeverSatisfied ] ||
  fail "merge job after a cancelled task: $(field "$m2" JobState) $(field "$m2" Reason), not CANCELLED DependencyNeverSatisfied"
[ "$(field "${a2}_2" JobState)" = COMPLETED ] && [ "$(field "${a2}_2" Restarts)" = 1 ] ||
  fail "requeued task 2: $(field "${a2}_2" JobState), restarts $(field "${a2}_2" Restarts)"
ok "case 2: the requeued task completed on its second attempt; the cancelled task made Slurm cancel the merge job (kill_invalid_depend), not leave it pending"
say "resubmitting task 3 only, with a new merge job"
submit "$W/submit3.txt" --tasks 4 --cpus-per-task 1 --out "$W/case2" --only 3 -- "${grid[@]}"
a3=$array_id m3=$merge_id
wait_until 900 "the resubmitted task and merge" queue_empty "$a3,$m3"
show_jobs "${a3}_3" "$m3"
[ "$(field "$m3" JobState)" = COMPLETED ] || fail "merge job: $(field "$m3" JobState)"
cmp "$W/whole/report.csv" "$W/case2/merged/report.csv" ||
  fail "case 2: merged report.csv differs from the one-process run"
ok "case 2: after requeue, cancel and resubmission the merged report.csv is byte-identical to the one-process run"

# check_resumed TASK LOG SNAPSHOT RESULTS: the attempt after the kill (the part of LOG from
# the last task header on) resumed: the lines written before the kill are a byte prefix of
# the final results, its summary says K already done and R run with K + R = the shard's
# cells, K >= the snapshot, and the cells it ran are exactly those not finished before it.
check_resumed() {
  local task=$1 log=$2 snap=$3 res=$4 attempt summary c k r n_snap n_res ran
  attempt=$W/attempt-$task.log
  awk '/^== anoonly bench task /{ buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' \
    "$log" > "$attempt"
  echo "---- task $task: its resumed attempt (from $log)"
  grep -E '^== |^\+ |cells \(' "$attempt"
  n_snap=$(lines "$snap") n_res=$(lines "$res")
  cmp -s "$snap" <(head -c "$(stat -c %s "$snap")" "$res") ||
    fail "task $task: the $n_snap lines written before the kill were not kept byte for byte"
  summary=$(grep -E '^[0-9]+ cells \([0-9]+ already done, [0-9]+ run, [0-9]+ failed\)' "$attempt" | tail -n 1)
  [ -n "$summary" ] || fail "task $task: no run summary in the resumed attempt's log"
  read -r c k r <<< "$(printf '%s\n' "$summary" | sed 's/^\([0-9]*\) cells (\([0-9]*\) already done, \([0-9]*\) run.*/\1 \2 \3/')"
  ran=$(cell_keys_of_log "$attempt" | sort)
  [ "$c" = "$n_res" ] && [ $((k + r)) = "$c" ] ||
    fail "task $task: summary '$summary' against $n_res results"
  [ "$k" -ge "$n_snap" ] && [ "$k" -gt 0 ] || fail "task $task: $k already done < $n_snap written before the kill"
  [ "$(printf '%s\n' "$ran" | grep -c .)" = "$r" ] || fail "task $task: $r run but the log lists other cells"
  [ -z "$(comm -12 <(printf '%s\n' "$ran") <(keys_of_results "$snap" | sort))" ] ||
    fail "task $task: the resumed attempt recomputed cells finished before the kill"
  [ "$(keys_of_results "$res" | sort | uniq -d)" = "" ] || fail "task $task: a cell twice in results.jsonl"
  [ "$(keys_of_results "$res" | sort)" = "$(sort -u <(keys_of_results "$res" | head -n "$k") <(printf '%s\n' "$ran") | grep .)" ] ||
    fail "task $task: results are not the $k kept cells plus the $r run"
  ok "task $task resumed: $n_snap lines written before the kill kept byte for byte; '$summary'; the $r cells it ran are exactly the ones not yet finished"
}
echo "---- task 2's log (both attempts)"
cat "$W/case2/logs/task-${a2}_2.out"
grep -q 'attempt 2 (restart count 1)' "$W/case2/logs/task-${a2}_2.out" || fail "task 2's log has no second attempt"
check_resumed 2 "$W/case2/logs/task-${a2}_2.out" "$W/before-kill-2.jsonl" "$r2"
echo "---- task 3's log of the cancelled attempt (tail)"
tail -n 3 "$W/case2/logs/task-${a2}_3.out"
check_resumed 3 "$W/case2/logs/task-${a3}_3.out" "$W/before-kill-3.jsonl" "$r3"

# ---- case 3: failing cells fail the merge job ----------------------------------------
say "case 3: a grid whose DeepSAD cells fail"
submit "$W/submit4.txt" --tasks 2 --out "$W/case3" -- --suite quick --methods deepsad,devnet \
  --set 'deepsad:hidden=[100000000000]'
wait_until 300 "case 3's jobs" queue_empty "$array_id,$merge_id"
show_jobs "${array_id}_1" "${array_id}_2" "$merge_id"
echo "---- merge log"
cat "$W/case3/logs/merge-$merge_id.out"
[ "$(field "$merge_id" JobState)" = FAILED ] || fail "merge job with failed cells: $(field "$merge_id" JobState)"
[ "$(lines "$W/case3/merged/failures.jsonl")" = 8 ] || fail "merged failures.jsonl should list 8 cells"
grep -q '8 failed' "$W/case3/merged/report.md" || fail "merged report.md does not count 8 failed cells"
ok "case 3: 8 failed cells: the merge job failed, listing them, and the merged report counts them"

say "all cases passed"

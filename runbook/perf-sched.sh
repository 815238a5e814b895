#!/usr/bin/env bash
# perf-sched.sh: the scheduler-latency recipe of RUNBOOK.md "Performance": records the scheduler's context switches
# and wake-ups system-wide with perf while echo-load drives ping-pong traffic, then prints `perf sched latency`
# for the server's processes (how long each waited for a CPU after being woken) and for the load generator.
#
# Usage: perf-sched.sh [--start SERVER_BINARY] [--load ECHO_LOAD] [--duration SEC] [HOST:PORT]
#   --start BINARY  start BINARY --listen 127.0.0.1:0 --workers 2 and measure it (stopped again at the end);
#                   otherwise HOST:PORT names a running server (default 127.0.0.1:7007)
#   --load BIN      the echo-load binary (default: build/echo-load beside this script's repository, then PATH)
#   --duration SEC  seconds of load, and so of recording (default 2)
# Environment: PERF (default perf). Needs root (or a low kernel.perf_event_paranoid) for system-wide recording.
# Exit status: 0 recorded and reported, 1 failure, 2 usage, 77 skipped: perf is missing or cannot record the
# sched tracepoints here (no tracefs, perf_event_paranoid, a container without CAP_PERFMON); the reason is printed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=runbook/lib/common.sh
source "$here/lib/common.sh"
# shellcheck source=runbook/lib/server.sh
source "$here/lib/server.sh"
synopsis="perf-sched.sh [--start SERVER_BINARY] [--load ECHO_LOAD] [--duration SEC] [HOST:PORT]"
server_bin=""
load_bin=""
duration=2
target=127.0.0.1:7007
while (($#)); do
    case $1 in
        --start) server_bin=${2:-}; [[ -n $server_bin ]] || usage "--start needs a server binary"; shift ;;
        --load) load_bin=${2:-}; [[ -n $load_bin ]] || usage "--load needs a binary"; shift ;;
        --duration) duration=${2:-}; shift ;;
        -*) usage "unknown option $1" ;;
        *) target=$1 ;;
    esac
    shift
done
if ! [[ $duration =~ ^[1-9][0-9]*$ ]] || ((duration > 60)); then usage "--duration must be 1-60 seconds"; fi
[[ -z $server_bin ]] || need_executable "$server_bin"
load_bin=$(echo_load_path "$load_bin") || fail "echo-load not found (build it, or pass --load)"
perf=${PERF:-perf}
command -v "$perf" >/dev/null || skip "$perf is not installed (Debian: linux-perf)"
make_workdir

# The probe: can this machine record the tracepoint at all? (perf mounts tracefs itself where it may.)
if ! timeout 30 "$perf" record -q -a -e sched:sched_switch -o "$workdir/probe.data" -- true \
    >"$workdir/probe.out" 2>&1; then
    skip "'$perf record -a -e sched:sched_switch' does not work here: $(grep -m1 -v '^ *$' "$workdir/probe.out" || echo "no message")"
fi

if [[ -n $server_bin ]]; then
    server_start "$server_bin" || fail "the server did not start"
    target=127.0.0.1:$server_port
    master=$server_master
fi

# `perf sched latency` needs the wake-ups as well as the switches: the delay it reports runs from a task's
# wake-up (sched_wakeup) to the switch that puts it on a CPU (sched_switch); sched_stat_runtime gives the runtime.
events=(-e sched:sched_switch -e sched:sched_wakeup -e sched:sched_wakeup_new -e sched:sched_stat_runtime)
echo "\$ perf record -a ${events[*]} -o perf.data -- \\"
echo "      echo-load --target $target --mode pingpong -c 8 -s 64 -d $duration"
# perf runs the load as its workload; the small sh in between writes echo-load's pid, so its rows can be told
# from any other echo-load on the machine (-a records every task).
# shellcheck disable=SC2016  # $$ and $@ belong to that sh
timeout $((duration + 60)) "$perf" record -q -a "${events[@]}" -o "$workdir/perf.data" -- \
    sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$workdir/load.pid" \
    "$load_bin" --target "$target" --mode pingpong -c 8 -s 64 -d "$duration" --json \
    >"$workdir/load.json" 2>"$workdir/record.err" &
perf_pid=$!
load_tids=""
deadline=$((SECONDS + 10))
while kill -0 "$perf_pid" 2>/dev/null && ((SECONDS < deadline)); do
    if [[ -s $workdir/load.pid ]]; then  # its threads: the main one and one load thread (-t 1)
        load_tids=$(find "/proc/$(cat "$workdir/load.pid")/task" -mindepth 1 -maxdepth 1 -printf '%f ' 2>/dev/null || true)
        (($(wc -w <<<"$load_tids") >= 2)) && break
    fi
    sleep 0.05
done
rc=0
wait "$perf_pid" || rc=$?
if ((rc != 0)); then
    cat "$workdir/record.err" >&2
    fail "perf record or echo-load failed (exit $rc)"
fi
grep -o '"ops_per_s":[0-9.]*\|"latency_p50_us":[0-9.]*\|"latency_p99_us":[0-9.]*\|"errors":[0-9]*' \
    "$workdir/load.json" | tr '\n' ' '
echo "($(du -h "$workdir/perf.data" | cut -f1) of perf.data)"

# -p: one row per thread, so the master and each worker show apart. Columns: runtime on a CPU, context switches,
# average and maximum delay between wake-up and running, and when the worst delay happened.
echo "\$ perf sched latency -p --sort max -i perf.data    (the rows of this server and this echo-load)"
timeout 120 "$perf" sched latency -p --sort max -i "$workdir/perf.data" >"$workdir/latency.txt" 2>"$workdir/latency.err" ||
    { cat "$workdir/latency.err" >&2; fail "perf sched latency failed"; }
ours=$load_tids
if [[ -n $server_bin ]]; then
    workers=$(children_of "$master")
    ours+=" $master $workers"
fi
# Keep the header, the total, and the rows of our tasks (any echo-hardened row when the server is not ours).
awk -v ours=" $ours " -v any_server="$([[ -z $server_bin ]] && echo 1)" '
    NR <= 3 || /TOTAL:/ { print; next }
    match($0, /^ *[^ |]+:[0-9]+ /) {
        task = substr($0, RSTART, RLENGTH); gsub(/ /, "", task); tid = task; sub(/.*:/, "", tid)
        if (index(ours, " " tid " ") || (any_server && task ~ /^echo-hardened:/)) print
    }' "$workdir/latency.txt" | cut -c1-140
[[ -z $server_bin ]] || echo "(echo-hardened: master $master, workers $workers; echo-load: threads $load_tids)"
rows=$(grep -c 'echo-hardened:' "$workdir/latency.txt" || true)
if [[ -n $server_bin ]]; then
    rows=$(grep -cE "echo-hardened:($(tr ' ' '|' <<<"$master $workers")) " "$workdir/latency.txt" || true)
    server_stop 30 || fail "the server exited $server_status on SIGTERM, expected 0"
fi
((rows > 0)) || fail "no echo-hardened task in the recording: is $target an echo-hardened server?"
echo "perf-sched: $rows echo-hardened process(es) in the scheduler trace"

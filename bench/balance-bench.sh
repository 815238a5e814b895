#!/usr/bin/env bash
# Balance benchmark: how evenly echo-hardened and the epoll floors spread connections and CPU time over their workers,
# and their throughput when every server process has a CPU quota of its own (a core per worker, simulated).
#
# For each worker count, server (the floor with one SO_REUSEPORT socket per worker, the floor sharing one socket
# through EPOLLEXCLUSIVE, echo-hardened) and mode (bound by the server; socket-activated by systemd-socket-activate),
# it runs ping-pong, connection churn and held connections, and prints each worker's share of the connections and of
# the CPU time, the busiest worker's share and its ratio to the fair share. Then the capped workload. See README.md.
# Usage: balance-bench.sh [--quick] [--workers LIST] [--duration SEC] [--hold N] ... (--help lists them)
set -euo pipefail

synopsis="balance-bench.sh [OPTIONS]; --help lists them"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=runbook/lib/common.sh
source "$repo/runbook/lib/common.sh"
# shellcheck source=runbook/lib/server.sh
source "$repo/runbook/lib/server.sh"
# shellcheck source=bench/cpu-quota.sh
source "$repo/bench/cpu-quota.sh"

print_help() {
    cat <<'EOF'
Usage: balance-bench.sh [OPTIONS]
  --quick               2 workers, 1 s per workload, 20 ping-pong and 10 churn connections, hold 300 (a smoke run)
  --workers LIST        worker counts, comma list (default 2,4,8)
  --duration SEC        measured seconds per workload (default 3; a warm-up of a sixth of it comes first)
  --pingpong N          ping-pong connections (default 100)
  --churn N             concurrent connections of the churn workload, echo-load's connrate mode (default 50)
  --hold N              held connections (default 10000)
  --servers LIST        comma list of floor-reuseport,floor-exclusive,echo-hardened (default: all)
  --capped-workers LIST worker counts for the capped workload (default 2,4: a fifth of a CPU each stays below
                        the one CPU the client leaves on a 2-CPU machine; 'none' skips it)
  --quota PERCENT       each capped process's quota, in percent of one CPU (default 20)
  --server BIN          echo-hardened binary (default: build/echo-hardened)
  --floor BIN           epoll-floor binary (default: build/epoll-floor)
  --load BIN            echo-load binary (default: build/echo-load)
  --counter BIN         worker-sockets binary (default: build/worker-sockets)
EOF
}

server_bin=$repo/build/echo-hardened
floor_bin=$repo/build/epoll-floor
load_bin=$repo/build/echo-load
counter_bin=$repo/build/worker-sockets
worker_list=2,4,8
duration=3
pingpong_conns=100
churn_conns=50
hold_conns=10000
server_list=floor-reuseport,floor-exclusive,echo-hardened
capped_list=2,4
quota_percent=20

# The options that take a value, and the variable each sets.
declare -A option_sets=(
    [--workers]=worker_list [--duration]=duration [--pingpong]=pingpong_conns [--churn]=churn_conns
    [--hold]=hold_conns [--servers]=server_list [--capped-workers]=capped_list [--quota]=quota_percent
    [--server]=server_bin [--floor]=floor_bin [--load]=load_bin [--counter]=counter_bin
)
while (($#)); do
    case $1 in
        --quick) worker_list=2 duration=1 pingpong_conns=20 churn_conns=10 hold_conns=300 capped_list=2 ;;
        -h | --help) print_help; exit 0 ;;
        *)
            [[ -n ${option_sets[$1]:-} ]] || usage "unknown argument '$1'"
            (($# >= 2)) || usage "$1 needs a value"
            printf -v "${option_sets[$1]}" '%s' "$2"
            shift
            ;;
    esac
    shift
done
[[ $worker_list =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || usage "--workers wants a comma list of positive integers"
[[ $capped_list =~ ^(none|[1-9][0-9]*(,[1-9][0-9]*)*)$ ]] || usage "--capped-workers wants a comma list or 'none'"
[[ $duration =~ ^[1-9][0-9]*$ ]] || usage "--duration wants a positive number of seconds"
for n in "$pingpong_conns" "$churn_conns" "$hold_conns" "$quota_percent"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || usage "'$n' is not a positive integer"
done
IFS=, read -r -a worker_counts <<<"$worker_list"
IFS=, read -r -a servers <<<"$server_list"
for s in "${servers[@]}"; do
    case $s in floor-reuseport | floor-exclusive | echo-hardened) ;; *) usage "unknown server '$s'" ;; esac
done
for bin in "$load_bin" "$counter_bin"; do need_executable "$bin"; done
need setsid timeout
warmup=$(awk -v d="$duration" 'BEGIN { printf "%.2f", d / 6 }')
clk_tck=$(getconf CLK_TCK)

ulimit -n "$(ulimit -Hn)"  # the hold workload's connections, in the client and in every server (inherited)
# shellcheck disable=SC2317  # called by the exit trap (lib/common.sh), pass or fail: no cgroup of ours outlives it
on_exit() { quota_release; }
make_workdir
server_group=1  # each server leads a process group: stopping it, or the exit trap, reaches every worker
progress() { echo "balance-bench: $*" >&2; }
status=0                           # 1 once a server could not start or a workload gave no figure at all
declare -A reference=()            # the SO_REUSEPORT floor's rates: "WORKERS|WORKLOAD" (bound) and "capped|WORKERS"

# ---------------------------------------------------------------------------------------------------------------
# Servers: started and stopped with runbook/lib/server.sh; a server's workers are its master's children.

# start SERVER WORKERS MODE: sets master, port and workers (the worker pids), or returns 1 with why set.
start() {
    local server=$1 n=$2 mode=$3 bin=$floor_bin args=(--workers "$2")
    server_name=$server-$n-$mode
    case $server in
        echo-hardened) bin=$server_bin ;;
        floor-reuseport) args+=(--reuseport) ;;
    esac
    [[ -x $bin ]] || { why="$bin is not an executable"; return 1; }
    if [[ $mode == bound ]]; then
        server_start "$bin" --listen 127.0.0.1:0 "${args[@]}" || { why="no ready line: $(tail -n1 "$server_log")"; return 1; }
    else
        port=$(free_port) || { why="no free port"; return 1; }
        server_launch systemd-socket-activate -l "127.0.0.1:$port" "$bin" "${args[@]}"
        server_wait_line 'Listening on' 10 || { why="systemd-socket-activate did not listen"; return 1; }
        # It execs the server at the first connection attempt; this one is accepted and closed like any other.
        exec {poke}<>"/dev/tcp/127.0.0.1/$port"
        exec {poke}<&-
        server_wait_ready 15 || { why="no ready line: $(tail -n1 "$server_log")"; return 1; }
        server_follow
    fi
    master=$server_master port=$server_port
    wait_until 5 has_children "$master" "$n" || true
    read -r -a workers <<<"$(children_of "$master")"
    ((${#workers[@]} == n)) || { why="$((${#workers[@]})) workers, not $n"; return 1; }
}
# shellcheck disable=SC2317  # called through wait_until
has_children() { local kids; kids=$(children_of "$1"); (($(wc -w <<<"$kids") == $2)); }

stop() {  # whatever start got as far as launching
    if [[ -n ${server_pid:-} ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        server_wait_exit "$server_pid" 20 || true
    fi
    [[ -z ${drain_pid:-} ]] || server_drained 5
    server_pid="" drain_pid=""
}

cap_all() {  # the master (or the floor's parent) and every worker, each in a cgroup of its own
    local pid
    for pid in "$master" "${workers[@]}"; do quota_cap "$pid" "$quota_percent" || return 1; done
}

# ---------------------------------------------------------------------------------------------------------------
# Counting: connections and CPU time per worker, each printed in the order of $workers.

held_counts() { "$counter_bin" --port "$port" "${workers[@]}" | awk '{ print $2 }' | xargs; }

cpu_ticks() {  # utime + stime; the fields after the command name, which may hold spaces
    local pid
    for pid in "${workers[@]}"; do sed -E 's/^.*\) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }' || echo 0; done | xargs
}

# accepted_counts SERVER: each worker's total of accepted connections. echo-hardened: the master's SIGUSR1 status
# table, from the reports workers send with each heartbeat (at most a second apart, hence the wait first); the
# floor: each worker answers SIGUSR1 itself.
accepted_counts() {
    local regex pid before
    if [[ $1 == echo-hardened ]]; then
        regex='  worker [0-9]+ pid [0-9]+ gen'
        before=$(server_log_count "$regex")
        sleep 1.2
        kill -USR1 "$master"
    else
        regex='epoll-floor: worker [0-9]+ accepted'
        before=$(server_log_count "$regex")
        kill -USR1 "${workers[@]}"
    fi
    server_wait_log "$regex" 10 $((before + ${#workers[@]})) >&2 || true
    for pid in "${workers[@]}"; do
        { grep -E "(worker [0-9]+ pid $pid gen|epoll-floor: worker $pid accepted)" "$server_log" || true; } | tail -n1 |
            grep -oE '(([0-9]+) served|accepted [0-9]+)' | grep -oE '[0-9]+' || echo 0
    done | xargs
}

minus() { awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " "); for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? " " : ""), x[i] - y[i] }'; }

# spread "V1 V2 ..." -> "TOTAL|SHARES|BUSIEST|RATIO|VERDICT": each value's percentage of the total, the largest, its
# ratio to the fair share (1/N), and whether it meets the issue's target (<= 55% with 2 workers, else <= 1.15x).
spread() {
    awk -v list="$1" 'BEGIN {
        n = split(list, v, " "); for (i = 1; i <= n; i++) { t += v[i]; if (v[i] > m) m = v[i] }
        if (t == 0) { print "0|-|-|-|"; exit }
        for (i = 1; i <= n; i++) s = s sprintf("%s%.0f", (i > 1 ? " " : ""), 100 * v[i] / t)
        r = m / t * n
        ok = (n == 2 ? m / t <= 0.55 : r <= 1.15) ? "" : " over"
        printf "%d|%s|%.0f%%|%.2f%s|\n", t, s, 100 * m / t, r, ok }'
}

# ---------------------------------------------------------------------------------------------------------------
# Workloads. Each sets conns (per worker), cpu (ticks per worker), rate (a text) and rc (echo-load's exit status).

json_num() { { grep -o "\"$2\":[0-9.]*" "$1" || true; } | head -n1 | cut -d: -f2; }
first_error() { { grep -o '"first_error":"[^"]*"' "$1" || true; } | cut -d'"' -f4; }

# load_start ARGS...: echo-load in the background, bounded by timeout(1); its summary in $workdir/load.out. The
# SIGKILL comes 30 s after a signal, not 2: timeout(1) arms it when it passes on the hold workload's SIGINT too, and
# closing 10,000 connections on a busy machine can take longer than 2 s.
load_start() {
    : >"$workdir/load.err"
    timeout -k 30 "$load_budget" "$load_bin" --json --target "127.0.0.1:$port" "$@" >"$workdir/load.out" 2>"$workdir/load.err" &
    load_pid=$!
    started+=("$load_pid") started_groups+=("$load_pid")
}
load_end() { rc=0; server_wait_exit "$load_pid" "$load_budget" || rc=$?; }

pingpong() {  # the connections are counted once, halfway through the measured time
    local before
    before=$(cpu_ticks)
    load_start --mode pingpong -c "$pingpong_conns" -s 64 --duration "$duration" --warmup "$warmup"
    sleep "$(awk -v w="$warmup" -v d="$duration" 'BEGIN { print w + d / 2 }')"
    conns=$(held_counts)
    load_end
    cpu=$(minus "$(cpu_ticks)" "$before")
    rate=$(json_num "$workdir/load.out" ops_per_s)
}

churn() {
    local before accepted
    accepted=$(accepted_counts "$1")
    before=$(cpu_ticks)
    load_start --mode connrate -c "$churn_conns" -s 64 --duration "$duration" --warmup "$warmup"
    load_end
    cpu=$(minus "$(cpu_ticks)" "$before")
    conns=$(minus "$(accepted_counts "$1")" "$accepted")
    rate=$(json_num "$workdir/load.out" ops_per_s)
}

hold() {  # counted once every connection has made its first round trip (echo-load says so), or 60 s have passed
    local before
    before=$(cpu_ticks)
    load_start --mode hold -c "$hold_conns" --duration 120 --interval 1
    wait_until_or_exit 60 "$load_pid" grep -q 'connections established' "$workdir/load.err" || true
    cpu=$(minus "$(cpu_ticks)" "$before")
    wait_until 5 all_held || true
    conns=$(held_counts)
    kill -INT "$load_pid" 2>/dev/null || true  # timeout(1) passes it on; echo-load then prints its summary
    load_end
    rate=$(json_num "$workdir/load.out" held)
}
# shellcheck disable=SC2317  # called through wait_until
all_held() { local c; c=$(held_counts); (($(tr ' ' '+' <<<"$c") >= hold_conns)); }

# ---------------------------------------------------------------------------------------------------------------
# Output

row_format='%-16s %2s %-9s %-9s %6s  %-24s %7s %-11s %6s  %-24s %7s %-11s %s\n'
print_header() {
    echo "balance benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r), loopback;" \
        "${duration} s per workload after ${warmup} s warm-up; client: echo-load, 1 thread"
    echo "workloads: pingpong $pingpong_conns conns x 64 B; churn: connrate, $churn_conns concurrent x 64 B;" \
        "hold $hold_conns conns"
    echo "conns: pingpong, hold: ESTABLISHED sockets each worker holds (sock_diag matched to /proc/PID/fd), counted" \
        "once with every connection open; churn: connections each worker accepted during the run (echo-hardened:" \
        "its SIGUSR1 status table, 'served'; epoll-floor: its SIGUSR1 count)"
    echo "cpu: utime+stime of each worker over the run (/proc/PID/stat); shares in % per worker, in pid order;" \
        "x fair: busiest share / (1/workers); 'over': past the target (busiest <= 55% with 2 workers, else <= 1.15x)"
    echo "rate: pingpong round trips/s, churn connections/s, hold connections held; (x): ratio to floor-reuseport"
    echo
    # shellcheck disable=SC2059  # the format is the table's
    printf "$row_format" server w mode workload conns "share per worker %" busiest "x fair" "cpu s" \
        "cpu share per worker %" busiest "x fair" rate
}

# print_row SERVER WORKERS MODE WORKLOAD KEY: one table row from conns, cpu, rate, rc; KEY names the reference rate.
print_row() {
    local c p cpu_s text=fail
    [[ -z $rate ]] || text=$(printf '%.0f' "$rate")
    IFS='|' read -r -a c <<<"$(spread "$conns")"
    IFS='|' read -r -a p <<<"$(spread "$cpu")"
    cpu_s=$(awk -v t="${p[0]}" -v hz="$clk_tck" 'BEGIN { printf "%.2f", t / hz }')
    [[ $1 == floor-reuseport && -n $rate ]] && reference[$5]=$rate
    if [[ -n $rate && -n ${reference[$5]:-} && $4 != hold ]]; then
        text+=$(awk -v v="$rate" -v f="${reference[$5]}" 'BEGIN { if (f > 0) printf " (%.2fx)", v / f }')
    fi
    ((rc == 0)) || text+=" !"
    # shellcheck disable=SC2059
    printf "$row_format" "$1" "$2" "$3" "$4" "${c[0]}" "${c[1]}" "${c[2]}" "${c[3]}" "$cpu_s" "${p[1]}" "${p[2]}" \
        "${p[3]}" "$text"
    ((rc == 0)) || echo "  ! echo-load exit $rc: $(first_error "$workdir/load.out")"
    [[ -n $rate ]] || status=1
}

# ---------------------------------------------------------------------------------------------------------------
# Main

load_budget=$((duration * 2 + 150))
print_header
for n in "${worker_counts[@]}"; do
    for server in "${servers[@]}"; do
        for mode in bound activated; do
            if [[ $mode == activated && $server != echo-hardened ]]; then
                printf '%-16s %2s %-9s n/a: epoll-floor takes no sockets from systemd (it has no sd_listen_fds)\n' \
                    "$server" "$n" "$mode"
                continue
            fi
            if [[ $mode == activated ]] && ! command -v systemd-socket-activate >/dev/null; then
                printf '%-16s %2s %-9s n/a: systemd-socket-activate is not installed\n' "$server" "$n" "$mode"
                continue
            fi
            progress "$server, $n workers, $mode"
            if ! start "$server" "$n" "$mode"; then
                printf '%-16s %2s %-9s fail: %s\n' "$server" "$n" "$mode" "$why"
                status=1
                stop
                continue
            fi
            for wl in pingpong churn hold; do
                case $wl in pingpong) pingpong ;; churn) churn "$server" ;; hold) hold ;; esac
                print_row "$server" "$n" "$mode" "$wl" "$n|$wl"
            done
            stop
        done
    done
done

echo
if [[ $capped_list == none ]]; then
    echo "capped workload skipped: --capped-workers none"
elif ! quota_setup; then
    echo "capped workload skipped: $quota_reason"
else
    echo "capped: every server process (workers, and the master or parent) in a cgroup of its own with" \
        "$quota_percent% of one CPU ($quota_where, period ${quota_period_us} us); pingpong $pingpong_conns conns x 64 B"
    IFS=, read -r -a capped_counts <<<"$capped_list"
    for n in "${capped_counts[@]}"; do
        for server in "${servers[@]}"; do
            progress "$server, $n workers, capped"
            if ! start "$server" "$n" bound; then
                printf '%-16s %2s %-9s fail: %s\n' "$server" "$n" capped "$why"
                status=1
            elif ! cap_all; then
                printf '%-16s %2s %-9s capped workload skipped: %s\n' "$server" "$n" capped "$quota_reason"
            else
                pingpong
                print_row "$server" "$n" capped pingpong "capped|$n"
            fi
            stop
            quota_release
        done
    done
fi
exit "$status"

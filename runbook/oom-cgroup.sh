#!/usr/bin/env bash
# oom-cgroup.sh: the server driven into a memory cgroup's limit (docs/MEMORY.md): the OOM killer takes a worker,
# never the master, which logs it as an OOM kill and replaces it, while the other workers keep serving.
#
# Usage: oom-cgroup.sh SERVER_BINARY
#   Creates a memory cgroup of its own (cgroup v2 under /sys/fs/cgroup when the memory controller is there, else
#   cgroup v1's memory hierarchy, below this shell's own memory cgroup), starts SERVER_BINARY --workers 3
#   --buffer-size 8M in it, measures what the cgroup is charged for the idle server and for 2,000 idle
#   connections, checks the workers' oom_score_adj against the master's, then sets the limit to the current usage
#   + 40 MiB and opens 6 connections that send without ever reading (each pins 8 MiB of the worker's buffer, 48
#   MiB in all). Checks: the kernel's oom_kill count rose; a worker died of SIGKILL and the master logged the OOM
#   kill; the master is the same process; the workers it did not kill are the same processes and, with the
#   replacement, echo every byte (echo-load). The cgroup is removed, pass or fail.
# Needs root (it creates a cgroup). Skips (77) without a memory controller it can use.
# Exit status: 0 as described, 1 otherwise (each wrong fact named), 2 usage, 77 skipped.
set -euo pipefail

# shellcheck source=runbook/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=runbook/lib/server.sh
source "$(dirname "$0")/lib/server.sh"
synopsis="oom-cgroup.sh SERVER_BINARY"
(($# == 1)) || usage "give SERVER_BINARY"
bin=$1
need_executable "$bin"
load=$(dirname "$bin")/echo-load
need_executable "$load"
[[ $(id -u) == 0 ]] || skip "needs root to create a memory cgroup"
ulimit -n 8192 2>/dev/null || true  # this shell holds the client ends of the idle connections

# ---- a memory cgroup of our own: v2 if the controller is on the unified hierarchy, else v1
cg=""
if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null &&
    grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
    version=2
    cg=/sys/fs/cgroup/echo-oom-$$
    usage_file=memory.current limit_file=memory.max events_file=memory.events
elif v1=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/self/cgroup) && [[ -n $v1 ]] &&
    [[ -w /sys/fs/cgroup/memory${v1%/}/cgroup.procs ]]; then
    version=1
    cg=/sys/fs/cgroup/memory${v1%/}/echo-oom-$$
    usage_file=memory.usage_in_bytes limit_file=memory.limit_in_bytes events_file=memory.oom_control
else
    skip "no memory controller to use: not on cgroup v2's /sys/fs/cgroup (its cgroup.controllers:" \
        "'$(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)'), no writable cgroup v1 memory hierarchy"
fi
make_workdir
on_exit() {  # the processes in the cgroup are this script's server and its workers
    [[ -d $cg ]] || return 0
    local p
    while read -r p; do kill -KILL "$p" 2>/dev/null || true; done <"$cg/cgroup.procs"
    wait_until 10 cgroup_empty || echo "$me: $cg still holds $(xargs <"$cg/cgroup.procs")" >&2
    rmdir "$cg" || echo "$me: could not remove $cg" >&2
}
cgroup_empty() { [[ -z $(cat "$cg/cgroup.procs" 2>/dev/null) ]]; }
mkdir "$cg"
echo "memory cgroup v$version: $cg"
# No swap to hide the limit behind (the file is missing where the kernel has no swap accounting).
if [[ $version == 2 ]]; then echo 0 >"$cg/memory.swap.max" 2>/dev/null || true; fi
if [[ $version == 1 ]]; then echo 0 >"$cg/memory.swappiness" 2>/dev/null || true; fi
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
charged() { cat "$cg/$usage_file"; }
oom_kills() { awk '$1 == "oom_kill" {print $2}' "$cg/$events_file"; }
oom_score_adj() { cat "/proc/$1/oom_score_adj"; }

# ---- the server in it: sh enters the cgroup, then execs the server (so server_pid is the master)
echo "\$ echo-hardened --listen 127.0.0.1:0 --workers 3 --buffer-size 8M   # in $cg"
# shellcheck disable=SC2016  # expanded by that sh
server_wrapper=(sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cg")
server_start "$bin" --listen 127.0.0.1:0 --workers 3 --buffer-size 8M --log-level info ||
    fail "the server did not start"
master=$server_master
read -r -a workers <<<"$(children_of "$master")"
((${#workers[@]} == 3)) || fail "expected 3 workers, found '${workers[*]}'"
base=$(charged)
echo "charged to the cgroup, idle server (master + 3 workers): $base bytes ($(mib "$base"))"

# ---- what 2,000 idle connections cost the cgroup (the server's side only: this shell is outside it)
idle_fds=()
for ((i = 0; i < 2000; i++)); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$server_port"
    idle_fds+=("$fd")
done
open_conns() { (($(ss -Htn state established "sport = :$server_port" | wc -l) >= 2000)); }
wait_until 10 open_conns || true
held=$(charged)
echo "with 2,000 idle connections: $held bytes, $(((held - base) / 2000)) bytes per connection"
for fd in "${idle_fds[@]}"; do exec {fd}>&-; done
idle_fds=()

# ---- the OOM scores: every worker above the master
master_adj=$(oom_score_adj "$master")
echo "oom_score_adj: master $master_adj, workers $(for w in "${workers[@]}"; do printf '%s ' "$(oom_score_adj "$w")"; done)"
want=$((master_adj + 500 > 1000 ? 1000 : master_adj + 500))
for w in "${workers[@]}"; do check "worker $w's oom_score_adj is $want" [ "$(oom_score_adj "$w")" = "$want" ]; done

# ---- the limit, then 6 senders that never read: 6 x 8 MiB of buffers against 40 MiB of room
kills_before=$(oom_kills)
limit=$(($(charged) + 40 * 1048576))
echo "$limit" >"$cg/$limit_file"
echo "\$ echo $limit >$cg/$limit_file    # usage + 40 MiB"
senders=()
for ((i = 0; i < 6; i++)); do
    # Writes until the server's buffer is full and it stops reading, then blocks: it never reads its echo.
    head -c 1G /dev/zero 2>/dev/null >"/dev/tcp/127.0.0.1/$server_port" &
    senders+=("$!")
    started+=("$!")
done
oom_counted() { (($(oom_kills) > kills_before)); }
check "the kernel counted an OOM kill in the cgroup ($events_file oom_kill)" wait_until 30 oom_counted
check "the master logged it as an OOM kill" server_wait_log "was killed by the kernel's OOM killer" 10
grep -m3 -E "was killed by the kernel's OOM killer|killed by signal 9" "$server_log" || true
# The kernel's own line about this run's victims, where the kernel log is readable.
dmesg 2>/dev/null | grep -E "Killed process ($(IFS='|' && echo "${workers[*]}")) " || true
echo "peak charged: $(mib "$(cat "$cg/memory.max_usage_in_bytes" 2>/dev/null || cat "$cg/memory.peak" 2>/dev/null ||
    echo 0)"); oom_kill $(oom_kills)"
check "the master $master is still running" [ "$(state_of "$master")" != gone ]
killed=()
for w in "${workers[@]}"; do [[ $(state_of "$w") == gone ]] && killed+=("$w"); done
check "the OOM killer took a worker (killed: ${killed[*]:-none})" [ "${#killed[@]}" -ge 1 ]
for w in "${killed[@]}"; do
    check "the master logged worker $w's SIGKILL" server_log_has "\(pid $w\) killed by signal 9 \(SIGKILL\)" 1
done

# ---- the senders go; the workers spared are the same processes, and with the replacement every byte echoes
for p in "${senders[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
wait "${senders[@]}" 2>/dev/null || true
echo max >"$cg/$limit_file" 2>/dev/null || echo -1 >"$cg/$limit_file"
three_workers() { [[ $(wc -w <<<"$(children_of "$master")") == 3 ]]; }
check "the master is back to 3 workers" wait_until 10 three_workers
now=" $(children_of "$master") "
spared=0
for w in "${workers[@]}"; do
    [[ $(state_of "$w") == gone ]] && continue
    spared=$((spared + 1))
    check "worker $w, spared, still serves as the same process" [ "${now/ $w /}" != "$now" ]
done
check "at least one worker was spared" [ "$spared" -ge 1 ]
check "echo-load: 6 connections x 200 round trips, every byte verified" \
    "$load" --port "$server_port" --mode pingpong -c 6 -n 1200 -d 0 --timeout 5
# The kernel's own line, where this shell may read the kernel log: it names the victim and its oom_score_adj.
if victims=$(dmesg 2>/dev/null | sed -nE 's/.*Memory cgroup out of memory: Killed process ([0-9]+) .*/\1/p') &&
    [[ -n $victims ]]; then
    # shellcheck disable=SC2016  # expanded by that bash
    check "the kernel never named the master $master as its victim" \
        bash -c '! grep -qx "$1" <<<"$2"' _ "$master" "$victims"
fi

server_stop 30 || true
check "SIGTERM: exit status 0 (got $server_status)" [ "$server_status" = 0 ]
((failures == 0)) || tail -n 30 "$server_log" >&2
verdict "fact(s) differ from docs/MEMORY.md" \
    "at the memory limit the OOM killer took a worker, not the master; replaced, logged, the rest kept serving"

#!/usr/bin/env bash
# strace-count.sh: system call counts of a serving echo-hardened with `strace -c`, per process and for the whole
# tree (`strace -f -c`), over a fixed number of 64-byte ping-pongs (RUNBOOK.md "Seccomp", "Reading strace -c";
# R7: a round trip costs one read and one send, plus the epoll_wait that reports it).
#
# Usage: strace-count.sh [--load ECHO_LOAD] [--count N] SERVER_BINARY
#   SERVER_BINARY: echo-hardened, or bench's epoll-floor for the floor's counts
#   --load BIN  the echo-load binary (default: build/echo-load beside this script's repository, then PATH)
#   --count N   round trips on one connection (default 5000)
# 1. One worker, its master and the worker each attached with `strace -c -p PID`, N ping-pongs, detach: a table
#    per process. Checks that the worker made 0.95-1.05 read, send (sendto or write) and epoll_wait per round trip
#    and no timerfd_settime per round trip.
# 2. The same server started under `strace -f -c` (the master and every worker counted together), the same load,
#    then SIGTERM: the merged table, start-up and stop included.
# Exit status: 0 the counts are as described, 1 otherwise or a step failed, 2 usage, 77 strace is missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=runbook/lib/common.sh
source "$here/lib/common.sh"
# shellcheck source=runbook/lib/server.sh
source "$here/lib/server.sh"
synopsis="strace-count.sh [--load ECHO_LOAD] [--count N] SERVER_BINARY"
load_bin=""
count=5000
bin=""
while (($#)); do
    case $1 in
        --load) load_bin=${2:-}; [[ -n $load_bin ]] || usage "--load needs a binary"; shift ;;
        --count) count=${2:-}; shift ;;
        -*) usage "unknown option $1" ;;
        *) [[ -z $bin ]] || usage "one SERVER_BINARY"; bin=$1 ;;
    esac
    shift
done
[[ -n $bin ]] || usage "give SERVER_BINARY"
need_executable "$bin"
if ! [[ $count =~ ^[1-9][0-9]*$ ]] || ((count < 100 || count > 1000000)); then usage "--count must be 100-1000000"; fi
load_bin=$(echo_load_path "$load_bin") || fail "echo-load not found (build it, or pass --load)"
skip_without strace
# LeakSanitizer cannot run under ptrace.
grep -q __asan_init "$bin" && export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
make_workdir

load() {  # load PORT: COUNT round trips of 64 bytes on one connection, every echo verified
    echo "\$ echo-load --target 127.0.0.1:$1 --mode pingpong -c 1 -s 64 -n $count -d 0"
    timeout 120 "$load_bin" --target "127.0.0.1:$1" --mode pingpong -c 1 -s 64 -n "$count" -d 0 --json \
        >"$workdir/load.json" 2>&1 || { cat "$workdir/load.json" >&2; fail "echo-load failed"; }
    grep -o '"ops":[0-9]*\|"ops_per_s":[0-9.]*\|"errors":[0-9]*' "$workdir/load.json" | tr '\n' ' '
    echo
}

attach() {  # attach NAME PID: strace -c -p PID in the background, returns once it is attached
    strace -c -o "$workdir/$1.count" -p "$2" 2>"$workdir/$1.err" &
    started+=($!)
    eval "tracer_$1=$!"
    # until strace says "Process N attached"
    wait_until 10 grep -qs 'attached' "$workdir/$1.err" || { cat "$workdir/$1.err" >&2; fail "strace did not attach to $2"; }
}

detach() {  # detach NAME: SIGINT makes strace detach and write its table; bounded
    local var=tracer_$1 rc=0
    kill -INT "${!var}"
    timeout 15 tail --pid="${!var}" -f /dev/null || fail "strace ($1) did not detach within 15 s"
    wait "${!var}" || rc=$?
}

calls() {  # calls NAME SYSCALL -> the "calls" column (the 4th; "errors" may be empty) of that row, 0 when absent
    awk -v s="$2" '$NF == s && !found { print $4; found = 1 } END { if (!found) print 0 }' "$workdir/$1.count"
}

# ---- 1. per process -------------------------------------------------------------------------------------------
echo "== 1. strace -c -p, one process at a time: 1 worker, $count round trips of 64 bytes"
server_name=per-process
server_start "$bin" --listen 127.0.0.1:0 --workers 1 || fail "the server did not start"
master=$server_master
worker=$(children_of "$master")
if [[ -z $worker ]]; then  # epoll-floor with one worker serves in its only process
    worker=$master
    master=""
fi
[[ $worker =~ ^[0-9]+$ ]] || fail "expected one worker, found '$worker'"
if [[ -n $master ]]; then
    echo "\$ strace -c -o master.count -p $master &  strace -c -o worker.count -p $worker &"
    attach master "$master"
else
    echo "\$ strace -c -o worker.count -p $worker &    (the server serves in its only process)"
fi
attach worker "$worker"
load "$server_port"
detach worker
[[ -z $master ]] || detach master
echo "\$ cat worker.count"
cat "$workdir/worker.count"
if [[ -n $master ]]; then
    echo "\$ cat master.count"
    cat "$workdir/master.count"
fi
server_stop 30 || fail "the server exited $server_status on SIGTERM, expected 0"

per_trip() { awk -v c="$1" -v n="$count" 'BEGIN { printf "%.3f", c / n }'; }
about_one() { awk -v r="$1" 'BEGIN { exit !(r >= 0.95 && r <= 1.05) }'; }
for s in read send epoll_wait; do
    if [[ $s == send ]]; then  # echo-hardened sends with sendto (MSG_NOSIGNAL), epoll-floor with write
        s=sendto/write
        c=$(($(calls worker sendto) + $(calls worker write)))
    else
        c=$(calls worker "$s")
    fi
    ratio=$(per_trip "$c")
    check "worker $s: $c calls, $ratio per round trip" about_one "$ratio"
done
c=$(calls worker timerfd_settime)
check "worker timerfd_settime: $c calls (re-armed only when a deadline moves earlier, not per round trip)" \
    [ $((c * 20)) -lt "$count" ]
total=$(awk '$NF == "total" { print $4 }' "$workdir/worker.count")
echo "  worker total: $total calls, $(per_trip "$total") per round trip"

# ---- 2. the whole tree ----------------------------------------------------------------------------------------
echo
echo "== 2. strace -f -c: the master and its workers counted together, from execve to exit"
echo "\$ strace -f -c -o tree.count -- $(basename "$bin") --listen 127.0.0.1:0 --workers 2 &"
server_name=tree
server_wrapper=(strace -f -c -o "$workdir/tree.count" --)
server_ready_timeout=60
server_start "$bin" --listen 127.0.0.1:0 --workers 2 || fail "the traced server did not start"
unset server_wrapper
# No "master[PID]" in the ready line (epoll-floor): the server is strace's child.
[[ $server_master != "$server_pid" ]] || server_master=$(pgrep -o -P "$server_pid")
started+=("$server_master")  # killing strace would leave it running
load "$server_port"
echo "\$ kill -TERM $server_master"
server_stop 30 || fail "the traced server exited $server_status on SIGTERM, expected 0"
echo "\$ cat tree.count"
cat "$workdir/tree.count"

verdict "count(s) differ from RUNBOOK.md" "a round trip costs one epoll_wait, one read and one send in the worker"

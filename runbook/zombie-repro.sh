#!/usr/bin/env bash
# zombie-repro.sh: the zombie walkthrough of RUNBOOK.md "Zombies" (R20-R22), step by step, checked as it goes.
#
# Usage: zombie-repro.sh SERVER_BINARY
#   1. the bug: starts SERVER_BINARY --zombie-mode, SIGKILLs its workers twice; the 4 dead stay <defunct> (ps,
#      /proc/PID/status) beside 2 live replacements; SIGUSR1 counts them in the status line
#   2. the cure: SIGUSR2 reaps them all; the server still echoes
#   3. the cost (as root only; it needs a spare uid): a second server as uid 64020 under RLIMIT_NPROC 6 with
#      --zombie-worker-lifetime 300ms: the zombies fill the limit, fork() fails with EAGAIN, the master stays
#      bounded; SIGTERM reaps every zombie and exits 0
#   4. reparenting: the first server's master is SIGKILLed with zombies: they pass to init (or the nearest
#      subreaper), which reaps them; its live workers die with it (PR_SET_PDEATHSIG)
# Prints each command and its real output. Exit status: 0 every observed fact was as described, 1 otherwise
# (each wrong fact is named), 2 usage.
set -euo pipefail

# shellcheck source=runbook/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=runbook/lib/server.sh
source "$(dirname "$0")/lib/server.sh"
synopsis="zombie-repro.sh SERVER_BINARY"
(($# == 1)) || usage "give SERVER_BINARY"
bin=$1
need_executable "$bin"
need nc
cost_uid=64020  # the tests use 64001-64004 and 64010: a uid of its own, so RLIMIT_NPROC counts only this run
make_workdir
chmod 755 "$workdir"  # the cost step's server runs as $cost_uid

step() { printf '\n== %s\n' "$*"; }
run() {  # run COMMAND...: prints "$ COMMAND" and its output, as in the RUNBOOK
    echo "\$ $*"
    "$@" || true
}
live_children() {  # MASTER -> its children that are not zombies
    local p
    for p in $(children_of "$1"); do [[ $(state_of "$p") != Z ]] && echo "$p"; done
    return 0
}
zombie_children() {
    local p
    for p in $(children_of "$1"); do [[ $(state_of "$p") == Z ]] && echo "$p"; done
    return 0
}
count_is() { [[ $($1 "$2" | wc -w) == "$3" ]]; }  # count_is LISTER MASTER N
all_state() {  # all_state STATE PID...: every PID is in STATE (Z) or gone ("gone")
    local s=$1 p
    shift
    for p in "$@"; do [[ $(state_of "$p") == "$s" ]] || return 1; done
}
log_since() { tail -n +"$(($1 + 1))" "$server_log"; }  # log_since N: the log lines after line N
log_lines() { wc -l <"$server_log"; }
echo_works() { [[ $(printf 'zombie-repro\n' | timeout 10 nc -N -w 5 127.0.0.1 "$port") == zombie-repro ]]; }
no_memory() { ! grep -q VmRSS "/proc/$1/status"; }
# A zombie's fd directory is readable by root only (the ptrace access check needs the memory it no longer has).
fds_of() { if [[ -r /proc/$1/fd && -x /proc/$1/fd ]] && ls "/proc/$1/fd" >/dev/null 2>&1; then find "/proc/$1/fd" -mindepth 1 | wc -l; else echo unreadable; fi; }
# shellcheck disable=SC2009  # the STAT and CMD columns are what the RUNBOOK shows
defunct_count_is() { [[ $(ps -o stat=,cmd= --ppid "$1" | grep -c '^Z.*<defunct>') == "$2" ]]; }
serves() { count_is live_children "$master" 2 && echo_works; }
uid_has_nothing() { [[ -z $(ps -u "$1" --no-headers -o pid= || true) ]]; }

# ---- 1. the bug ------------------------------------------------------------------------------------------------
step "1. the bug: a master that does not reap"
echo "\$ echo-hardened --listen 127.0.0.1:0 --workers 2 --zombie-mode &"
server_name=zombie
server_start "$bin" --listen 127.0.0.1:0 --workers 2 --zombie-mode || fail "no server"
master=$server_pid
port=$server_port
cat "$server_log"
mark=$(log_lines)
killed=()
for round in 1 2; do
    wait_until 20 count_is live_children "$master" 2 || fail "master has no 2 live workers"
    mapfile -t victims < <(live_children "$master")
    echo "\$ kill -KILL ${victims[*]}        # round $round: both workers"
    kill -KILL "${victims[@]}"
    killed+=("${victims[@]}")
    check "the killed workers ${victims[*]} are zombies (state Z), not gone" wait_until 5 all_state Z "${victims[@]}"
done
server_wait_log 'is gone and NOT reaped' 10 4 || true
check "2 live replacement workers serve beside them" wait_until 20 count_is live_children "$master" 2
log_since "$mark"
echo
run ps -o pid,ppid,stat,cmd --ppid "$master"
mapfile -t zombies < <(zombie_children "$master")
check "exactly the 4 killed workers are <defunct> children of the master" \
    [ "$(printf '%s\n' "${zombies[@]}" | sort | xargs)" = "$(printf '%s\n' "${killed[@]}" | sort | xargs)" ]
check "ps shows them as <defunct>" defunct_count_is "$master" 4
echo "\$ grep -E '^(Name|State|PPid|VmRSS)' /proc/${zombies[0]}/status"
grep -E '^(Name|State|PPid|VmRSS)' "/proc/${zombies[0]}/status" || true
echo "\$ ls /proc/${zombies[0]}/fd | wc -l"
fds=$(fds_of "${zombies[0]}")
echo "$fds"
check "a zombie holds no memory (no VmRSS)" no_memory "${zombies[0]}"
if [[ $fds != unreadable ]]; then
    check "and no descriptors" [ "$fds" = 0 ]
fi
mark=$(log_lines)
echo "\$ kill -USR1 $master"
kill -USR1 "$master"
check "SIGUSR1's status line counts the 4 zombies" server_wait_log 'status: .*, 4 zombies' 10
log_since "$mark"

# ---- 2. the cure -----------------------------------------------------------------------------------------------
step "2. the cure: SIGUSR2 makes the master reap"
mark=$(log_lines)
echo "\$ kill -USR2 $master"
kill -USR2 "$master"
check "the master reaps all 4" server_wait_log 'SIGUSR2: reaped 4 zombie\(s\)' 10
log_since "$mark"
run ps -o pid,ppid,stat,cmd --ppid "$master"
check "no zombie is left" [ -z "$(zombie_children "$master")" ]
check "the reaped pids have left the process table" all_state gone "${killed[@]}"
check "2 workers still serve and echo" serves

# ---- 3. the cost -----------------------------------------------------------------------------------------------
step "3. the cost: zombies count against RLIMIT_NPROC until fork() fails"
if ((EUID != 0)); then
    echo "skipped: needs root to run a server as the spare uid $cost_uid (RLIMIT_NPROC counts every task of a uid)"
else
    echo "\$ prlimit --nproc=6 setpriv --reuid=$cost_uid --regid=$cost_uid --clear-groups \\"
    echo "      echo-hardened --workers 2 --zombie-mode --zombie-worker-lifetime 300ms &"
    server_name=cost
    server_wrapper=(prlimit --nproc=6:6 -- setpriv --reuid="$cost_uid" --regid="$cost_uid" --clear-groups --)
    server_start "$bin" --listen 127.0.0.1:0 --workers 2 --zombie-mode --zombie-worker-lifetime 300ms ||
        fail "the cost server did not start"
    unset server_wrapper
    cost_master=$server_pid
    check "fork() fails with EAGAIN once the zombies fill the limit" \
        server_wait_log 'fork\(\) failed while spawning worker .*Resource temporarily unavailable' 20
    tasks=$({ ps -L -u "$cost_uid" --no-headers || true; } | wc -l)
    run ps -o pid,ppid,stat,cmd --ppid "$cost_master"
    echo "tasks of uid $cost_uid: $tasks (RLIMIT_NPROC 6)"
    check "never more tasks than the limit: no fork bomb" [ "$tasks" -le 6 ]
    grep -E 'zombie mode|is gone and NOT reaped|fork\(\) failed' "$server_log" | head -n 6
    echo "\$ kill -TERM $cost_master"
    mark=$(log_lines)
    server_stop 20 || true
    check "SIGTERM: the master exits 0 (got $server_status)" [ "$server_status" = 0 ]
    check "it reaped its zombies before exiting" server_wait_log 'reaping [0-9]+ zombie\(s\) before exiting' 5
    log_since "$mark" | grep -E 'SIGTERM|reaping|reaped zombie|exiting' | head -n 8
    check "nothing of uid $cost_uid is left" wait_until 5 uid_has_nothing "$cost_uid"
    server_name=zombie
    server_log=$workdir/zombie.log
fi

# ---- 4. reparenting --------------------------------------------------------------------------------------------
step "4. when the master dies, its zombies are reparented and reaped"
mapfile -t victims < <(live_children "$master")
echo "\$ kill -KILL ${victims[*]}"
kill -KILL "${victims[@]}"
check "they are zombies of the master" wait_until 5 all_state Z "${victims[@]}"
check "replacements start" wait_until 20 count_is live_children "$master" 2
mapfile -t orphans < <(live_children "$master")
echo "\$ kill -KILL $master        # the master dies without reaping"
kill -KILL "$master"
rc=0
server_wait_exit "$master" 10 || rc=$?
check "the master died of SIGKILL (status $rc = 128 + 9)" [ "$rc" = 137 ]
# Whoever adopted them reaps at its own pace: this shows them before or after it did.
run ps -o pid,ppid,stat,cmd -p "$(IFS=,; echo "${victims[*]},${orphans[*]}")"
check "the zombies ${victims[*]} are reaped by their new parent" wait_until 15 all_state gone "${victims[@]}"
check "the live workers ${orphans[*]} died with the master (PR_SET_PDEATHSIG) and were reaped too" \
    wait_until 15 all_state gone "${orphans[@]}"

echo
verdict "observed fact(s) differ from RUNBOOK.md \"Zombies\"" "every step behaved as RUNBOOK.md \"Zombies\" describes"

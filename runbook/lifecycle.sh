#!/usr/bin/env bash
# lifecycle.sh: one server's life through every signal of RUNBOOK.md "The master", "Signals", "Supervision" and
# "Hung workers", printed as the master logs it and checked step by step.
#
# Usage: lifecycle.sh SERVER_BINARY
#   Starts SERVER_BINARY --listen 127.0.0.1:0 --workers 2 --worker-timeout 1s, then: an echo, SIGUSR1 (status and
#   worker table), SIGKILL to a worker (reaped and replaced), SIGHUP (rolling reload: new workers, same master),
#   SIGTTIN and SIGTTOU (one worker more, then fewer), SIGSTOP to a worker (killed as hung after 1 s and replaced),
#   SIGSTOP to the master for 3 s (its workers survive the stall), SIGTERM (graceful stop, exit status 0).
# Exit status: 0 every step behaved as the RUNBOOK says, 1 otherwise (each wrong fact named), 2 usage.
set -euo pipefail

# shellcheck source=runbook/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=runbook/lib/server.sh
source "$(dirname "$0")/lib/server.sh"
synopsis="lifecycle.sh SERVER_BINARY"
(($# == 1)) || usage "give SERVER_BINARY"
bin=$1
need_executable "$bin"
need nc
make_workdir

workers() { children_of "$master"; }
worker_count_is() { [[ $(workers | wc -w) == "$1" ]]; }
gone() { [[ $(state_of "$1") == gone ]]; }
mark=0
show_log() {  # the master's and workers' lines since the last call
    tail -n +"$((mark + 1))" "$server_log"
    mark=$(wc -l <"$server_log")
}
echo_is() { [[ $(printf '%s\n' "$1" | timeout 10 nc -N -w 5 127.0.0.1 "$port") == "$1" ]]; }
none_of() {  # none_of "OLD PIDS" "NEW PIDS": no pid of the first list is in the second
    local p
    for p in $1; do [[ " $2 " != *" $p "* ]] || return 1; done
}
logged_and_workers() {  # logged_and_workers REGEX N: the line is logged and the master has N workers
    server_wait_log "$1" 10 && wait_until 15 worker_count_is "$2"
}
status_and_table() { server_wait_log "status: running: 2/2 workers serving" 10 && server_wait_log "  worker 1 pid" 10; }
all_replaced() {  # all_replaced "OLD PIDS": two workers, none of them old, under the same master
    wait_until 10 worker_count_is 2 && none_of "$1" "$(workers)" && [[ $(state_of "$master") != gone ]]
}

echo "\$ echo-hardened --listen 127.0.0.1:0 --workers 2 --worker-timeout 1s &"
server_start "$bin" --listen 127.0.0.1:0 --workers 2 --worker-timeout 1s || fail "no server"
master=$server_master
port=$server_port
show_log

printf '$ printf %s | nc -N 127.0.0.1 %s\n' "'hello\\n'" "$port"
check "the echo comes back" echo_is hello

echo "\$ kill -USR1 $master"
kill -USR1 "$master"
check "SIGUSR1 logs the status line and one table line per worker" status_and_table
show_log

victim=$(workers | awk '{print $1}')
echo "\$ kill -KILL $victim"
kill -KILL "$victim"
check "the master logs the death and starts a replacement" \
    logged_and_workers "\(pid $victim\) killed by signal 9 \(SIGKILL\) unexpectedly" 2
check "the dead worker is reaped, not left a zombie" wait_until 5 gone "$victim"
show_log

before=$(workers)
echo "\$ kill -HUP $master"
kill -HUP "$master"
check "SIGHUP: a rolling reload completes" server_wait_log 'reload complete: 2 worker\(s\) of generation 1' 20
check "every worker was replaced, the master stayed" all_replaced "$before"
check "it still echoes" echo_is reload
show_log

echo "\$ kill -TTIN $master"
kill -TTIN "$master"
check "SIGTTIN: a third worker" logged_and_workers "SIGTTIN: 2 workers -> 3" 3
echo "\$ kill -TTOU $master"
kill -TTOU "$master"
check "SIGTTOU: back to two; the one retired drains and exits 0" logged_and_workers "SIGTTOU: 3 workers -> 2" 2
show_log

hung=$(workers | awk '{print $1}')
echo "\$ kill -STOP $hung        # a worker that stops making progress"
kill -STOP "$hung"
check "after --worker-timeout 1s it is killed as hung and replaced" \
    logged_and_workers "\(pid $hung\) killed by signal 9 \(SIGKILL\) \(killed as hung\)" 2
check "and reaped" wait_until 5 gone "$hung"
show_log

before=$(workers)
echo "\$ kill -STOP $master; sleep 3; kill -CONT $master        # the master itself stalls"
kill -STOP "$master"
sleep 3  # the stall being demonstrated, not a wait for anything
kill -CONT "$master"
check "the master notices its own stall" server_wait_log 'master loop stalled for' 10
sleep 1.5  # one more --worker-timeout: a master that judged by stale heartbeats would kill them now
check "and kills no healthy worker for it" [ "$(workers)" = "$before" ]
show_log

echo "\$ kill -TERM $master"
server_stop 30 || true
check "SIGTERM: graceful stop, exit status 0 (got $server_status)" [ "$server_status" = 0 ]
server_drained 5  # its last lines copied into the log
show_log

echo
verdict "step(s) differ from RUNBOOK.md" "every signal did what RUNBOOK.md \"Signals\" says"

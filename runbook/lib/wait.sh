# wait.sh: the one bounded poll of the runbook scripts, lib/server.sh and tests/systemd/nspawn-test.sh; sourced.
# Also group_gone, the predicate for a process group that was SIGKILLed.
# shellcheck shell=bash

# wait_until SECONDS COMMAND...: runs COMMAND (a predicate, evaluated afresh each time) every $poll_interval seconds
# (default 0.05; the container scripts poll every 0.1 s, each poll a systemctl in the container) until it succeeds;
# returns 1 once SECONDS have passed without.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep "${poll_interval:-0.05}"
    done
}

# group_gone PGID: no process is left in the process group PGID (what a SIGKILLed group leader forked takes a moment
# to die, and is no child of this shell to wait for).
group_gone() { ! kill -0 -- "-$1" 2>/dev/null; }

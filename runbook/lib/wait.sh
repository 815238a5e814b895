# wait.sh: the one bounded poll of the runbook scripts, lib/server.sh and tests/systemd/nspawn-test.sh; sourced.
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

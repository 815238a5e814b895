#!/usr/bin/env bash
# handover.sh: RUNBOOK.md "Connections across reload, upgrade and restart" without systemd: connections held
# through a reload and a scale-down, with the hand-over as the master logs it.
#
# Usage: handover.sh --load ECHO_LOAD SERVER_BINARY
#   Starts SERVER_BINARY --listen 127.0.0.1:0 --workers 2, opens 1,000 idle connections that ping every second
#   (echo-load --mode hold) and 10 streaming ones, both without --reconnect so that any connection closed is an
#   error, then SIGHUP (both workers replaced) and SIGTTOU (one retired), and prints each hand-over.
# Exit status: 0 every connection kept and every byte verified, 1 otherwise, 2 usage.
set -euo pipefail

# shellcheck source=runbook/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=runbook/lib/server.sh
source "$(dirname "$0")/lib/server.sh"
synopsis="handover.sh --load ECHO_LOAD SERVER_BINARY"
(($# == 3)) && [[ $1 == --load ]] || usage "give --load ECHO_LOAD SERVER_BINARY"
load=$2
bin=$3
need_executable "$load"
need_executable "$bin"
make_workdir
ulimit -n "$(ulimit -Hn)"

echo "\$ echo-hardened --listen 127.0.0.1:0 --workers 2 &"
server_start "$bin" --listen 127.0.0.1:0 --workers 2 || fail "no server"
master=$server_master

echo "\$ echo-load --mode hold -c 1000 --interval 1 -d 8 & echo-load --mode stream -c 10 -s 16K -d 8 &"
"$load" --port "$server_port" --mode hold -c 1000 --interval 1 -d 8 --json >"$workdir/hold.json" 2>"$workdir/hold.err" &
hold=$!
started+=("$hold")
"$load" --port "$server_port" --mode stream -c 10 -s 16K -d 8 --json >"$workdir/stream.json" 2>/dev/null &
stream=$!
started+=("$stream")
established() { grep -q "1000 of 1000 connections established" "$workdir/hold.err"; }
wait_until 20 established || fail "echo-load did not establish its 1,000 connections"

echo "\$ kill -HUP $master"
kill -HUP "$master"
server_wait_log "reload complete" 20 || fail "no reload"
server_wait_log "exited with status 0" 10 2 || fail "the old workers did not exit"
echo "\$ kill -TTOU $master"
kill -TTOU "$master"
server_wait_log "exited with status 0" 10 3 || fail "the retired worker did not exit"
grep -E "retiring|handing over|handed over|exited with status 0" "$server_log" | sed 's/^[^ ]* //'

wait "$hold" || true
wait "$stream" || true
field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$workdir/$1.json"; }
echo "hold:   $(field hold held) held, $(field hold errors) errors, $(field hold dropped) dropped, $(field hold total_bytes) bytes verified"
echo "stream: $(field stream errors) errors, $(field stream dropped) dropped, $(field stream total_bytes) bytes verified"
check "all 1,000 idle connections kept through the reload and the scale-down" \
    test "$(field hold held)" = 1000 -a "$(field hold errors)" = 0
check "the streams lost, repeated and reordered nothing" test "$(field stream errors)" = 0
check "the streams echoed something" test "$(field stream total_bytes)" -gt 0
check "three workers handed over, none had to drain" \
    test "$(grep -c "came back to be drained" "$server_log")" = 3 -a "$(grep -c "; 0 came back" "$server_log")" = 3
server_stop 20 || fail "the server did not exit 0 on SIGTERM"
verdict "check(s) failed" "every connection kept, every byte verified"

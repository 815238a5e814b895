#!/usr/bin/env bash
# Black-box test: echo-load in every mode against a real echo server binary; each run must do work with no error.
# Usage: echo-load-modes.sh SERVER_BINARY ECHO_LOAD_BINARY
set -euo pipefail

server_bin=${1:?usage: echo-load-modes.sh SERVER_BINARY ECHO_LOAD_BINARY}
load_bin=${2:?usage: echo-load-modes.sh SERVER_BINARY ECHO_LOAD_BINARY}
[[ -x $server_bin ]] || { echo "FAIL: server binary $server_bin is missing or not executable" >&2; exit 1; }
[[ -x $load_bin ]] || { echo "FAIL: $load_bin is missing or not executable" >&2; exit 1; }

workdir=$(mktemp -d)
server_pid=""
drain_pid=""
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid" 2>/dev/null || true; fi
    if [[ -n $drain_pid ]]; then kill "$drain_pid" 2>/dev/null || true; fi
    rm -rf "$workdir"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
die() { echo "FAIL: $*" >&2; [[ -f $workdir/server.log ]] && sed 's/^/  server: /' "$workdir/server.log" >&2; exit 1; }

# shellcheck source=runbook/lib/server.sh
source "$(dirname "$0")/../../runbook/lib/server.sh"

json_field() { grep -o "\"$2\":[0-9.]*" <<<"$1" | head -n1 | cut -d: -f2; }

# run_load NAME MIN_FIELD MIN_VALUE ECHO_LOAD_ARGS...: the run must exit 0 and reach MIN_FIELD >= MIN_VALUE.
run_load() {
    local name=$1 field=$2 min=$3 out rc=0
    shift 3
    out=$(timeout 60 "$load_bin" --target "127.0.0.1:$server_port" --json "$@" 2>"$workdir/load.err") || rc=$?
    local errors value
    errors=$(json_field "$out" errors)
    value=$(json_field "$out" "$field")
    if ((rc != 0)); then
        fail "$name: echo-load exited $rc: ${out:-no output} $(cat "$workdir/load.err")"
    elif [[ -z $value ]] || ! awk -v v="$value" -v m="$min" 'BEGIN { exit !(v >= m) }'; then
        fail "$name: $field is '${value}', expected at least $min: $out"
    elif [[ $errors != 0 ]]; then
        fail "$name: exit 0 but $errors errors reported: $out"
    else
        echo "ok: $name: $field $value ($(json_field "$out" bytes) bytes verified)"
    fi
}

server_start "$server_bin" || die "the server did not start"
echo "server $server_bin ready on 127.0.0.1:$server_port (pid $server_pid)"

run_load "pingpong 10 x 64 B" ops 100 --mode pingpong -c 10 -s 64 -d 1
run_load "pingpong 2 threads" ops 100 --mode pingpong -c 8 -s 100 --threads 2 -d 1
run_load "pingpong 4 x 1 MiB (partial reads and writes)" ops 20 --mode pingpong -c 4 -s 1M --count 20
run_load "pingpong by count" ops 5000 --mode pingpong -c 5 --count 5000
run_load "stream 4 x 16 KiB" bytes 1000000 --mode stream -c 4 -s 16K -d 1
run_load "connrate 20 x 64 B" ops 100 --mode connrate -c 20 -s 64 -d 1
run_load "hold 1000" held 1000 --mode hold -c 1000 -d 1 --interval 0.5
# --lifetime: each connection closes itself after its echo once 0.1 s old and reopens; over 1 s, 4 connections
# are recycled well over 20 times, with no error (the server sees clean EOFs with nothing owed).
run_load "pingpong --lifetime 0.1" recycled 20 --mode pingpong -c 4 -s 64 -d 1 --lifetime 0.1
run_load "hold --lifetime 0.2" recycled 8 --mode hold -c 4 -s 64 -d 1.2 --interval 0.1 --lifetime 0.2

kill -TERM "$server_pid"
rc=0
server_wait_exit "$server_pid" 30 || rc=$?
server_pid=""
if ((rc == 0)); then
    echo "ok: server exited 0 on SIGTERM"
else
    fail "server exit status $rc after SIGTERM (124: still running after 30 s)"
fi

if ((failures > 0)); then
    sed 's/^/  server: /' "$workdir/server.log" | tail -n 40 >&2
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "all echo-load modes passed against $server_bin"

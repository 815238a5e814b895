#!/usr/bin/env bash
# Netcat load test (R51): many parallel `nc -N` clients each send their own random file; every echo must match.
#
# Usage: netcat-load.sh [--start SERVER_BINARY] [HOST:PORT] CLIENTS BYTES
#   --start BINARY  start BINARY --listen 127.0.0.1:0 --workers 2 and test it (stopped again at the end, and its
#                   exit status on SIGTERM checked); otherwise HOST:PORT names a running server.
#   BYTES may end in K or M (binary units).
# Environment: NC_TIMEOUT seconds each client may take (default 60).
# Exit status: 0 every echo identical, 1 any failure, 2 usage.
set -euo pipefail

# shellcheck source=runbook/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=runbook/lib/server.sh
source "$(dirname "$0")/lib/server.sh"
synopsis="netcat-load.sh [--start SERVER_BINARY] [HOST:PORT] CLIENTS BYTES"
server_bin=""
if [[ ${1:-} == --start ]]; then
    server_bin=${2:-}
    [[ -n $server_bin ]] || usage "--start needs a server binary"
    need_executable "$server_bin"
    shift 2
    (($# == 2)) || usage "with --start give CLIENTS BYTES"
    target=""
else
    (($# == 3)) || usage "give HOST:PORT CLIENTS BYTES"
    target=$1
    shift
fi
clients=$1
bytes_arg=$2
if ! [[ $clients =~ ^[0-9]+$ ]] || ((clients < 1 || clients > 2000)); then usage "CLIENTS must be 1-2000"; fi
bytes=$(numfmt --from=iec "$bytes_arg" 2>/dev/null) || usage "bad BYTES '$bytes_arg'"
((bytes >= 1 && bytes <= 1073741824)) || usage "BYTES must be 1 byte to 1G"
nc_timeout=${NC_TIMEOUT:-60}
need nc
client_pids=()
on_exit() {  # SIGTERM, which timeout(1) passes on to its nc
    local pid
    for pid in "${client_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
}
make_workdir

start_server() {
    server_start "$server_bin" || fail "the server did not start"
    target="127.0.0.1:$server_port"
}

stop_server() {
    server_stop 30 && return 0
    if ((server_status == 124)); then
        echo "netcat-load: server still running 30 s after SIGTERM; killed" >&2
    else
        echo "netcat-load: server exited $server_status on SIGTERM, expected 0" >&2
    fi
    return 1
}

[[ -n $server_bin ]] && start_server
if [[ $target =~ ^\[(.+)\]:([0-9]+)$ ]] || [[ $target =~ ^([^:]+):([0-9]+)$ ]]; then
    host=${BASH_REMATCH[1]}
    port=${BASH_REMATCH[2]}
else
    usage "bad target '$target' (want HOST:PORT or [ADDR]:PORT)"
fi

for ((i = 0; i < clients; i++)); do
    head -c "$bytes" /dev/urandom >"$workdir/in.$i"
done

began=$SECONDS
# -N: shut down the sending side at end of input, so the server sees EOF, echoes the rest and closes (R1).
for ((i = 0; i < clients; i++)); do
    timeout "$nc_timeout" nc -N "$host" "$port" <"$workdir/in.$i" >"$workdir/out.$i" 2>"$workdir/err.$i" &
    client_pids+=("$!")
done

failed=0
for ((i = 0; i < clients; i++)); do
    rc=0
    wait "${client_pids[$i]}" || rc=$?
    if ((rc != 0)); then
        echo "client $i: nc exited $rc$( ((rc == 124)) && echo " (timed out after ${nc_timeout} s)") $(head -c 200 "$workdir/err.$i")" >&2
        failed=$((failed + 1))
    elif ! cmp -s "$workdir/in.$i" "$workdir/out.$i"; then
        echo "client $i: echo differs: $(cmp "$workdir/in.$i" "$workdir/out.$i" 2>&1 | head -n1) ($(stat -c %s "$workdir/out.$i") of $bytes bytes back)" >&2
        failed=$((failed + 1))
    fi
done
client_pids=()
took=$((SECONDS - began))

server_failed=0
if [[ -n $server_bin ]]; then stop_server || server_failed=1; fi

echo "netcat-load: target $target, clients $clients, bytes per client $bytes, total $((clients * bytes)) bytes, ${took} s"
echo "netcat-load: $((clients - failed)) identical, $failed failed"
if ((failed > 0 || server_failed > 0)); then
    [[ -f $workdir/server.log ]] && tail -n 20 "$workdir/server.log" | sed 's/^/  server: /' >&2
    exit 1
fi

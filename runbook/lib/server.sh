# server.sh: sourced by the scripts that start echo-hardened themselves: start it and wait for its ready line,
# and wait (bounded) for it to exit. The caller owns $workdir and kills $server_pid and $drain_pid in its trap.
# shellcheck shell=bash disable=SC2034,SC2154  # sets and reads the sourcing script's variables by design

# server_start BINARY: runs BINARY --listen 127.0.0.1:0 --workers 2, its stderr in $workdir/server.log, and
# returns once the "ready: N workers accepting on 127.0.0.1:PORT" line (the readiness signal; port 0 avoids
# collisions) has named the port. Sets server_pid, server_port and drain_pid. On failure says why, returns 1.
server_start() {
    local bin=$1
    mkfifo "$workdir/server.fifo"
    "$bin" --listen 127.0.0.1:0 --workers 2 2>"$workdir/server.fifo" &
    server_pid=$!
    exec {server_err}<"$workdir/server.fifo"
    local deadline=$((SECONDS + 15)) line left
    while :; do
        left=$((deadline - SECONDS))
        if ((left <= 0)); then
            echo "no ready line from $bin within 15 s" >&2
            return 1
        fi
        if ! IFS= read -r -t "$left" line <&"$server_err"; then
            echo "$bin exited or went silent before its ready line" >&2
            return 1
        fi
        printf '%s\n' "$line" >>"$workdir/server.log"
        if [[ $line =~ ready:\ [0-9]+\ workers?\ accepting\ on\ 127\.0\.0\.1:([0-9]+) ]]; then
            server_port=${BASH_REMATCH[1]}
            break
        fi
    done
    # Keep draining its stderr so a chatty server never blocks on a full pipe.
    cat <&"$server_err" >>"$workdir/server.log" &
    drain_pid=$!
    exec {server_err}<&-
}

# server_wait_exit PID SECONDS: waits for a child that was signalled (a zombie counts as exited) and returns its
# exit status; after SECONDS it is SIGKILLed and the status is 124.
server_wait_exit() {
    local pid=$1 seconds=$2 deadline state
    deadline=$((SECONDS + seconds))
    while ((SECONDS < deadline)); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)
        [[ $state == Z || $state == gone ]] && break
        sleep 0.05
    done
    local rc=0
    if [[ $state != Z && $state != gone ]]; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        return 124
    fi
    wait "$pid" || rc=$?
    return "$rc"
}

#!/usr/bin/env bash
# Negative tests: echo-load must fail (exit 1), quickly, and name the error when the server refuses, stalls,
# corrupts or truncates the echo; usage errors exit 2 with one line.
# Usage: echo-load-failures.sh ECHO_LOAD_BINARY EPOLL_FLOOR_BINARY
set -euo pipefail

load_bin=${1:?usage: echo-load-failures.sh ECHO_LOAD_BINARY EPOLL_FLOOR_BINARY}
floor_bin=${2:?usage: echo-load-failures.sh ECHO_LOAD_BINARY EPOLL_FLOOR_BINARY}
command -v socat >/dev/null || { echo "FAIL: socat is needed (tools/install-deps.sh installs it)" >&2; exit 1; }

workdir=$(mktemp -d)
pids=()
# TERM, a bounded wait for the exit (a zombie has exited), then KILL: the reaping wait never blocks for long.
stop_pid() {
    local pid=$1 deadline=$((SECONDS + 5)) state
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    while ((SECONDS < deadline)); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)
        [[ $state == Z || $state == gone ]] && break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${pids[@]}"; do stop_pid "$pid"; done
    rm -rf "$workdir"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
json_field() { grep -o "\"$2\":[0-9.]*" <<<"$1" | head -n1 | cut -d: -f2; }

# A port below the ephemeral range with nothing listening on it.
free_port() {
    local port i
    for ((i = 0; i < 200; i++)); do
        port=$((20000 + RANDOM % 12000))
        if [[ -z $(ss -Hltn "sport = :$port") ]]; then
            echo "$port"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

wait_listening() {
    local port=$1 deadline=$((SECONDS + 10))
    until [[ -n $(ss -Hltn "sport = :$port") ]]; do
        ((SECONDS < deadline)) || { echo "nothing listens on port $port after 10 s" >&2; return 1; }
        sleep 0.05
    done
}

# expect_failure NAME ERROR_FIELD MIN_COUNT MAX_SECONDS ECHO_LOAD_ARGS...
expect_failure() {
    local name=$1 field=$2 min=$3 max_seconds=$4 out rc=0 started=$SECONDS
    shift 4
    out=$(timeout 60 "$load_bin" --json "$@" 2>/dev/null) || rc=$?
    local took=$((SECONDS - started)) count
    count=$(json_field "$out" "$field")
    if ((rc != 1)); then
        fail "$name: exit status $rc, expected 1: ${out:-no output}"
    elif [[ -z $count ]] || ((count < min)); then
        fail "$name: $field is '${count}', expected at least $min: $out"
    elif ((took > max_seconds)); then
        fail "$name: took ${took} s, expected at most $max_seconds s"
    else
        echo "ok: $name: exit 1, $field $count, ${took} s"
    fi
}

# 1. Nothing listens: every connect is refused, reported, and the run ends at once rather than at --duration.
closed=$(free_port)
expect_failure "closed port, pingpong" errors_refused 5 3 --target "127.0.0.1:$closed" -c 5 -d 20
expect_failure "closed port, connrate" errors_refused 3 3 --target "127.0.0.1:$closed" --mode connrate -c 3 -d 20
expect_failure "closed port, hold" errors_refused 50 3 --target "127.0.0.1:$closed" --mode hold -c 50 -d 20
human=$(timeout 60 "$load_bin" --target "127.0.0.1:$closed" -c 2 -d 20 2>&1 || true)
if grep -q 'refused 2' <<<"$human" && grep -q 'Connection refused' <<<"$human"; then
    echo "ok: the text summary names the refused connects"
else
    fail "text summary does not report 'refused 2' and the connect error: $human"
fi

# 2. A stopped server: the kernel completes handshakes but no echo ever comes; --timeout must end the run.
"$floor_bin" --listen 127.0.0.1:0 -w 1 2>"$workdir/floor.err" &
floor_pid=$!
pids+=("$floor_pid")
deadline=$((SECONDS + 10))
until grep -q 'ready:' "$workdir/floor.err"; do
    ((SECONDS < deadline)) || { echo "FAIL: epoll-floor not ready" >&2; exit 1; }
    sleep 0.05
done
floor_port=$(sed -n 's/.*accepting on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$workdir/floor.err")
kill -STOP "$floor_pid"
expect_failure "stalled server, pingpong" errors_timeout 3 4 --target "127.0.0.1:$floor_port" -c 3 --timeout 1 -d 20
expect_failure "stalled server, stream" errors_timeout 2 4 --target "127.0.0.1:$floor_port" --mode stream -c 2 \
    --timeout 1 -d 20
kill -CONT "$floor_pid"

# 3. A server that alters bytes ('A' becomes 'B'): the pattern check must catch it.
port=$(free_port)
socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" EXEC:"tr A B" 2>/dev/null &
pids+=("$!")
wait_listening "$port"
expect_failure "corrupting server" errors_mismatch 1 10 --target "127.0.0.1:$port" --mode stream -c 2 -s 64K -d 5

# 4. A server that echoes only the first 100 bytes, then closes: a short read / unexpected EOF.
port=$(free_port)
socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" EXEC:"head -c 100" 2>/dev/null &
pids+=("$!")
wait_listening "$port"
expect_failure "truncating server" errors_eof 2 10 --target "127.0.0.1:$port" -c 2 -s 1000 -d 5
expect_failure "truncating server, --closed-ok" errors_eof 2 10 --target "127.0.0.1:$port" -c 2 -s 1000 -d 5 \
    --closed-ok
# The same server after one whole 100-byte ping each: nothing is owed when it closes. That is an error unless
# --closed-ok says a clean close is expected (a draining server closing quiet clients).
hold=(--target "127.0.0.1:$port" --mode hold -c 2 -s 100 --interval 30 -d 3)
expect_failure "clean close, without --closed-ok" errors_eof 2 10 "${hold[@]}"
rc=0
out=$(timeout 60 "$load_bin" --json "${hold[@]}" --closed-ok 2>/dev/null) || rc=$?
if ((rc == 0)) && [[ $(json_field "$out" closed_clean) == 2 && $(json_field "$out" errors) == 0 ]]; then
    echo "ok: clean close with --closed-ok: exit 0, closed_clean 2"
else
    fail "clean close with --closed-ok: exit $rc, expected 0 with closed_clean 2: $out"
fi

# 5. Usage errors: exit 2 and exactly one line on stderr.
for args in "--mode flood" "--connections 0" "--target nowhere" "--duration 0"; do
    rc=0
    # shellcheck disable=SC2086  # the words are meant to split
    err=$("$load_bin" $args 2>&1 >/dev/null) || rc=$?
    if ((rc == 2)) && [[ $(wc -l <<<"$err") == 1 ]] && [[ -n $err ]]; then
        echo "ok: usage error for '$args': $err"
    else
        fail "'$args': exit $rc with stderr '$err', expected 2 and one line"
    fi
done

if ((failures > 0)); then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "all failure checks passed"

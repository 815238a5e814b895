#!/usr/bin/env bash
# emfile.sh: what a worker does when accept4() fails with EMFILE (RUNBOOK.md "Limits", RLIMIT_NOFILE, and
# "Troubleshooting"): it pauses its accepts instead of spinning, says so once, and serves again once descriptors free.
#
# Usage: emfile.sh [CONNECTIONS] SERVER_BINARY
#   Starts SERVER_BINARY --workers 1 under `prlimit --nofile=64:64` (so the master cannot raise it), opens
#   CONNECTIONS (default 100) client connections from this shell, then checks: the "accept4() failed: Too many open
#   files; pausing accepts" warning, the worker's CPU time over 1.5 s with the listener still readable (a busy loop
#   would burn all of it), and, once the clients close, a new connection echoes.
# Exit status: 0 as described, 1 otherwise (each wrong fact named), 2 usage.
set -euo pipefail

# shellcheck source=runbook/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=runbook/lib/server.sh
source "$(dirname "$0")/lib/server.sh"
synopsis="emfile.sh [CONNECTIONS] SERVER_BINARY"
conns=100
if (($# == 2)); then
    conns=$1
    shift
fi
(($# == 1)) || usage "give SERVER_BINARY"
if ! [[ $conns =~ ^[0-9]+$ ]] || ((conns < 70 || conns > 900)); then
    usage "CONNECTIONS must be 70-900 (more than the 64 descriptors)"
fi
bin=$1
need_executable "$bin"
need nc
ulimit -n 4096 2>/dev/null || true  # this shell holds the client ends
make_workdir

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, in clock ticks
open_fds() { find "/proc/$1/fd" -mindepth 1 2>/dev/null | wc -l; }

echo "\$ prlimit --nofile=64:64 -- echo-hardened --listen 127.0.0.1:0 --workers 1 &"
server_wrapper=(prlimit --nofile=64:64 --)
server_start "$bin" --listen 127.0.0.1:0 --workers 1 || fail "the server did not start"
worker=$(children_of "$server_master")
[[ $worker =~ ^[0-9]+$ ]] || fail "expected one worker, found '$worker'"
grep 'open files' "/proc/$worker/limits"

echo "\$ for i in \$(seq $conns); do exec {fd}<>/dev/tcp/127.0.0.1/$server_port; done    # $conns clients, held open"
client_fds=()
for ((i = 0; i < conns; i++)); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$server_port"  # the kernel completes the handshake; the backlog holds the rest
    client_fds+=("$fd")
done
check "the worker says it pauses its accepts" \
    server_wait_log 'accept4\(\) failed: Too many open files; pausing accepts' 10
grep -m1 'pausing accepts' "$server_log"
echo "worker $worker holds $(open_fds "$worker") descriptors (limit 64)"

before=$(cpu_ticks "$worker")
sleep 1.5  # the window measured: the listener stays readable all along
used=$(($(cpu_ticks "$worker") - before))
hz=$(getconf CLK_TCK)
echo "worker CPU time over 1.5 s with $conns clients waiting: $(awk -v t="$used" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }') s"
check "no busy loop: under 0.3 s of CPU in 1.5 s" [ "$((used * 10))" -lt "$((3 * hz))" ]
check "it logged the pause once, not once per attempt" [ "$(grep -c 'pausing accepts' "$server_log")" -le 2 ]

echo "\$ (close the $conns clients)"
for fd in "${client_fds[@]}"; do exec {fd}>&-; done
client_fds=()
got=""
deadline=$((SECONDS + 10))
until [[ $got == emfile ]] || ((SECONDS >= deadline)); do
    got=$(printf 'emfile\n' | timeout 5 nc -N -w 3 127.0.0.1 "$server_port" 2>/dev/null || true)
done
check "with descriptors free again a new connection echoes" [ "$got" = emfile ]

server_stop 30 || true
check "SIGTERM: exit status 0 (got $server_status)" [ "$server_status" = 0 ]

((failures == 0)) || tail -n 20 "$server_log" >&2
verdict "fact(s) differ from RUNBOOK.md \"Limits\"" "EMFILE on accept4() pauses the worker's accepts; no busy loop; it recovers"

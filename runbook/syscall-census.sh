#!/usr/bin/env bash
# syscall-census.sh: traces echo-hardened through a representative workload with strace and compares the system
# calls it made, per process and phase, with seccomp/policy.txt (R34, R41; RUNBOOK.md "Seccomp").
#
# Usage: syscall-census.sh [--seccomp MODE] [--keep DIR] SERVER_BINARY [POLICY]
#   --seccomp MODE  the server's mode during the census (default log: the filters are loaded, so the trace
#                   holds the loading itself and marks each phase's end exactly, but nothing is killed; off
#                   traces a server without filters and finds the phase ends from the first event-loop call)
#   --keep DIR      keep the raw traces and logs in DIR (default: a temporary directory, removed at the end)
#   POLICY          default: seccomp/policy.txt beside this script's directory
#
# Two runs, each under "strace -f -ff -qq" (one trace file per process, every system call):
#   A  as systemd starts it: socket activation (systemd-socket-activate), NOTIFY_SOCKET, WATCHDOG_USEC,
#      JOURNAL_STREAM; echo, a large echo, a slow reader, an idle timeout, SIGHUP, SIGTTIN, SIGTTOU, SIGUSR1,
#      SIGUSR2, a hung (SIGSTOPped) worker killed and replaced, then SIGTERM while a client is busy
#   B  from a shell (as nobody under a finite RLIMIT_NPROC when run as root): --listen on IPv4 and IPv6,
#      --config FILE re-read on SIGHUP, echo, --metrics-listen with a scrape, a 404, a POST, garbage and 1 MiB of
#      headers, SIGQUIT
# Every line of a trace is assigned to a phase: "start" (the master from execve until its filter is loaded),
# "master", "setup" (a worker or the metrics process from fork until its own filter), "worker" or "metrics",
# the roles policy.txt uses.
# Output: per phase, the calls seen (with counts), those missing from the policy, those in the policy not seen.
# Exit status: 0 every call seen is in the policy for its phase, 1 something is missing or a step failed, 2 usage.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=runbook/lib/common.sh
source "$here/lib/common.sh"
# shellcheck source=runbook/lib/server.sh
source "$here/lib/server.sh"
synopsis="syscall-census.sh [--seccomp MODE] [--keep DIR] SERVER_BINARY [POLICY]"
mode=log
keep_workdir=""  # --keep: make_workdir keeps it
while [[ ${1:-} == --* ]]; do
    case $1 in
        --seccomp) mode=${2:-}; shift 2 ;;
        --seccomp=*) mode=${1#*=}; shift ;;
        --keep) keep_workdir=${2:-}; shift 2 ;;
        --keep=*) keep_workdir=${1#*=}; shift ;;
        *) usage "unknown option $1" ;;
    esac
done
[[ $mode == log || $mode == off ]] || usage "--seccomp must be log or off (enforce would kill on a gap)"
(($# >= 1 && $# <= 2)) || usage "give SERVER_BINARY [POLICY]"
need_executable "$1"
bin=$(readlink -f "$1")
policy=${2:-$here/../seccomp/policy.txt}
[[ -r $policy ]] || fail "cannot read $policy"
need strace systemd-socket-activate socat nc ss

# A sanitizer build loads the policy's "sanitizer" lines into both filters: they count for every phase here.
# LeakSanitizer cannot work under ptrace, so its exit-time check is off for the traced server.
extra_role=none
if grep -q __asan_init "$bin"; then
    extra_role=sanitizer
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi

make_workdir
dir=$workdir  # the traces, and the servers' logs (lib/server.sh): $dir/a.log and $dir/b.log

wait_for_log() {  # wait_for_log REGEX SECONDS: a line of the current server's log (after readiness)
    server_wait_log "$1" "$2" || fail "timed out waiting for '$1' in $server_log"
}

worker_count_is() { [[ $(children_of "$1" | wc -w) == "$2" ]]; }
wait_for_workers() {  # wait_for_workers MASTER COUNT
    wait_until 10 worker_count_is "$1" "$2" || fail "master $1 has $(children_of "$1" | wc -w) workers, expected $2"
}

echo_check() {  # echo_check HOST PORT [SECONDS]: one short message must come back unchanged
    local got wait=${3:-10}
    got=$(printf 'census %s\n' "$RANDOM" | tee "$dir/sent" | timeout "$wait" nc -N -w "$wait" "$1" "$2") ||
        fail "echo to $1:$2 failed"
    [[ $got == "$(cat "$dir/sent")" ]] || fail "echo to $1:$2 came back as '$got'"
}

big_echo() {  # big_echo PORT BYTES [slow]: a large binary echo; "slow" reads it back late (back-pressure)
    head -c "$2" /dev/urandom >"$dir/big.in"
    if [[ ${3:-} == slow ]]; then
        timeout 30 nc -N -w 10 127.0.0.1 "$1" <"$dir/big.in" | { sleep 1; cat; } >"$dir/big.out" || fail "slow echo failed"
    else
        timeout 30 nc -N -w 10 127.0.0.1 "$1" <"$dir/big.in" >"$dir/big.out" || fail "large echo failed"
    fi
    cmp -s "$dir/big.in" "$dir/big.out" || fail "a $2-byte echo came back different"
}

# ---- run A: as systemd would start it ---------------------------------------------------------------------
port=$(free_port) || fail "no free port found"  # lib/server.sh: none in TIME_WAIT either, no SO_REUSEADDR there
socat -u "UNIX-RECV:$dir/notify" "OPEN:$dir/a.notify,creat,append" &
started+=($!)
wait_until 5 test -S "$dir/notify" || fail "socat did not create $dir/notify"
# The server's stderr is the FIFO runbook/lib/server.sh reads; JOURNAL_STREAM names it, as systemd names the
# journal stream it connects a service's stderr to, so the server logs with journal priorities.
server_name=a
server_prepare
# systemd-socket-activate passes only the variables named with -E: the sanitizers' options must be named too.
sanitizer_env=()
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do [[ -n ${!v:-} ]] && sanitizer_env+=(-E "$v"); done
server_wrapper=(strace -f -ff -qq -o "$dir/a" --)
server_launch systemd-socket-activate -l "127.0.0.1:$port" "${sanitizer_env[@]}" \
    -E "NOTIFY_SOCKET=$dir/notify" -E WATCHDOG_USEC=2000000 -E "JOURNAL_STREAM=$server_stderr_id" \
    -E ECHO_WORKERS=2 -E ECHO_IDLE_TIMEOUT=2s -E ECHO_WORKER_TIMEOUT=2s -E ECHO_DRAIN_TIMEOUT=3s \
    -E "ECHO_SECCOMP=$mode" "$bin"
strace_a=$server_pid
server_wait_line 'Listening on' 10 || fail "systemd-socket-activate did not listen on 127.0.0.1:$port"
master_a=$(pgrep -P "$strace_a" || true)
[[ -n $master_a ]] || fail "strace did not start systemd-socket-activate"
started+=("$master_a")  # killing strace leaves its tracee running
# The first connection makes systemd-socket-activate exec the server; traced, a sanitizer build starts slowly.
echo_check 127.0.0.1 "$port" 60
server_wait_ready 20 || fail "run A: no ready line"
[[ $server_master == "$master_a" ]] || fail "run A: the ready line names master $server_master, expected $master_a"
server_follow
big_echo "$port" 8M
big_echo "$port" 4M slow
exec {idle}<>"/dev/tcp/127.0.0.1/$port"  # closed by the idle timeout (2 s) while the next steps run
kill -HUP "$master_a"
wait_for_log 'reload complete' 20
echo_check 127.0.0.1 "$port"
kill -TTIN "$master_a"
wait_for_workers "$master_a" 3
kill -TTOU "$master_a"
wait_for_workers "$master_a" 2
kill -USR1 "$master_a"
kill -USR2 "$master_a"
wait_for_log 'SIGUSR2: reaped' 10
hung=$(children_of "$master_a" | awk '{print $1}')
kill -STOP "$hung"
wait_for_log "\(pid $hung\) .*killed as hung" 10
wait_for_workers "$master_a" 2
exec {idle}<&-
echo_check 127.0.0.1 "$port"
# SIGTERM while a client is mid-transfer: the drain path.
head -c 2M /dev/urandom >"$dir/drain.in"
{ cat "$dir/drain.in"; sleep 1; } | timeout 20 nc -N -w 10 127.0.0.1 "$port" >"$dir/drain.out" &
drain_client=$!
started+=("$drain_client")
sleep 0.3
server_stop 20 || fail "run A: the master exited with status $server_status after SIGTERM"
wait "$drain_client" 2>/dev/null || true

# ---- run B: from a shell, binding its own listeners, with a config file ------------------------------------
printf 'log-level = info\nidle-timeout = 60\n' >"$dir/b.conf"
# As root, run B drops to nobody under a finite RLIMIT_NPROC: the unprivileged start-up path, which counts the
# uid's tasks in /proc and needs NO_NEW_PRIVS before loading a filter.
as_user=()
if ((EUID == 0)); then
    chmod 755 "$dir"
    as_user=(prlimit --nproc=4096:4096 -- setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
server_name=b
server_wrapper=(strace -f -ff -qq -o "$dir/b" -- "${as_user[@]}")
server_ready_timeout=20
server_start "$bin" --listen 127.0.0.1:0 --listen '[::1]:0' --workers 2 --config "$dir/b.conf" --seccomp "$mode" \
    --metrics-listen 127.0.0.1:0 || fail "run B: the server did not start"
master_b=$server_master
started+=("$master_b")
port4=$server_port
port6=$(sed -n 's/.*listening on \[::1\]:\([0-9]*\).*/\1/p' "$server_log" | head -1)
echo_check 127.0.0.1 "$port4"
echo_check ::1 "$port6"
# The metrics process: a scrape (the page reads /proc of every process), the refusals, garbage, 1 MiB of headers.
mport=$(sed -n 's|.*metrics at http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$server_log" | head -1)
[[ -n $mport ]] || fail "run B: no metrics line"
http() {  # http REQUEST-LINE: the status line of the answer
    printf '%s\r\nHost: census\r\nConnection: close\r\n\r\n' "$1" | timeout 10 nc -N -w 5 127.0.0.1 "$mport" | head -1 | tr -d '\r'
}
[[ $(http 'GET /metrics HTTP/1.1') == 'HTTP/1.1 200 OK' ]] || fail "run B: the metrics page was not served"
[[ $(http 'GET / HTTP/1.1') == 'HTTP/1.1 404 Not Found' ]] || fail "run B: / was not a 404"
[[ $(http 'POST /metrics HTTP/1.1') == 'HTTP/1.1 405 Method Not Allowed' ]] || fail "run B: POST was not a 405"
head -c 4096 /dev/urandom | tr -d '\r\n' | timeout 10 nc -N -w 5 127.0.0.1 "$mport" >/dev/null || true
{ printf 'GET /metrics HTTP/1.1\r\nX-Big: '; head -c 1M /dev/zero | tr '\0' a; printf '\r\n\r\n'; } |
    timeout 10 nc -N -w 5 127.0.0.1 "$mport" >/dev/null || true
[[ $(http 'GET /metrics HTTP/1.1') == 'HTTP/1.1 200 OK' ]] || fail "run B: the metrics page was not served again"
printf 'log-level = debug\nidle-timeout = 30\n' >"$dir/b.conf"
kill -HUP "$master_b"
wait_for_log 'reload complete' 20
echo_check 127.0.0.1 "$port4"
server_stop 20 QUIT || fail "run B: the master exited with status $server_status after SIGQUIT"

# ---- sort every traced call into its phase ----------------------------------------------------------------
# One "phase<TAB>syscall" line per call. The master's trace starts at the exec of the server (run A's first
# lines are systemd-socket-activate's own); a phase ends at the filter load (log) or the first loop call (off).
phases() {  # phases PREFIX MASTER_PID
    local file
    for file in "$1".[0-9]*; do
        if [[ $file == "$1.$2" ]]; then
            awk -v bin="$bin" '
                index($0, "execve(\"" bin "\"") == 1 && / = 0$/ { on = 1; phase = "start" }
                !on || !match($0, /^[a-z0-9_]+\(/) { next }
                {
                    name = substr($0, 1, RLENGTH - 1)
                    if (phase == "start" && name == "epoll_create1" && !loaded) phase = "master"
                    print phase "\t" name
                    if (name == "seccomp" && /SECCOMP_SET_MODE_FILTER/ && / = 0$/) { loaded = 1; phase = "master" }
                }' "$file"
        elif grep -q 'PR_SET_NAME, "echo-exec"' "$file"; then
            # The exec helper (R61) is forked before the master's filter and keeps the start phase's freedom
            # (what it execs needs all of it): its calls count as the start phase's.
            awk 'match($0, /^[a-z0-9_]+\(/) { print "helper\t" substr($0, 1, RLENGTH - 1) }' "$file"
        else
            # The metrics process names itself first thing (prctl PR_SET_NAME "echo-metrics").
            awk -v mode="$mode" '
                !match($0, /^[a-z0-9_]+\(/) { next }
                {
                    name = substr($0, 1, RLENGTH - 1)
                    print (done ? (metrics ? "metrics" : "worker") : "setup") "\t" name
                    if (name == "prctl" && /PR_SET_NAME, "echo-metrics"/) metrics = 1
                    if (name == "seccomp" && /SECCOMP_SET_MODE_FILTER/ && / = 0$/) { loaded = 1; done = 1 }
                    if (mode == "off" && (name == "timerfd_create" || (metrics && name == "epoll_wait"))) done = 1
                }' "$file"
        fi
    done
}
{ phases "$dir/a" "$master_a"; phases "$dir/b" "$master_b"; } >"$dir/calls"
traces=("$dir"/a.[0-9]* "$dir"/b.[0-9]*)
metrics_processes=$(grep -l 'PR_SET_NAME, "echo-metrics"' "${traces[@]}" | wc -l)
helpers=$(grep -l 'PR_SET_NAME, "echo-exec"' "${traces[@]}" | wc -l)
workers=$((${#traces[@]} - 2 - metrics_processes - helpers))

awk -f "$here/../seccomp/policy.awk" "$policy" >"$dir/policy"
echo "census: seccomp=$mode$([[ $extra_role == none ]] || echo ", sanitizer build"), runs A (socket-activated, master $master_a) and B (--listen, master $master_b), $workers worker processes, $metrics_processes metrics process, $helpers exec helper(s), $(wc -l <"$dir/calls") calls traced"
missing_total=0
for phase in start helper master setup worker metrics; do
    sort "$dir/calls" | awk -F '\t' -v p="$phase" '$1 == p { print $2 }' | uniq -c | sort -k1,1nr -k2 >"$dir/seen.$phase"
    awk '{ print $2 }' "$dir/seen.$phase" | sort >"$dir/seen-names.$phase"
    # Phase start is the policy's roles start, bind and drop together (bind: the part only --listen needs; drop:
    # the part only a start as root takes, R99), and so is phase helper; phase setup is setup and confine.
    awk -F '\t' -v p="$phase" -v x="$extra_role" '
        ("," $2 ",") ~ ("," p ",|," x ",") || (p ~ /^(start|helper)$/ && ("," $2 ",") ~ /,(start|bind|drop),/) ||
            (p == "setup" && ("," $2 ",") ~ /,confine,/) { print $1 }' "$dir/policy" |
        sort -u >"$dir/policy-names.$phase"
    missing=$(comm -23 "$dir/seen-names.$phase" "$dir/policy-names.$phase" | tr '\n' ' ')
    unused=$(comm -13 "$dir/seen-names.$phase" "$dir/policy-names.$phase" | tr '\n' ' ')
    printf '\n%s: %d seen, %d in the policy\n' "$phase" "$(wc -l <"$dir/seen-names.$phase")" \
        "$(wc -l <"$dir/policy-names.$phase")"
    printf '  seen:    %s\n' "$(awk '{ printf "%s%s %d", sep, $2, $1; sep = ", " }' "$dir/seen.$phase")" | fold -s -w 107 | sed '2,$s/^/           /'
    printf '  MISSING: %s\n' "${missing:-none}"
    printf '  unused:  %s\n' "${unused:-none}"
    [[ -z $missing ]] || missing_total=$((missing_total + $(wc -w <<<"$missing")))
done
for role in systemd sanitizer; do
    names=$(awk -F '\t' -v r="$role" '("," $2 ",") ~ ("," r ",") { print $1 }' "$dir/policy" | sort -u | tr '\n' ' ')
    printf '\nrole %s, not observable here: %s\n' "$role" "${names:-none}"
done
if ((missing_total > 0)); then
    echo "syscall-census: $missing_total call(s) the server made are missing from $policy for their phase" >&2
    exit 1
fi
echo "syscall-census: every call seen is in the policy"

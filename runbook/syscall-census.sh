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
#      --config FILE re-read on SIGHUP, echo, SIGQUIT
# Every line of a trace is assigned to a phase: "start" (the master from execve until its filter is loaded),
# "master", "setup" (a worker from fork until its own filter) or "worker", the roles policy.txt uses.
# Output: per phase, the calls seen (with counts), those missing from the policy, those in the policy not seen.
# Exit status: 0 every call seen is in the policy for its phase, 1 something is missing or a step failed, 2 usage.
set -euo pipefail

usage() {
    echo "syscall-census: $1 (usage: syscall-census.sh [--seccomp MODE] [--keep DIR] SERVER_BINARY [POLICY])" >&2
    exit 2
}

mode=log
keep=""
while [[ ${1:-} == --* ]]; do
    case $1 in
        --seccomp) mode=${2:-}; shift 2 ;;
        --seccomp=*) mode=${1#*=}; shift ;;
        --keep) keep=${2:-}; shift 2 ;;
        --keep=*) keep=${1#*=}; shift ;;
        *) usage "unknown option $1" ;;
    esac
done
[[ $mode == log || $mode == off ]] || usage "--seccomp must be log or off (enforce would kill on a gap)"
(($# >= 1 && $# <= 2)) || usage "give SERVER_BINARY [POLICY]"
here=$(cd "$(dirname "$0")" && pwd)
bin=$(readlink -f "$1")
policy=${2:-$here/../seccomp/policy.txt}
[[ -x $bin ]] || { echo "syscall-census: $bin is not an executable" >&2; exit 1; }
[[ -r $policy ]] || { echo "syscall-census: cannot read $policy" >&2; exit 1; }
for tool in strace systemd-socket-activate socat nc ss; do
    command -v "$tool" >/dev/null || { echo "syscall-census: $tool is not installed (tools/install-deps.sh)" >&2; exit 1; }
done

# A sanitizer build loads the policy's "sanitizer" lines into both filters: they count for every phase here.
# LeakSanitizer cannot work under ptrace, so its exit-time check is off for the traced server.
extra_role=none
if grep -q __asan_init "$bin"; then
    extra_role=sanitizer
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi

if [[ -n $keep ]]; then
    mkdir -p "$keep"
    dir=$(cd "$keep" && pwd)
else
    dir=$(mktemp -d)
fi
started=()  # pids this script started, killed on any exit
cleanup() {
    local p
    for p in "${started[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [[ -n $keep ]] || rm -rf "$dir"
}
trap cleanup EXIT

fail() {
    echo "syscall-census: $*" >&2
    exit 1
}

wait_for_log() {  # wait_for_log FILE REGEX SECONDS
    local deadline=$((SECONDS + $3))
    until grep -Eq -- "$2" "$1" 2>/dev/null; do
        ((SECONDS < deadline)) || fail "timed out waiting for '$2' in $1"
        sleep 0.1
    done
}

free_port() {
    local port
    for _ in $(seq 50); do
        port=$((20000 + RANDOM % 40000))
        ss -Htan "sport = :$port" | grep -q . || { echo "$port"; return; }  # TIME_WAIT too: no SO_REUSEADDR there
    done
    fail "no free port found"
}

children_of() { cat "/proc/$1/task/$1/children" 2>/dev/null || true; }

wait_for_workers() {  # wait_for_workers MASTER COUNT
    local deadline=$((SECONDS + 10)) n
    for (( ; ; )); do
        n=$(children_of "$1" | wc -w)
        ((n == $2)) && return
        ((SECONDS < deadline)) || fail "master $1 has $n workers, expected $2"
        sleep 0.1
    done
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

wait_exit() {  # wait_exit PID SECONDS: sets $status to the exit status of PID, a child of this shell
    local deadline=$((SECONDS + $2))
    while kill -0 "$1" 2>/dev/null; do
        ((SECONDS < deadline)) || fail "pid $1 did not exit within $2 s"
        sleep 0.1
    done
    status=0
    wait "$1" || status=$?
}

# ---- run A: as systemd would start it ---------------------------------------------------------------------
port=$(free_port)
socat -u "UNIX-RECV:$dir/notify" "OPEN:$dir/a.notify,creat,append" &
started+=($!)
for _ in $(seq 50); do [[ -S $dir/notify ]] && break; sleep 0.1; done
: >"$dir/a.log"
journal=$(stat -c '%d:%i' "$dir/a.log")
# systemd-socket-activate passes only the variables named with -E: the sanitizers' options must be named too.
sanitizer_env=()
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do [[ -n ${!v:-} ]] && sanitizer_env+=(-E "$v"); done
strace -f -ff -qq -o "$dir/a" -- systemd-socket-activate -l "127.0.0.1:$port" "${sanitizer_env[@]}" \
    -E "NOTIFY_SOCKET=$dir/notify" -E WATCHDOG_USEC=2000000 -E "JOURNAL_STREAM=$journal" \
    -E ECHO_WORKERS=2 -E ECHO_IDLE_TIMEOUT=2s -E ECHO_WORKER_TIMEOUT=2s -E ECHO_DRAIN_TIMEOUT=3s \
    -E "ECHO_SECCOMP=$mode" "$bin" 2>>"$dir/a.log" &
strace_a=$!
started+=("$strace_a")
for _ in $(seq 50); do master_a=$(pgrep -P "$strace_a" || true); [[ -n $master_a ]] && break; sleep 0.1; done
[[ -n $master_a ]] || fail "strace did not start systemd-socket-activate"
started+=("$master_a")  # killing strace leaves its tracee running
wait_for_log "$dir/a.log" 'Listening on' 10
# The first connection makes systemd-socket-activate exec the server; traced, a sanitizer build starts slowly.
echo_check 127.0.0.1 "$port" 60
wait_for_log "$dir/a.log" 'ready: ' 20
big_echo "$port" 8M
big_echo "$port" 4M slow
exec {idle}<>"/dev/tcp/127.0.0.1/$port"  # closed by the idle timeout (2 s) while the next steps run
kill -HUP "$master_a"
wait_for_log "$dir/a.log" 'reload complete' 20
echo_check 127.0.0.1 "$port"
kill -TTIN "$master_a"
wait_for_workers "$master_a" 3
kill -TTOU "$master_a"
wait_for_workers "$master_a" 2
kill -USR1 "$master_a"
kill -USR2 "$master_a"
wait_for_log "$dir/a.log" 'SIGUSR2: reaped' 10
hung=$(children_of "$master_a" | awk '{print $1}')
kill -STOP "$hung"
wait_for_log "$dir/a.log" "\(pid $hung\) .*killed as hung" 10
wait_for_workers "$master_a" 2
exec {idle}<&-
echo_check 127.0.0.1 "$port"
# SIGTERM while a client is mid-transfer: the drain path.
head -c 2M /dev/urandom >"$dir/drain.in"
{ cat "$dir/drain.in"; sleep 1; } | timeout 20 nc -N -w 10 127.0.0.1 "$port" >"$dir/drain.out" &
drain_client=$!
started+=("$drain_client")
sleep 0.3
kill -TERM "$master_a"
wait_exit "$strace_a" 20
((status == 0)) || fail "run A: the master exited with status $status after SIGTERM"
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
strace -f -ff -qq -o "$dir/b" -- "${as_user[@]}" "$bin" --listen 127.0.0.1:0 --listen '[::1]:0' --workers 2 \
    --config "$dir/b.conf" --seccomp "$mode" 2>"$dir/b.log" &
strace_b=$!
started+=("$strace_b")
wait_for_log "$dir/b.log" 'ready: ' 20
master_b=$(pgrep -P "$strace_b")
started+=("$master_b")
port4=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/b.log" | head -1)
port6=$(sed -n 's/.*listening on \[::1\]:\([0-9]*\).*/\1/p' "$dir/b.log" | head -1)
echo_check 127.0.0.1 "$port4"
echo_check ::1 "$port6"
printf 'log-level = debug\nidle-timeout = 30\n' >"$dir/b.conf"
kill -HUP "$master_b"
wait_for_log "$dir/b.log" 'reload complete' 20
echo_check 127.0.0.1 "$port4"
kill -QUIT "$master_b"
wait_exit "$strace_b" 20
((status == 0)) || fail "run B: the master exited with status $status after SIGQUIT"

# ---- sort every traced call into its phase ----------------------------------------------------------------
# One "phase<TAB>syscall" line per call. The master's trace starts at the exec of the server (run A's first
# lines are systemd-socket-activate's own); a phase ends at the filter load (log) or the first loop call (off).
phases() {  # phases PREFIX MASTER_PID
    local file
    for file in "$1".*; do
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
        else
            awk -v mode="$mode" '
                !match($0, /^[a-z0-9_]+\(/) { next }
                {
                    name = substr($0, 1, RLENGTH - 1)
                    print (done ? "worker" : "setup") "\t" name
                    if (name == "seccomp" && /SECCOMP_SET_MODE_FILTER/ && / = 0$/) { loaded = 1; done = 1 }
                    if (name == "timerfd_create" && mode == "off") done = 1
                }' "$file"
        fi
    done
}
{ phases "$dir/a" "$master_a"; phases "$dir/b" "$master_b"; } >"$dir/calls"
traces=("$dir"/a.[0-9]* "$dir"/b.[0-9]*)
workers=$((${#traces[@]} - 2))

awk -f "$here/../seccomp/policy.awk" "$policy" >"$dir/policy"
echo "census: seccomp=$mode$([[ $extra_role == none ]] || echo ", sanitizer build"), runs A (socket-activated, master $master_a) and B (--listen, master $master_b), $workers worker processes, $(wc -l <"$dir/calls") calls traced"
missing_total=0
for phase in start master setup worker; do
    sort "$dir/calls" | awk -F '\t' -v p="$phase" '$1 == p { print $2 }' | uniq -c | sort -k1,1nr -k2 >"$dir/seen.$phase"
    awk '{ print $2 }' "$dir/seen.$phase" | sort >"$dir/seen-names.$phase"
    # Phase start is the policy's roles start and bind together (bind: the part only --listen needs).
    awk -F '\t' -v p="$phase" -v x="$extra_role" '
        ("," $2 ",") ~ ("," p ",|," x ",") || (p == "start" && ("," $2 ",") ~ /,bind,/) { print $1 }' "$dir/policy" |
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

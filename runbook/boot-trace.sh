#!/usr/bin/env bash
# boot-trace.sh: the boot traces of RUNBOOK.md "Boot trace": what happens between starting echo-hardened and READY=1,
# with timings, checked for the order the RUNBOOK describes.
#
# Usage: boot-trace.sh [--keep FILE] SERVER_BINARY
#          a foreground start-up under `strace -f -tt` (no container needed): the master's exec, limits, listening
#          socket, its seccomp filter, each fork, each worker's set-up up to accepting, and READY=1 (sd_notify to a
#          NOTIFY_SOCKET this script listens on); then the same start untraced, for the real cost
#        boot-trace.sh --container BUILD_DIR SOURCE_DIR [--keep FILE]
#          `systemctl start echo-hardened` in systemd 252 booted in a container: runs
#          tests/systemd/nspawn-test.sh BUILD_DIR SOURCE_DIR --trace (with all of its checks), then reads the trace
#        boot-trace.sh --journal FILE
#          reads a trace saved by `nspawn-test.sh ... --trace FILE` (journalctl -o short-monotonic at debug level)
#   --keep FILE  also save the raw trace (strace output, or the journal) in FILE
# Exit status: 0 the trace shows every step in order, 1 a step is missing or out of order (named) or a run failed,
# 2 usage, 77 skipped (--container without root or systemd-nspawn; strace missing), the reason printed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=runbook/lib/common.sh
source "$here/lib/common.sh"
synopsis="boot-trace.sh [--keep FILE] SERVER_BINARY | --container BUILD_DIR SOURCE_DIR [--keep FILE] | --journal FILE"
mode=strace
keep=""
args=()
while (($#)); do
    case $1 in
        --container) mode=container ;;
        --journal) mode=journal ;;
        --keep) keep=${2:-}; [[ -n $keep ]] || usage "--keep needs a file"; shift ;;
        -*) usage "unknown option $1" ;;
        *) args+=("$1") ;;
    esac
    shift
done
make_workdir

# ---- reading a systemd journal trace -------------------------------------------------------------------------
# Prints the trace without D-Bus traffic, mount set-up and unrelated units (counted, not shown), then the steps
# with their time since the start job was queued, and checks their order.
read_journal() {
    local file=$1
    [[ -s $file ]] || fail "no trace in $file"
    local noise='Got message type=|Sent message type=|Bus private-bus-connection|sd-bus: |Registering bus object|Accepted new private connection|Got disconnect on private connection|Failed to send unit change signal|[Mm]ount|is duplicate\.|is made redundant|\.mount: |Setting log level|systemd-journald\.service|Failed to parse system call|Followed source symlinks'
    echo "== the journal, $(wc -l <"$file") lines; $(grep -cE "$noise" "$file" || true) lines of D-Bus traffic, mount set-up and" \
        "other units left out:"
    grep -vE "$noise" "$file" | cut -c1-220
    echo
    echo "== the steps (ms since the start job was queued)"
    awk '
        function t() { v = $0; sub(/^\[ */, "", v); sub(/\].*/, "", v); return v * 1000 }
        function step(name, text) { if (!(name in at)) { at[name] = t(); order[++n] = name; say[name] = text } }
        /Installed new job echo-hardened\.service\/start/ { step("job", "start job queued (systemctl start); Requires= adds the socket job") }
        /echo-hardened\.socket: Changed dead -> listening/ { step("socket", "PID 1 binds and listens: echo-hardened.socket dead -> listening") }
        /echo-hardened\.service: Forked .* as [0-9]+/ { pid = $NF; step("fork", "PID 1 forks the service process (pid " pid "), passing the socket") }
        /\(hardened\)\[[0-9]+\]:/ { step("sandbox", "the forked child (still systemd code) builds the sandbox: user, namespaces, mounts"); last_sandbox = t() }
        / echo-hardened\[[0-9]+\]: / && !("exec" in at) {
            at["sandbox_end"] = last_sandbox
            step("exec", "first line from echo-hardened itself (after execve, its filter loaded)")
        }
        # Records of the master say "started worker"/"ready:" right after "echo-hardened[PID]: " (native journal
        # records, R80); a trace saved before R80 has "master[PID]: " in between.
        /echo-hardened\[[0-9]+\]: (master\[[0-9]+\]: )?started worker/ { w++; step("worker" w, "master forks worker " (w - 1)) }
        /echo-hardened\[[0-9]+\]: (master\[[0-9]+\]: )?ready: / { step("ready", "master: every worker accepts; logs the ready line") }
        /Got notification message from PID [0-9]+ \(READY=1/ { step("READY", "PID 1 receives READY=1") }
        /Job [0-9]+ echo-hardened\.service\/start finished, result=done/ { step("done", "start job done: systemctl start returns") }
        /Started echo-hardened\.service/ { step("started", "Started echo-hardened.service") }
        END {
            if (!("job" in at)) { print "WRONG: no start job in the trace"; exit }
            t0 = at["job"]
            for (i = 1; i <= n; i++) printf "  %+8.1f ms  %s\n", at[order[i]] - t0, say[order[i]]
            if ("sandbox_end" in at && "fork" in at)
                printf "  (the sandbox: %.1f ms from the fork to the child'"'"'s last line, a mount left out above; execve follows)\n", at["sandbox_end"] - at["fork"]
            split("job socket fork exec ready READY done", want, " ")
            for (i = 1; i <= 7; i++) if (!(want[i] in at)) { print "WRONG: step \"" want[i] "\" is not in the trace"; bad = 1 }
            if (bad) exit
            for (i = 1; i < 7; i++)
                if (at[want[i]] > at[want[i + 1]]) print "WRONG: \"" want[i] "\" comes after \"" want[i + 1] "\""
            if (w < 1) print "WRONG: no worker was started"
            printf "  from the start job to READY=1: %.1f ms; to \"Started\": %.1f ms\n", at["READY"] - t0, at["done"] - t0
        }' "$file" | tee "$workdir/steps"
    if grep -q '^WRONG' "$workdir/steps"; then
        fail "the trace does not show the start-up RUNBOOK.md describes"
    fi
    echo "boot-trace: systemctl start -> READY=1 traced, every step present and in order"
}

# ---- tracing a foreground start-up with strace -----------------------------------------------------------------
# The timeline: one line per milestone of the master and of each worker, ms since the server's execve.
read_strace() {  # read_strace TRACE BINARY
    awk -v bin="$2" '
        function ms(clock,   a) { split(clock, a, ":"); return ((a[1] * 60 + a[2]) * 60 + a[3]) * 1000 }
        function ev(who, text) { printf "  %+8.1f ms  %-7s %-9s %s\n", now - t0, pid, who, text; n_ev++ }
        function once(key, who, text) { if (!(key in seen)) { seen[key] = 1; ev(who, text); return 1 } return 0 }
        {
            pid = $1; now = ms($2); call = $0; sub(/^[0-9]+ +[0-9:.]+ +/, "", call); sub(/ <unfinished \.\.\.>$/, "", call)
            # strace -f splits a call that another process interrupts ("<unfinished ...>", then "<... NAME resumed>"):
            # put the name back on the second half, which holds the result (a fork'"'"'s pid, the data read).
            if (match(call, /^<\.\.\. [a-z0-9_]+ resumed>/)) call = substr(call, 6, RLENGTH - 14) "(" substr(call, RLENGTH + 1)
        }
        !master {
            if (index(call, "execve(\"" bin "\"") == 1 && call ~ / = 0$/) { master = pid; t0 = now; ev("master", "execve(\"" bin "\", ...)") }
            next
        }
        done { next }
        pid == master {
            if (call ~ /^openat\(.*\.so[.0-9]*", / && call !~ /ENOENT/) { libs++; last_lib = now; next }
            if (libs && !libs_said && call !~ /^(mmap|mprotect|close|read|pread64|newfstatat|fstat|munmap|arch_prctl|set_tid_address|set_robust_list|rseq|prlimit64\(0, RLIMIT_STACK)/) {
                libs_said = 1
                printf "  %+8.1f ms  %-7s %-9s %s\n", last_lib - t0, pid, "master", "ld.so has opened " libs " shared libraries; main() follows"
            }
            if (call ~ /^prlimit64\(0, RLIMIT_NOFILE/) once("nofile", "master", "RLIMIT_NOFILE checked (raised to the hard limit if lower): " substr(call, 1, 60))
            else if (call ~ /^prlimit64\(0, RLIMIT_NPROC/) once("nproc", "master", "RLIMIT_NPROC read: does --workers fit?")
            else if (call ~ /^listen\(/) { once("listen", "master", "listening: " call); t_listen = now }
            else if (call ~ /^prctl\(PR_SET_NO_NEW_PRIVS/) once("nnp", "master", "prctl(PR_SET_NO_NEW_PRIVS): needed to load a filter unprivileged; inherited by workers")
            else if (call ~ /^seccomp\(SECCOMP_SET_MODE_FILTER, 0, \{len=/ && call ~ / = 0$/) {
                match(call, /len=[0-9]+/); if (once("filter", "master", "its seccomp filter is loaded (" substr(call, RSTART + 4, RLENGTH - 4) " BPF instructions)")) t_filter = now
            }
            else if (call ~ /^rt_sigprocmask\(SIG_BLOCK, \[/) { if (once("block", "master", "blocks the signals it handles: " substr(call, 1, 90))) t_block = now }
            else if (call ~ /^signalfd4\(/) once("signalfd", "master", "signalfd: signals become readable events")
            else if (call ~ /^epoll_create1\(/) once("epoll", "master", "its epoll loop (signalfd, timerfd, one channel per worker)")
            else if (call ~ /^clone\(.*\) = [0-9]+$/ && !t_filter && !helper) {
                # Forked before the filter on purpose: it must keep the freedom to exec a new binary (R61).
                helper = call; sub(/.* = /, "", helper); ev("master", "fork() -> the exec helper (docs/UPGRADE.md), before the filter: pid " helper)
            }
            else if (call ~ /^clone\(.*\) = [0-9]+$/) {
                child = call; sub(/.* = /, "", child); worker[child] = ++workers; if (!t_fork) t_fork = now
                ev("master", "fork() -> worker " (workers - 1) " is pid " child)
            }
            else if (call ~ /^recvfrom\(([0-9]+, )?"\\1/) ev("master", "a worker reports it accepts (recvfrom on its channel)")
            else if (call ~ /^write\(2, ".*ready: /) { ev("master", "logs \"ready: ...\""); t_ready = now }
            else if (call ~ /^sendmsg\(.*READY=1/) { ev("master", "sd_notify: READY=1 sent"); t_notify = now; done = 1 }
            next
        }
        pid in worker {
            who = "worker " (worker[pid] - 1)
            if (!((pid, "first") in seen)) { seen[pid, "first"] = 1; ev(who, "runs: " substr(call, 1, index(call, "(") - 1) "() (glibc'"'"'s fork child)") }
            if (call ~ /^rt_sigprocmask\(SIG_SETMASK/) { match(call, /\[[^]]*\]/); once(pid "mask", who, "signal mask set to exactly " substr(call, RSTART, RLENGTH) " (every disposition reset just before)") }
            else if (call ~ /^prctl\(PR_SET_PDEATHSIG/) once(pid "pdeath", who, "prctl(PR_SET_PDEATHSIG, SIGKILL), then getppid() re-checks the master")
            else if (call ~ /^close_range\(/) once(pid "close", who, "close_range(): drops the master'"'"'s descriptors")
            else if (call ~ /^seccomp\(SECCOMP_SET_MODE_FILTER, 0, \{len=/) { match(call, /len=[0-9]+/); once(pid "filter", who, "its own filter stacked on the master'"'"'s (" substr(call, RSTART + 4, RLENGTH - 4) " BPF instructions)") }
            else if (call ~ /EPOLLEXCLUSIVE/) { if (once(pid "accept", who, "listening socket in its epoll with EPOLLEXCLUSIVE: accepting")) accepting[pid] = now }
            else if (call ~ /^sendto\(/) once(pid "report", who, "first report to the master (MSG_DONTWAIT)")
        }
        END {
            if (!master) { print "WRONG: no execve of " bin " in the trace"; exit }
            if (!t_notify) print "WRONG: no READY=1 in the trace"
            if (!t_filter) print "WRONG: the master loaded no seccomp filter"
            if (!t_block) print "WRONG: the master never blocked its signals"
            if (t_block > t_fork) print "WRONG: the master forked before blocking its signals"
            if (t_filter > t_fork) print "WRONG: the master forked before loading its filter"
            if (workers != 2) print "WRONG: " workers + 0 " workers forked before READY=1, expected 2"
            for (p in worker) if (!(p in accepting) || accepting[p] > t_notify) print "WRONG: worker pid " p " was not accepting before READY=1"
            if (t_notify && t_ready > t_notify) print "WRONG: READY=1 was sent before the ready line"
            if (t_notify) printf "  execve -> listening %.1f ms, -> first fork %.1f ms, -> READY=1 %.1f ms (under strace)\n", t_listen - t0, t_fork - t0, t_notify - t0
        }' "$1"
}

strace_startup() {
    ((${#args[@]} == 1)) || usage "give SERVER_BINARY"
    need_executable "${args[0]}"
    local bin
    bin=$(readlink -f "${args[0]}")
    skip_without strace socat
    # LeakSanitizer cannot run under ptrace: a sanitizer build's exit-time check is off for the traced server.
    grep -q __asan_init "$bin" && export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
    # shellcheck source=runbook/lib/server.sh
    source "$here/lib/server.sh"

    # A NOTIFY_SOCKET of our own, as systemd would pass: READY=1 shows in the trace as a sendmsg and lands here.
    socat -u "UNIX-RECV:$workdir/notify" "OPEN:$workdir/notify.txt,creat,append" &
    started+=($!)
    wait_until 10 test -S "$workdir/notify" || fail "socat did not create $workdir/notify"
    # Started as root, the server notifies as the user it drops to (docs/PRIVILEGES.md): that user must reach it.
    chmod 755 "$workdir" && chmod 666 "$workdir/notify"

    echo "\$ NOTIFY_SOCKET=... strace -f -tt -o trace -- echo-hardened --listen 127.0.0.1:0 --workers 2"
    server_name=traced
    server_wrapper=(strace -f -tt -qq -s 160 -o "$workdir/trace" -- env "NOTIFY_SOCKET=$workdir/notify")
    server_ready_timeout=60
    server_start "$bin" --listen 127.0.0.1:0 --workers 2 || fail "the traced server did not start"
    started+=("$server_master")  # killing strace would leave it running
    unset server_wrapper
    wait_until 10 grep -qs 'READY=1' "$workdir/notify.txt" || fail "no READY=1 on the notify socket within 10 s"
    server_stop 30 || fail "the traced server exited $server_status on SIGTERM, expected 0"
    [[ -z $keep ]] || cp "$workdir/trace" "$keep"
    echo "(the trace holds $(wc -l <"$workdir/trace") system calls of $(awk '{print $1}' "$workdir/trace" | sort -u | wc -l) processes; the steps:)"
    read_strace "$workdir/trace" "$bin" | tee "$workdir/steps"
    echo "the server's own log of the same start:"
    sed -n '1,/ready: /p' "$server_log"

    # The same start without ptrace in the way: launch to ready line, as this shell sees it.
    server_name=plain
    server_ready_timeout=15
    local t0 t_ready
    t0=$(date +%s%3N)
    server_start "$bin" --listen 127.0.0.1:0 --workers 2 || fail "the untraced server did not start"
    # The log's own time stamps (local time, ms) against the clock read just before the launch.
    stamp() { date -d "$(grep -oE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+' <<<"$1" | tr T ' ')" +%s%3N 2>/dev/null || echo "$t0"; }
    t_ready=$(stamp "$server_line")
    echo "untraced: the ready line is stamped $((t_ready - t0)) ms after the launch (fork and exec included)," \
        "$((t_ready - $(stamp "$(head -n1 "$server_log")"))) ms after the server's first line; its log:"
    cat "$server_log"
    server_stop 30 || fail "the untraced server exited $server_status on SIGTERM, expected 0"
    if grep -q '^WRONG' "$workdir/steps"; then
        fail "the start-up does not happen in the order RUNBOOK.md describes"
    fi
    echo "boot-trace: exec -> READY=1 traced, every step present and in order"
}

container_trace() {
    ((${#args[@]} == 2)) || usage "--container needs BUILD_DIR SOURCE_DIR"
    ((EUID == 0)) || skip "--container needs root (systemd-nspawn)"
    skip_without systemd-nspawn debootstrap nsenter
    local journal=$workdir/journal.txt rc=0
    echo "\$ tests/systemd/nspawn-test.sh ${args[0]} ${args[1]} --trace FILE"
    "$here/../tests/systemd/nspawn-test.sh" "${args[0]}" "${args[1]}" --trace "$journal" >"$workdir/nspawn.log" 2>&1 || rc=$?
    if ((rc != 0)); then
        cat "$workdir/nspawn.log" >&2
        fail "the container test failed (exit $rc)"
    fi
    grep -E '^PASS: systemd .* booted|^nspawn-test:' "$workdir/nspawn.log"
    [[ -z $keep ]] || cp "$journal" "$keep"
    read_journal "$journal"
}

case $mode in
    strace) strace_startup ;;
    container) container_trace ;;
    journal)
        ((${#args[@]} == 1)) || usage "--journal needs FILE"
        read_journal "${args[0]}"
        ;;
esac

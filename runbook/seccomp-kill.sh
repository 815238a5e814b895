#!/usr/bin/env bash
# seccomp-kill.sh: after a process died of SIGSYS, finds the kernel's audit line for it and names the system call
# the seccomp filter refused (RUNBOOK.md "Seccomp", "After a SIGSYS kill: which call was it?"; "Troubleshooting").
#
# Usage: seccomp-kill.sh PID
#          PID: the dead process, as the master's line names it ("worker 0 (pid PID) killed by signal 31 (SIGSYS)")
#          or systemd's "Main process exited, code=killed, status=31/SYS" (the MainPID before it)
#        seccomp-kill.sh --demo SERVER_BINARY SHIM
#          provokes one: starts SERVER_BINARY with the test-only LD_PRELOAD library SHIM (build target
#          forbidden-call-shim: a worker's first accept4() calls mount(2) first), connects once, waits for the
#          master to report the SIGSYS death, then looks the worker's pid up as above and expects "mount"
# Reads, in this order, the first that has the line: journalctl -k, dmesg, /var/log/audit/audit.log.
# Exit status: 0 found and named (--demo: and it was mount), 1 failure, 2 usage, 77 skipped: the kernel log cannot be
# read here or holds no audit line for the pid (audit off, rate-limited, or not a seccomp death); the reason printed.
set -euo pipefail

# shellcheck source=runbook/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
synopsis="seccomp-kill.sh PID | --demo SERVER_BINARY SHIM"

# audit_line PID: prints the kernel's seccomp audit record (type=1326, SECCOMP in audit.log) for PID, if any.
audit_line() {
    local pat="(type=1326|type=SECCOMP).* pid=$1 "
    if command -v journalctl >/dev/null && timeout 10 journalctl -k --no-pager -q -g 'type=1326' 2>/dev/null | grep -E "$pat"; then
        return 0
    fi
    if timeout 10 dmesg 2>/dev/null | grep -E "$pat"; then return 0; fi
    if [[ -r /var/log/audit/audit.log ]] && grep -E "$pat" /var/log/audit/audit.log; then return 0; fi
    return 1
}

syscall_name() {  # syscall_name ARCH NUMBER
    local name=""
    if command -v scmp_sys_resolver >/dev/null; then
        name=$(scmp_sys_resolver -a "$( [[ $1 == c000003e ]] && echo x86_64 || echo "$1")" "$2" 2>/dev/null || true)
    fi
    if [[ -z $name && $1 == c000003e && -r /usr/include/x86_64-linux-gnu/asm/unistd_64.h ]]; then
        name=$(awk -v n="$2" '$1 == "#define" && $3 == n { sub(/^__NR_/, "", $2); print $2; exit }' \
            /usr/include/x86_64-linux-gnu/asm/unistd_64.h)
    fi
    if [[ -z $name ]] && command -v ausyscall >/dev/null; then name=$(ausyscall "$2" 2>/dev/null || true); fi
    echo "${name:-unknown (syscall $2 on arch $1)}"
}

action_of() {  # the filter's verdict, from the record's code= (SECCOMP_RET_* in linux/seccomp.h)
    case $1 in
        0x80000000) echo "SECCOMP_RET_KILL_PROCESS: the filter killed the whole process" ;;
        0x0) echo "SECCOMP_RET_KILL_THREAD: the filter killed the thread" ;;
        0x7ffc0000) echo "SECCOMP_RET_LOG: allowed and logged (--seccomp=log), nothing was killed" ;;
        0x3????) echo "SECCOMP_RET_TRAP: SIGSYS delivered to a handler" ;;
        0x5????) echo "SECCOMP_RET_ERRNO: the call failed with errno $((16#${1:5}))" ;;
        *) echo "action code $1" ;;
    esac
}

# lookup PID: finds, prints and decodes the record; sets found_name.
lookup() {
    local pid=$1 line deadline=$((SECONDS + 5))
    # The kernel writes the record when it kills; the master reports the death a moment later. Bounded.
    until line=$(audit_line "$pid" | tail -n1) && [[ -n $line ]]; do
        if ((SECONDS >= deadline)); then
            if ! timeout 10 dmesg >/dev/null 2>&1 && ! timeout 10 journalctl -k -n 1 -q >/dev/null 2>&1; then
                skip "cannot read the kernel log here (dmesg and journalctl -k refused: kernel.dmesg_restrict, no root)"
            fi
            skip "no seccomp audit record for pid $pid in journalctl -k, dmesg or audit.log (audit off, rate-limited: 'callbacks suppressed', or not a seccomp death)"
        fi
        sleep 0.1
    done
    echo "\$ dmesg | grep 'type=1326' | grep 'pid=$pid '      (or journalctl -k -g type=1326)"
    echo "$line"
    local arch number code sig
    arch=$(grep -oE ' arch=[0-9a-f]+' <<<"$line" | cut -d= -f2)
    number=$(grep -oE ' syscall=[0-9]+' <<<"$line" | cut -d= -f2)
    code=$(grep -oE ' code=0x[0-9a-f]+' <<<"$line" | cut -d= -f2)
    sig=$(grep -oE ' sig=[0-9]+' <<<"$line" | cut -d= -f2)
    [[ -n $arch && -n $number ]] || fail "cannot read arch= and syscall= in that line"
    found_name=$(syscall_name "$arch" "$number")
    echo "seccomp-kill: pid $pid: system call $number = $found_name (arch $arch$([[ $arch == c000003e ]] && echo ", x86-64")), signal ${sig:-?}$([[ ${sig:-} == 31 ]] && echo " (SIGSYS)"); $(action_of "${code:-?}")"
}

if [[ ${1:-} != --demo ]]; then
    if (($# != 1)) || ! [[ $1 =~ ^[0-9]+$ ]]; then usage "give the PID of the process that died"; fi
    lookup "$1"
    exit 0
fi

# ---- --demo: provoke a SIGSYS death and look it up ---------------------------------------------------------------
(($# == 3)) || usage "--demo needs SERVER_BINARY SHIM"
bin=$2
shim=$(readlink -f "$3")
need_executable "$bin"
[[ -r $shim ]] || fail "$shim (the forbidden-call-shim library) is not readable"
need nc
preload=$shim
# A sanitizer build: its runtime insists on coming first in the preload list.
asan=$(ldd "$bin" | awk '$1 ~ /^libasan\.so/ { print $3; exit }')
[[ -z $asan ]] || preload=$asan:$shim
make_workdir
# shellcheck source=runbook/lib/server.sh
source "$(dirname "$0")/lib/server.sh"

echo "\$ LD_PRELOAD=$(basename "$shim") echo-hardened --listen 127.0.0.1:0 --workers 2 &    (seccomp enforce, the default)"
server_wrapper=(env "LD_PRELOAD=$preload")
server_start "$bin" || fail "the server did not start"
echo "\$ nc 127.0.0.1 $server_port    (a worker's accept4() makes the forbidden call first)"
printf 'x\n' | timeout 10 nc -N -w 2 127.0.0.1 "$server_port" >/dev/null 2>&1 || true
server_wait_log 'killed by signal 31 \(SIGSYS\)' 10 || fail "no worker died of SIGSYS"
server_wait_log 'started worker' 10 3 || true  # its replacement
grep -E 'SIGSYS|outside seccomp|started worker' "$server_log" | tail -n 3
victim=$(grep -oE '\(pid [0-9]+\) killed by signal 31' "$server_log" | head -n1 | grep -oE '[0-9]+' | head -n1)
server_stop 30 || fail "the server exited $server_status on SIGTERM, expected 0"
lookup "$victim"
[[ $found_name == mount ]] || fail "expected the shim's mount(2), the record names '$found_name'"
echo "seccomp-kill: the filter killed worker $victim for mount(2), the call the shim made"

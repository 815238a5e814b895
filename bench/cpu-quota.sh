# cpu-quota.sh: sourced by bench/balance-bench.sh: puts a process in a cgroup of its own with a CPU quota (cgroup v1
# cpu.cfs_quota_us or v2 cpu.max, whichever this machine has), and removes every cgroup it made.
# shellcheck shell=bash disable=SC2034,SC2154  # sets and reads the sourcing script's variables by design
#
# Why a cgroup per process: a quota on one cgroup holding every worker would let one busy worker use the whole
# allowance, the very imbalance the capped workload is there to show; one quota each makes each worker's core the
# limit, as on a host with a core per worker. Needs runbook/lib/wait.sh (wait_until).
#
#   quota_setup            finds a cpu controller this script can use; sets quota_kind (v1, v2) and quota_where
#                          (a description); returns 1 with quota_reason set when there is none
#   quota_cap PID PERCENT  a new cgroup echo-bench-<this shell's pid>-<n> holding PID, allowed PERCENT of one CPU;
#                          returns 1 with quota_reason set on failure
#   quota_release          moves whatever is still in those cgroups back to this script's own cgroup and removes
#                          each (bounded); safe to call again, and what the exit trap calls, pass or fail

quota_dirs=()
quota_serial=0
quota_period_us=100000

write_value() { { printf '%s\n' "$2" >"$1"; } 2>/dev/null; }  # FILE VALUE: returns 1 (silently) when refused
quiet_rmdir() { rmdir "$1" 2>/dev/null; }

quota_setup() {
    local rel probe
    if [[ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then
        quota_kind=v1 quota_base=/sys/fs/cgroup/cpu quota_where="cgroup v1 cpu.cfs_quota_us"
        rel=$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ { print $3; exit }' /proc/self/cgroup)
    elif [[ $(stat -fc %T /sys/fs/cgroup 2>/dev/null) == cgroup2fs ]]; then
        quota_kind=v2 quota_base=/sys/fs/cgroup quota_where="cgroup v2 cpu.max"
        rel=$(awk -F: '$1 == 0 { print $3; exit }' /proc/self/cgroup)
        if ! grep -qw cpu "$quota_base/cgroup.controllers" 2>/dev/null; then
            quota_reason="the cgroup v2 root offers no cpu controller"
            return 1
        fi
        # v2 gives a child cgroup cpu.max only once its parent delegates the controller.
        if ! grep -qw cpu "$quota_base/cgroup.subtree_control" &&
            ! write_value "$quota_base/cgroup.subtree_control" +cpu; then
            quota_reason="cannot enable the cpu controller in $quota_base/cgroup.subtree_control"
            return 1
        fi
    else
        quota_reason="no cgroup v1 cpu controller at /sys/fs/cgroup/cpu and no cgroup v2 at /sys/fs/cgroup"
        return 1
    fi
    quota_home=$quota_base${rel%/}
    probe=$quota_base/echo-bench-$$-probe
    if ! mkdir "$probe" 2>/dev/null; then
        quota_reason="cannot create a cgroup in $quota_base (not root, or a read-only cgroup mount)"
        return 1
    fi
    quiet_rmdir "$probe" || true
    [[ -w $quota_home/cgroup.procs ]] || { quota_reason="cannot move processes back into $quota_home"; return 1; }
}

quota_cap() {
    local pid=$1 quota_us=$(($2 * quota_period_us / 100)) dir
    quota_serial=$((quota_serial + 1))
    dir=$quota_base/echo-bench-$$-$quota_serial
    mkdir "$dir" 2>/dev/null || { quota_reason="mkdir $dir failed"; return 1; }
    quota_dirs+=("$dir")
    if [[ $quota_kind == v1 ]]; then
        write_value "$dir/cpu.cfs_period_us" "$quota_period_us" && write_value "$dir/cpu.cfs_quota_us" "$quota_us"
    else
        write_value "$dir/cpu.max" "$quota_us $quota_period_us"
    fi || { quota_reason="writing the quota in $dir was refused"; return 1; }
    write_value "$dir/cgroup.procs" "$pid" || { quota_reason="moving pid $pid into $dir was refused"; return 1; }
}

quota_release() {
    local dir pid
    for dir in "${quota_dirs[@]}"; do
        [[ -d $dir ]] || continue
        while read -r pid; do write_value "$quota_home/cgroup.procs" "$pid" || true; done <"$dir/cgroup.procs"
        # An exiting process may still be leaving the cgroup: rmdir says EBUSY until it has.
        wait_until 5 quiet_rmdir "$dir" || echo "$me: could not remove cgroup $dir" >&2
    done
    quota_dirs=()
}

#!/usr/bin/env bash
# prlimit-check.sh: checks that echo-hardened's master and workers run with the unit's LimitNPROC=/LimitSTACK=.
#
# Usage: prlimit-check.sh [PID]
#   PID: the master (default: MainPID of echo-hardened.service). Its workers are found as its children.
#   The expected values come from the loaded unit (systemctl show); ECHO_EXPECT_NPROC / ECHO_EXPECT_STACK
#   (bytes) override them, e.g. for a server started by hand under prlimit(1).
# Reads /proc/PID/limits: prlimit(1) run by root outside the service's user namespace (PrivateUsers=yes) may be
# refused, /proc is not. Also prints the headroom: processes of the service's UID, and stack pages in use.
set -euo pipefail

unit=echo-hardened.service
pid=${1:-$(timeout 10 systemctl show --property=MainPID --value "$unit")}
[[ $pid =~ ^[1-9][0-9]*$ ]] || { echo "prlimit-check: no running master (MainPID '${pid}')" >&2; exit 1; }
prop() { timeout 10 systemctl show --property="$1" --value "$unit"; }
# LimitX= is the hard limit, LimitXSoft= the soft one (equal unless the unit says "soft:hard").
no_unit() { echo "prlimit-check: cannot read $unit's limits; set ECHO_EXPECT_NPROC and ECHO_EXPECT_STACK" >&2; exit 1; }
want_nproc=${ECHO_EXPECT_NPROC:-$(prop LimitNPROCSoft)} || no_unit
want_nproc_hard=${ECHO_EXPECT_NPROC:-$(prop LimitNPROC)} || no_unit
want_stack=${ECHO_EXPECT_STACK:-$(prop LimitSTACKSoft)} || no_unit
want_stack_hard=${ECHO_EXPECT_STACK:-$(prop LimitSTACK)} || no_unit

# "Max processes  64  64  processes" -> "64 64"
limit() { awk -v name="$2" 'index($0, name) == 1 {n = split(substr($0, length(name) + 1), f, " "); print f[1], f[2]}' \
  "/proc/$1/limits"; }

children=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true)
failed=0
printf '%-8s %-7s %-24s %-24s %s\n' PID ROLE "NPROC soft/hard" "STACK soft/hard" "STACK in use"
for p in "$pid" $children; do
  [[ -r /proc/$p/limits ]] || continue  # a worker that exited since the listing
  role=worker
  [[ $p == "$pid" ]] && role=master
  read -r nproc_soft nproc_hard < <(limit "$p" "Max processes")
  read -r stack_soft stack_hard < <(limit "$p" "Max stack size")
  # Rss of the [stack] mapping: the pages this process's stack has ever touched (they are never given back).
  in_use=$(awk '/\[stack\]/ {s = 1; next} s && /^Rss:/ {print $2 " kB"; exit}' "/proc/$p/smaps" 2>/dev/null || true)
  printf '%-8s %-7s %-24s %-24s %s\n' "$p" "$role" "$nproc_soft/$nproc_hard" "$stack_soft/$stack_hard" "${in_use:-?}"
  if [[ $nproc_soft != "$want_nproc" || $nproc_hard != "$want_nproc_hard" ]]; then
    echo "prlimit-check: pid $p RLIMIT_NPROC $nproc_soft/$nproc_hard, expected $want_nproc/$want_nproc_hard" >&2
    failed=1
  fi
  if [[ $stack_soft != "$want_stack" || $stack_hard != "$want_stack_hard" ]]; then
    echo "prlimit-check: pid $p RLIMIT_STACK $stack_soft/$stack_hard, expected $want_stack/$want_stack_hard" >&2
    failed=1
  fi
done

uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
in_uid=$(ps -L -u "$uid" --no-headers 2>/dev/null | wc -l || true)
echo "tasks of uid $uid: $in_uid of RLIMIT_NPROC $want_nproc"
# The same through prlimit(1) (R32), where the kernel lets this caller read another uid's limits.
if ! prlimit --pid "$pid" --nproc --stack 2>/dev/null; then
  echo "prlimit --pid $pid refused here (no CAP_SYS_RESOURCE over the service's user namespace); /proc/$pid/limits above is the same data"
fi
((failed == 0)) && echo "prlimit-check: OK (NPROC $want_nproc/$want_nproc_hard, STACK $want_stack/$want_stack_hard bytes)"
exit "$failed"

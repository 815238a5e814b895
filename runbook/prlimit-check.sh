#!/usr/bin/env bash
# prlimit-check.sh: checks that echo-hardened's master and workers run with the unit's LimitNPROC=/LimitSTACK=.
#
# Usage: prlimit-check.sh [PID]
#        prlimit-check.sh --start SERVER_BINARY [UNIT_FILE]
#   PID: the master (default: MainPID of echo-hardened.service). Its workers are found as its children.
#   The expected values come from the loaded unit (systemctl show); ECHO_EXPECT_NPROC / ECHO_EXPECT_STACK
#   (bytes) override them, e.g. for a server started by hand under prlimit(1).
#   --start: without systemd, applies UNIT_FILE's LimitNPROC=/LimitSTACK= (default: units/echo-hardened.service
#   of this checkout) with prlimit(1) as systemd would, starts SERVER_BINARY under them, checks it as above, then
#   stops it (SIGTERM, exit status 0 expected). As root it also shows the start-up check: as uid 64021 under
#   RLIMIT_NPROC 3, --workers 8 is refused with exit status 4.
# Reads /proc/PID/limits: prlimit(1) run by root outside the service's user namespace (PrivateUsers=yes) may be
# refused, /proc is not. Also prints the headroom: processes of the service's UID, and stack pages in use.
# RUNBOOK.md "systemd", "Limits". Exit status: 0 the limits are as expected, 1 otherwise, 2 usage.
set -euo pipefail

# --start: run the check below on a server this script starts under the unit's limits, and stop it afterwards.
if [[ ${1:-} == --start ]]; then
  bin=${2:?usage: prlimit-check.sh --start SERVER_BINARY [UNIT_FILE]}
  here=$(cd "$(dirname "$0")" && pwd)
  # Sourced only here: the check below also runs alone, copied into the container by tests/systemd/nspawn-test.sh.
  # shellcheck source=runbook/lib/common.sh
  source "$here/lib/common.sh"
  # shellcheck source=runbook/lib/server.sh
  source "$here/lib/server.sh"
  unit_file=${3:-$here/../units/echo-hardened.service}
  [[ -x $bin ]] || { echo "prlimit-check: $bin is not an executable" >&2; exit 2; }
  nproc=$(sed -n 's/^LimitNPROC=//p' "$unit_file" | tail -n1)
  stack=$(numfmt --from=iec "$(sed -n 's/^LimitSTACK=//p' "$unit_file" | tail -n1)")
  [[ $nproc =~ ^[0-9]+$ && $stack =~ ^[0-9]+$ ]] || fail "no LimitNPROC=/LimitSTACK= in $unit_file"
  make_workdir
  echo "\$ prlimit --nproc=$nproc:$nproc --stack=$stack:$stack -- echo-hardened --listen 127.0.0.1:0 --workers 2 &"
  server_wrapper=(prlimit --nproc="$nproc:$nproc" --stack="$stack:$stack" --)
  server_start "$bin" || fail "the server did not start"
  echo "\$ ECHO_EXPECT_NPROC=$nproc ECHO_EXPECT_STACK=$stack prlimit-check.sh $server_pid"
  rc=0
  ECHO_EXPECT_NPROC=$nproc ECHO_EXPECT_STACK=$stack "$here/prlimit-check.sh" "$server_pid" || rc=$?
  if ! server_stop 30; then
    echo "prlimit-check: the server exited $server_status on SIGTERM, expected 0" >&2
    tail -n 20 "$server_log" >&2
    exit 1
  fi
  # The server's own check (R32): --workers that cannot fit RLIMIT_NPROC is refused at start, exit status 4. Root is
  # exempt from RLIMIT_NPROC, so this needs a uid of its own (the tests use 64001-64004 and 64010).
  if ((EUID == 0)); then
    echo "\$ prlimit --nproc=3 setpriv --reuid=64021 --regid=64021 --clear-groups echo-hardened --workers 8"
    refused=0
    timeout 30 prlimit --nproc=3:3 -- setpriv --reuid=64021 --regid=64021 --clear-groups -- \
      "$bin" --listen 127.0.0.1:0 --workers 8 2>"$workdir/refused.log" || refused=$?
    grep -E 'critical|error' "$workdir/refused.log" || cat "$workdir/refused.log"
    echo "exit status $refused"
    if ((refused != 4)); then
      echo "prlimit-check: --workers 8 under RLIMIT_NPROC 3 exited $refused, expected 4" >&2
      rc=1
    fi
  else
    echo "(the RLIMIT_NPROC start-up check needs root to run as a spare uid: not shown)"
  fi
  exit "$rc"
fi

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
  [[ $(cat "/proc/$p/comm" 2>/dev/null) == echo-exec ]] && role=exec  # the exec helper (R61): same limits
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

#!/usr/bin/env bash
# systemd-failures.sh: two failures under a real systemd, as RUNBOOK.md "Troubleshooting" shows them: a wedged
# master restarted by the watchdog, and a stop held up by a worker that cannot drain (exit status 3).
#
# Usage: systemd-failures.sh BUILD_DIR SOURCE_DIR
#   Boots systemd 252 in a container over the cached root of tests/systemd/container.sh, installs BUILD_DIR there
#   (cmake --install --prefix /usr), adds a drop-in with WatchdogSec=2s and ECHO_DRAIN_TIMEOUT=1s (short, so the
#   demonstration is), then:
#   1. SIGSTOP to the master: no WATCHDOG=1 for 2 s; systemd kills it with SIGABRT (WatchdogSignal=), the unit
#      fails with result 'watchdog' and Restart=on-failure starts a new master
#   2. SIGSTOP to one worker, then systemctl stop: the master drains for 1 s, SIGKILLs the worker 2 s later and exits
#      3; the unit ends with Result=exit-code, status 3
#   Prints the service's journal for each and checks every line named above.
# Exit status: 0 as described, 1 otherwise (each wrong fact named), 2 usage, 77 skipped: not root, or
# systemd-nspawn/debootstrap missing (tools/install-deps.sh).
# The scripts run inside the container are single-quoted on purpose: they expand there.
# shellcheck disable=SC2016
set -euo pipefail

# shellcheck source=runbook/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
synopsis="systemd-failures.sh BUILD_DIR SOURCE_DIR"
(($# == 2)) || usage "give BUILD_DIR SOURCE_DIR"
build=$1
source_dir=$2
unit=echo-hardened.service
((EUID == 0)) || skip "needs root (systemd-nspawn)"
skip_without systemd-nspawn debootstrap nsenter cmake ldd dpkg-query flock
# shellcheck source=tests/systemd/container.sh
. "$source_dir/tests/systemd/container.sh"

on_exit() { container_teardown; }  # powers off only the container this script booted (its nspawn PID)
TMPDIR=/var/tmp make_workdir  # in /var/tmp, as tests/systemd/nspawn-test.sh

poll_interval=0.1  # wait_until: each poll runs systemctl in the container
in_ct() { container_exec timeout 90 "$@"; }
show() { in_ct systemctl show --property="$1" --value "$unit"; }
restarted_from() { [[ $(show NRestarts) == 1 && $(show ActiveState) == active && $(show MainPID) != "$1" && $(show MainPID) != 0 ]]; }
journal_has() { grep -qF -- "$1" "$workdir/journal.txt"; }
has_workers() { local m; m=$(show MainPID); [[ $(in_ct cat "/proc/$m/task/$m/children" | wc -w) -ge 1 ]]; }

# ---- install and boot, as tests/systemd/nspawn-test.sh does
DESTDIR=$workdir/stage timeout 120 cmake --install "$build" --prefix /usr >"$workdir/install.log" 2>&1 ||
    { cat "$workdir/install.log" >&2; fail "cmake --install failed"; }
packages=$(container_packages "$workdir/stage/usr/bin/echo-hardened") || fail "cannot map the binary's libraries to packages"
mapfile -t packages <<<"$packages"
root=$(container_root "${packages[@]}") || fail "no container root (debootstrap)"
container_boot "$root" "echo-failures-$$" "$workdir/console.log" || fail "the container did not boot"
tar -C "$workdir/stage" -c . | in_ct tar -x -C / || fail "cannot copy the install into the container"
in_ct mkdir -p "/run/systemd/system/$unit.d"
printf '[Service]\nWatchdogSec=2s\nEnvironment=ECHO_DRAIN_TIMEOUT=1s\n' |
    in_ct tee "/run/systemd/system/$unit.d/zz-failures.conf" >/dev/null
in_ct systemctl daemon-reload
in_ct timeout 40 systemctl start "$unit" || fail "systemctl start $unit failed"
echo "systemd $(in_ct systemctl --version | awk 'NR == 1 {print $2}') in a container; drop-in: WatchdogSec=2s, ECHO_DRAIN_TIMEOUT=1s"

# ---- 1. the watchdog
main=$(show MainPID)
echo
echo "== 1. a wedged master: kill -STOP $main"
since=$(in_ct date +%s.%N)
in_ct kill -STOP "$main"
check "systemd restarts the service (NRestarts=1, a new MainPID)" wait_until 30 restarted_from "$main"
in_ct journalctl --no-pager -o short-monotonic -u "$unit" --since "@$since" >"$workdir/journal.txt"
cat "$workdir/journal.txt"
check "Watchdog timeout (limit 2s)!" journal_has "Watchdog timeout (limit 2s)!"
check "the master is killed with SIGABRT" journal_has "Killing process $main (echo-hardened) with signal SIGABRT"
check "the unit fails with result 'watchdog'" journal_has "Failed with result 'watchdog'"
check "Restart=on-failure schedules a restart" journal_has "Scheduled restart job, restart counter is at 1"
in_ct systemctl show -p NRestarts -p MainPID -p ActiveState "$unit"

# ---- 2. a stop that has to kill
check "the new master has its workers" wait_until 10 has_workers
main=$(show MainPID)
# The first child that is a worker: not the exec helper (comm "echo-exec", R61).
worker=$(in_ct bash -c 'for c in $(cat "/proc/$1/task/$1/children"); do
  [ "$(cat "/proc/$c/comm")" = echo-exec ] || { echo "$c"; exit; }; done' _ "$main")
echo
echo "== 2. a worker that cannot drain: kill -STOP $worker; systemctl stop $unit"
in_ct kill -STOP "$worker"
since=$(in_ct date +%s.%N)
began=$SECONDS
in_ct timeout 60 systemctl stop "$unit" 2>/dev/null || true
echo "systemctl stop returned after $((SECONDS - began)) s"
in_ct journalctl --no-pager -o short-monotonic -u "$unit" --since "@$since" >"$workdir/journal.txt"
cat "$workdir/journal.txt"
check "the master SIGKILLs the worker after the drain deadline" \
    journal_has "(pid $worker) outlived the stop deadline: sending SIGKILL"
check "and exits 3" journal_has "master exiting with status 3"
check "systemd: status=3, Result=exit-code ($(show Result), status $(show ExecMainStatus))" \
    [ "$(show Result)/$(show ExecMainStatus)" = exit-code/3 ]
in_ct systemctl show -p Result -p ExecMainCode -p ExecMainStatus "$unit"
in_ct timeout 40 systemctl stop "$unit" echo-hardened.socket 2>/dev/null || true

echo
verdict "fact(s) differ from RUNBOOK.md \"Troubleshooting\"" \
    "the watchdog restarted a wedged master; a stuck worker made the stop exit 3"

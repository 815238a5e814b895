#!/usr/bin/env bash
# continuity-test.sh: connections across reload, restart and upgrade under a real systemd 252 (R60-R63).
#
# Usage: continuity-test.sh BUILD_DIR SOURCE_DIR
#   Installs BUILD_DIR into a container booted as tests/systemd/nspawn-test.sh does, with BUILD_DIR's echo-load,
#   and runs in it 1,000 idle connections (a ping a second), 50 ping-pong and 10 streaming ones, none with
#   --reconnect, through `systemctl reload` (hand-over) and `systemctl restart` (the file descriptor store: a new
#   master, the same connections) and a binary upgrade (the binary replaced, `systemctl reload`: a new master
#   takes every connection, R61; then a binary that exits at once: the service keeps serving); then `systemctl stop`, after which what was stored is closed by systemd. Checks
#   that nothing was dropped or mismatched, the journal's account, NotifyAccess=main and the exposure score.
# Needs root, systemd-container, debootstrap. Never skips.
# The scripts run inside the container are single-quoted on purpose: they expand there, not here.
# shellcheck disable=SC2016
set -euo pipefail

build=${1:?usage: continuity-test.sh BUILD_DIR SOURCE_DIR}
source_dir=${2:?usage: continuity-test.sh BUILD_DIR SOURCE_DIR}
unit=echo-hardened.service
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=harness.sh
. "$here/harness.sh"
poll_interval=0.2
journal() { in_ct journalctl --no-pager -o cat -u "$unit"; }
journal_count() { journal | grep -cE -- "$1" || true; }
journal_has() { (($(journal_count "$1") >= ${2:-1})); }
diagnostics() {
  [[ -n $CONTAINER_PID ]] || return 0
  in_ct systemctl status --no-pager --full "$unit" >&2 || true
  in_ct journalctl --no-pager -o short-monotonic -n 60 -u "$unit" >&2 || true
  for f in hold pingpong stream; do in_ct cat "/tmp/$f.err" "/tmp/$f.json" >&2 2>/dev/null || true; done
  in_ct journalctl --no-pager -o cat -u idle-clients >&2 || true
  in_ct cat /tmp/idle.ended >&2 || true
}

scratch_dir continuity

stage_install "$build"
install -D -m 0755 "$build/echo-load" "$tmp/stage/usr/local/bin/echo-load"
install -D -m 0755 "$build/echo-hardened-next" "$tmp/stage/usr/local/lib/echo-hardened-next"  # the "new release"
install -D -m 0755 "$source_dir/runbook/security-score.sh" "$tmp/stage/usr/local/sbin/security-score.sh"
offline=$("$source_dir/runbook/security-score.sh" "$tmp/stage/usr/lib/systemd/system/$unit" | head -n1)
packages=$(container_packages "$tmp/stage/usr/bin/echo-hardened") || die "cannot map the binary's libraries to packages"
mapfile -t packages <<<"$packages"
root=$(container_root "${packages[@]}") || die "no container root (debootstrap)"
container_boot "$root" "echo-cont-$$" "$tmp/console.log" || die "the container did not boot"
tar -C "$tmp/stage" -c . | in_ct tar -x -C / || die "cannot copy the staged install into the container"
in_ct systemctl daemon-reload

in_ct timeout 40 systemctl start "$unit" || die "systemctl start $unit failed"
first=$(show MainPID)
expect "NotifyAccess=main" property_is NotifyAccess main
expect "FileDescriptorStoreMax=$(show FileDescriptorStoreMax)" [ "$(show FileDescriptorStoreMax)" -ge 1060 ]

# ---- the load: transient units of the container's own, so they outlive this shell's nsenter.
# --timeout 20: during the restart an idle connection is parked at once, but the next instance starts only when
# the old one has exited, after its busy connections were served until --drain-timeout (10 s in the unit); a ping
# sent meanwhile waits that long for its echo (RUNBOOK.md "Connections across reload, upgrade and restart").
run_load() {  # NAME ECHO-LOAD-ARGS...
  local name=$1
  shift
  in_ct systemd-run --quiet --collect --unit="load-$name" --property=LimitNOFILE=65536 /bin/sh -c \
    "exec /usr/local/bin/echo-load --port 7007 --json --timeout 20 $* >/tmp/$name.json 2>/tmp/$name.err"
}
run_load hold --mode hold -c 1000 --interval 1 -d 50
run_load pingpong --mode pingpong -c 50 -d 50
run_load stream --mode stream -c 10 -s 16K --window 256K -d 50
established() { in_ct grep -q "1000 of 1000 connections established" /tmp/hold.err; }
wait_until 20 established || die "echo-load did not establish its 1,000 connections"
pass "1,000 idle, 50 ping-pong and 10 streaming connections open"

# ---- reload: the workers hand their connections over (R60)
in_ct timeout 40 systemctl reload "$unit" || fail "systemctl reload returned an error"
expect "reload: the journal says each old worker handed over, none drained" \
  wait_until 20 journal_has "handed over [0-9]+ connection\(s\); 0 came back to be drained" 2
expect "reload: same master ($first)" [ "$(show MainPID)" = "$first" ]
journal | grep -E "handing over|placed on other workers" | sed 's/^/       /'

# ---- upgrade: the binary replaced as dpkg does (a new file renamed over it), the private root updated as the
# package's postinst does (update-root), then systemctl reload (R61)
in_ct sh -c 'cp /usr/local/lib/echo-hardened-next /usr/bin/echo-hardened.new &&
  mv /usr/bin/echo-hardened.new /usr/bin/echo-hardened && /usr/lib/echo-hardened/update-root' ||
  die "cannot replace the binary"
in_ct timeout 60 systemctl reload "$unit" || fail "systemctl reload (upgrade) returned an error"
# systemctl reload returns once ExecReload='s kill has: the upgrade's end is READY=1 from the old master, with the
# new MAINPID=.
main_changed() { [[ $(show MainPID) != "$first" && $(show ActiveState) == active ]]; }
expect "upgrade: a new master, active" wait_until 20 main_changed
upgraded=$(show MainPID)
expect "upgrade: the new master ($upgraded) says it runs, with its version and pid" \
  wait_until 10 journal_has "upgrade: now running echo-hardened [^ ]+\+next \(pid $upgraded\)"
gone() { ! in_ct test -e "/proc/$1"; }
expect "upgrade: the old master ($first) is gone" wait_until 10 gone "$first"
upgraded_status() { in_ct systemctl status --no-pager "$unit" | grep -q 'Status: "echo-hardened [^ ]*+next (upgraded)'; }
expect "upgrade: systemctl status shows the new master's STATUS=" wait_until 5 upgraded_status
expect "upgrade: NotifyAccess=main took the new master's messages (no \"reception only permitted\")" \
  bash -c '! grep -q "reception only permitted" <<<"$1"' _ "$(in_ct journalctl --no-pager -o cat -u "$unit" -t systemd)"
# WatchdogSec=10s: the new master pings at half of it (WATCHDOG_PID= was set to it), or systemd would kill it.
upgraded_at=$(show ExecMainStartTimestampMonotonic)
pinged_since_upgrade() { (($(show WatchdogTimestampMonotonic) > upgraded_at)); }
expect "upgrade: systemd took a watchdog ping from the new master (main started at $upgraded_at us)" wait_until 12 pinged_since_upgrade
journal | grep -E "upgrade|exec helper|SIGHUP" | sed "s/^/       /" || true

# ---- a new binary that fails at once: the service keeps serving with the running one (R61)
# (written into the private root directly: update-root's ldd refuses a script)
bad_root=/usr/lib/echo-hardened/root/usr/bin
in_ct sh -c "cp -p $bad_root/echo-hardened /tmp/echo-hardened.good && printf '#!/bin/sh\\nexit 1\\n' >$bad_root/eh.new &&
  chmod 0755 $bad_root/eh.new && mv $bad_root/eh.new $bad_root/echo-hardened" || die "cannot install the bad binary"
in_ct timeout 60 systemctl reload "$unit" || fail "systemctl reload (bad upgrade) returned an error"
expect "bad upgrade: the failure is in the journal" wait_until 10 journal_has "upgrade failed: .* still serving"
expect "bad upgrade: same master ($upgraded), active" [ "$(show MainPID)" = "$upgraded" -a "$(show ActiveState)" = active ]
failed_status() { in_ct systemctl status --no-pager "$unit" | grep -q 'Status: "upgrade failed'; }
expect "bad upgrade: systemctl status says so" wait_until 5 failed_status
in_ct cp -p /tmp/echo-hardened.good "$bad_root/echo-hardened"

# ---- restart: stop parks them in the store, the new master serves them (R62)
in_ct timeout 60 systemctl restart "$unit" || fail "systemctl restart returned an error"
second=$(show MainPID)
expect "restart: a new master ($upgraded -> $second), active" \
  [ "$second" != "$upgraded" -a "$(show ActiveState)" = active ]
expect "restart: the old master stored the connections" \
  journal_has "stopped: (10[6-9][0-9]|1[1-9][0-9][0-9]) connection\(s\) kept in systemd's file descriptor store"
expect "restart: the new master serves them" \
  wait_until 10 journal_has "serving (10[6-9][0-9]|1[1-9][0-9][0-9]) connection\(s\) kept in systemd's file descriptor store"
expect "restart: taken out of the store (NFileDescriptorStore=$(show NFileDescriptorStore))" \
  wait_until 5 property_is NFileDescriptorStore 0
journal | grep -E "stopping: |stopped: |serving .* kept" | sed 's/^/       /' || true

# ---- the verdict of every connection, at the end of the load's 50 s
loads_done() { for n in hold pingpong stream; do in_ct grep -q '"mode"' "/tmp/$n.json" || return 1; done; }
wait_until 60 loads_done || fail "echo-load did not finish"
field() { in_ct sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "/tmp/$1.json"; }
for n in hold pingpong stream; do
  expect "$n: 0 errors, 0 dropped, $(field $n total_bytes) bytes verified" \
    [ "$(field $n errors)" = 0 -a "$(field $n dropped)" = 0 -a "$(field $n total_bytes)" -gt 0 ]
done
expect "hold: all 1,000 held to the end" [ "$(field hold held)" = 1000 ]
expect "exposure still $offline" [ "$(in_ct security-score.sh "$unit" | head -n1)" = "$offline" ]

# ---- stop (R63): what is stored is closed by systemd once the unit is inactive; the client sees an orderly end
# In a file: systemd-run would expand the script's own $ references itself.
in_ct tee /tmp/idle.sh >/dev/null <<'SCRIPT'
  fds=()
  for i in $(seq 20); do exec {fd}<>/dev/tcp/127.0.0.1/7007; printf hi >&$fd; read -r -t 5 -N 2 r <&$fd; fds+=($fd); done
  touch /tmp/idle.ready
  ended=0
  for fd in "${fds[@]}"; do if ! read -r -t 30 -N 1 x <&$fd; then ended=$((ended + 1)); fi; done
  echo "$ended" >/tmp/idle.ended
SCRIPT
in_ct systemd-run --quiet --collect --unit=idle-clients /bin/bash /tmp/idle.sh
wait_until 10 in_ct test -e /tmp/idle.ready || die "the idle clients did not connect"
in_ct timeout 60 systemctl stop "$unit" || fail "systemctl stop returned an error"
expect "stop: inactive, Result=$(show Result)" [ "$(show ActiveState)/$(show Result)" = inactive/success ]
expect "stop: the store is empty (NFileDescriptorStore=$(show NFileDescriptorStore))" property_is NFileDescriptorStore 0
expect "stop: each idle client saw its connection end" wait_until 10 in_ct grep -qx 20 /tmp/idle.ended
in_ct timeout 40 systemctl stop echo-hardened.socket

if ((failures)); then
  diagnostics
  echo "continuity-test: $failures check(s) failed" >&2
  exit 1
fi
echo "continuity-test: all checks passed"

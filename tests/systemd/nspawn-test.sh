#!/usr/bin/env bash
# nspawn-test.sh: boots a real systemd in a container, installs the built project into it, and checks the units live.
#
# Usage: nspawn-test.sh BUILD_DIR SOURCE_DIR [--trace FILE]
#   Installs BUILD_DIR with "cmake --install --prefix /usr" (DESTDIR staging), boots systemd-nspawn over a cached
#   debootstrapped root (tests/systemd/container.sh), copies the staged tree in, then checks R30-R33 and R35:
#   start pulls in the socket and reaches READY, echo, STATUS=, limits, sandbox (NoNewPrivs, capabilities,
#   seccomp, network namespace), watchdog, SIGTTIN/SIGTTOU/SIGUSR1 under the syscall filter, reload, worker
#   respawn, draining stop, socket activation from cold, and the live exposure score.
#   --trace FILE: also writes the debug-level journal from "systemctl start" to READY=1 (RUNBOOK boot trace).
#   ECHO_NSPAWN_DROPIN=FILE: installs FILE as an extra drop-in of the service, for experiments with the unit.
# Needs root, systemd-container, debootstrap and (first run only) Debian's mirror. Never skips: a container that
# cannot boot is a failure.
# The scripts run inside the container are single-quoted on purpose: they expand there, not here.
# shellcheck disable=SC2016
set -euo pipefail

build=${1:?usage: nspawn-test.sh BUILD_DIR SOURCE_DIR [--trace FILE]}
source_dir=${2:?usage: nspawn-test.sh BUILD_DIR SOURCE_DIR [--trace FILE]}
trace_file=""
[[ ${3:-} == --trace ]] && trace_file=${4:?--trace needs a file}
unit=echo-hardened.service
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=harness.sh
. "$here/harness.sh"
poll_interval=0.1  # wait_until: each poll runs systemctl or cat in the container
# The master's children but its exec helper (comm "echo-exec", R61): the workers, and the metrics process if any.
children_list() {
  in_ct bash -c 'for c in $(cat "/proc/$1/task/$1/children"); do
    [ "$(cat "/proc/$c/comm" 2>/dev/null)" = echo-exec ] || printf "%s " "$c"; done' _ "$1"
}
# Predicates for wait_until, evaluated afresh on every poll.
property_is_not() { [[ $(show "$1") != "$2" ]]; }
workers_are() { [[ $(children_list "$main" | wc -w) == "$1" ]]; }
gone() { ! in_ct test -e "/proc/$1"; }
# The service's journal records matching journalctl's FIELD=VALUE terms, one JSON object a line; journal_has
# FIELD=VALUE...: some record has them all (the first term also selects, the rest are checked in the JSON).
journal_json() { in_ct journalctl --no-pager -o json -u "$unit" "$@"; }
journal_has() {
  local term records
  records=$(journal_json "$1")
  for term in "${@:2}"; do
    records=$(grep -F "\"${term%%=*}\":\"${term#*=}\"" <<<"$records") || return 1
  done
  [[ -n $records ]]
}
diagnostics() {
  [[ -n $CONTAINER_PID ]] || return 0
  echo "---- systemctl status" >&2
  in_ct systemctl status --no-pager --full echo-hardened.socket "$unit" >&2 || true
  echo "---- journal" >&2
  in_ct journalctl --no-pager -o short-monotonic -n 80 -u echo-hardened.socket -u "$unit" >&2 || true
}

for tool in systemd-nspawn debootstrap nsenter cmake ldd dpkg-query flock; do
  command -v "$tool" >/dev/null || die "$tool is missing (tools/install-deps.sh installs it)"
done

scratch_dir nspawn

# ---- install the build into a staging tree, exactly as a package would
stage_install "$build"
if [[ -n ${ECHO_NSPAWN_DROPIN:-} ]]; then
  install -D -m 0644 "$ECHO_NSPAWN_DROPIN" "$tmp/stage/usr/lib/systemd/system/$unit.d/zz-experiment.conf"
  echo "NOTE: extra drop-in $ECHO_NSPAWN_DROPIN installed: results describe the modified unit"
fi
install -D -m 0755 "$source_dir/runbook/prlimit-check.sh" "$tmp/stage/usr/local/sbin/prlimit-check.sh"
install -D -m 0755 "$source_dir/runbook/security-score.sh" "$tmp/stage/usr/local/sbin/security-score.sh"
offline=$("$source_dir/runbook/security-score.sh" "$tmp/stage/usr/lib/systemd/system/$unit" | head -n1)
want_nproc=$(sed -n 's/^LimitNPROC=//p' "$tmp/stage/usr/lib/systemd/system/$unit")
want_stack=$(sed -n 's/^LimitSTACK=//p' "$tmp/stage/usr/lib/systemd/system/$unit")

# ---- boot
packages=$(container_packages "$tmp/stage/usr/bin/echo-hardened") || die "cannot map the binary's libraries to packages"
mapfile -t packages <<<"$packages"
root=$(container_root "${packages[@]}") || die "no container root (debootstrap)"
SECONDS=0
container_boot "$root" "echo-test-$$" "$tmp/console.log" || die "the container did not boot"
pass "systemd $(in_ct systemctl --version | awk 'NR == 1 {print $2}') booted as PID 1 of the container in ${SECONDS}s"
tar -C "$tmp/stage" -c . | in_ct tar -x -C / || die "cannot copy the staged install into the container"
in_ct systemctl daemon-reload
# What the Debian package gets from systemd's dpkg trigger on /usr/lib/systemd/catalog.
in_ct journalctl --update-catalog || die "journalctl --update-catalog failed"

# ---- start: the service alone pulls in its socket and reaches READY=1
expect "socket not active before start" [ "$(show ActiveState echo-hardened.socket)" = inactive ]
if [[ -n $trace_file ]]; then
  in_ct systemd-analyze log-level debug
  since=$(in_ct date +%s.%N)
fi
in_ct timeout 40 systemctl start "$unit" || die "systemctl start $unit failed"
if [[ -n $trace_file ]]; then
  in_ct systemd-analyze log-level info
  in_ct journalctl --no-pager -o short-monotonic --since "@$since" \
    _PID=1 + _SYSTEMD_UNIT="$unit" + SYSLOG_IDENTIFIER=echo-hardened >"$trace_file"
  echo "boot trace written to $trace_file"
fi
expect "start pulled in the socket" [ "$(show ActiveState echo-hardened.socket)" = active ]
expect "service active (running) after READY=1" [ "$(show ActiveState)/$(show SubState)" = active/running ]
main=$(show MainPID)
workers=$(children_list "$main")
nworkers=$(wc -w <<<"$workers")
expect "master $main has workers ($workers)" [ "$nworkers" -ge 1 ]
# R96: the workers score above the master for the OOM killer, under the unit's sandbox (ProtectProc=, PrivateUsers=).
master_adj=$(in_ct cat "/proc/$main/oom_score_adj")
for w in $workers; do
  expect "worker $w's oom_score_adj is above the master's ($master_adj)" \
    [ "$(in_ct cat "/proc/$w/oom_score_adj")" -gt "$master_adj" ]
done
expect "OOMPolicy=continue, MemoryMax=$(show MemoryMax)" [ "$(show OOMPolicy)" = continue ]
status_text=$(show StatusText)
echo "       StatusText: $status_text"
expect "STATUS= reports the workers" grep -qE '[0-9]+/[0-9]+ workers' <<<"$status_text"
expect "systemctl status shows the Status: line" \
  grep -qF "Status: \"${status_text%%,*}" <<<"$(in_ct systemctl status --no-pager "$unit")"
watchdog_before=$(show WatchdogTimestampMonotonic)

# ---- echo from inside the container, binary-safe
echo_once() {  # prints OK when 64 KiB of random bytes come back unchanged
  in_ct timeout 20 bash -c '
    set -euo pipefail
    f=$(mktemp); head -c 65536 /dev/urandom >"$f"
    exec 3<>/dev/tcp/127.0.0.1/7007
    cat "$f" >&3 &
    head -c 65536 <&3 | cmp -s - "$f" && echo OK
    rm -f "$f"'
}
expect "echo of 64 KiB through the socket" [ "$(echo_once)" = OK ]

# ---- limits (R32), through the runbook script
if in_ct prlimit-check.sh >"$tmp/prlimit.txt" 2>&1; then pass "prlimit-check.sh"; else fail "prlimit-check.sh"; fi
sed 's/^/       /' "$tmp/prlimit.txt"
limits=$(in_ct cat "/proc/$main/limits")
expect "/proc/$main/limits: Max processes $want_nproc" grep -qE "^Max processes +$want_nproc +$want_nproc " <<<"$limits"
stack_bytes=$(numfmt --from=iec "$want_stack")
expect "/proc/$main/limits: Max stack size $stack_bytes" grep -qE "^Max stack size +$stack_bytes +$stack_bytes " <<<"$limits"

# ---- sandbox: no privileges, seccomp filters beyond a plain unit's, own network namespace
status=$(in_ct cat "/proc/$main/status")
expect "NoNewPrivs: 1" grep -qE '^NoNewPrivs:\s+1$' <<<"$status"
expect "CapEff empty" grep -qE '^CapEff:\s+0+$' <<<"$status"
expect "CapBnd empty" grep -qE '^CapBnd:\s+0+$' <<<"$status"
printf '[Service]\nExecStart=/bin/sleep 600\n' | in_ct tee /run/systemd/system/echo-plain.service >/dev/null
in_ct systemctl daemon-reload
in_ct timeout 20 systemctl start echo-plain.service
plain=$(in_ct awk '/^Seccomp_filters:/ {print $2}' "/proc/$(show MainPID echo-plain.service)/status")
ours=$(awk '/^Seccomp_filters:/ {print $2}' <<<"$status")
in_ct timeout 20 systemctl stop echo-plain.service
expect "Seccomp_filters: $ours, a plain unit has $plain" [ "$ours" -gt "$plain" ]
expect "own network namespace" [ "$(in_ct readlink "/proc/$main/ns/net")" != "$(in_ct readlink /proc/1/ns/net)" ]

# ---- signals the unit does not send itself, under the syscall filter (a missing syscall is SIGSYS)
in_ct systemctl kill --kill-who=main --signal=SIGTTIN "$unit"
expect "SIGTTIN adds a worker" wait_until 10 workers_are $((nworkers + 1))
in_ct systemctl kill --kill-who=main --signal=SIGTTOU "$unit"
expect "SIGTTOU retires it" wait_until 15 workers_are "$nworkers"
in_ct systemctl kill --kill-who=main --signal=SIGUSR1 "$unit"
sleep 0.5
expect "SIGUSR1 leaves the master running" [ "$(show MainPID)" = "$main" ]

# ---- a worker killed with SIGKILL is replaced
victim=$(awk '{print $1}' <<<"$(children_list "$main")")
in_ct kill -KILL "$victim"
replaced() {
  local now
  now=$(children_list "$main")
  [[ $(wc -w <<<"$now") == "$nworkers" && " $now " != *" $victim "* ]]
}
expect "SIGKILLed worker $victim replaced" wait_until 10 replaced
expect "killed worker reaped (no zombie)" wait_until 5 gone "$victim"
id_died=9f8f32079a3947cdb006f0110d7b2346  # server/base/log_event.hpp: LogEvent::WorkerDied
expect "journal: native record of worker $victim's death" \
  wait_until 10 journal_has "MESSAGE_ID=$id_died" WORKER_PID="$victim" SIGNAL=9 SIGNAL_NAME=SIGKILL PRIORITY=4 \
  ECHO_ROLE=master _TRANSPORT=journal SYSLOG_IDENTIFIER=echo-hardened
record=$(journal_json "MESSAGE_ID=$id_died" "WORKER_PID=$victim" | tail -n1)
expect "journal: the record names the slot and generation" \
  bash -c 'grep -q "\"WORKER_SLOT\":\"[0-9]*\"" <<<"$1" && grep -q "\"WORKER_GENERATION\":\"0\"" <<<"$1"' _ "$record"
explained=$(in_ct journalctl --no-pager -x -u "$unit" "MESSAGE_ID=$id_died" "WORKER_PID=$victim")
expect "journalctl -x explains it from the catalog" \
  bash -c 'grep -qE "Subject: echo-hardened worker [0-9]+ \(pid $2\) died unexpectedly" <<<"$1" &&
    grep -q "OOM" <<<"$1"' _ "$explained" "$victim"
sed -n '1,8s/^/       /p' <<<"$explained"
expect "journal: no master line repeats its pid (no \"master[$main]\")" \
  bash -c '! grep -qF "master[$1]" <<<"$2"' _ "$main" "$(in_ct journalctl --no-pager -o cat -u "$unit")"

# ---- reload: SIGHUP via ExecReload=, rolling, keeps serving, same master
before=$(children_list "$main")
in_ct bash -c 'rm -f /tmp/loop.*; (ok=0; bad=0
  while [ ! -e /tmp/loop.stop ]; do
    if (exec 3<>/dev/tcp/127.0.0.1/7007 && printf ping >&3 && read -r -t 5 -N 4 r <&3 && [ "$r" = ping ])
    then ok=$((ok + 1)); else bad=$((bad + 1)); fi
  done; echo "$ok $bad" >/tmp/loop.result) >/dev/null 2>&1 &'
sleep 0.5
in_ct timeout 40 systemctl reload "$unit" || fail "systemctl reload returned an error"
all_new() {
  local now w
  now=$(children_list "$main")
  [[ $(show ActiveState) == active && $(wc -w <<<"$now") == "$nworkers" ]] || return 1
  for w in $before; do [[ " $now " != *" $w "* ]] || return 1; done
}
expect "reload replaced every worker and returned to active" wait_until 30 all_new
in_ct touch /tmp/loop.stop
wait_until 10 in_ct test -e /tmp/loop.result || true
read -r loop_ok loop_bad <<<"$(in_ct cat /tmp/loop.result 2>/dev/null || echo "0 -1")"
expect "no failed connection during reload ($loop_ok ok, $loop_bad failed)" [ "$loop_bad" = 0 -a "$loop_ok" -gt 0 ]
expect "same master after reload" [ "$(show MainPID)" = "$main" ]
expect "journal: reload done, generation 1" \
  journal_has MESSAGE_ID=e2ac2703aeb9430f941330ae88e445e2 WORKER_GENERATION=1 ECHO_ROLE=master PRIORITY=6
# The workers the reload replaced handed their connections over (R60): their own records, "worker N: retired: ...",
# without its pid in the text.
expect "journal: a worker's own records carry its role, slot, pid and generation" \
  bash -c 'grep -q "\"MESSAGE\":\"worker [0-9]*: retired: handing over" <<<"$1" && grep -q "\"WORKER_PID\":\"[0-9]*\"" <<<"$1" &&
    grep -q "\"WORKER_SLOT\":\"[0-9]*\"" <<<"$1"' _ "$(journal_json ECHO_ROLE=worker WORKER_GENERATION=0)"
expect "echo after reload" [ "$(echo_once)" = OK ]

# ---- watchdog: WATCHDOG=1 keeps arriving (WatchdogTimestamp moves) and nothing was restarted
expect "WatchdogSec= armed ($(show WatchdogUSec))" [ "$(show WatchdogUSec)" != 0 ]
expect "WATCHDOG=1 pings received" wait_until 15 property_is_not WatchdogTimestampMonotonic "$watchdog_before"
expect "no restart so far (NRestarts=$(show NRestarts))" [ "$(show NRestarts)" = 0 ]

# ---- live exposure equals the offline figure
live=$(in_ct security-score.sh "$unit" | head -n1)
expect "live exposure '$live' equals offline '$offline'" [ "$live" = "$offline" ]

# ---- stop drains: bytes the server has not even read when SIGTERM arrives all come back, then Result=success.
# 8 MiB outgrow every buffer on the way (loopback send buffers autotune to 4 MiB): with nobody reading, the
# server's 64 KiB cap fills, it stops reading (back-pressure), and the rest waits in its receive queue.
drain_bytes=$((8 * 1024 * 1024))
in_ct bash -c "head -c $drain_bytes /dev/urandom >/tmp/drain.in"
in_ct timeout 60 bash -c '
  set -euo pipefail
  unit=$1 n=$2
  exec 3<>/dev/tcp/127.0.0.1/7007
  cat /tmp/drain.in >&3 &
  writer=$!
  sleep 1
  # /proc/net/tcp: local, remote, state (01 established), tx_queue:rx_queue in hex; 7007 is 1B5F.
  sockets=$(awk "NR > 1 && \$4 == \"01\" && (\$2 ~ /:1B5F\$/ || \$3 ~ /:1B5F\$/) {print \$2, \$3, \$5}" /proc/net/tcp)
  echo "before stop (local remote tx_queue:rx_queue):"
  echo "$sockets" | sed "s/^/  /"
  unread=$(echo "$sockets" | awk "\$1 ~ /:1B5F\$/ {split(\$3, q, \":\"); print q[2]}" | head -n1)
  echo "the server has not read $((16#${unread:-0})) bytes yet (client writer still blocked: $(kill -0 $writer 2>/dev/null && echo yes || echo no))"
  [ "$((16#${unread:-0}))" -gt 0 ] || { echo "nothing left for the drain to do"; exit 1; }
  systemctl stop --no-block "$unit"
  for _ in $(seq 100); do [ "$(systemctl show -P ActiveState "$unit")" = deactivating ] && break; sleep 0.05; done
  echo "stop under way: $(systemctl show -P ActiveState "$unit")"
  cat <&3 >/tmp/drain.out
  echo "read to EOF, service $(systemctl show -P ActiveState "$unit")"
  wait "$writer"
  cmp /tmp/drain.in /tmp/drain.out && echo "all $n bytes came back"
' drain "$unit" "$drain_bytes" >"$tmp/drain.txt" 2>&1 && drained=yes || drained=no
sed 's/^/       /' "$tmp/drain.txt"
expect "draining stop returns every byte" [ "$drained" = yes ]
expect "service stopped" wait_until 30 property_is ActiveState inactive
expect "Result=success ($(show Result)), exit status $(show ExecMainStatus)" \
  [ "$(show Result)/$(show ExecMainStatus)" = success/0 ]
expect "journal: the workers that drained at the stop are generation 1" journal_has ECHO_ROLE=worker WORKER_GENERATION=1
expect "journal: stop begun (SIGTERM)" \
  journal_has MESSAGE_ID=375af27391134849bbad4760bbe4158f SIGNAL=15 SIGNAL_NAME=SIGTERM ECHO_ROLE=master
explained=$(in_ct journalctl --no-pager -x -u "$unit" MESSAGE_ID=375af27391134849bbad4760bbe4158f)
expect "journalctl -x: Subject: echo-hardened is stopping (SIGTERM)" grep -qF "Subject: echo-hardened is stopping (SIGTERM)" <<<"$explained"
expect "journal: nothing fell back to the stream (_TRANSPORT=stdout)" \
  [ -z "$(journal_json _TRANSPORT=stdout SYSLOG_IDENTIFIER=echo-hardened)" ]
echo "       sample records (journalctl -o json: the three events and a worker's own; our fields, _PID, _TRANSPORT):"
for match in "MESSAGE_ID=$id_died" MESSAGE_ID=e2ac2703aeb9430f941330ae88e445e2 ECHO_ROLE=worker \
  MESSAGE_ID=375af27391134849bbad4760bbe4158f; do
  journal_json --output-fields=MESSAGE,PRIORITY,SYSLOG_IDENTIFIER,ECHO_ROLE,WORKER_SLOT,WORKER_PID,WORKER_GENERATION,EXIT_STATUS,SIGNAL,SIGNAL_NAME,MESSAGE_ID,_PID,_TRANSPORT \
    "$match" | tail -n1 | sed -E 's/"(__CURSOR|__REALTIME_TIMESTAMP|__MONOTONIC_TIMESTAMP|_BOOT_ID)":"[^"]*",?//g; s/,}$/}/; s/^/       /'
done

# ---- socket activation from cold: the socket stayed, a connection starts the service again
expect "socket still listening after the service stopped" [ "$(show ActiveState echo-hardened.socket)" = active ]
expect "a connection starts the service (socket activation)" [ "$(echo_once)" = OK ]
expect "service active again" wait_until 10 property_is ActiveState active
in_ct timeout 40 systemctl stop "$unit" echo-hardened.socket

# ---- metrics (R81): the second socket, passed as "metrics"; the page reads /proc of every process in the sandbox
expect "the metrics socket is installed and not enabled" \
  [ "$(in_ct systemctl is-enabled echo-hardened-metrics.socket || true)" = disabled ]
in_ct timeout 40 systemctl start echo-hardened-metrics.socket "$unit" || fail "systemctl start with the metrics socket"
expect "an echo through the service with the metrics socket" [ "$(echo_once)" = OK ]
page=$(in_ct bash -c 'exec 3<>/dev/tcp/127.0.0.1/9707 && printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3' || true)
expect "the page is served (200) on 127.0.0.1:9707" grep -q '^HTTP/1.1 200' <<<"$page"
expect "it counts the echo" grep -qE '^echo_hardened_connections_accepted_total [1-9]' <<<"$page"
expect "it reads the workers' /proc under ProtectProc=invisible" \
  grep -qE '^process_open_fds\{role="worker",slot="0",pid="[0-9]+"\} [0-9]+' <<<"$page"
main=$(show MainPID)
expect "the metrics process is the master's child, named echo-metrics" \
  in_ct bash -c "for c in \$(cat /proc/$main/task/$main/children); do grep -qx echo-metrics /proc/\$c/comm && exit 0; done; exit 1"
expect "exposure with the metrics socket unchanged ($offline)" [ "$(in_ct security-score.sh "$unit" | head -n1)" = "$offline" ]
in_ct timeout 40 systemctl stop "$unit" echo-hardened.socket echo-hardened-metrics.socket

if ((failures)); then
  diagnostics
  echo "nspawn-test: $failures check(s) failed" >&2
  exit 1
fi
echo "nspawn-test: all checks passed, ${SECONDS}s from boot to the end"

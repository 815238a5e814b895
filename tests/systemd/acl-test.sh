#!/usr/bin/env bash
# acl-test.sh: what only a unified cgroup hierarchy enforces, checked in a systemd 252 container booted on one: the
# socket unit's client ACL (IPAddressAllow=/IPAddressDeny=, R97) and, where the memory controller is there too, the
# service's MemoryMax= with the OOM killer taking a worker, not the master (R96).
#
# Usage: acl-test.sh BUILD_DIR
#   Installs BUILD_DIR as nspawn-test.sh does and boots the cached root with SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1,
#   CAP_BPF and the bpf() call (systemd's BPF firewall needs both; nspawn withholds them by default). A network
#   namespace this script creates is joined to the container's by a veth pair (10.213.0.2 outside, 10.213.0.1 in
#   the container), and a drop-in makes the socket listen on 0.0.0.0:7007 with the unit's ACL unchanged
#   (IPAddressAllow=localhost, IPAddressDeny=any). Checks: an echo from 127.0.0.1 inside; no connection from
#   10.213.0.2; with a drop-in allowing 10.213.0.2, an echo from it (so the refusal was the ACL, not the network).
#   R96, when the container's cgroup.controllers lists memory: MemoryMax=64M and 3 workers with 8 MiB buffers
#   against 10 never-reading senders; systemd logs the OOM kill, a worker died of SIGKILL, the master and the
#   service stay, the slot is refilled and echoes. Without the controller it says why and skips that part only.
# Needs root, systemd-container, debootstrap, iproute2. Skips (77) when the kernel or nspawn cannot give the
# container a unified hierarchy with cgroup BPF. The container and the namespace are removed, pass or fail.
# The scripts run inside the container are single-quoted on purpose: they expand there, not here.
# shellcheck disable=SC2016
set -euo pipefail

build=${1:?usage: acl-test.sh BUILD_DIR}
unit=echo-hardened.service
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=harness.sh
. "$here/harness.sh"
poll_interval=0.2
skip() {
  echo "acl-test: SKIPPED: $*"
  exit 77
}
# The master's children but its exec helper (comm "echo-exec", R61): the workers, and the metrics process if any.
children_list() {
  in_ct bash -c 'for c in $(cat "/proc/$1/task/$1/children"); do
    [ "$(cat "/proc/$c/comm" 2>/dev/null)" = echo-exec ] || printf "%s " "$c"; done' _ "$1"
}
workers_are() { [[ $(children_list "$1" | wc -w) == "$2" ]]; }
diagnostics() {
  [[ -n $CONTAINER_PID ]] || return 0
  in_ct systemctl status --no-pager --full echo-hardened.socket "$unit" >&2 || true
  in_ct journalctl --no-pager -o short-monotonic -n 60 -u echo-hardened.socket -u "$unit" >&2 || true
}
# Prints OK when SIZE random bytes sent from inside the container to ADDRESS:7007 come back unchanged.
echo_inside() {
  in_ct timeout 20 bash -c 'f=$(mktemp); head -c 4096 /dev/urandom >"$f"
    exec 3<>"/dev/tcp/$1/7007" && { cat "$f" >&3 & head -c 4096 <&3 | cmp -s - "$f" && echo OK; }
    rm -f "$f"' _ "$1"
}
# The same from the outside namespace, with the host's bash; a connection that cannot be made fails within 5 s.
echo_outside() {
  ip netns exec "$netns" timeout 10 bash -c 'f=$(mktemp); head -c 4096 /dev/urandom >"$f"
    if exec 3<>/dev/tcp/10.213.0.1/7007; then cat "$f" >&3 & head -c 4096 <&3 | cmp -s - "$f" && echo OK; fi
    rm -f "$f"' 2>/dev/null || true
}
refused_outside() { ! ip netns exec "$netns" timeout 5 bash -c 'exec 3<>/dev/tcp/10.213.0.1/7007' 2>/dev/null; }
# The never-reading senders of the R96 part, started inside the container: their pids are in /tmp/senders.pid.
stop_senders() { in_ct bash -c '[ ! -e /tmp/senders.pid ] || xargs -r kill -KILL </tmp/senders.pid; rm -f /tmp/senders.pid'; }

[[ $(id -u) == 0 ]] || skip "needs root (systemd-nspawn, network namespaces)"
for tool in systemd-nspawn debootstrap nsenter cmake ldd dpkg-query flock ip; do
  command -v "$tool" >/dev/null || die "$tool is missing (tools/install-deps.sh installs it)"
done
if [[ -r /proc/config.gz ]] && ! zgrep -qx 'CONFIG_CGROUP_BPF=y' /proc/config.gz; then
  skip "the kernel has no CONFIG_CGROUP_BPF: no host can enforce IPAddressDeny= on it"
fi

netns=echo-acl-$$
veth=veacl$$  # its peer "${veth}p" goes to $netns; interface names stay within 15 characters
# Run before the container goes (its network namespace takes the veth end in it along).
cleanup_more() {
  [[ -z $CONTAINER_PID ]] || stop_senders 2>/dev/null || true
  ip netns del "$netns" 2>/dev/null || true
  ip link del "$veth" 2>/dev/null || true  # only if the move into the container never happened
}
scratch_dir acl

# ---- install and boot on the unified hierarchy
stage_install "$build"
packages=$(container_packages "$tmp/stage/usr/bin/echo-hardened") || die "cannot map the binary's libraries to packages"
mapfile -t packages <<<"$packages"
root=$(container_root "${packages[@]}") || die "no container root (debootstrap)"
export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
CONTAINER_NSPAWN_ARGS=(--capability=CAP_BPF --system-call-filter=bpf)
container_boot "$root" "echo-acl-$$" "$tmp/console.log" || die "the container did not boot"
fs=$(in_ct stat -fc %T /sys/fs/cgroup)
[[ $fs == cgroup2fs ]] || skip "systemd-nspawn did not give the container the unified hierarchy (/sys/fs/cgroup: $fs)"
pass "systemd $(in_ct systemctl --version | awk 'NR == 1 {print $2}') booted on the unified cgroup hierarchy"
tar -C "$tmp/stage" -c . | in_ct tar -x -C / || die "cannot copy the staged install into the container"

# ---- the outside: a namespace of our own, a veth pair into the container
ip netns add "$netns"
ip link add "$veth" type veth peer name "${veth}p"
ip link set "${veth}p" netns "$netns"
ip link set "$veth" netns "$CONTAINER_PID"
nsenter --net="/proc/$CONTAINER_PID/ns/net" ip addr add 10.213.0.1/24 dev "$veth"
nsenter --net="/proc/$CONTAINER_PID/ns/net" ip link set "$veth" up
ip -n "$netns" addr add 10.213.0.2/24 dev "${veth}p"
ip -n "$netns" link set "${veth}p" up
ip -n "$netns" link set lo up

# ---- R97: the unit's ACL, the socket on every address of the container
in_ct mkdir -p /run/systemd/system/echo-hardened.socket.d
printf '[Socket]\nListenStream=\nListenStream=0.0.0.0:7007\n' |
  in_ct tee /run/systemd/system/echo-hardened.socket.d/listen-all.conf >/dev/null
in_ct systemctl daemon-reload
in_ct timeout 40 systemctl start echo-hardened.socket "$unit" || die "systemctl start failed"
echo "       socket ACL: $(show IPAddressAllow echo-hardened.socket) allowed, $(show IPAddressDeny echo-hardened.socket) denied"
expect "an echo from 127.0.0.1, inside the allow list" [ "$(echo_inside 127.0.0.1)" = OK ]
expect "no connection from 10.213.0.2, outside it (5 s)" refused_outside
expect "the service is still active" [ "$(show ActiveState)" = active ]
# The control: the same path works once the address is allowed, so the refusal above was the ACL.
printf '[Socket]\nIPAddressAllow=10.213.0.2/32\n' |
  in_ct tee /run/systemd/system/echo-hardened.socket.d/allow-outside.conf >/dev/null
in_ct systemctl daemon-reload
in_ct timeout 40 systemctl stop "$unit" echo-hardened.socket
in_ct timeout 40 systemctl start echo-hardened.socket
expect "with 10.213.0.2 allowed, its connection starts the service and echoes" [ "$(echo_outside)" = OK ]
in_ct rm /run/systemd/system/echo-hardened.socket.d/allow-outside.conf
in_ct systemctl daemon-reload
in_ct timeout 40 systemctl stop "$unit" echo-hardened.socket

# ---- R96: MemoryMax= with the OOM killer, if the memory controller reached the container's hierarchy
controllers=$(in_ct cat /sys/fs/cgroup/cgroup.controllers)
if ! grep -qw memory <<<"$controllers"; then
  echo "SKIP: MemoryMax= in the container: its cgroup.controllers is '$controllers'; the host has the memory" \
    "controller on cgroup v1 ($(awk '$3 == "cgroup" && $4 ~ /memory/ {print $2}' /proc/mounts)), and a controller" \
    "bound to v1 is not available to v2. runbook/oom-cgroup.sh checks the OOM behaviour in a v1 cgroup instead."
else
  in_ct mkdir -p "/run/systemd/system/$unit.d"
  printf '[Service]\nMemoryHigh=infinity\nMemoryMax=64M\nEnvironment=ECHO_WORKERS=3 ECHO_BUFFER_SIZE=8M\n' |
    in_ct tee "/run/systemd/system/$unit.d/oom-test.conf" >/dev/null
  in_ct systemctl daemon-reload
  in_ct timeout 40 systemctl start echo-hardened.socket "$unit" || die "systemctl start with MemoryMax=64M failed"
  main=$(show MainPID)
  expect "3 workers" wait_until 10 workers_are "$main" 3
  read -r -a before <<<"$(children_list "$main")"
  master_adj=$(in_ct cat "/proc/$main/oom_score_adj")
  for w in "${before[@]}"; do
    expect "worker $w scores above the master ($master_adj)" [ "$(in_ct cat "/proc/$w/oom_score_adj")" -gt "$master_adj" ]
  done
  in_ct bash -c 'for i in $(seq 10); do (head -c 1G /dev/zero >/dev/tcp/127.0.0.1/7007) 2>/dev/null & echo $! >>/tmp/senders.pid; done'
  oom_logged() { [[ -n $(in_ct journalctl --no-pager -o cat -u "$unit" MESSAGE_ID=fe6faa94e7774663a0da52717891d8ef) ]]; }
  expect "systemd logged an OOM kill in the unit (SD_MESSAGE_UNIT_OUT_OF_MEMORY)" wait_until 60 oom_logged
  stop_senders
  expect "the master is the same process ($main)" [ "$(show MainPID)" = "$main" ]
  expect "the service stays active (OOMPolicy=continue)" [ "$(show ActiveState)" = active ]
  expect "no restart of the service" [ "$(show NRestarts)" = 0 ]
  expect "the journal has a worker's death by SIGKILL" \
    bash -c '[[ -n $1 ]]' _ "$(in_ct journalctl --no-pager -o cat -u "$unit" MESSAGE_ID=9f8f32079a3947cdb006f0110d7b2346 SIGNAL=9)"
  expect "the slot is refilled: 3 workers" wait_until 15 workers_are "$main" 3
  after=" $(children_list "$main") "
  spared=0
  for w in "${before[@]}"; do [[ $after == *" $w "* ]] && spared=$((spared + 1)); done
  expect "workers spared by the OOM killer still serve ($spared of 3)" [ "$spared" -ge 1 ]
  expect "an echo after the OOM kill" [ "$(echo_inside 127.0.0.1)" = OK ]
  in_ct timeout 40 systemctl stop "$unit" echo-hardened.socket
fi

if ((failures)); then
  diagnostics
  echo "acl-test: $failures check(s) failed" >&2
  exit 1
fi
echo "acl-test: all checks passed"

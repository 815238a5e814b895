#!/usr/bin/env bash
# fleet.sh: a test fleet on one machine: three echo-hardened hosts behind HAProxy, each in its own network
# namespace (R91; docs/FLEET.md "The test fleet").
#
#   fleet.sh up DIR BUILD_DIR       make the fleet; DIR (new or empty) keeps its state, logs and pids
#   fleet.sh down DIR               stop every process it started (by pid) and remove every namespace it made
#   fleet.sh host-start DIR N       start host N (1-3) again and wait until HAProxy has it UP
#   fleet.sh host-stop DIR N [SIG]  send SIG (default TERM) to host N's master, wait for it to exit
#   fleet.sh state DIR              HAProxy's view: one "hN STATUS" line per host
#   fleet.sh client DIR CMD...      run CMD in the client's namespace (HAProxy is at 10.77.0.1:7007)
#
# Topology: a bridge in the balancer's namespace (10.77.0.1/24, HAProxy on :7007) with a veth pair to each host
# (10.77.0.11-13, echo port 7007, /ready on 9100) and one to the client's namespace (10.77.0.100). Every name
# carries a random run id, so a crashed or parallel run never collides; the addresses exist only inside those
# namespaces, so nothing here touches the machine's own network. Needs root (ip netns) and haproxy.
#
# Environment: FLEET_PROXY (1, the default: HAProxy sends PROXY v2 and the hosts run --proxy-protocol, so they
# see the client's address; 0: plain TCP, for reaching a host directly as the benchmark does),
# FLEET_WORKERS (per host, default 1), FLEET_LEAVE_DELAY (default 4s, 2 x HAProxy's inter x fall),
# FLEET_ARGS (more server options for every host).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
config="$here/haproxy/echo-hardened.cfg"
poll_interval=0.1
# shellcheck source-path=SCRIPTDIR source=../runbook/lib/wait.sh
. "$here/../runbook/lib/wait.sh"

die() {
  echo "fleet: $*" >&2
  exit 1
}
usage() {
  sed -n '5,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

host_addr() { echo "10.77.0.1$1"; }

# The state of a fleet made earlier, from DIR/env.
load() {
  dir=$1
  [[ -f $dir/env ]] || die "$dir holds no fleet (no $dir/env)"
  # shellcheck source=/dev/null
  . "$dir/env"
}

# ---- up ----------------------------------------------------------------------------------------------------

new_netns() {
  ip netns add "$1" || die "cannot create network namespace $1"
  echo "$1" >>"$dir/netns"  # down removes only what this run made
  ip -n "$1" link set lo up
}

# A veth pair from the balancer's bridge to namespace $1, whose end is eth0 with address $2.
wire() {
  local ns=$1 addr=$2 port=$3
  ip -n "$lb" link add "$port" type veth peer name eth0 netns "$ns"
  ip -n "$lb" link set "$port" master br0 up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
}

# Where connections start (the client, HAProxy towards the hosts), TIME_WAIT would soon use up the ephemeral
# ports at a connection test's rate: reuse them, from the whole range (docs/FLEET.md "Limits").
ports_for_many_connections() {
  ip netns exec "$1" sysctl -q -w net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
}

ready_code() {  # ready_code N: what host N's /ready answers now, seen from the balancer (000: no answer)
  ip netns exec "$lb" curl -s -o /dev/null -m 1 -w '%{http_code}' "http://$(host_addr "$1"):9100/ready" || true
}

host_ready() { [[ $(ready_code "$1") == 200 ]]; }
pid_gone() { ! kill -0 "$1" 2>/dev/null; }

haproxy_state() {
  echo "show stat" | ip netns exec "$lb" socat -t 2 - "UNIX-CONNECT:$dir/haproxy.sock" 2>/dev/null |
    awk -F, '$1 == "echo_hosts" && $2 ~ /^h[0-9]$/ { print $2, $18 }'
}
host_up() { [[ $(haproxy_state | awk -v h="h$1" '$1 == h { print $2 }') == UP ]]; }
host_down() { [[ $(haproxy_state | awk -v h="h$1" '$1 == h { print $2 }') == DOWN* ]]; }

# Runs the host's master in its namespace (ip netns exec execs it: the pid is the server's), and records its
# exit status in hN.rc when it ends. Its output, and the recorder's, go to files: nothing holds the caller's
# stdout open (a test runner waits for that to close).
start_host() {
  local n=$1 ns="${prefix}-h$1" addr
  addr=$(host_addr "$n")
  local args=(--listen "$addr:7007" --metrics-listen "$addr:9100" --workers "$workers" --leave-delay "$leave_delay")
  ((proxy)) && args+=(--proxy-protocol)
  # shellcheck disable=SC2206 # FLEET_ARGS is a list of words on purpose
  args+=(${extra_args})
  rm -f "$dir/h$n.rc" "$dir/h$n.pid"
  (
    ip netns exec "$ns" "$build/echo-hardened" "${args[@]}" >>"$dir/h$n.log" 2>&1 &
    echo $! >"$dir/h$n.pid"
    wait $! && rc=0 || rc=$?
    echo "$rc" >"$dir/h$n.rc"
  ) </dev/null >/dev/null 2>&1 &
  wait_until 5 test -s "$dir/h$n.pid" || die "host $n did not start"
  wait_until 20 host_ready "$n" ||
    die "host $n never answered /ready 200; its log: $(tail -5 "$dir/h$n.log")"
}

up() {
  dir=$1 build=$(cd "$2" && pwd)
  [[ -x $build/echo-hardened ]] || die "no echo-hardened in $build"
  command -v haproxy >/dev/null || die "haproxy is not installed (tools/install-deps.sh)"
  mkdir -p "$dir"
  [[ -z $(ls -A "$dir") ]] || die "$dir is not empty"
  dir=$(cd "$dir" && pwd)
  local id
  id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  prefix="eh-$id"
  lb="$prefix-lb"
  client="$prefix-c"
  proxy=${FLEET_PROXY:-1}
  workers=${FLEET_WORKERS:-1}
  leave_delay=${FLEET_LEAVE_DELAY:-4s}
  extra_args=${FLEET_ARGS:-}
  local v
  for v in dir build prefix lb client proxy workers leave_delay extra_args; do
    printf '%s=%q\n' "$v" "${!v}"
  done >"$dir/env"  # plain assignments: sourced inside load() they still set globals
  trap 'echo "fleet: up failed; removing what it made" >&2; down_now' EXIT

  new_netns "$lb"
  ip -n "$lb" link add br0 type bridge
  ip -n "$lb" addr add 10.77.0.1/24 dev br0
  ip -n "$lb" link set br0 up
  ports_for_many_connections "$lb"
  for n in 1 2 3; do
    new_netns "$prefix-h$n"
    wire "$prefix-h$n" "$(host_addr "$n")" "h$n"
  done
  new_netns "$client"
  wire "$client" 10.77.0.100 c
  ports_for_many_connections "$client"

  # The hosts first: HAProxy takes a server for UP until its first check fails, and would send it
  # connections meanwhile.
  for n in 1 2 3; do start_host "$n"; done
  local haproxy_env=(EH_STATS_SOCKET="$dir/haproxy.sock")
  ((proxy)) || haproxy_env+=(EH_NO_PROXY_PROTOCOL=1)
  (
    env "${haproxy_env[@]}" ip netns exec "$lb" haproxy -f "$config" -db >>"$dir/haproxy.log" 2>&1 &
    echo $! >"$dir/haproxy.pid"
    wait $! && rc=0 || rc=$?
    echo "$rc" >"$dir/haproxy.rc"
  ) </dev/null >/dev/null 2>&1 &
  wait_until 5 test -S "$dir/haproxy.sock" || die "HAProxy did not start: $(tail -5 "$dir/haproxy.log")"
  for n in 1 2 3; do
    wait_until 20 host_up "$n" || die "HAProxy never marked host $n UP: $(haproxy_state | tr '\n' ' ')"
  done
  trap - EXIT
  echo "fleet up: $prefix, HAProxy at 10.77.0.1:7007 (PROXY v2: $proxy), hosts 10.77.0.11-13; state in $dir"
}

# ---- down --------------------------------------------------------------------------------------------------

# stop_pid PIDFILE SIG: the signal, then SIGKILL if it is still there after 10 s. Never fails: down must
# get to the namespaces whatever happened before.
stop_pid() {
  [[ -s $1 ]] || return 0
  local pid
  pid=$(<"$1")
  if kill "-$2" "$pid" 2>/dev/null; then
    wait_until 10 pid_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

down_now() {
  local n ns pid
  # SIGQUIT: the fast stop, no leave and no drain; nothing is being balanced any more.
  for n in 1 2 3; do stop_pid "$dir/h$n.pid" QUIT; done
  stop_pid "$dir/haproxy.pid" TERM
  if [[ -f $dir/netns ]]; then
    while read -r ns; do
      # Anything still inside (a worker a moment after its master's death) was started by this run: by pid.
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || echo "fleet: could not remove namespace $ns" >&2
    done <"$dir/netns"
    rm -f "$dir/netns"
  fi
  rm -f "$dir/haproxy.sock"
}

# ---- hosts -------------------------------------------------------------------------------------------------

# stop_host N [SIG]: the signal to host N's master, then its exit awaited (and its status in hN.rc).
stop_host() {
  local n=$1 sig=${2:-TERM} pid
  [[ -s $dir/h$n.pid ]] || die "host $n is not running"
  pid=$(<"$dir/h$n.pid")
  kill "-$sig" "$pid" 2>/dev/null || true
  wait_until 30 test -s "$dir/h$n.rc" || {
    kill -KILL "$pid" 2>/dev/null || true
    die "host $n (pid $pid) did not exit within 30 s of SIG$sig; killed"
  }
  rm -f "$dir/h$n.pid"
}

cmd=${1:-}
[[ $# -ge 2 ]] || usage
shift
case $cmd in
  up)
    [[ $# == 2 ]] || usage
    up "$1" "$2"
    ;;
  down)
    load "$1"
    down_now
    echo "fleet down: $prefix"
    ;;
  host-start)
    [[ ${2:-} =~ ^[123]$ ]] || die "host-start: expected a host number, 1-3"
    load "$1"
    start_host "$2"
    wait_until 20 host_up "$2" || die "HAProxy never marked host $2 UP again: $(haproxy_state | tr '\n' ' ')"
    ;;
  host-stop)
    [[ ${2:-} =~ ^[123]$ ]] || die "host-stop: expected a host number, 1-3"
    load "$1"
    stop_host "$2" "${3:-TERM}"
    echo "host $2 exited with status $(<"$dir/h$2.rc")"
    ;;
  state)
    load "$1"
    haproxy_state
    ;;
  client)
    load "$1"
    shift
    exec ip netns exec "$client" "$@"
    ;;
  *) usage ;;
esac

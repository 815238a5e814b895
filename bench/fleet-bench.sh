#!/usr/bin/env bash
# fleet-bench.sh: the fleet through HAProxy beside one host reached directly, side by side (R92): what the
# balancer costs in round trips, bytes and memory per held connection (docs/FLEET.md "Figures").
#
# Usage: fleet-bench.sh BUILD_DIR [--quick] [--duration SEC] [--hold N] [--json]
#   --quick         1 s per workload, hold 500 (the ctest smoke run, fleet.bench)
#   --duration SEC  measured seconds per run, after 0.5 s of warm-up (default 3)
#   --hold N        connections of the hold workload (default 5000)
#   --json          print the figures as one JSON object on stdout (the table goes to stderr)
# One fleet (deploy/fleet.sh, FLEET_PROXY=0: the direct runs need a host that takes plain TCP), one worker
# per host; the client runs in its own namespace, so both paths cross the same veth pairs. On a small
# machine every process shares the same cores: the ratio is what HAProxy's extra hop costs there, not a
# ceiling of either. Exit 77 without root, network namespaces or haproxy.
set -euo pipefail

build=$(cd "${1:?usage: fleet-bench.sh BUILD_DIR [--quick] [--duration SEC] [--hold N] [--json]}" && pwd)
shift
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fleet="$repo/deploy/fleet.sh"
poll_interval=0.1
# shellcheck source=runbook/lib/wait.sh
. "$repo/runbook/lib/wait.sh"
duration=3 hold=5000 json=0
while (($#)); do
  case $1 in
    --quick) duration=1 hold=500 ;;
    --duration) duration=${2:?--duration needs seconds}; shift ;;
    --hold) hold=${2:?--hold needs a count}; shift ;;
    --json) json=1 ;;
    *) echo "fleet-bench: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

skip() {
  echo "fleet-bench: SKIPPED: $*"
  exit 77
}
((EUID == 0)) || skip "needs root for network namespaces"
command -v haproxy >/dev/null || skip "haproxy is not installed (tools/install-deps.sh)"
probe="eh-probe-$$"
ip netns add "$probe" 2>/dev/null || skip "cannot create a network namespace here"
ip netns del "$probe"

dir=$(mktemp -d /tmp/eh-fleet-bench.XXXXXX)
trap '"$fleet" down "$dir" >/dev/null 2>&1; rm -rf "$dir"' EXIT
trap 'exit 143' TERM  # through the EXIT trap: the fleet never outlives the run
trap 'exit 130' INT
FLEET_PROXY=0 FLEET_WORKERS=1 "$fleet" up "$dir" "$build" >&2
haproxy_pid=$(<"$dir/haproxy.pid")

# run NAME HOST ARGS...: one echo-load run from the client's namespace; its summary in DIR/NAME.json.
run() {
  local name=$1 host=$2
  shift 2
  echo "fleet-bench: $name" >&2
  "$fleet" client "$dir" "$build/echo-load" --host "$host" --port 7007 --json "$@" >"$dir/$name.json" ||
    { echo "fleet-bench: $name failed: $(cat "$dir/$name.json")" >&2; exit 1; }
}
field() { jq -r ".$2" "$dir/$1.json"; }
frontend_holds() {
  local lb
  lb=$(sed -n 's/^lb=//p' "$dir/env")
  (($(echo "show stat" | ip netns exec "$lb" socat -t 2 - "UNIX-CONNECT:$dir/haproxy.sock" |
    awk -F, '$1 == "echo" && $2 == "FRONTEND" { print $5 }') >= $1))
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

for path in haproxy:10.77.0.1 direct:10.77.0.11; do
  name=${path%%:*} host=${path#*:}
  run "$name-pingpong" "$host" --mode pingpong -c 32 -s 64 -d "$duration" --warmup 0.5
  run "$name-stream" "$host" --mode stream -c 4 -s 64K -d "$duration" --warmup 0.5
  before=$(rss_kib "$haproxy_pid")
  # hold: HAProxy's memory is read once it holds every connection, while the run goes on.
  run "$name-hold" "$host" --mode hold -c "$hold" -s 64 --interval 1 -d "$((duration + 3))" --timeout 10 &
  hold_pid=$!
  if [[ $name == haproxy ]]; then
    wait_until 30 frontend_holds "$hold" || { echo "fleet-bench: HAProxy never held $hold connections" >&2; exit 1; }
    haproxy_bytes_per_conn=$((($(rss_kib "$haproxy_pid") - before) * 1024 / hold))
  fi
  wait "$hold_pid"
done

errors=0
for f in "$dir"/*.json; do errors=$((errors + $(jq -r .errors "$f"))); done
table() {
  printf '%-28s %16s %16s %8s\n' "workload" "via HAProxy" "direct, 1 host" "ratio"
  local row metric a b
  for row in "pingpong round trips/s:pingpong:ops_per_s" "pingpong p50 latency us:pingpong:latency_p50_us" \
    "pingpong p99 latency us:pingpong:latency_p99_us" "stream MB/s:stream:mb_per_s" \
    "hold connections held:hold:held" "hold establish s:hold:establish_s"; do
    IFS=: read -r label workload metric <<<"$row"
    a=$(field "haproxy-$workload" "$metric") b=$(field "direct-$workload" "$metric")
    printf '%-28s %16s %16s %8s\n' "$label" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
  done
  echo "HAProxy memory per held connection: ${haproxy_bytes_per_conn} bytes (VmRSS growth / $hold)"
  echo "errors across every run: $errors"
}
if ((json)); then
  table >&2
  jq -n --argjson hp "$(field haproxy-pingpong ops_per_s)" --argjson dp "$(field direct-pingpong ops_per_s)" \
    --argjson hs "$(field haproxy-stream mb_per_s)" --argjson ds "$(field direct-stream mb_per_s)" \
    --argjson hh "$(field haproxy-hold held)" --argjson dh "$(field direct-hold held)" \
    --argjson mem "$haproxy_bytes_per_conn" --argjson errors "$errors" \
    '{haproxy: {pingpong_ops_per_s: $hp, stream_mb_per_s: $hs, held: $hh},
      direct: {pingpong_ops_per_s: $dp, stream_mb_per_s: $ds, held: $dh},
      haproxy_bytes_per_held_connection: $mem, errors: $errors}'
else
  table
fi
((errors == 0)) || { echo "fleet-bench: $errors error(s)" >&2; exit 1; }
# The smoke run fails only when a figure is missing: the figures themselves are no pass marks.
(($(field haproxy-hold held) == hold && $(field direct-hold held) == hold)) ||
  { echo "fleet-bench: not every connection was held" >&2; exit 1; }

#!/usr/bin/env bash
# fleet-test.sh: the fleet's operations through HAProxy (R92): rolling restart, rolling reload, a host killed.
#
#   fleet-test.sh BUILD_DIR restart|reload|kill
#
# Each builds its own fleet with deploy/fleet.sh (its own namespaces, removed pass or fail) and loads it with
# echo-load from the client's namespace through HAProxy; every byte is verified by echo-load. Exit 77 (skipped)
# without root, network namespaces or haproxy.
set -euo pipefail

build=$(cd "$1" && pwd)
scenario=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fleet="$here/../../deploy/fleet.sh"
load="$build/echo-load"
poll_interval=0.1
# shellcheck source-path=SCRIPTDIR source=../../runbook/lib/wait.sh
. "$here/../../runbook/lib/wait.sh"

skip() {
  echo "fleet-test: SKIPPED: $*"
  exit 77
}
fail() {
  echo "fleet-test $scenario: FAIL: $*" >&2
  for f in "$dir"/*.log; do
    [[ -f $f ]] && { echo "--- $(basename "$f") (last 15 lines)"; tail -15 "$f"; } >&2
  done
  exit 1
}
note() { echo "fleet-test $scenario: $*"; }

((EUID == 0)) || skip "needs root for network namespaces"
command -v haproxy >/dev/null || skip "haproxy is not installed (tools/install-deps.sh)"
probe="eh-probe-$$"
ip netns add "$probe" 2>/dev/null || skip "cannot create a network namespace here"
ip netns del "$probe"

dir=$(mktemp -d /tmp/eh-fleet-test.XXXXXX)
cleanup() {
  local rc=$?
  # The loads first: each is a child of this shell, ended by its pid.
  for pid in "${loads[@]}"; do kill "$pid" 2>/dev/null || true; done
  "$fleet" down "$dir" >/dev/null 2>&1 || echo "fleet-test: fleet down failed; state kept in $dir" >&2
  ((rc == 0)) && rm -rf "$dir"
  exit "$rc"
}
loads=()
trap cleanup EXIT
# ctest's timeout and a ^C end the script through its EXIT trap too: the fleet never outlives the test.
trap 'exit 143' TERM
trap 'exit 130' INT
"$fleet" up "$dir" "$build" || fail "the fleet did not come up"
# The namespaces' names (plain words: the run id is hex).
lb=$(sed -n 's/^lb=//p' "$dir/env")
prefix=$(sed -n 's/^prefix=//p' "$dir/env")

# json FILE FIELD: one numeric field of echo-load's --json summary.
json() { jq -r ".$2" "$1"; }

# load_bg NAME ARGS...: echo-load through HAProxy in the client's namespace, its summary in DIR/NAME.json.
load_bg() {
  local name=$1
  shift
  "$fleet" client "$dir" "$load" --host 10.77.0.1 --port 7007 --json "$@" >"$dir/$name.json" 2>"$dir/$name.log" &
  loads+=($!)
}

# check_clean NAME: the run exited 0 with no error, no drop and every byte verified.
check_clean() {
  local f="$dir/$1.json"
  [[ -s $f ]] || fail "$1: no summary ($(tail -3 "$dir/$1.log"))"
  local errors dropped ops
  errors=$(json "$f" errors) dropped=$(json "$f" dropped) ops=$(json "$f" total_ops)
  note "$1: $ops operations, $(json "$f" total_bytes) bytes verified, $errors errors, $dropped dropped," \
    "$(json "$f" recycled) ended at --lifetime"
  ((errors == 0)) || fail "$1: $errors error(s), first: $(json "$f" first_error)"
  ((dropped == 0)) || fail "$1: $dropped connection(s) dropped, first: $(json "$f" first_drop)"
  ((ops > 0)) || fail "$1: no operation done"
}

# wait_loads: every background echo-load has exited 0.
wait_loads() {
  local pid failed="" f
  for pid in "${loads[@]}"; do wait "$pid" || failed+=" $pid (exit $?)"; done
  loads=()
  [[ -z $failed ]] && return 0
  for f in "$dir"/*.json; do echo "$(basename "$f"): $(jq -c '{errors, first_error, dropped}' "$f")" >&2; done
  fail "echo-load failed:$failed"
}

# stat ROW COLUMN: one field of HAProxy's "show stat" for ROW (h1-h3, BACKEND) of the hosts' backend; the
# columns used: 5 current sessions, 14 connect errors, 16 retries, 17 redispatches.
stat() {
  echo "show stat" | ip netns exec "$lb" socat -t 2 - "UNIX-CONNECT:$dir/haproxy.sock" |
    awk -F, -v row="$1" -v col="$2" '$1 == "echo_hosts" && $2 == row { print $col }'
}
sessions() { stat "h$1" 5; }
# The predicates the waits poll.
sessions_at_least() { (($(sessions 1) + $(sessions 2) + $(sessions 3) >= $1)); }
spread_evenly() { (($(sessions 1) == $1 && $(sessions 2) == $1 && $(sessions 3) == $1)); }
reloads_of() { grep -c "reload complete" "$dir/h$1.log" || true; }
reloaded_past() { (($(reloads_of "$1") > $2)); }
marked_down() { "$fleet" state "$dir" | grep -q "^h$1 DOWN"; }
netns_empty() { [[ -z $(ip netns pids "$1") ]]; }

restart() {
  # Short connections all along (each connects, echoes 512 bytes, closes), and busy ones that end on their
  # own after 1.5 s (--lifetime), well inside the hosts' 4 s leave: by the time a host drains, the balancer
  # has sent it nothing new for seconds and every connection it had has ended, so the drain cuts none. No
  # --closed-ok: a connection the server closed would be an error.
  load_bg connrate --mode connrate -c 8 -s 512 -d 24 --timeout 5
  load_bg pingpong --mode pingpong -c 30 -s 256 --lifetime 1.5 -d 24 --timeout 5
  wait_until 10 sessions_at_least 30 || fail "the loads did not start"
  local started=$SECONDS n
  for n in 1 2 3; do
    local t0=$SECONDS
    "$fleet" host-stop "$dir" "$n" TERM >/dev/null || fail "host $n did not stop"
    [[ $(<"$dir/h$n.rc") == 0 ]] || fail "host $n exited with $(<"$dir/h$n.rc")"
    grep -q "leaving the rotation" "$dir/h$n.log" || fail "host $n did not leave the rotation first"
    grep -q "draining: 0 closed idle connection(s), serving 0 busy" "$dir/h$n.log" ||
      fail "host $n still had connections when its drain began: $(grep "draining:" "$dir/h$n.log" | tail -1)"
    "$fleet" host-start "$dir" "$n" || fail "host $n did not come back"
    note "host $n: stopped (exit 0) and back in rotation in $((SECONDS - t0)) s"
  done
  note "rolling restart of 3 hosts in $((SECONDS - started)) s"
  # The leave (R91): HAProxy took each host out because /ready said 503, not because its port refused, and
  # never had to retry a connect elsewhere: every connection it sent reached a host that accepted it.
  for n in 1 2 3; do
    grep -q "echo_hosts/h$n is DOWN, reason: Layer7 wrong status, code: 503" "$dir/haproxy.log" ||
      fail "HAProxy did not take host $n out on its /ready 503: $(grep "h$n is DOWN" "$dir/haproxy.log" | tail -1)"
  done
  local econ wretr wredis
  econ=$(stat BACKEND 14) wretr=$(stat BACKEND 16) wredis=$(stat BACKEND 17)
  note "HAProxy: $econ connect errors, $wretr retries, $wredis redispatches towards the hosts"
  ((econ + wretr + wredis == 0)) || fail "HAProxy connected to a host that no longer accepted"
  kill -0 "${loads[0]}" 2>/dev/null || fail "the load ended before the restarts did: lengthen -d"
  wait_loads
  check_clean connrate
  check_clean pingpong
  (($(json "$dir/pingpong.json" recycled) > 30)) || fail "pingpong: its connections did not end on their own"
}

reload() {
  load_bg pingpong --mode pingpong -c 30 -s 256 -d 12 --timeout 5
  load_bg connrate --mode connrate -c 4 -s 512 -d 12 --timeout 5
  wait_until 10 sessions_at_least 30 || fail "the loads did not start"
  local n pid
  for n in 1 2 3; do
    pid=$(<"$dir/h$n.pid")
    local before
    before=$(reloads_of "$n")
    kill -HUP "$pid"
    wait_until 20 reloaded_past "$n" "$before" || fail "host $n did not complete its reload"
    note "host $n reloaded"
  done
  kill -0 "${loads[0]}" 2>/dev/null || fail "the load ended before the reloads did: lengthen -d"
  wait_loads
  # A reload keeps the host in the rotation (/ready stays 200) and its port open throughout.
  ! grep "is DOWN" "$dir/haproxy.log" || fail "HAProxy took a reloading host out of the rotation"
  (($(stat BACKEND 14) + $(stat BACKEND 16) == 0)) || fail "HAProxy saw connect errors or retried during the reloads"
  check_clean pingpong
  check_clean connrate
}

kill9() {
  load_bg pingpong --mode pingpong -c 30 -s 256 -d 15 --timeout 5 --reconnect
  wait_until 10 spread_evenly 10 ||
    fail "leastconn did not spread 30 connections 10/10/10: $(sessions 1)/$(sessions 2)/$(sessions 3)"
  local master
  master=$(<"$dir/h2.pid")
  local t0
  t0=$(date +%s%N)
  kill -KILL "$master"
  wait_until 10 marked_down 2 || fail "HAProxy never marked h2 DOWN"
  local ms=$((($(date +%s%N) - t0) / 1000000))
  note "HAProxy marked h2 DOWN ${ms} ms after kill -9 of its master"
  # PR_SET_PDEATHSIG: the master's workers and metrics process die with it; nothing is left in its namespace.
  wait_until 5 netns_empty "$prefix-h2" ||
    fail "processes left in h2's namespace after its master's death: $(ip netns pids "$prefix-h2" | tr '\n' ' ')"
  # The down check sees a refused connect at once: well inside inter + fastinter.
  ((ms < 3000)) || fail "HAProxy took ${ms} ms to take h2 out (inter 1s, fastinter 500ms, fall 2)"
  wait_loads
  local f="$dir/pingpong.json" errors dropped
  errors=$(json "$f" errors) dropped=$(json "$f" dropped)
  note "pingpong: $(json "$f" total_ops) round trips verified, $errors errors, $dropped dropped (h2 held 10 of 30);" \
    "HAProxy retried $(stat BACKEND 16) connect(s) and redispatched $(stat BACKEND 17)"
  ((errors == 0)) || fail "$errors error(s): the other hosts' connections or the reconnects failed: $(json "$f" first_error)"
  # Only h2's connections drop; their reconnects land on h1 and h3 (a connect to h2 before it is marked down
  # is retried elsewhere: retries, option redispatch).
  ((dropped == 10)) || fail "expected exactly h2's 10 connections dropped, got $dropped"
}

# proxy_clean N: with the PROXY protocol on (the default), host N took a v2 header on its connections and
# refused none (every other result of echo_hardened_proxy_headers_total is 0).
proxy_clean() {
  grep -q '^proxy=1$' "$dir/env" || return 0
  local page good bad
  page=$(ip netns exec "$lb" curl -s -m 2 "http://10.77.0.1$1:9100/metrics")
  good=$(awk '/^echo_hardened_proxy_headers_total\{result="proxy"\}/ { print $2 }' <<<"$page")
  bad=$(awk '/^echo_hardened_proxy_headers_total\{/ && !/result="proxy"/ && !/result="local"/ { s += $2 } END { print s + 0 }' <<<"$page")
  note "host $1: ${good:-no} PROXY headers taken, $bad refused"
  ((${good:-0} > 0 && bad == 0)) || fail "host $1: PROXY headers taken ${good:-none}, refused $bad"
}

case $scenario in
  restart) restart && proxy_clean 1 && proxy_clean 2 && proxy_clean 3 ;;
  reload) reload && proxy_clean 1 && proxy_clean 2 && proxy_clean 3 ;;
  kill) kill9 && proxy_clean 1 && proxy_clean 3 ;;
  *) echo "fleet-test: unknown scenario $scenario (restart, reload, kill)" >&2; exit 2 ;;
esac
note "PASS"

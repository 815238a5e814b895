#!/usr/bin/env bash
# Side-by-side echo benchmark (R52, R53): echo-hardened against the epoll floor and Debian's socat, xinetd, ncat.
#
# Every peer runs at once on its own loopback port; each round runs every workload against every peer in turn,
# and the table reports medians over the rounds with ratios against epoll-floor (the syscall floor); --plot draws
# them (bench/plot.gp). Each run is announced on stderr with its round, workload, peer and the time left.
# Usage: run-bench.sh [--quick] [--rounds N] [--duration SEC] [--hold N] [--workers N] [--peers LIST]
#                     [--server BIN] [--baseline BIN] [--floor BIN] [--load BIN] [--log FILE] [--json] [--plot DIR]
# Starting, watching and stopping the peers is runbook/lib's; the peers themselves come from tools/install-deps.sh.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=runbook/lib/common.sh
source "$repo/runbook/lib/common.sh"
# shellcheck source=runbook/lib/server.sh
source "$repo/runbook/lib/server.sh"
synopsis="run-bench.sh [OPTIONS]; --help lists them"

print_help() {
    cat <<'EOF'
Usage: run-bench.sh [OPTIONS]
  --quick            1 round, 1 s per workload, echo-hardened and epoll-floor only, hold 500 (a smoke run)
  --rounds N         rounds; each runs every workload against every peer in turn (default 3)
  --duration SEC     measured seconds per run (default 3; 0.5 s warm-up comes first)
  --hold N           connections for the hold workload (default 10000)
  --workers N        workers for echo-hardened and epoll-floor (default: number of CPUs)
  --peers LIST       comma list of echo-hardened,epoll-floor,socat,xinetd,ncat (default: all)
  --server BIN       echo-hardened binary (default: build/echo-hardened)
  --baseline BIN     also run BIN, an earlier build of echo-hardened, as peer "baseline" (added to --peers):
                     before and after a change in one run, each as a ratio to the floor
  --floor BIN        epoll-floor binary (default: build/epoll-floor)
  --load BIN         echo-load binary (default: build/echo-load)
  --log FILE         append every run's JSON summary to FILE
  --no-install       accepted for old command lines; nothing is installed here (tools/install-deps.sh does)
  --json             print the medians as JSON on stdout (the table goes to stderr)
  --plot DIR         also write the medians as TSV to DIR (results.tsv, throughput.tsv, latency.tsv) and draw
                     them with gnuplot ($GNUPLOT, default gnuplot) as DIR/throughput.{png,svg} (ratio to the
                     floor) and DIR/latency.{png,svg} (p50, p90, p99, p99.9); DIR is created if need be
EOF
}

server_bin=$repo/build/echo-hardened
baseline_bin=""
floor_bin=$repo/build/epoll-floor
load_bin=$repo/build/echo-load
rounds=3
duration=3
warmup=0.5
hold_conns=10000
workers=$(nproc)
peer_list="echo-hardened,epoll-floor,socat,xinetd,ncat"
json=0
log_file=""
plot_dir=""
gnuplot_bin=${GNUPLOT:-gnuplot}

while (($#)); do
    case $1 in
        --quick) rounds=1 duration=1 warmup=0.2 hold_conns=500 peer_list="echo-hardened,epoll-floor" ;;
        --rounds) rounds=${2:-}; shift ;;
        --duration) duration=${2:-}; shift ;;
        --hold) hold_conns=${2:-}; shift ;;
        --workers) workers=${2:-}; shift ;;
        --peers) peer_list=${2:-}; shift ;;
        --server) server_bin=${2:-}; shift ;;
        --baseline) baseline_bin=${2:-}; shift ;;
        --floor) floor_bin=${2:-}; shift ;;
        --load) load_bin=${2:-}; shift ;;
        --log) log_file=${2:-}; shift ;;
        --no-install) ;;
        --json) json=1 ;;
        --plot)
            [[ -n ${2:-} ]] || usage "--plot wants a directory"
            plot_dir=$2
            shift
            ;;
        -h | --help) print_help; exit 0 ;;
        *) usage "unknown argument '$1'" ;;
    esac
    shift
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || usage "--rounds wants a positive integer"
if ! [[ $duration =~ ^[0-9]+(\.[0-9]+)?$ ]] || [[ $duration =~ ^0+(\.0+)?$ ]]; then
    usage "--duration wants positive seconds"
fi
[[ $hold_conns =~ ^[1-9][0-9]*$ ]] || usage "--hold wants a positive integer"
[[ $workers =~ ^[1-9][0-9]*$ ]] || usage "--workers wants a positive integer"
[[ -z $baseline_bin || -x $baseline_bin ]] || usage "--baseline: $baseline_bin is not an executable"
[[ -n $baseline_bin && ",$peer_list," != *,baseline,* ]] && peer_list="echo-hardened,baseline,${peer_list#echo-hardened,}"
IFS=, read -r -a peers <<<"$peer_list"
for peer in "${peers[@]}"; do
    case $peer in echo-hardened | baseline | epoll-floor | socat | xinetd | ncat) ;; *) usage "unknown peer '$peer'" ;; esac
    [[ $peer != baseline || -n $baseline_bin ]] || usage "peer 'baseline' needs --baseline BIN"
done
if [[ -n $plot_dir ]]; then
    [[ " ${peers[*]} " == *" epoll-floor "* ]] || usage "--plot draws ratios to epoll-floor: add it to --peers"
    # Checked before any peer starts, so that a run of many minutes cannot end without its charts.
    command -v "$gnuplot_bin" >/dev/null ||
        fail "--plot: $gnuplot_bin is not installed (tools/install-deps.sh installs gnuplot-nox)"
    "$gnuplot_bin" -e 'set terminal pngcairo; set terminal svg' </dev/null >/dev/null 2>&1 ||
        fail "--plot: $gnuplot_bin has no pngcairo or no svg terminal (Debian's gnuplot-nox has both)"
    if ! mkdir -p -- "$plot_dir" 2>/dev/null || [[ ! -w $plot_dir ]]; then
        fail "--plot: cannot create or write to $plot_dir"
    fi
    plot_dir=$(cd -- "$plot_dir" && pwd)
fi
[[ -x $load_bin ]] || fail "echo-load not found at $load_bin (build it, or pass --load)"
need ss ps setsid

# 10,000 held connections need that many descriptors in the client and in every peer, which inherit this limit.
ulimit -n "$(ulimit -Hn)"

make_workdir  # and the exit trap: it kills every process group and pid started below, pass or fail
declare -A peer_pid=() peer_port=() peer_note=() peer_drain=() peer_starts=()
declare -A samples=() error_runs=() first_error=()
progress() { echo "run-bench: $*" >&2; }

# ---------------------------------------------------------------------------------------------------------------
# Processes: runbook/lib/server.sh starts every peer as the leader of a process group of its own (server_group), so
# stopping it, or the exit trap, ends every process it forked, by the group's id.

server_group=1

# ROOT -> "RSS_KIB PSS_KIB" summed over the whole tree (master and workers, or listener and forked children).
tree_memory() {
    local pids rss pss
    pids=$(descendants_of "$1")
    # Processes may exit between the listing and the reading: what is gone simply counts for nothing.
    rss=$({ ps -o rss= -p "$(paste -sd, <<<"$pids")" 2>/dev/null || true; } | awk '{ s += $1 } END { print s + 0 }')
    # shellcheck disable=SC2086  # one PID per word
    pss=$({ printf '/proc/%s/smaps_rollup\n' $pids | xargs cat 2>/dev/null || true; } |
        awk '/^Pss:/ { s += $2 } END { print s + 0 }')
    echo "$rss $pss"
}

# Stops one peer: SIGTERM to the process we started, a bounded wait, then SIGKILL to its process group, which
# reaches forked children even once they are reparented; then a bounded wait for the copy of its log.
stop_peer() {
    local peer=$1 pid=${peer_pid[$1]:-}
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    server_wait_exit "$pid" 15 || true
    unset "peer_pid[$peer]"
    if [[ -n ${peer_drain[$peer]:-} ]]; then
        drain_pid=${peer_drain[$peer]} server_drained 5
        unset "peer_drain[$peer]"
    fi
}

write_xinetd_conf() {  # PORT FILE: the internal echo service only, with every rate limit lifted
    cat >"$2" <<EOF
defaults
{
    log_type    = FILE $workdir/xinetd.log
    instances   = UNLIMITED
    per_source  = UNLIMITED
    cps         = 1000000 1
}
service echo
{
    type        = INTERNAL UNLISTED
    id          = echo-stream
    socket_type = stream
    protocol    = tcp
    wait        = no
    user        = root
    bind        = 127.0.0.1
    port        = $1
    instances   = UNLIMITED
    per_source  = UNLIMITED
    cps         = 1000000 1
}
EOF
}

# echo-hardened and epoll-floor print "ready: N workers accepting on 127.0.0.1:PORT" once every worker accepts,
# which server_start reads as it is written; socat, ncat and xinetd print nothing of the kind, so they are ready once
# their port listens. A restarted peer gets a log and FIFO of its own.
start_peer() {
    local peer=$1 port="" cmd=()
    peer_starts[$peer]=$((${peer_starts[$peer]:-0} + 1))
    server_name=$peer.${peer_starts[$peer]}
    case $peer in
        echo-hardened | baseline | epoll-floor)
            local bin=$server_bin
            [[ $peer == epoll-floor ]] && bin=$floor_bin
            [[ $peer == baseline ]] && bin=$baseline_bin
            [[ -x $bin ]] || { peer_note[$peer]="binary $bin not found"; return 1; }
            if ! server_start "$bin" --listen 127.0.0.1:0 --workers "$workers"; then
                peer_pid[$peer]=$server_pid
                peer_note[$peer]="no ready line: $(tail -n1 "$server_log" 2>/dev/null)"
                return 1
            fi
            peer_pid[$peer]=$server_pid
            peer_drain[$peer]=$drain_pid
            port=$server_port
            ;;
        socat | ncat | xinetd)
            port=$(free_port) || { peer_note[$peer]="no free port"; return 1; }
            case $peer in
                socat) cmd=(socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,backlog=4096" PIPE) ;;
                ncat) cmd=(ncat -k -l 127.0.0.1 "$port" --exec /bin/cat --max-conns 1000000) ;;
                xinetd)
                    write_xinetd_conf "$port" "$workdir/xinetd.conf"
                    cmd=(xinetd -dontfork -f "$workdir/xinetd.conf" -pidfile "$workdir/xinetd.pid")
                    ;;
            esac
            server_launch "${cmd[@]}"
            server_follow
            peer_pid[$peer]=$server_pid
            peer_drain[$peer]=$drain_pid
            if ! wait_until_or_exit 10 "$server_pid" port_listening "$port"; then
                peer_note[$peer]="not listening: $(tail -n1 "$server_log" 2>/dev/null)"
                return 1
            fi
            ;;
    esac
    peer_port[$peer]=$port
    progress "$peer listening on 127.0.0.1:$port (pid $server_pid)"
}

# A peer that is not installed is named in one line and skipped: installing is tools/install-deps.sh's job.
skip_missing_peers() {
    local peer
    for peer in "${peers[@]}"; do
        case $peer in
            socat | ncat | xinetd)
                command -v "$peer" >/dev/null && continue
                peer_note[$peer]="not installed (tools/install-deps.sh installs it)"
                progress "$peer: ${peer_note[$peer]}; skipped"
                ;;
        esac
    done
}

# ---------------------------------------------------------------------------------------------------------------
# Runs and results

json_num() { { grep -o "\"$2\":[0-9.]*" <<<"$1" || true; } | head -n1 | cut -d: -f2; }
json_str() { { grep -o "\"$2\":\"[^\"]*\"" <<<"$1" || true; } | head -n1 | cut -d'"' -f4; }

add_sample() {  # PEER METRIC VALUE
    [[ -n $3 ]] && samples["$1|$2"]+=" $3"
    return 0
}

note_run() {  # PEER WORKLOAD RC JSON: remembers rounds that failed or counted errors
    local peer=$1 wl=$2 rc=$3 out=$4
    [[ -n $log_file ]] && printf '{"peer":"%s","workload":"%s","rc":%s,"summary":%s}\n' "$peer" "$wl" "$rc" "${out:-null}" >>"$log_file"
    if ((rc != 0)); then
        error_runs["$peer|$wl"]=$((${error_runs["$peer|$wl"]:-0} + 1))
        if [[ -z ${first_error["$peer|$wl"]:-} ]]; then
            local why
            why=$(json_str "$out" first_error)
            ((rc == 124)) && why="echo-load killed by the run's time limit"
            first_error["$peer|$wl"]="exit $rc, $(json_num "$out" errors) errors: ${why:-no summary}"
        fi
    fi
}

workload_args() {
    case $1 in
        pp1) echo "--mode pingpong -c 1 -s 64" ;;
        pp100) echo "--mode pingpong -c 100 -s 64" ;;
        stream) echo "--mode stream -c 10 -s 16K --window 64K" ;;
        connrate) echo "--mode connrate -c 50 -s 64" ;;
    esac
}

run_timed() {  # PEER WORKLOAD
    local peer=$1 wl=$2 out rc=0 budget
    budget=$(awk -v d="$duration" -v w="$warmup" 'BEGIN { printf "%d", d + w + 30 }')
    # shellcheck disable=SC2046  # the workload's options are meant to split
    out=$(timeout -k 2 "$budget" "$load_bin" --json --target "127.0.0.1:${peer_port[$peer]}" $(workload_args "$wl") \
        --duration "$duration" --warmup "$warmup" 2>>"$workdir/load.err") || rc=$?
    note_run "$peer" "$wl" "$rc" "$out"
    case $wl in
        pp1 | pp100 | connrate)
            add_sample "$peer" "$wl.rate" "$(json_num "$out" ops_per_s)"
            local q
            for q in p50 p90 p99 p999; do add_sample "$peer" "$wl.$q" "$(json_num "$out" "latency_${q}_us")"; done
            ;;
        stream) add_sample "$peer" stream.mbs "$(json_num "$out" mb_per_s)" ;;
    esac
    progress "  $wl on $peer: exit $rc, $(json_num "$out" ops_per_s) ops/s, $(json_num "$out" mb_per_s) MB/s," \
        "p99 $(json_num "$out" latency_p99_us) us"
}

# Hold: the server's memory is sampled before the connections open and again once every one has been served (or
# has failed), and the growth divided by the connections open on the server's port at that moment. echo-load
# holds until told to stop (SIGINT), since sampling 10,000 forked processes can take longer than any fixed hold.
run_hold() {
    local peer=$1 root=${peer_pid[$1]} port=${peer_port[$1]} before after lp rc=0 out held open since
    before=$(tree_memory "$root")
    : >"$workdir/hold.err"
    timeout -k 2 180 "$load_bin" --json --target "127.0.0.1:$port" --mode hold -c "$hold_conns" --duration 170 \
        --interval 1 >"$workdir/hold.out" 2>"$workdir/hold.err" &
    lp=$!
    started+=("$lp") started_groups+=("$lp")  # timeout(1) leads a group of its own, echo-load in it
    wait_until_or_exit 150 "$lp" grep -q 'connections established' "$workdir/hold.err" || true
    since=$SECONDS
    open=$(ss -Htn state established "( sport = :$port )" | wc -l)
    after=$(tree_memory "$root")
    # Hold for the run's duration at least: connections must stay served, not just open once.
    local left
    left=$(awk -v d="$duration" -v t=$((SECONDS - since)) 'BEGIN { r = d - t; print (r > 0 ? r : 0) }')
    sleep "$left"
    kill -INT "$lp" 2>/dev/null || true  # timeout(1) passes it on to echo-load, which then prints its summary
    server_wait_exit "$lp" 40 || rc=$?  # within its own 180 s limit: it was started at most 150 s + $duration ago
    out=$(cat "$workdir/hold.out")
    note_run "$peer" hold "$rc" "$out"
    held=$(json_num "$out" held)
    add_sample "$peer" hold.held "$held"
    if ((open > 0)); then
        add_sample "$peer" hold.rss "$(awk -v a="${after% *}" -v b="${before% *}" -v n="$open" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')"
        add_sample "$peer" hold.pss "$(awk -v a="${after#* }" -v b="${before#* }" -v n="$open" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')"
    fi
    progress "  hold $hold_conns on $peer: exit $rc, held ${held:-?}, $open open when sampled," \
        "server RSS ${before% *} -> ${after% *} KiB, PSS ${before#* } -> ${after#* } KiB"
}

# Progress: every run is announced with its round, workload and peer, and an estimate of the time left: the runs
# still to come, each at the mean time the same kind of run (timed, or hold with its restart) took so far on the same
# peer, else on any peer, else what the options imply. A hold's cost differs most between peers: a fork-per-connection
# peer spends its whole time limit on it.
declare -A took_sum=() took_count=()
# Nothing measured yet: the measured time and the warm-up; for hold, the connecting and a restart too.
guess_timed=$(awk -v d="$duration" -v w="$warmup" 'BEGIN { printf "%.0f", (d + w + 0.2) * 1e6 }')
guess_hold=$(awk -v d="$duration" 'BEGIN { printf "%.0f", (d + 5) * 1e6 }')
took_run() {  # PEER KIND START_US (microseconds: EPOCHREALTIME without its decimal point, whatever the locale)
    local us=$((${EPOCHREALTIME//[!0-9]/} - $3)) key
    for key in "$1|$2" "|$2"; do
        took_sum[$key]=$((${took_sum[$key]:-0} + us)) took_count[$key]=$((${took_count[$key]:-0} + 1))
    done
}
expected_us() {  # PEER KIND: sets expected to the microseconds one such run is expected to take
    local key
    for key in "$1|$2" "|$2"; do
        if ((${took_count[$key]:-0})); then
            expected=$((took_sum[$key] / took_count[$key]))
            return
        fi
    done
    expected=$guess_timed
    [[ $2 == hold ]] && expected=$guess_hold
    return 0
}
announce_run() {  # ROUND WORKLOAD PEER, before the run: the runs from this one on, each at its expected time
    local r w p kind left=0 from=0 expected
    for ((r = $1; r <= rounds; r++)); do
        for w in "${workloads[@]}"; do
            kind=timed
            [[ $w == hold ]] && kind=hold
            for p in "${ready_peers[@]}"; do
                [[ $r == "$1" && $w == "$2" && $p == "$3" ]] && from=1
                ((from)) || continue
                expected_us "$p" "$kind"
                left=$((left + expected))
            done
        done
    done
    left=$(((left + 500000) / 1000000))
    progress "round $1 of $rounds: $2 on $3 (run $runs_done of $runs_total), about" \
        "$(printf '%dm%02ds' $((left / 60)) $((left % 60))) left"
}

median() {  # values as words -> median, or nothing
    tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---------------------------------------------------------------------------------------------------------------
# Main

skip_missing_peers
for peer in "${peers[@]}"; do
    [[ -n ${peer_note[$peer]:-} ]] && continue
    start_peer "$peer" || { progress "$peer: ${peer_note[$peer]}"; stop_peer "$peer"; }
done
ready_peers=()
for peer in "${peers[@]}"; do [[ -n ${peer_port[$peer]:-} ]] && ready_peers+=("$peer"); done
((${#ready_peers[@]})) || fail "no peer could be started"

workloads=(pp1 pp100 stream connrate hold)
runs_total=$((rounds * ${#workloads[@]} * ${#ready_peers[@]}))
runs_done=0
for ((round = 1; round <= rounds; round++)); do
    for wl in "${workloads[@]}"; do
        for peer in "${ready_peers[@]}"; do
            runs_done=$((runs_done + 1))
            [[ -n ${peer_port[$peer]:-} ]] || continue
            announce_run "$round" "$wl" "$peer"
            run_started=${EPOCHREALTIME//[!0-9]/}
            if [[ $wl != hold ]]; then
                run_timed "$peer" "$wl"
                took_run "$peer" timed "$run_started"
                continue
            fi
            run_hold "$peer"
            # A fork-per-connection peer may go on forking for a backlog of connections that already timed out;
            # stopping it at once keeps that work out of the next peer's figures, and a fresh start out of the
            # next round's.
            stop_peer "$peer"
            unset "peer_port[$peer]"
            if ((round < rounds)); then
                start_peer "$peer" || progress "$peer: restart failed: ${peer_note[$peer]}"
            fi
            took_run "$peer" hold "$run_started"
        done
    done
done

# Rows: label, metric, unit shown, format, whether a ratio to the floor is printed.
rows=(
    "pingpong 1 conn x 64 B|pp1.rate|round trips/s|%.0f|1"
    "|pp1.p99|p99 latency us|%.0f|1"
    "pingpong 100 conns x 64 B|pp100.rate|round trips/s|%.0f|1"
    "|pp100.p99|p99 latency us|%.0f|1"
    "stream 10 conns x 16 KiB|stream.mbs|MB/s|%.0f|1"
    "connrate 50 conc. x 64 B|connrate.rate|connections/s|%.0f|1"
    "|connrate.p99|p99 connect us|%.0f|1"
    "hold $hold_conns conns|hold.held|held (median)|%.0f|0"
    "|hold.rss|RSS/open conn B|%.0f|1"
    "|hold.pss|PSS/open conn B|%.0f|1"
)

cell() {  # PEER METRIC FORMAT RATIO -> the table cell
    local peer=$1 metric=$2 fmt=$3 ratio=$4 value floor wl=${2%%.*} text
    if [[ -n ${peer_note[$peer]:-} && -z ${samples["$peer|$metric"]:-} ]]; then
        echo "n/a"
        return
    fi
    value=$(median "${samples["$peer|$metric"]:-}")
    [[ -n $value ]] || { echo "fail"; return; }
    # shellcheck disable=SC2059  # the format comes from the row table
    text=$(printf "$fmt" "$value")
    floor=$(median "${samples["epoll-floor|$metric"]:-}")
    if ((ratio)) && [[ -n $floor ]] && awk -v f="$floor" 'BEGIN { exit !(f > 0) }'; then
        text+=$(awk -v v="$value" -v f="$floor" 'BEGIN { r = v / f; printf(r < 100 ? " (%.2fx)" : " (%.0fx)", r) }')
    fi
    [[ -n ${error_runs["$peer|$wl"]:-} ]] && text+="!"
    echo "$text"
}

print_table() {
    local row label metric unit fmt ratio peer
    echo "echo benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r), loopback"
    echo "workers $workers (echo-hardened$([[ -n $baseline_bin ]] && echo ", baseline"), epoll-floor); $rounds round(s) x ${duration} s after ${warmup} s warm-up;" \
        "client: echo-load, 1 thread; medians; (ratio to epoll-floor)"
    printf '%-27s %-19s' "workload" "metric"
    for peer in "${peers[@]}"; do printf ' %-20s' "$peer"; done
    echo
    for row in "${rows[@]}"; do
        IFS='|' read -r label metric unit fmt ratio <<<"$row"
        printf '%-27s %-19s' "$label" "$unit"
        for peer in "${peers[@]}"; do printf ' %-20s' "$(cell "$peer" "$metric" "$fmt" "$ratio")"; done
        echo
    done
    local key
    for peer in "${peers[@]}"; do
        [[ -n ${peer_note[$peer]:-} ]] && echo "n/a $peer: ${peer_note[$peer]}"
    done
    for key in "${!error_runs[@]}"; do
        echo "! ${key%|*} ${key#*|}: ${error_runs[$key]} of $rounds round(s) failed or counted errors (${first_error[$key]})"
    done | sort
    return 0
}

print_json() {
    local peer row metric first=1 pfirst value
    printf '{"workers":%s,"rounds":%s,"duration_s":%s,"hold":%s,"peers":{' "$workers" "$rounds" "$duration" "$hold_conns"
    for peer in "${peers[@]}"; do
        ((first)) || printf ','
        first=0
        printf '"%s":{' "$peer"
        pfirst=1
        for row in "${rows[@]}"; do
            IFS='|' read -r _ metric _ _ _ <<<"$row"
            value=$(median "${samples["$peer|$metric"]:-}")
            ((pfirst)) || printf ','
            pfirst=0
            printf '"%s":%s' "$metric" "${value:-null}"
        done
        printf ',"note":"%s"}' "${peer_note[$peer]:-}"
    done
    printf '}}\n'
}

# --plot: the medians as tab-separated files, for bench/plot.gp and for whoever wants the figures. A peer that
# could not be run at all (n/a) gets no column; a figure that is missing is NaN.
latency_rows=(
    "pp1|pingpong 1 conn x 64 B: round trip"
    "pp100|pingpong 100 conns x 64 B: round trip"
    "connrate|connrate 50 conc. x 64 B: connect"
)
percentiles=(p50 p90 p99 p999)

ratio_of() {  # VALUE FLOOR -> VALUE/FLOOR, or NaN
    awk -v v="$1" -v f="$2" 'BEGIN { if (v == "" || f == "" || f <= 0) print "NaN"; else printf "%.4g\n", v / f }'
}

write_plot_data() {  # DIR
    local dir=$1 peer row label metric unit fmt ratio value floor rel last="" q
    local -a charted=() metrics
    for peer in "${peers[@]}"; do
        [[ $(cell "$peer" pp1.rate %s 0) == n/a ]] || charted+=("$peer")
    done
    {
        echo "# run-bench.sh $(date -u +%Y-%m-%dT%H:%MZ): medians over $rounds round(s) of ${duration} s;" \
            "ratio: to epoll-floor's median; NaN: no figure, or no ratio"
        printf 'peer\tworkload\tmetric\tunit\tmedian\tratio\trounds_with_errors\n'
        for peer in "${charted[@]}"; do
            for row in "${rows[@]}"; do
                IFS='|' read -r label metric unit fmt ratio <<<"$row"
                [[ -n $label ]] && last=$label
                metrics=("$metric")  # the p99 row stands for all four percentiles here
                [[ $metric == *.p99 ]] && metrics=("${percentiles[@]/#/${metric%.*}.}")
                for metric in "${metrics[@]}"; do
                    value=$(median "${samples["$peer|$metric"]:-}")
                    rel=NaN
                    ((ratio)) && rel=$(ratio_of "$value" "$(median "${samples["epoll-floor|$metric"]:-}")")
                    q=${metric##*.}
                    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$peer" "$last" "$metric" "${unit/p99/${q/p999/p99.9}}" \
                        "${value:-NaN}" "$rel" "${error_runs["$peer|${metric%%.*}"]:-0}"
                done
            done
        done
    } >"$dir/results.tsv"
    {
        echo "# run-bench.sh: throughput, each peer's median divided by epoll-floor's (bench/plot.gp draws it)"
        printf 'workload\tmeasure'
        printf '\t%s' "${charted[@]}"
        echo
        for row in "${rows[@]}"; do
            IFS='|' read -r label metric unit fmt ratio <<<"$row"
            [[ $metric == *.rate || $metric == *.mbs ]] || continue
            printf '%s\t%s' "$label" "$unit"
            floor=$(median "${samples["epoll-floor|$metric"]:-}")
            for peer in "${charted[@]}"; do
                printf '\t%s' "$(ratio_of "$(median "${samples["$peer|$metric"]:-}")" "$floor")"
            done
            echo
        done
    } >"$dir/throughput.tsv"
    {
        echo "# run-bench.sh: latency percentiles in us, each peer's median (bench/plot.gp draws it)"
        printf 'workload\tpercentile'
        printf '\t%s' "${charted[@]}"
        echo
        for row in "${latency_rows[@]}"; do
            for q in "${percentiles[@]}"; do
                printf '%s\t%s' "${row#*|}" "${q/p999/p99.9}"
                for peer in "${charted[@]}"; do
                    value=$(median "${samples["$peer|${row%%|*}.$q"]:-}")
                    printf '\t%s' "${value:-NaN}"
                done
                echo
            done
        done
    } >"$dir/latency.tsv"
}

plot_charts() {  # DIR: the data files, then the charts; a failure is named in one line
    local subtitle
    write_plot_data "$1"
    subtitle="$(date -u +%Y-%m-%d), $(nproc) CPUs, $workers workers; $rounds round(s) x ${duration} s;"
    subtitle+=" client: echo-load, 1 thread"
    if ! "$gnuplot_bin" -c "$repo/bench/plot.gp" "$1" "$subtitle" 2>"$workdir/gnuplot.err"; then
        echo "run-bench: --plot: gnuplot failed: $(grep -v warning "$workdir/gnuplot.err" | tail -n1)" >&2
        return 1
    fi
    progress "charts: $1/throughput.{png,svg}, $1/latency.{png,svg}; data: results.tsv, throughput.tsv, latency.tsv"
}

if ((json)); then
    print_table >&2
    print_json
else
    print_table
fi

# The quick mode is a smoke test: it fails if echo-hardened or the floor produced no figures or counted errors.
status=0
for peer in echo-hardened epoll-floor; do
    [[ " ${peers[*]} " == *" $peer "* ]] || continue
    if [[ -n ${peer_note[$peer]:-} || -z ${samples["$peer|pp1.rate"]:-} ]]; then
        echo "run-bench: $peer produced no figures ${peer_note[$peer]:-}" >&2
        status=1
    fi
    for wl in "${workloads[@]}"; do
        [[ -z ${error_runs["$peer|$wl"]:-} ]] || status=1
    done
done
if [[ -n $plot_dir ]]; then plot_charts "$plot_dir" || status=1; fi
exit "$status"

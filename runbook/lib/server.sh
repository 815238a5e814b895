# server.sh: sourced by the scripts that start echo-hardened (or epoll-floor, or another server such as socat)
# themselves: start it, wait for its ready line or its listening port, follow its log, wait (bounded) for later log
# lines, stop it and wait (bounded) for its exit; the state, the children and the whole tree of a process; a free
# port. The caller owns $workdir. Every process started here is added to the caller's array `started` (a group
# leader to `started_groups` too), which lib/common.sh's exit trap kills; server_wait_exit drops a pid once it has
# reaped it.
# shellcheck shell=bash disable=SC2034,SC2154  # sets and reads the sourcing script's variables by design
#
# The caller may set, before a start:
#   server_name      the files in $workdir: NAME.log (the server's stderr, line by line) and NAME.fifo (default
#                    "server"); give each server of one script its own name
#   server_wrapper   an array of words run in front of the command: strace ... --, setsid, prlimit ... setpriv ...
#   server_ready_timeout  seconds allowed for the ready line (default 15; a traced or sanitizer build is slower)
#   server_group     1: run the command under setsid, as the leader of a process group of its own, which
#                    server_wait_exit and the exit trap then SIGKILL whole: that reaches the processes it forked
#                    even once they are reparented (socat, ncat and xinetd fork one per connection)
# The functions set: server_pid (the process started, the wrapper if there is one), server_log, server_fifo,
# server_stderr_id ("dev:ino" of the server's stderr, what JOURNAL_STREAM names), server_line (the line a wait
# matched), server_port and server_master (from the ready line), drain_pid, server_status (server_stop).
#
# Readiness is the "ready: N workers accepting on 127.0.0.1:PORT" line the master prints once every worker
# accepts (the moment it also sends READY=1): the script reads it from a FIFO as it is written, no polling.

# shellcheck source=runbook/lib/wait.sh
source "$(dirname "${BASH_SOURCE[0]}")/wait.sh"

# server_prepare: creates $workdir/NAME.fifo for the next launch and sets server_log, server_fifo, server_stderr_id.
# Only needed separately when the command line must name the FIFO first (JOURNAL_STREAM).
server_prepare() {
    server_log=$workdir/${server_name:-server}.log
    server_fifo=$workdir/${server_name:-server}.fifo
    rm -f "$server_fifo"
    mkfifo "$server_fifo"
    server_stderr_id=$(stat -c '%d:%i' "$server_fifo")
    server_prepared=$server_fifo
}

# server_launch COMMAND...: starts "${server_wrapper[@]}" COMMAND... in the background with its stderr on the FIFO
# and returns at once (nothing is read yet). Sets server_pid.
server_launch() {
    # A fresh FIFO for every launch: an older server's drain may still hold the previous one open.
    [[ ${server_prepared:-} == "$workdir/${server_name:-server}.fifo" ]] || server_prepare
    server_prepared=""
    local -a wrapper=()
    [[ -n ${server_wrapper+set} ]] && wrapper=("${server_wrapper[@]}")
    # A background job of a non-interactive shell leads no group, so setsid does not fork: $! is the leader.
    [[ ${server_group:-0} == 1 ]] && wrapper=(setsid "${wrapper[@]}")
    "${wrapper[@]}" "$@" 2>"$server_fifo" &
    server_pid=$!
    started+=("$server_pid")
    if [[ ${server_group:-0} == 1 ]]; then started_groups+=("$server_pid"); fi
    exec {server_err}<"$server_fifo"
}

# server_wait_line REGEX SECONDS: reads the launched server's stderr into $server_log until a line matches the
# extended REGEX (BASH_REMATCH then holds its groups, server_line the line). Returns 1, saying why, if the server
# closes its stderr (exits) or SECONDS pass first.
server_wait_line() {
    local regex=$1 deadline=$((SECONDS + $2)) line left
    while :; do
        left=$((deadline - SECONDS))
        if ((left <= 0)); then
            echo "no line matching '$regex' within $2 s (log: $server_log)" >&2
            return 1
        fi
        if ! IFS= read -r -t "$left" line <&"$server_err"; then
            echo "the server exited or went silent before a line matching '$regex' (log: $server_log)" >&2
            return 1
        fi
        printf '%s\n' "$line" >>"$server_log"
        [[ $line =~ $regex ]] && break
    done
    server_line=$line
}

# server_wait_ready [SECONDS]: waits for the ready line; sets server_port and server_master (the pid in the line's
# "master[PID]", or server_pid for a server that prints no such prefix, such as epoll-floor).
# shellcheck disable=SC2120  # SECONDS is optional: server_start passes none
server_wait_ready() {
    local seconds=${1:-${server_ready_timeout:-15}}
    server_wait_line 'ready: [0-9]+ workers? accepting on 127\.0\.0\.1:([0-9]+)' "$seconds" || return 1
    server_port=${BASH_REMATCH[1]}
    server_master=$server_pid
    [[ $server_line =~ master\[([0-9]+)\] ]] && server_master=${BASH_REMATCH[1]}
    return 0
}

# server_follow: from now on a background cat copies the server's stderr into $server_log, so a chatty server never
# blocks on a full pipe. Sets drain_pid (it ends by itself when every process holding the stderr has exited).
server_follow() {
    cat <&"$server_err" >>"$server_log" &
    drain_pid=$!
    started+=("$drain_pid")
    exec {server_err}<&-
}

# server_start BINARY [ARG...]: launches BINARY ARG... (default ARGs: --listen 127.0.0.1:0 --workers 2; port 0
# avoids collisions), waits for its ready line and follows its log. On failure says why and returns 1.
server_start() {
    local bin=$1
    shift
    (($#)) || set -- --listen 127.0.0.1:0 --workers 2
    server_launch "$bin" "$@"
    # shellcheck disable=SC2119  # the default timeout
    if ! server_wait_ready; then
        echo "$bin did not become ready" >&2
        return 1
    fi
    server_follow
}

# server_wait_log REGEX SECONDS [COUNT]: waits until at least COUNT (default 1) lines of $server_log match the
# extended REGEX (for events after readiness: "reload complete", "SIGUSR2: reaped"); returns 1 after SECONDS.
server_wait_log() {
    wait_until "$2" server_log_has "$1" "${3:-1}" && return 0
    echo "fewer than ${3:-1} line(s) matching '$1' in $server_log within $2 s (found $(server_log_count "$1"))" >&2
    return 1
}
server_log_count() { local n; n=$(grep -Ec -- "$1" "$server_log" 2>/dev/null || true); echo "${n:-0}"; }
server_log_has() { (($(server_log_count "$1") >= $2)); }

# server_wait_exit PID SECONDS: waits for a child that was signalled (a zombie counts as exited) and returns its
# exit status; after SECONDS it is SIGKILLed and the status is 124. A group leader (server_group, started_groups)
# has its whole group SIGKILLed before it is reaped, while its pid still names the group, and the wait goes on
# (10 s at most) until every process of the group is gone.
server_wait_exit() {
    local pid=$1 rc=0 p group=0 kept=() kept_groups=()
    if ! wait_until "$2" server_exited "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        rc=124
    fi
    for p in "${started_groups[@]}"; do
        if [[ $p == "$pid" ]]; then kill -KILL -- "-$pid" 2>/dev/null || true; group=1; else kept_groups+=("$p"); fi
    done
    # (2>/dev/null: bash's own "Killed" notice for a job that died of a signal; the status says it.)
    if ((rc == 0)); then wait "$pid" 2>/dev/null || rc=$?; else wait "$pid" 2>/dev/null || true; fi
    if ((group)); then wait_until 10 group_gone "$pid" || true; fi
    for p in "${started[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
    started=("${kept[@]}")  # reaped: the exit trap must not signal whoever gets the pid next
    started_groups=("${kept_groups[@]}")
    return "$rc"
}
server_exited() { local s; s=$(state_of "$1"); [[ $s == Z || $s == gone ]]; }

# server_drained [SECONDS]: waits (default 5 s, then ends it) for the log copy server_follow started, which ends once
# the server and all it forked have exited: then $server_log holds their last lines.
server_drained() { server_wait_exit "$drain_pid" "${1:-5}" || true; }

# server_stop SECONDS [SIGNAL]: sends SIGNAL (default TERM) to the master, $server_master, and waits up to SECONDS
# for the process server_launch started ($server_pid: the master, or the wrapper around it); sets server_status to
# its exit status (124: still running after SECONDS, then SIGKILLed). Returns 1 unless that status is 0.
server_stop() {
    kill -"${2:-TERM}" "$server_master"
    server_status=0
    server_wait_exit "$server_pid" "$1" || server_status=$?
    ((server_status == 0))
}

# state_of PID: the process's state letter (R, S, T, Z, ...) from /proc/PID/stat, "gone" once it has left the table.
state_of() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo gone; }
# children_of PID: its children's pids (a master's workers, zombies included) on one line, nothing if it is gone;
# not a master's exec helper (comm "echo-exec", R61), which serves no connection.
children_of() {
  local c out=()
  for c in $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
    [[ $(cat "/proc/$c/comm" 2>/dev/null) == echo-exec ]] || out+=("$c")
  done
  echo "${out[*]}"
}
# descendants_of PID: PID and every process below it, one per line, from one ps listing (a server that forks one
# process per connection may have 10,000 of them).
descendants_of() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { kids[$2] = kids[$2] " " $1 }
        END {
            queue[1] = root; n = 1
            for (i = 1; i <= n; i++) {
                print queue[i]
                split(kids[queue[i]], list, " ")
                for (k in list) queue[++n] = list[k]
            }
        }'
}

# wait_until_or_exit SECONDS PID COMMAND...: wait_until COMMAND succeeds, but gives up as soon as PID has exited
# (a server that died will never listen); returns COMMAND's status at the end.
wait_until_or_exit() {
    local seconds=$1 pid=$2
    shift 2
    wait_until "$seconds" done_or_exited "$pid" "$@" || true
    "$@"
}
done_or_exited() { local pid=$1; shift; "$@" || server_exited "$pid"; }

# port_listening PORT: a TCP socket listens on PORT (the readiness of a server that prints no ready line).
port_listening() { [[ -n $(ss -Hltn "sport = :$1") ]]; }
# free_port: prints a TCP port below the ephemeral range that no socket uses, TIME_WAIT included (a server without
# SO_REUSEADDR could not bind it); returns 1 when 200 random tries found none.
free_port() {
    local port i
    for ((i = 0; i < 200; i++)); do
        port=$((20000 + RANDOM % 12000))
        [[ -z $(ss -Htan "sport = :$port") ]] && { echo "$port"; return 0; }
    done
    return 1
}

# echo_load_path [BINARY]: the load generator to drive the server with: BINARY, by default build/echo-load of this
# checkout, else echo-load on PATH. Prints it; returns 1 when it is not an executable.
echo_load_path() {
    local bin=${1:-$(dirname "${BASH_SOURCE[0]}")/../../build/echo-load}
    [[ -n ${1:-} || -x $bin ]] || bin=$(command -v echo-load || true)
    [[ -n $bin && -x $bin ]] && echo "$bin"
}

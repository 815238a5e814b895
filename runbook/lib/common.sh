# common.sh: sourced first by every runbook script: its messages (usage, fail, skip), the tools it needs, its
# checks and their verdict, its work directory and the exit trap that kills what it started, and wait_until.
# shellcheck shell=bash disable=SC2034,SC2154  # sets and reads the sourcing script's variables by design
#
# The script may set synopsis (its usage line), poll_interval (wait.sh), keep_workdir and on_exit (make_workdir); it
# reads failures (the count of failed checks) and workdir, and adds to started the pids the exit trap is to kill (and
# to started_groups those that lead a process group the trap is to kill whole).

# shellcheck source=runbook/lib/wait.sh
source "$(dirname "${BASH_SOURCE[0]}")/wait.sh"

me=${0##*/}  # every message starts with the script's name: "lifecycle: ..."
me=${me%.sh}

usage() {  # usage MESSAGE: exit status 2
    echo "$me: $1 (usage: $synopsis)" >&2
    exit 2
}
fail() {  # fail MESSAGE...: exit status 1
    echo "$me: $*" >&2
    exit 1
}
skip() {  # skip REASON...: exit status 77, which ctest reports as skipped
    echo "$me: SKIPPED: $*"
    exit 77
}
need_executable() { [[ -x $1 ]] || fail "$1 is not an executable"; }
# need TOOL...: fails, naming the first TOOL that is not installed; skip_without TOOL...: skips instead.
need() { local tool; tool=$(not_installed "$@") || fail "$tool is not installed (tools/install-deps.sh installs it)"; }
skip_without() { local tool; tool=$(not_installed "$@") || skip "$tool is not installed (tools/install-deps.sh installs it)"; }
not_installed() {
    local tool
    for tool in "$@"; do command -v "$tool" >/dev/null || { echo "$tool"; return 1; }; done
}

# check DESCRIPTION COMMAND...: one fact the RUNBOOK states: "  ok: DESCRIPTION" when COMMAND succeeds, else
# "  WRONG: DESCRIPTION" on stderr and one more in $failures.
failures=0
check() {
    local what=$1
    shift
    if "$@"; then
        echo "  ok: $what"
    else
        echo "  WRONG: $what" >&2
        failures=$((failures + 1))
    fi
}

# verdict WHAT MESSAGE: the last line. "NAME: N WHAT" on stderr and exit 1 if a check failed, else "NAME: MESSAGE".
verdict() {
    if ((failures)); then
        echo "$me: $failures $1" >&2
        exit 1
    fi
    echo "$me: $2"
}

# make_workdir: sets workdir to a new mktemp -d directory, removed on exit (or to $keep_workdir if the script set it:
# created if needed, and kept), and sets the exit trap, which SIGINT and SIGTERM reach too: it runs on_exit if the
# script defines it, then SIGKILLs every process group in $started_groups (by its id, the leader's pid: it reaches
# what the leader forked, reparented or not) and every pid in $started (the servers, log copies and tracers the
# script started; lib/server.sh adds its own), and waits.
started=()
started_groups=()
make_workdir() {
    if [[ -n ${keep_workdir:-} ]]; then
        mkdir -p "$keep_workdir"
        workdir=$(cd "$keep_workdir" && pwd)
    else
        workdir=$(mktemp -d)
    fi
    trap exit_cleanup EXIT
    trap 'exit 130' INT TERM
}
# shellcheck disable=SC2317  # called through the trap
exit_cleanup() {
    local p
    if declare -F on_exit >/dev/null; then on_exit; fi
    for p in "${started_groups[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
    for p in "${started[@]}"; do
        kill -CONT "$p" 2>/dev/null || true  # first, for a master left stopped (lifecycle.sh)
        kill -KILL "$p" 2>/dev/null || true
    done
    # Bounded: every one was just SIGKILLed (a pid that is not this shell's child returns at once).
    ((${#started[@]} == 0)) || wait "${started[@]}" 2>/dev/null || true
    for p in "${started_groups[@]}"; do wait_until 5 group_gone "$p" || true; done
    [[ -n ${keep_workdir:-} ]] || rm -rf "$workdir"
}

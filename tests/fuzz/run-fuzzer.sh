#!/usr/bin/env bash
# run-fuzzer.sh: one fuzz.* ctest: replays the seed corpus, then fuzzes for SECONDS from a scratch copy of it.
# Usage: run-fuzzer.sh FUZZER CORPUS_DIR WORK_DIR SECONDS
# libFuzzer writes new inputs into its first corpus directory, so that is WORK_DIR/corpus, never the
# repository's. A crash leaves WORK_DIR/crash-* (docs/FUZZING.md "Reproducing a crash"); the last line
# printed is the run's figures: executions per second and coverage.
set -euo pipefail
if (($# != 4)); then
    echo "usage: run-fuzzer.sh FUZZER CORPUS_DIR WORK_DIR SECONDS" >&2
    exit 2
fi
fuzzer=$1 seeds=$2 work=$3 seconds=$4
[[ -x $fuzzer ]] || { echo "run-fuzzer.sh: $fuzzer is not an executable" >&2; exit 2; }
[[ -d $seeds ]] || { echo "run-fuzzer.sh: $seeds is not a directory" >&2; exit 2; }
[[ $seconds =~ ^[0-9]+$ ]] || { echo "run-fuzzer.sh: SECONDS must be a whole number, not '$seconds'" >&2; exit 2; }

rm -rf "$work"
mkdir -p "$work/corpus"
cp -- "$seeds"/* "$work/corpus/"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# -timeout: one input running a second is a hang (the parsers and one connection's script take microseconds).
# -rss_limit_mb: the config file is capped at 16 MiB, far below it. -max_len: long enough for a config file of
# several settings or a connection's script of hundreds of steps.
common=(-timeout=5 -rss_limit_mb=2048 -max_len=4096 -artifact_prefix="$work/" -print_final_stats=1)

# Every seed (and every regression input kept in the corpus) first, on its own: a known crash fails here
# whatever the fuzzing then finds.
"$fuzzer" "${common[@]}" -runs=0 "$seeds" >"$work/replay.log" 2>&1 || {
    cat "$work/replay.log" >&2
    echo "run-fuzzer.sh: a seed or regression input of $seeds fails" >&2
    exit 1
}

status=0
"$fuzzer" "${common[@]}" -max_total_time="$seconds" -print_pcs=0 "$work/corpus" >"$work/fuzz.log" 2>&1 ||
    status=$?
if ((status != 0)); then
    tail -n 60 "$work/fuzz.log" >&2
    echo "run-fuzzer.sh: $(basename "$fuzzer") failed (status $status); inputs: $(ls "$work" | grep -E '^(crash|leak|timeout|oom)-' | tr '\n' ' ')" >&2
    exit 1
fi
# libFuzzer's last status line ("#N DONE cov: C ft: F corp: ... exec/s: E ...") and its final stats.
done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/fuzz.log" | tail -n 1 || true)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log")
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$done_line")
echo "$(basename "$fuzzer"): ${seconds} s, ${execs:-?} executions, ${rate:-?} exec/s, cov ${cov:-?} edges, ft ${ft:-?}, corpus ${corp:-?} inputs"

#!/usr/bin/env bash
# Installs what is missing, builds the project twice (optimised, then ASan+UBSan) and runs the whole test
# suite through ctest in each, then the fuzzers (a third, clang build of only them), then builds the
# configuration matrix (tools/build-matrix.sh). Warnings are errors in all of them. The README's test command
# and CI's entry point.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh

run_suite() {  # run_suite BUILD_DIR LABEL_EXCLUDE CMAKE_ARGS...
    local dir=$1 exclude=$2
    shift 2
    echo "=== $dir: configure and build"
    cmake -S . -B "$dir" -G Ninja -DECHO_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j "$(nproc)"
    echo "=== $dir: test"
    local args=(--test-dir "$dir" --output-on-failure -j 2 --timeout 900)
    [[ -n $exclude ]] && args+=(-LE "$exclude")
    ctest "${args[@]}"
}

run_suite build "" -DCMAKE_BUILD_TYPE=RelWithDebInfo
# Sanitizers slow everything down several times: the real-systemd container test, the fleet behind HAProxy and
# the benchmark smoke test add nothing there that the optimised run has not shown (they exercise units,
# deployment and timing, not memory).
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan "systemd|fleet|bench|soak" -DCMAKE_BUILD_TYPE=Debug -DECHO_SANITIZE=ON

# The libFuzzer targets (R95, docs/FUZZING.md), ASan+UBSan built in: only they are built in build-fuzz, and only
# their ctests (label fuzz) run, each for ECHO_FUZZ_SECONDS (30 s) from a scratch copy of its corpus.
echo "=== build-fuzz: configure and build the fuzzers"
cmake -S . -B build-fuzz -G Ninja -DECHO_WERROR=ON -DCMAKE_CXX_COMPILER=clang++ -DECHO_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzz-all
echo "=== build-fuzz: fuzz"
# -V: each prints one line of figures (executions per second, coverage); on failure, libFuzzer's report.
ctest --test-dir build-fuzz --output-on-failure -V -j 2 -L fuzz

# The other configurations users and packagers build (R70), each warnings-clean and with its unit tests passing.
# RelWithDebInfo with GCC is left out: it is the first suite's build above, flag for flag.
echo "=== build matrix: release debug clang debian (tools/build-matrix.sh)"
tools/build-matrix.sh release debug clang debian

#!/usr/bin/env bash
# Installs what is missing, builds the project twice (optimised, then ASan+UBSan) and runs the whole test
# suite through ctest in each. The README's test command and CI's entry point.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh

run_suite() {  # run_suite BUILD_DIR LABEL_EXCLUDE CMAKE_ARGS...
    local dir=$1 exclude=$2
    shift 2
    echo "=== $dir: configure and build"
    cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
    cmake --build "$dir" -j "$(nproc)"
    echo "=== $dir: test"
    local args=(--test-dir "$dir" --output-on-failure -j 2 --timeout 900)
    [[ -n $exclude ]] && args+=(-LE "$exclude")
    ctest "${args[@]}"
}

run_suite build "" -DCMAKE_BUILD_TYPE=RelWithDebInfo
# Sanitizers slow everything down several times: the real-systemd container test and the benchmark smoke
# test add nothing there that the optimised run has not shown (they exercise units and timing, not memory).
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan "systemd|bench" -DCMAKE_BUILD_TYPE=Debug -DECHO_SANITIZE=ON

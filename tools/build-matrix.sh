#!/usr/bin/env bash
# build-matrix.sh [CONFIG...]: builds the configurations users and packagers pick, each with warnings as errors
# (-DECHO_WERROR=ON) in its own directory under build-matrix/, and runs each one's unit tests, so that a warning
# or a miscompile (at -O3, say) in any of them fails. With no argument, all of them:
#
#   release         GCC, CMAKE_BUILD_TYPE=Release (-O3)
#   debug           GCC, Debug (-g, unoptimised)
#   relwithdebinfo  GCC, RelWithDebInfo (-O2 -g), the default build type
#   clang           clang, RelWithDebInfo
#   debian          GCC with Debian's flags, dpkg-buildflags with DEB_BUILD_MAINT_OPTIONS=hardening=+all, and
#                   CMAKE_BUILD_TYPE=None, as debhelper builds a package
#
# Only the server and its tests are built (echo-hardened, echo-load, unit-tests, integration-tests), to keep
# CI's time: the rest is test tooling (fault-tests, epoll-floor, echo-load's unit tests) that the two suites
# of tools/test.sh build with warnings as errors anyway. Prints one line per configuration: its
# result, wall time and CPU time; a failure also prints its errors (log: build-matrix/CONFIG/matrix.log).
# Exit status: 0 all built and passed, 1 any failed, 2 usage. ECHO_MATRIX_JOBS sets the build's -j (default 2).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

all=(release debug relwithdebinfo clang debian)
targets=(echo-hardened echo-load unit-tests integration-tests)
jobs=${ECHO_MATRIX_JOBS:-2}

configs=("$@")
((${#configs[@]})) || configs=("${all[@]}")
for c in "${configs[@]}"; do
    [[ " ${all[*]} " == *" $c "* ]] || { (IFS='|'; echo "usage: $0 [${all[*]}]..." >&2); exit 2; }
done

configure() {  # configure CONFIG DIR: cmake for that configuration, in a subshell so its flags stay there
    local config=$1 dir=$2
    local args=(-S . -B "$dir" -G Ninja -DECHO_WERROR=ON)
    case $config in
        release) args+=(-DCMAKE_BUILD_TYPE=Release) ;;
        debug) args+=(-DCMAKE_BUILD_TYPE=Debug) ;;
        relwithdebinfo) args+=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
        clang) args+=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++) ;;
        debian)
            # CMake takes CXXFLAGS and LDFLAGS from the environment; it has no CPPFLAGS, so those join CXXFLAGS.
            eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
            # shellcheck disable=SC2153  # CPPFLAGS comes from the eval
            export CXXFLAGS="$CPPFLAGS $CXXFLAGS"
            args+=(-DCMAKE_BUILD_TYPE=None)
            ;;
    esac
    echo "+ CXXFLAGS='${CXXFLAGS:-}' LDFLAGS='${LDFLAGS:-}' cmake ${args[*]}"
    cmake "${args[@]}"
}

run_config() {  # run_config CONFIG DIR: configure, build, unit tests; output to the log
    local config=$1 dir=$2
    # A fresh cache each time, so the flags are the ones above (CMake reads CXXFLAGS only into a new cache);
    # object files stay and are rebuilt only where the command line changed.
    rm -f "$dir/CMakeCache.txt"
    (configure "$config" "$dir") || return 1
    cmake --build "$dir" -j "$jobs" --target "${targets[@]}" -- -k 0 || return 1  # every error, not the first
    echo "+ ./unit-tests"
    (cd "$dir" && timeout 300 ./unit-tests) || return 1
}

failed=0
for config in "${configs[@]}"; do
    dir=build-matrix/$config
    mkdir -p "$dir"
    # Wall time, and CPU time (user + system of the compilers): on a busy machine the second says more.
    TIMEFORMAT='%0R %0U %0S'
    if { time run_config "$config" "$dir" >"$dir/matrix.log" 2>&1; } 2>"$dir/matrix.time"; then
        result=ok
    else
        result=FAILED
        failed=1
    fi
    read -r wall user sys <"$dir/matrix.time"
    cpu=$((user + sys))
    printf 'build-matrix: %-15s %-6s %dm%02ds (CPU %dm%02ds)\n' "$config" "$result" \
        $((wall / 60)) $((wall % 60)) $((cpu / 60)) $((cpu % 60))
    if [[ $result == FAILED ]]; then
        grep -E 'error:|warning:|FAILED:' "$dir/matrix.log" | head -20 | cut -c1-300 | sed 's/^/    /'
        tail -n 5 "$dir/matrix.log" | sed 's/^/    /'
        echo "    (full log: $dir/matrix.log)"
    fi
done
exit "$failed"

#!/usr/bin/env bash
# ctest bench.quick: run-bench.sh's smoke run with --plot, then checks of its progress lines, data files and charts.
#
# Usage: quick-test.sh DIR [RUN-BENCH OPTIONS...]: the charts go to DIR (emptied first), the options to
# run-bench.sh --quick. Checks that --plot refuses a missing gnuplot and a directory it cannot create in one line
# before any peer starts; that the run announces each of its 10 runs (round, workload, peer, time left); that the
# TSV files hold one row per workload (and percentile) and a column per peer; that the PNGs have PNG's signature and
# an IHDR chunk with a non-zero size; that the SVGs are well-formed XML with, for each peer, a bar per workload.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=runbook/lib/common.sh
source "$repo/runbook/lib/common.sh"
synopsis="quick-test.sh DIR [RUN-BENCH OPTIONS...]"
(($# >= 1)) || usage "DIR is missing"
dir=$1
shift
need xmllint od
bench=("$repo/bench/run-bench.sh" --quick "$@")
peers=(echo-hardened epoll-floor)  # --quick's
workloads=4                        # throughput: pp1, pp100, stream, connrate
latency_workloads=3                # pp1, pp100, connrate; four percentiles each
make_workdir

# --- --plot's refusals: one line on stderr, exit 1, and no benchmark output (nothing was started) --------------
refuses() {  # WHAT GNUPLOT ARGS...: run-bench.sh exits 1, one line on stderr naming WHAT, nothing on stdout
    local what=$1 gnuplot=$2 rc=0
    shift 2
    GNUPLOT=$gnuplot bash "${bench[@]}" "$@" >"$workdir/refused.out" 2>"$workdir/refused.err" </dev/null || rc=$?
    ((rc == 1)) && [[ ! -s $workdir/refused.out ]] && (($(wc -l <"$workdir/refused.err") == 1)) &&
        grep -q -- "$what" "$workdir/refused.err"
}
check "--plot without gnuplot: one line, exit 1, before any run" \
    refuses "gnuplot-nox" "$workdir/no-such-gnuplot" --plot "$workdir/charts"
: >"$workdir/a-file"
check "--plot DIR that cannot be created: one line, exit 1, before any run" \
    refuses "cannot create" "${GNUPLOT:-gnuplot}" --plot "$workdir/a-file/charts"

# --- The smoke run -----------------------------------------------------------------------------------------------
rm -rf -- "$dir"
rc=0
bash "${bench[@]}" --plot "$dir" 2>"$workdir/bench.err" || rc=$?
cat "$workdir/bench.err" >&2
check "run-bench.sh --quick --plot exits 0 (got $rc)" test "$rc" -eq 0

announced() {  # every run announced in order: "round 1 of 1: WORKLOAD on PEER (run K of 10), about MmSSs left"
    local expect=() wl peer k=0
    for wl in pp1 pp100 stream connrate hold; do
        for peer in "${peers[@]}"; do
            k=$((k + 1))
            expect+=("run-bench: round 1 of 1: $wl on $peer (run $k of 10), about ")
        done
    done
    mapfile -t got < <(grep -E '^run-bench: round [0-9]+ of [0-9]+: .* left$' "$workdir/bench.err" |
        sed -E 's/[0-9]+m[0-9]{2}s left$//')
    [[ "${got[*]}" == "${expect[*]}" ]]
}
check "progress: each of the 10 runs announced with round, workload, peer and time left" announced

# --- The data files ------------------------------------------------------------------------------------------------
table_ok() {  # FILE ROWS MIN: header "<2 names> PEERS", ROWS data rows, every peer cell a number >= MIN
    local file=$1 rows=$2 min=$3
    [[ -f $file ]] || return 1
    awk -F'\t' -v rows="$rows" -v min="$min" -v peers="${peers[*]}" '
        /^#/ { next }
        !header { header = 1; n = split(peers, p, " "); if (NF != n + 2) exit 1
                  for (i = 1; i <= n; i++) if ($(i + 2) != p[i]) exit 1
                  next }
        { data++; for (i = 3; i <= NF; i++) if ($i !~ /^[0-9.e+-]+$/ || $i + 0 < min) exit 1 }
        END { exit !(header && data == rows) }' "$file"
}
check "throughput.tsv: a row per workload, a ratio per peer" table_ok "$dir/throughput.tsv" "$workloads" 0.000001
floor_is_one() {  # throughput.tsv's epoll-floor column holds 1 in every row
    awk -F'\t' '/^#/ { next }
        !c { for (i = 1; i <= NF; i++) if ($i == "epoll-floor") c = i; if (!c) exit 1; next }
        $c != 1 { exit 1 }' "$dir/throughput.tsv"
}
check "throughput.tsv: epoll-floor's ratio is 1" floor_is_one
check "latency.tsv: four percentiles per workload, a latency per peer" \
    table_ok "$dir/latency.tsv" $((latency_workloads * 4)) 0.000001
check "results.tsv: 19 figures per peer" \
    test "$(grep -cvE $'^(#|peer\t)' "$dir/results.tsv")" -eq $((19 * ${#peers[@]}))

# --- The charts ----------------------------------------------------------------------------------------------------
png_ok() {  # FILE: PNG's 8-byte signature, then the IHDR chunk first, with a width and a height that are not 0
    local head
    head=$(od -An -tx1 -N24 "$1" | tr -d ' \n')
    [[ ${head:0:16} == 89504e470d0a1a0a && ${head:24:8} == 49484452 ]] &&
        ((16#${head:32:8} > 0 && 16#${head:40:8} > 0))
}
bars() {  # SVG PEER: the filled boxes in the plots gnuplot titled PEER (its bars, and its sample in the key)
    xmllint --xpath "count(//*[local-name()='g'][*[local-name()='title']='$2']//*[local-name()='polygon'])" "$1"
}
svg_ok() {  # FILE: well-formed XML whose root element is svg
    xmllint --noout "$1" && [[ $(xmllint --xpath "local-name(/*)" "$1") == svg ]]
}
for chart in throughput latency; do
    check "$chart.png: PNG signature and IHDR" png_ok "$dir/$chart.png"
    check "$chart.svg: well-formed SVG" svg_ok "$dir/$chart.svg"
done
for peer in "${peers[@]}"; do
    check "throughput.svg: $peer has a bar per workload" \
        test "$(bars "$dir/throughput.svg" "$peer")" -eq $((workloads + 1))
    check "latency.svg: $peer has a bar per percentile and workload" \
        test "$(bars "$dir/latency.svg" "$peer")" -eq $((latency_workloads * 4 + 1))
done

verdict "checks failed" "ok: the smoke run, its progress lines and its charts in $dir"

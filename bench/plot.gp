# plot.gp: draws run-bench.sh's medians (DIR/throughput.tsv, DIR/latency.tsv) as DIR/{throughput,latency}.{png,svg}.
#
# Usage: gnuplot -c bench/plot.gp DIR [SUBTITLE]   (run-bench.sh --plot DIR runs it; rerun it on edited data)
# Both files are tab-separated, '#' lines are comments, and a header line names the peers from column 3 on:
#   throughput.tsv  workload, measure, then each peer's median divided by epoll-floor's: one row per workload
#   latency.tsv     workload, percentile, then each peer's median latency in us: four rows per workload, for
#                   p50, p90, p99 and p99.9 in that order
# A missing figure is NaN: its bar is left out and the others keep their places.

if (ARGC < 1) { print "plot.gp: usage: gnuplot -c plot.gp DIR [SUBTITLE]"; exit status 2 }
dir = ARG1
subtitle = ARGC >= 2 ? ARG2 : ""
throughput = dir."/throughput.tsv"
latency = dir."/latency.tsv"

set datafile separator "\t"
set datafile commentschars "#"
set datafile columnheaders  # for stats and for every plot, the untitled ones too
set encoding utf8

# ---------------------------------------------------------------------------------------------------------------
# The data's shape and ranges, read before any range is set (stats obeys them). stats leaves its variables
# undefined when it finds no number at all (a file of a header only, a peer without figures), hence has().

has(records) = exists(records) ? value(records) > 0 : 0
stats throughput using 0 nooutput
if (!has("STATS_records") || STATS_columns < 3) {
    print "plot.gp: ".throughput." has no peer or no workload"
    exit status 1
}
peers = STATS_columns - 2
workloads = STATS_records
stats latency using 0 nooutput
if (!has("STATS_records") || STATS_records < 4) { print "plot.gp: ".latency." has no workload"; exit status 1 }
panels = int(STATS_records / 4)

ratio_max = 1
lat_min = 1e300
lat_max = 0
do for [j = 1:peers] {
    stats throughput using (column(j + 2)) nooutput
    if (has("STATS_records")) { ratio_max = STATS_max > ratio_max ? STATS_max : ratio_max }
    stats latency using (column(j + 2)) nooutput
    if (has("STATS_records")) {
        lat_min = STATS_min > 0 && STATS_min < lat_min ? STATS_min : lat_min
        lat_max = STATS_max > lat_max ? STATS_max : lat_max
    }
}
# Whole decades, one range for every latency panel, so that the panels compare at a glance.
if (lat_max <= 0) { lat_min = 1; lat_max = 10 }
lat_low = 10 ** floor(log10(lat_min))
lat_high = 10 ** ceil(log10(lat_max * 1.01))

# The peers' names (columnhead() gives them only inside a title); each keeps its colour in both charts, whatever
# --peers selected.
array peer[peers]
do for [j = 1:peers] { peer[j] = system(sprintf("awk -F'\t' '!/^#/ { print $%d; exit }' '%s'", j + 2, throughput)) }
peer_color(name) = name eq "echo-hardened" ? 0x1f77b4 : name eq "epoll-floor" ? 0x7f7f7f : \
    name eq "socat" ? 0xff7f0e : name eq "xinetd" ? 0x2ca02c : name eq "ncat" ? 0xd62728 : 0x9467bd

# Grouped bars drawn as boxes at computed places (not the histogram style), so that a NaN leaves a gap.
gap = 0.2                  # between groups, in units of one group
bar = (1.0 - gap) / peers  # one bar's width
xpos(group, j) = group + (j - (peers + 1) / 2.0) * bar
title_with(head) = head.(subtitle ne "" ? "\n{/*0.8 ".subtitle."}" : "")

set style fill solid 0.85 border rgb "#333333"
set boxwidth bar absolute
set grid ytics lc rgb "#dddddd"
set border 3
set tics nomirror
set key noenhanced Left reverse samplen 1.5

# Each chart is drawn once per terminal; the SVG's <title> (its name) says which chart it is.
terminal_png = 'pngcairo size 1080,480 font "DejaVu Sans,10" background rgb "white"'
terminal_svg = 'svg size 1080,480 dynamic font "DejaVu Sans,12" background rgb "white"'

do for [ext in "png svg"] {
    # (1) Throughput: a group per workload, a bar per peer with its ratio above it, the floor's 1.0 dashed.
    if (ext eq "svg") { set terminal @terminal_svg name "throughput" } else { set terminal @terminal_png }
    set output dir."/throughput.".ext
    set title title_with("Throughput relative to the epoll floor (medians over the rounds; higher is better)") enhanced
    set key outside right top vertical
    set lmargin 10
    set bmargin 4  # the workload labels take two lines
    set xrange [-0.6:workloads - 0.4]
    set yrange [0:ratio_max * 1.12]
    set format y "%.1f"
    set ylabel "ratio to epoll-floor"
    set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.5 lc rgb "#555555" back
    plot throughput using ($0):(NaN):xtic(strcol(1)."\n".strcol(2)) with boxes notitle, \
         for [j = 1:peers] throughput using (xpos($0, j)):(column(j + 2)) \
             with boxes lc rgb peer_color(peer[j]) title columnhead(j + 2), \
         for [j = 1:peers] throughput using (xpos($0, j)):(column(j + 2)):(sprintf("%.2f", column(j + 2))) \
             with labels offset 0, 0.6 font ",8" notitle
    unset arrow 1

    # (2) Latency: a panel per workload, a group per percentile, a bar per peer; a log scale in us.
    if (ext eq "svg") { set terminal @terminal_svg name "latency" } else { set terminal @terminal_png }
    set output dir."/latency.".ext
    set lmargin
    set bmargin
    set multiplot layout 1, panels margins 0.08, 0.84, 0.1, 0.84 spacing 0.05, 0 \
        title title_with("Latency percentiles (medians over the rounds; log scale; lower is better)") enhanced
    set logscale y 10
    set ytics ("1 µs" 1, "10 µs" 10, "100 µs" 100, "1 ms" 1e3, "10 ms" 1e4, "100 ms" 1e5, "1 s" 1e6, \
               "10 s" 1e7, "100 s" 1e8)
    set xrange [-0.6:3.6]
    set yrange [lat_low * 0.999:lat_high * 1.001]  # a hair beyond the decades, so that both keep their labels
    do for [k = 0:panels - 1] {
        first = 4 * k
        wl = system(sprintf("awk -F'\t' '!/^#/ && n++ == %d { print $1; exit }' '%s'", first + 1, latency))
        set title wl noenhanced
        if (k == 0) { set ylabel "latency" } else { set ylabel "" }
        if (k == panels - 1) { set key at screen 0.86, 0.84 left top } else { unset key }
        plot latency every ::first::first + 3 using ($0):(NaN):xtic(2) with boxes notitle, \
             for [j = 1:peers] latency every ::first::first + 3 using (xpos($0, j)):(column(j + 2)) \
                 with boxes lc rgb peer_color(peer[j]) title columnhead(j + 2)
    }
    unset multiplot
    unset logscale y
    set ytics autofreq
    set output
}

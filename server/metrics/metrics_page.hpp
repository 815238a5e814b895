// metrics_page.hpp: the metrics page: every echo_hardened_* and process_* series, from one board snapshot.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>

#include "metrics/process_stats.hpp"
#include "worker/figures.hpp"

namespace echo {

// How the page gets a process's /proc figures: read_process_stats, or a fake in the unit tests.
using StatsReader = std::function<std::optional<ProcessStats>(pid_t)>;

// The whole page in the text format 0.0.4. docs/METRICS.md lists every series; a change here changes it.
// `self` is the metrics process's own pid.
std::string render_metrics_page(const BoardSnapshot& board, pid_t self, const StatsReader& stats);

}  // namespace echo

// metrics_process.hpp: the metrics process: serves the metrics page over HTTP from the shared board.
#pragma once

#include <sys/types.h>

#include "base/unique_fd.hpp"
#include "config/config.hpp"
#include "worker/load_board.hpp"

namespace echo {

// What the master hands it at the fork.
struct MetricsStart {
    int listen_fd = -1;  // --metrics-listen, or the socket systemd passed as "metrics"
    const LoadBoard* board = nullptr;
    pid_t master_pid = 0;
    SeccompMode seccomp = SeccompMode::Enforce;
    UniqueFd channel;  // kept open for its whole life: its hang-up tells the master it has gone
};

// Runs in the child right after fork(). A process of its own so that no metrics client can stall or crash
// the master or a worker (RUNBOOK.md "Metrics"): it maps the board read-only, owns no client of the echo
// service, and runs libmicrohttpd from its own epoll loop under a filter of its own. Returns its exit status.
int run_metrics(MetricsStart start);

}  // namespace echo

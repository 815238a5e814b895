// worker.hpp: a worker process's life: from the fork to its exit status.
#pragma once

#include <sys/types.h>

#include <vector>

#include "base/unique_fd.hpp"
#include "config/config.hpp"

namespace echo {

struct WorkerSetup {
    unsigned slot = 0;
    Config config;
    std::vector<int> listen_fds;  // borrowed from the master's listeners, shared by every worker
    UniqueFd channel;             // the worker's end of its report channel to the master
    pid_t master_pid = 0;
};

// Runs in the child right after fork(): resets what it inherited, serves until told to stop, and returns the
// worker's exit status (see exit_codes.hpp). The caller passes it to _exit().
int run_worker(WorkerSetup setup);

}  // namespace echo

// spawn.hpp: forking one worker with its report channel.
#pragma once

#include <sys/types.h>

#include <vector>

#include "base/unique_fd.hpp"
#include "config/config.hpp"

namespace echo {

struct SpawnedWorker {
    pid_t pid = -1;
    UniqueFd channel;  // the master's end; readable when the worker reports, HUP when it is gone
    int error = 0;     // errno of socketpair() or fork() when pid is -1 (EAGAIN: RLIMIT_NPROC, pids.max)
};

// The child never returns from this call: it runs the worker and _exit()s (no atexit handlers, no stdio
// flush, no destructors of the master's objects run twice).
SpawnedWorker spawn_worker(unsigned slot, const Config& config, const std::vector<int>& listen_fds);

}  // namespace echo

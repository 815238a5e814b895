// worker.hpp: a worker process's life, from the fork to its exit status, and the settings it runs with.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "base/clock.hpp"
#include "base/unique_fd.hpp"
#include "config/config.hpp"
#include "worker/load_board.hpp"

namespace echo {

// What a worker uses, and nothing else: the master's configuration holds much a worker has no business with
// (listen addresses, worker counts, the config file). Taken from the configuration current at its fork.
struct WorkerSettings {
    unsigned max_connections = 0;
    Duration idle_timeout{};  // 0: never
    Duration drain_timeout{};
    Duration heartbeat_interval{};  // how often it reports to the master
    std::size_t buffer_size = 0;    // per-connection cap on bytes read and not yet echoed
    Duration lifetime{};            // zombie demonstration: exit after this long; 0: until told to stop
    Duration proxy_timeout{};       // for a PROXY header to be complete (R90); 0: no limit of its own
    SeccompMode seccomp = SeccompMode::Enforce;
    // Under systemd with --fd-store: a stop sends each connection, once everything read from it is echoed, to
    // the master for systemd's file descriptor store instead of closing it (R62).
    bool park_on_stop = false;
    bool landlock = false;  // the master dropped root under Landlock: the worker narrows it to nothing (R99)
};

// `seccomp` is passed apart from `config`: it is fixed when the master's filter is loaded, and a reload that
// changes the configuration must not change it.
WorkerSettings worker_settings(const Config& config, SeccompMode seccomp);

// Who this worker is and what it was handed at its fork.
struct WorkerStart {
    unsigned slot = 0;
    unsigned generation = 0;      // of the configuration it was started with (its journal records say it)
    UniqueFd channel;             // its end of the report channel to the master
    pid_t master_pid = 0;         // to notice a master that died before PR_SET_PDEATHSIG was set
    std::vector<int> listen_fds;  // borrowed from the master's listeners, shared by every worker
    // Where it publishes its connection count and reads the others' (balance.hpp); null or no entry: it
    // accepts without balancing.
    LoadBoard* board = nullptr;
    std::optional<std::uint32_t> load_entry;
    std::vector<int> proxy_listen_fds;  // those of listen_fds that expect a PROXY header (R90)
};

// Runs in the child right after fork(): resets what it inherited, serves until told to stop, and returns the
// worker's exit status (see exit_codes.hpp).
int run_worker(const WorkerSettings& settings, WorkerStart start);

}  // namespace echo

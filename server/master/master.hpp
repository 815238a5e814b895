// master.hpp: the master process: supervises workers from one epoll loop over a signalfd, a timerfd and the
// workers' report channels.
#pragma once

#include <functional>

#include "base/unique_fd.hpp"
#include "config/config.hpp"
#include "master/metrics_keeper.hpp"
#include "os/exec_helper.hpp"
#include "os/listener.hpp"
#include "os/oom_kills.hpp"
#include "os/oom_score.hpp"
#include "os/signals.hpp"
#include "worker/load_board.hpp"

namespace echo {

// Every signal the master handles. main() blocks them before anything forks (R10) and keeps them blocked
// for the life of the process: they are only ever read from the signalfd.
sigset_t master_signals();

// The worker's whole life, as main() binds it: given the configuration current at the fork, its slot, the
// configuration generation it belongs to and its end of the report channel, returns its exit status. The
// master forks; it does not know what a worker does (nginx's ngx_spawn_process takes the child's body the
// same way). `load_entry` is its entry of the shared LoadBoard, claimed by the master for this process.
using WorkerBody = std::function<int(const Config& config, unsigned slot, unsigned generation,
                                     std::optional<std::uint32_t> load_entry, UniqueFd channel)>;

// Re-reads the configuration from where main() first read it (command line, environment, config file).
using ConfigReload = std::function<ParsedConfig()>;

struct MasterSetup {
    Config config;
    Listeners listeners;
    WorkerBody worker_body;
    LoadBoard* board = nullptr;  // the master claims and frees the workers' entries; null: no balancing
    ConfigReload reload;
    MetricsBody metrics_body;  // empty: no metrics process (no --metrics-listen, no "metrics" socket)
    // Both opened before the master's seccomp filter (docs/MEMORY.md): the children's higher OOM score, and
    // the count that tells an OOM kill from another SIGKILL.
    OomScore oom_score;
    OomKillCounter oom_kills;
    // Binary upgrade (R61, docs/UPGRADE.md): the helper that can start a new binary (not running: no
    // upgrades), and, in a master started by an upgrade, its channel to the master it replaces.
    ExecHelper exec_helper;
    UniqueFd predecessor;
};

// Runs until the workers are gone after a stop; returns the master's exit status (exit_codes.hpp).
int run_master(MasterSetup setup);

}  // namespace echo

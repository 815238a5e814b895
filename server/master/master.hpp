// master.hpp: the master process: supervises workers from one epoll loop over a signalfd, a timerfd and the
// workers' report channels.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"
#include "os/listener.hpp"
#include "os/signals.hpp"

namespace echo {

// Every signal the master handles. main() blocks them before anything forks (R10) and keeps them blocked
// for the life of the process: they are only ever read from the signalfd.
sigset_t master_signals();

struct MasterSetup {
    Config config;
    std::vector<std::string> args;  // the command line, parsed again on SIGHUP with the config file
    unsigned default_workers = 1;
    Listeners listeners;
};

// Runs until the workers are gone after a stop; returns the master's exit status (exit_codes.hpp).
int run_master(MasterSetup setup);

}  // namespace echo

// main.cpp: parse the configuration, check the limits, block the signals, open the listeners, run the master.
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "base/exit_codes.hpp"
#include "base/log.hpp"
#include "config/config.hpp"
#include "master/master.hpp"
#include "os/listener.hpp"
#include "os/rlimits.hpp"
#include "os/seccomp_filter.hpp"
#include "os/signals.hpp"
#include "version.hpp"

namespace {

// CPUs this process may run on (affinity, cpusets), not merely the CPUs the machine has.
unsigned usable_cpus() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return static_cast<unsigned>(CPU_COUNT(&set));
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<unsigned>(n) : 1;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace echo;
    std::vector<std::string> args(argv + 1, argv + argc);
    unsigned cpus = usable_cpus();
    ParsedConfig parsed = parse_config(args, process_environment(), cpus);
    if (!parsed.error.empty()) {
        std::fprintf(stderr, "echo-hardened: %s\n", parsed.error.c_str());
        return kExitUsage;
    }
    if (parsed.action == CliAction::Help) {
        std::fputs(usage_text().c_str(), stdout);
        return kExitOk;
    }
    if (parsed.action == CliAction::Version) {
        std::printf("echo-hardened %s\n", kVersion);
        return kExitOk;
    }
    Config& config = parsed.config;
    setup_logging("master", config.log_level);

    // Blocked before anything can fork and for the whole life of the master: every signal it handles is read
    // from the signalfd, never delivered to a handler (R10).
    ScopedSignalBlock blocked(master_signals());
    signal(SIGPIPE,
           SIG_IGN);  // a write to a vanished notify socket or stderr reader must not kill the master

    auto nofile = raise_nofile_limit();
    spdlog::debug("RLIMIT_NOFILE is {}", nofile);
    if (auto why = check_nproc_fits(config.workers); !why.empty()) {
        spdlog::critical("{}", why);
        return kExitLimits;
    }
    Listeners listeners = open_listeners(config);
    if (!listeners.error.empty()) {
        spdlog::critical("{}", listeners.error);
        return kExitFailure;
    }
    // Once start-up's own calls (bind, /proc, setrlimit) are done, before any fork: RUNBOOK.md "Seccomp".
    if (!install_master_filter(config.seccomp)) return kExitFailure;
    return run_master({std::move(config), std::move(args), cpus, std::move(listeners)});
}

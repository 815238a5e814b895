// main.cpp: parse the configuration, check the limits, block the signals, open the listeners, bind the
// worker's body and run the master.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/exit_codes.hpp"
#include "base/log.hpp"
#include "config/config.hpp"
#include "master/master.hpp"
#include "metrics/metrics_process.hpp"
#include "os/exec_helper.hpp"
#include "os/listener.hpp"
#include "os/privileges.hpp"
#include "os/rlimits.hpp"
#include "os/seccomp_filter.hpp"
#include "os/signals.hpp"
#include "version.hpp"
#include "worker/worker.hpp"

namespace {

// CPUs this process may run on (affinity, cpusets), not merely the CPUs the machine has.
unsigned usable_cpus() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return static_cast<unsigned>(CPU_COUNT(&set));
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<unsigned>(n) : 1;
}

// Started by an upgrade (R61): the channel to the master this one replaces, named by ECHO_UPGRADE_FD (and
// unset, so no child sees it). Anything but an inherited socket there is ignored: a plain start.
echo::UniqueFd take_upgrade_channel() {
    const char* value = std::getenv(echo::kUpgradeFdVariable);
    if (value == nullptr) return {};
    char* end = nullptr;
    long fd = std::strtol(value, &end, 10);
    unsetenv(echo::kUpgradeFdVariable);
    struct stat st {};
    if (end == value || *end != '\0' || fd < 3 || fd > 65535 || fstat(static_cast<int>(fd), &st) < 0 ||
        !S_ISSOCK(st.st_mode)) {
        spdlog::warn("{}={} is not an inherited socket; starting as usual", echo::kUpgradeFdVariable, value);
        return {};
    }
    (void)fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);  // EBADF only, excluded by fstat() above
    return echo::UniqueFd(static_cast<int>(fd));
}

}  // namespace

int main(int argc, char** argv) {
    using namespace echo;
    const std::vector<std::string> args(argv + 1, argv + argc);
    const unsigned cpus = usable_cpus();
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
    setup_logging(config.log_level);

    // Blocked before anything can fork and for the whole life of the master: every signal it handles is read
    // from the signalfd, never delivered to a handler (R10).
    ScopedSignalBlock blocked(master_signals());
    // A write to a vanished notify socket or stderr reader must not kill the master.
    signal(SIGPIPE, SIG_IGN);

    auto nofile = raise_nofile_limit();
    spdlog::debug("RLIMIT_NOFILE is {}", nofile);
    if (auto why = check_nproc_fits(config.workers); !why.empty()) {
        spdlog::critical("{}", why);
        return kExitLimits;
    }
    UniqueFd predecessor = take_upgrade_channel();
    // Who to become when started as root (R99): settled before anything is bound, a missing user is exit 2.
    const DropPlan drop = plan_drop(config);
    if (drop.exit_code >= 0) return drop.exit_code;
    auto listeners =
        open_listeners(config.listen, config.proxy_listen, config.metrics_listen, config.proxy_protocol);
    if (!listeners.ok()) return kExitFailure;  // open_listeners() said which address and why
    // Once start-up's own calls (bind, /proc, setrlimit) are done, before any fork: RUNBOOK.md "Seccomp".
    const SeccompMode seccomp = config.seccomp;
    // The workers' shared connection counts (RUNBOOK.md "Even load across workers"): mapped before any fork.
    // Without it the workers still serve, each accepting as if alone.
    auto board = LoadBoard::create();
    if (!board.ok())
        spdlog::warn("mmap() of the load board failed: {}; workers will not balance, ignoring",
                     errno_text(board.error()));
    LoadBoard* shared_board = board.ok() ? &board.value() : nullptr;
    // Both need an open() the filter refuses (read-write) or a file it is better read once (docs/MEMORY.md).
    OomScore oom_score = OomScore::open();
    OomKillCounter oom_kills = OomKillCounter::open();
    // Root is needed no more once the sockets are open: started as root, the master becomes an unprivileged
    // user here, before its filter, so no filter admits setuid (R99, docs/PRIVILEGES.md).
    const bool metrics = listeners->metrics.has_value() && shared_board != nullptr;
    // The exec helper (R61) runs as the user the master runs as, before Landlock and the filter, which its
    // children would inherit and which admit no execve() (docs/UPGRADE.md).
    ExecHelper exec_helper;
    auto fork_exec_helper = [&] { exec_helper = ExecHelper::start(argc, argv); };
    Unprivileged unprivileged;
    if (drop.to)
        unprivileged = become_unprivileged(*drop.to, config, metrics, fork_exec_helper);
    else
        fork_exec_helper();
    if (unprivileged.exit_code >= 0) return unprivileged.exit_code;
    if (!install_master_filter(seccomp)) return kExitFailure;

    // What a worker is handed at its fork: the listening sockets (shared by every worker, borrowed from the
    // master, which keeps them open for the life of any worker) and the seccomp mode fixed above.
    std::vector<int> listen_fds;
    std::vector<int> proxy_fds;  // those of them whose connections start with a PROXY header (R90)
    for (const auto& l : listeners->sockets) {
        listen_fds.push_back(l.fd.get());
        if (l.proxy) proxy_fds.push_back(l.fd.get());
    }
    const pid_t master_pid = getpid();
    const bool landlock = unprivileged.confine_children;
    // Only a service manager keeps what a stop parks (R62): without one, --fd-store changes nothing.
    const bool under_systemd = std::getenv("NOTIFY_SOCKET") != nullptr;
    WorkerBody worker_body = [listen_fds, proxy_fds, seccomp, landlock, master_pid, shared_board,
                              under_systemd](const Config& current, unsigned slot, unsigned generation,
                                             std::optional<std::uint32_t> entry, UniqueFd channel) {
        WorkerSettings settings = worker_settings(current, seccomp);
        settings.landlock = landlock;
        settings.park_on_stop = under_systemd && current.fd_store > 0;
        return run_worker(settings, WorkerStart{slot, generation, std::move(channel), master_pid, listen_fds,
                                                shared_board, entry, proxy_fds});
    };
    ConfigReload reload = [args, cpus] { return parse_config(args, process_environment(), cpus); };
    // The metrics process (R81): only when asked for, and only with the board it reads.
    MetricsBody metrics_body;
    if (listeners->metrics && shared_board == nullptr)
        spdlog::warn("no metrics page: the board it reads could not be mapped");
    if (metrics) {
        spdlog::info("metrics at http://{}/metrics", listeners->metrics->name);
        metrics_body = [fd = listeners->metrics->fd.get(), shared_board, seccomp,
                        master_pid](UniqueFd channel) {
            return run_metrics({fd, shared_board, master_pid, seccomp, std::move(channel)});
        };
    }
    return run_master({std::move(config), std::move(listeners).value(), std::move(worker_body), shared_board,
                       std::move(reload), std::move(metrics_body), std::move(oom_score), std::move(oom_kills),
                       std::move(exec_helper), std::move(predecessor)});
}

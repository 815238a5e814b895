// worker.cpp: a worker's start: the settings it takes from the configuration, and its set-up after fork().
#include "worker/worker.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>

#include "base/exit_codes.hpp"
#include "base/log.hpp"
#include "os/fd_util.hpp"
#include "os/landlock.hpp"
#include "os/seccomp_filter.hpp"
#include "os/signals.hpp"
#include "worker/worker_loop.hpp"

namespace echo {

WorkerSettings worker_settings(const Config& config, SeccompMode seccomp) {
    WorkerSettings s;
    s.max_connections = config.max_connections;
    s.idle_timeout = config.idle_timeout;
    s.drain_timeout = config.drain_timeout;
    // A third of --worker-timeout, so two lost or late heartbeats are not yet a verdict; at most a second, so
    // the master's figures (STATUS=, SIGUSR1) stay fresh; at least 100 ms, so a tiny timeout cannot spin.
    Duration third = config.worker_timeout / 3;
    s.heartbeat_interval = third == Duration::zero() || third > seconds(1)
                               ? seconds(1)
                               : std::max<Duration>(third, milliseconds(100));
    s.buffer_size = config.buffer_size;
    s.proxy_timeout = config.proxy_timeout;
    if (config.zombie_mode) s.lifetime = config.zombie_worker_lifetime;
    s.seccomp = seccomp;
    return s;
}

int run_worker(const WorkerSettings& settings, WorkerStart start) {
    // Only the stop signals are read; the master's other signals mean nothing to a worker and must not
    // stop or kill it if they reach the whole process group (a terminal's ^C does, a `kill -HUP -PGID` may).
    reset_signals_in_child(make_sigset({SIGTERM, SIGINT, SIGQUIT}));
    for (int s : {SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGPIPE})
        (void)signal(s, SIG_IGN);  // fails only for an invalid signal number or SIGKILL/SIGSTOP

    // Die with the master (RUNBOOK.md "Signals"). The parent may already have died between fork() and
    // prctl(), in which case the signal will never come: check the parent after setting it, as the man page
    // advises.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != start.master_pid) return 1;

    enter_worker_logging(start.slot, start.generation);
    // The master's signalfd, timerfd and epoll, and the other workers' channels, go (docs/ARCHITECTURE.md
    // "Signals across fork"); the journal socket libsystemd opened in the master stays (RUNBOOK.md "Journal
    // records").
    std::vector<int> keep = start.listen_fds;
    keep.push_back(start.channel.get());
    keep.push_back(journal_socket_fd());  // -1 when there is none: close_inherited_fds() skips it
    if (int r = close_inherited_fds(keep); r < 0) {
        spdlog::error("close_range() failed while closing the master's descriptors: {}", errno_text(r));
        return 1;
    }

    auto epoll = Epoll::open();
    auto signals = SignalFd::open(make_sigset({SIGTERM, SIGINT, SIGQUIT}));
    auto timer = TimerFd::open();
    for (int r : {epoll.error(), signals.error(), timer.error()}) {
        if (r == 0) continue;
        spdlog::error("cannot create the worker's event sources: {}", errno_text(r));
        return 1;  // EMFILE/ENOMEM are transient: let the master retry with back-off
    }
    // The master's ruleset still lets it read its config file's directory (and /proc for the metrics
    // process): a worker needs neither (docs/PRIVILEGES.md "The workers").
    if (settings.landlock) {
        auto landlock = confine_file_system({});
        if (!landlock.in_force) {
            spdlog::critical("cannot confine the worker's file system with Landlock: {}", landlock.why);
            return kWorkerExitFatal;
        }
        spdlog::debug("Landlock in force (ABI {}): this worker can open no file", landlock.abi);
    }
    if (!install_worker_filter(settings.seccomp)) return kWorkerExitFatal;
    WorkerLoop loop(settings, std::move(start), std::move(epoll).value(), std::move(signals).value(),
                    std::move(timer).value());
    return loop.run();
}

}  // namespace echo

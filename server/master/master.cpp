// master.cpp: the master's loop. Handlers read their source and record facts; decide() is the one place that
// compares what is with what should be and acts (spawn, retire, announce). RUNBOOK.md "The master" has the
// state and signal tables.
#include "master/master.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "base/exit_codes.hpp"
#include "base/log.hpp"
#include "master/backoff.hpp"
#include "master/notifier.hpp"
#include "master/worker_table.hpp"
#include "os/epoll.hpp"
#include "os/reaper.hpp"
#include "os/spawn.hpp"
#include "os/timer_fd.hpp"

namespace echo {

sigset_t master_signals() {
    return make_sigset({SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU});
}

namespace {

enum class Source : std::uint32_t { Signal = 1, Timer, Channel };
std::uint64_t token(Source s, int fd) {
    return (std::uint64_t(s) << 32) | static_cast<std::uint32_t>(fd);
}

// A worker that lived this long was not crash-looping: its death is replaced at once (s6-supervise's rule).
constexpr Duration kStableRun = seconds(1);
constexpr unsigned kCrashLoopThreshold = 3;
constexpr Duration kStopGrace = seconds(2);       // after --drain-timeout, before SIGKILL
constexpr Duration kFastStopGrace = seconds(2);   // after SIGQUIT, before SIGKILL
constexpr Duration kStatusInterval = seconds(1);  // STATUS= at most this often
constexpr Duration kStallTolerance = seconds(1);  // a timer this late means the master itself was not running

std::string human_bytes(std::uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) {
        value /= 1024;
        ++unit;
    }
    return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

class Master {
  public:
    Master(MasterSetup setup, Epoll epoll, SignalFd signals, TimerFd timer)
        : config_(std::move(setup.config)),
          args_(std::move(setup.args)),
          default_workers_(setup.default_workers),
          listeners_(std::move(setup.listeners.sockets)),
          from_systemd_(setup.listeners.from_systemd),
          epoll_(std::move(epoll)),
          signals_(std::move(signals)),
          timer_(std::move(timer)),
          target_(config_.workers) {
        for (auto& l : listeners_)
            listen_fds_.push_back(l.fd.get());
        slots_.resize(target_);
    }

    int run();

  private:
    enum class State { Starting, Running, Reloading, Draining, Stopping };
    static std::string_view state_name(State s);
    bool stopping() const { return state_ == State::Draining || state_ == State::Stopping; }
    bool not_reaping() const { return config_.zombie_mode && !stopping(); }

    // Handlers: read a source, record what happened.
    void on_signals(TimePoint now);
    void on_signal(int signo, TimePoint now);
    void on_timer(TimePoint now);
    void on_channel(int fd, std::uint32_t events, TimePoint now);
    void on_worker_exit(const ChildExit& exit, TimePoint now);
    void on_worker_gone_unreaped(WorkerProcess& w, TimePoint now);
    void count_totals_of_exited(const WorkerProcess& w);

    // The one place that decides.
    void decide(TimePoint now);
    void advance_reload(TimePoint now);

    // Actions.
    void reap(TimePoint now);
    bool spawn_into(unsigned slot, TimePoint now);
    void retire(WorkerProcess& w, const char* why);
    void schedule_respawn(const WorkerProcess& w, int status, TimePoint now);
    void begin_stop(bool graceful, int signo, TimePoint now);
    void begin_reload(TimePoint now);
    void scale(int delta, int signo);
    void check_heartbeats(TimePoint now);
    void kill_stragglers();
    void drain_channel(WorkerProcess& w, TimePoint now);
    void log_accepting(const WorkerProcess& w, TimePoint now);
    void forget_channel(WorkerProcess& w);
    void log_status_table(TimePoint now);
    std::string status_line() const;
    void publish_status(TimePoint now, bool force);
    void arm_timer();

    Config config_;
    std::vector<std::string> args_;
    unsigned default_workers_;
    std::vector<Listener> listeners_;
    std::vector<int> listen_fds_;
    bool from_systemd_;
    Epoll epoll_;
    SignalFd signals_;
    TimerFd timer_;
    Notifier notifier_;

    WorkerTable table_;
    std::vector<SlotState> slots_;
    unsigned target_;
    unsigned generation_ = 0;
    State state_ = State::Starting;
    bool done_ = false;
    int failure_exit_ = 0;
    bool stragglers_killed_ = false;
    std::optional<TimePoint> kill_deadline_;
    std::optional<TimePoint> next_watchdog_;
    std::optional<TimePoint> expected_wake_;
    TimePoint next_status_{};
    bool status_pending_ = false;  // a STATUS= change held back by kStatusInterval
    std::vector<pid_t> zombies_;   // zombie mode: workers known dead and deliberately not reaped

    std::uint64_t restarts_ = 0;
    std::uint64_t accepted_by_exited_ = 0;  // totals of workers that are gone, so the figures never go back
    std::uint64_t bytes_by_exited_ = 0;
};

std::string_view Master::state_name(State s) {
    switch (s) {
        case State::Starting:
            return "starting";
        case State::Running:
            return "running";
        case State::Reloading:
            return "reloading";
        case State::Draining:
            return "draining";
        case State::Stopping:
            return "stopping";
    }
    return "?";
}

int Master::run() {
    if (epoll_.add(signals_.fd(), EPOLLIN, token(Source::Signal, 0)) < 0 ||
        epoll_.add(timer_.fd(), EPOLLIN, token(Source::Timer, 0)) < 0) {
        spdlog::critical("epoll_ctl() failed while setting up the master: {}", errno_text(errno));
        return kExitFailure;
    }
    for (const auto& l : listeners_)
        spdlog::info("listening on {}{}", l.name, from_systemd_ ? " (passed by systemd)" : "");
    if (config_.zombie_mode)
        spdlog::warn("zombie mode: exited workers will NOT be reaped (a demonstration; SIGUSR2 reaps them)");
    TimePoint now = Clock::now();
    if (auto interval = notifier_.watchdog_interval()) next_watchdog_ = now;
    spdlog::info("starting {} worker(s)", target_);

    std::array<epoll_event, 64> events;
    decide(now);
    while (!done_) {
        arm_timer();
        int n = epoll_.wait(events);
        if (n < 0) {
            spdlog::critical("epoll_wait() failed in the master: {}", errno_text(n));
            return kExitFailure;
        }
        now = Clock::now();
        if (expected_wake_ && now > *expected_wake_ + kStallTolerance) {
            // The master was stopped (SIGSTOP, a debugger) or starved: its workers' heartbeats went unread.
            // Judging them on that gap would mass-kill healthy workers (RUNBOOK.md "Hung workers").
            spdlog::warn("master loop stalled for {:.1f}s; restarting every worker's heartbeat window",
                         to_seconds(now - *expected_wake_));
            for (auto& w : table_.all())
                w.last_heartbeat = std::max(w.last_heartbeat, now);
        }
        for (int i = 0; i < n; ++i) {
            const auto& ev = events[static_cast<std::size_t>(i)];
            switch (static_cast<Source>(ev.data.u64 >> 32)) {
                case Source::Signal:
                    on_signals(now);
                    break;
                case Source::Timer:
                    on_timer(now);
                    break;
                case Source::Channel:
                    on_channel(static_cast<int>(ev.data.u64 & 0xffffffffu), ev.events, now);
                    break;
            }
        }
        decide(now);
    }
    int code = failure_exit_ != 0 ? failure_exit_ : stragglers_killed_ ? kExitStragglersKilled : kExitOk;
    spdlog::info("master exiting with status {}", code);
    return code;
}

// ---- handlers ------------------------------------------------------------------------------------------

void Master::on_signals(TimePoint now) {
    for (;;) {
        int signo = signals_.read_one();
        if (signo == 0) return;
        if (signo < 0) {
            spdlog::error("read() from the signalfd failed: {}", errno_text(signo));
            return;
        }
        on_signal(signo, now);
    }
}

void Master::on_signal(int signo, TimePoint now) {
    switch (signo) {
        case SIGCHLD:
            if (not_reaping())
                spdlog::debug("SIGCHLD: not reaping (zombie mode)");
            else
                reap(now);
            break;
        case SIGTERM:
        case SIGINT:
            if (state_ == State::Draining && signo == SIGINT)
                begin_stop(false, signo, now);  // a second ^C: the operator does not want to wait
            else if (stopping())
                spdlog::info("{}: already {}", signal_name(signo), state_name(state_));
            else
                begin_stop(true, signo, now);
            break;
        case SIGQUIT:
            if (state_ != State::Stopping) begin_stop(false, signo, now);
            break;
        case SIGHUP:
            if (stopping())
                spdlog::info("SIGHUP: ignored while {}", state_name(state_));
            else
                begin_reload(now);
            break;
        case SIGTTIN:
            scale(+1, signo);
            break;
        case SIGTTOU:
            scale(-1, signo);
            break;
        case SIGUSR1:
            log_status_table(now);
            break;
        case SIGUSR2: {
            auto before = zombies_.size();
            reap(now);
            spdlog::info("SIGUSR2: reaped {} zombie(s)", before - zombies_.size());
            break;
        }
        default:
            spdlog::debug("{}: not handled", signal_name(signo));
            break;
    }
}

void Master::on_timer(TimePoint now) {
    timer_.acknowledge();
    if (kill_deadline_ && now >= *kill_deadline_) kill_stragglers();
    check_heartbeats(now);
    if (next_watchdog_ && now >= *next_watchdog_) {
        // Sent from the loop itself: a master wedged anywhere stops sending and systemd restarts it (R31).
        notifier_.watchdog();
        next_watchdog_ = now + *notifier_.watchdog_interval();
    }
}

void Master::on_channel(int fd, std::uint32_t events, TimePoint now) {
    WorkerProcess* w = table_.by_channel(fd);
    if (w == nullptr) return;
    drain_channel(*w, now);
    if (w->channel.valid() && (events & (EPOLLHUP | EPOLLERR))) {
        forget_channel(*w);
        if (not_reaping()) on_worker_gone_unreaped(*w, now);
        // Otherwise the reaper reports the exit, with its status, on the SIGCHLD that is on its way.
    }
}

void Master::drain_channel(WorkerProcess& w, TimePoint now) {
    while (w.channel.valid()) {
        WorkerReport report;
        ssize_t n = ::recv(w.channel.get(), &report, sizeof report, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n != static_cast<ssize_t>(sizeof report)) return;  // 0: EOF, handled by the HUP that follows
        w.last_heartbeat = now;
        w.last_report = report;
        if (report.kind == WorkerReport::Kind::Ready && w.phase == WorkerPhase::Starting) {
            w.phase = WorkerPhase::Serving;
            log_accepting(w, now);
        }
    }
}

void Master::log_accepting(const WorkerProcess& w, TimePoint now) {
    auto& down_since = slots_[w.slot].down_since;
    if (!down_since) {
        spdlog::debug("worker {} (pid {}) is accepting", w.slot, w.pid);
        return;
    }
    // How long a crash took capacity away, back-off included: the figure an operator wants after a kill
    // (RUNBOOK.md "Reliability").
    spdlog::info(
        "worker {} (pid {}) is accepting: the slot was empty for {:.1f} ms after its last worker died",
        w.slot, w.pid, to_seconds(now - *down_since) * 1000.0);
    down_since.reset();
}

void Master::forget_channel(WorkerProcess& w) {
    // Removed explicitly: a child forked a moment ago may still hold a copy of this fd, and an epoll
    // registration lives as long as any copy does.
    epoll_.remove(w.channel.get());
    w.channel.reset();
}

void Master::on_worker_exit(const ChildExit& exit, TimePoint now) {
    if (auto z = std::find(zombies_.begin(), zombies_.end(), exit.pid); z != zombies_.end()) {
        zombies_.erase(z);
        spdlog::info("reaped zombie pid {}: {}", exit.pid, describe_exit(exit.status));
        return;
    }
    auto w = table_.take(exit.pid);
    if (!w) {
        spdlog::info("reaped child pid {} that was not a worker: {}", exit.pid, describe_exit(exit.status));
        return;
    }
    if (w->channel.valid()) {
        drain_channel(*w, now);  // its last report still counts towards the totals
        forget_channel(*w);
    }
    count_totals_of_exited(*w);
    bool expected = w->phase == WorkerPhase::Retiring || stopping();
    auto level = expected ? spdlog::level::info : spdlog::level::warn;
    spdlog::log(level, "worker {} (pid {}) {}{}", w->slot, w->pid, describe_exit(exit.status),
                w->killed_as_hung ? " (killed as hung)"
                : expected        ? ""
                                  : " unexpectedly");
    if (WIFSIGNALED(exit.status) && WTERMSIG(exit.status) == SIGSYS)
        spdlog::error(
            "worker {} made a system call outside seccomp/policy.txt: the kernel's audit line names it "
            "(journalctl -k: type=1326 ... syscall=N); RUNBOOK.md \"Seccomp\"",
            w->slot);
    if (!expected) schedule_respawn(*w, exit.status, now);
}

void Master::count_totals_of_exited(const WorkerProcess& w) {
    // The status line's totals cover the whole life of the master, not only the workers alive now.
    accepted_by_exited_ += w.last_report.connections_accepted;
    bytes_by_exited_ += w.last_report.bytes_echoed;
}

void Master::on_worker_gone_unreaped(WorkerProcess& w, TimePoint now) {
    spdlog::warn("worker {} (pid {}) is gone and NOT reaped (zombie mode): it stays <defunct>", w.slot,
                 w.pid);
    zombies_.push_back(w.pid);
    auto gone = *table_.take(w.pid);
    count_totals_of_exited(gone);
    if (gone.phase != WorkerPhase::Retiring) schedule_respawn(gone, -1, now);
}

// ---- decisions -----------------------------------------------------------------------------------------

void Master::decide(TimePoint now) {
    if (stopping()) {
        if (table_.size() == 0 && zombies_.empty()) done_ = true;
        publish_status(now, false);
        return;
    }
    for (unsigned slot = 0; slot < target_; ++slot) {
        const SlotState& s = slots_[slot];
        if (s.fatal || table_.active_in_slot(slot) || (s.respawn_after && now < *s.respawn_after)) continue;
        spawn_into(slot, now);
    }
    for (auto& w : table_.all())
        if (w.slot >= target_ && w.phase != WorkerPhase::Retiring) retire(w, "scaling down");
    if (state_ == State::Reloading) advance_reload(now);

    bool all_serving = true, any_alive = false;
    for (unsigned slot = 0; slot < target_; ++slot) {
        WorkerProcess* w = table_.active_in_slot(slot);
        any_alive = any_alive || w != nullptr;
        if (!slots_[slot].fatal && (w == nullptr || w->phase != WorkerPhase::Serving)) all_serving = false;
    }
    if (!any_alive &&
        std::all_of(slots_.begin(), slots_.begin() + target_, [](auto& s) { return s.fatal; })) {
        spdlog::critical("every worker failed with a fatal start-up error; exiting");
        failure_exit_ = kExitFailure;
        begin_stop(false, 0, now);
        return;
    }
    if (state_ == State::Starting && all_serving) {
        state_ = State::Running;
        spdlog::info("ready: {} worker{} accepting on {}", target_, target_ == 1 ? "" : "s",
                     describe(listeners_));
        publish_status(now, true);
        notifier_.ready();
        return;
    }
    publish_status(now, false);
}

void Master::advance_reload(TimePoint now) {
    // One slot at a time: start the new worker beside the old, retire the old once the new one accepts.
    // The slot never stops accepting, so neither does the service (R15). A SIGHUP during a reload bumps the
    // generation again, so a slot may hold several outdated workers: all of them go once its new one serves.
    for (unsigned slot = 0; slot < target_; ++slot) {
        auto outdated = [&](const WorkerProcess& w) {
            return w.slot == slot && w.phase != WorkerPhase::Retiring && w.generation != generation_;
        };
        if (std::none_of(table_.all().begin(), table_.all().end(), outdated)) continue;
        WorkerProcess* fresh = table_.active_in_slot(slot, generation_);
        if (fresh == nullptr) {
            const SlotState& s = slots_[slot];
            if (!s.fatal && !(s.respawn_after && now < *s.respawn_after)) spawn_into(slot, now);
            return;
        }
        if (fresh->phase != WorkerPhase::Serving) return;
        for (auto& w : table_.all())
            if (outdated(w)) retire(w, "replaced by reload");
    }
    state_ = State::Running;
    spdlog::info("reload complete: {} worker(s) of generation {}", target_, generation_);
    publish_status(now, true);
    notifier_.ready();
}

// ---- actions -------------------------------------------------------------------------------------------

void Master::reap(TimePoint now) {
    for (const auto& exit : reap_exited_children())
        on_worker_exit(exit, now);
}

bool Master::spawn_into(unsigned slot, TimePoint now) {
    SpawnedWorker spawned = spawn_worker(slot, config_, listen_fds_);
    SlotState& s = slots_[slot];
    if (spawned.pid < 0) {
        ++s.quick_exits;
        Duration delay = std::max(backoff_delay(s.quick_exits), kBackoffBase);
        s.respawn_after = now + delay;
        std::string zombie_note =
            zombies_.empty()
                ? ""
                : fmt::format(" ({} unreaped zombie(s) count against RLIMIT_NPROC; SIGUSR2 reaps them)",
                              zombies_.size());
        spdlog::error("fork() failed while spawning worker {}: {}; retrying in {:.1f}s{}", slot,
                      errno_text(spawned.error), to_seconds(delay), zombie_note);
        return false;
    }
    if (int r = epoll_.add(spawned.channel.get(), EPOLLIN, token(Source::Channel, spawned.channel.get()));
        r < 0)
        spdlog::error("epoll_ctl() failed for worker {}'s channel: {}; its heartbeats will not be seen", slot,
                      errno_text(r));
    WorkerProcess w;
    w.pid = spawned.pid;
    w.slot = slot;
    w.generation = generation_;
    w.started_at = w.last_heartbeat = now;
    w.channel = std::move(spawned.channel);
    spdlog::info("started worker {} (pid {})", slot, w.pid);
    table_.add(std::move(w));
    return true;
}

void Master::retire(WorkerProcess& w, const char* why) {
    spdlog::info("retiring worker {} (pid {}): {}", w.slot, w.pid, why);
    w.phase = WorkerPhase::Retiring;
    // ESRCH: it died already; its exit is on the way through SIGCHLD. Nothing else can fail here.
    (void)kill(w.pid, SIGTERM);
}

void Master::schedule_respawn(const WorkerProcess& w, int status, TimePoint now) {
    ++restarts_;
    if (w.slot >= target_) return;
    SlotState& s = slots_[w.slot];
    if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == kWorkerExitFatal) {
        s.fatal = true;
        spdlog::error(
            "worker {} failed at start-up in a way a restart cannot fix (status {}); not restarting it",
            w.slot, kWorkerExitFatal);
        return;
    }
    Duration lived = now - w.started_at;
    bool planned = config_.zombie_mode && config_.zombie_worker_lifetime > Duration::zero() &&
                   lived + milliseconds(100) >= config_.zombie_worker_lifetime;
    if (lived >= kStableRun || planned) s.quick_exits = 0;
    ++s.quick_exits;
    Duration delay = backoff_delay(s.quick_exits);
    s.respawn_after = now + delay;
    if (!s.down_since) s.down_since = now;
    if (s.quick_exits >= kCrashLoopThreshold)
        spdlog::error(
            "worker {} is crash-looping: {} exits in a row within {:.1f}s of starting; next start in {:.1f}s",
            w.slot, s.quick_exits, to_seconds(kStableRun), to_seconds(delay));
}

void Master::begin_stop(bool graceful, int signo, TimePoint now) {
    Duration grace = graceful ? config_.drain_timeout + kStopGrace : kFastStopGrace;
    if (signo != 0)
        spdlog::info(
            "{}: {} stop of {} worker(s){}", signal_name(signo), graceful ? "graceful" : "fast",
            table_.size(),
            graceful ? fmt::format(", draining for at most {:.1f}s", to_seconds(config_.drain_timeout)) : "");
    state_ = graceful ? State::Draining : State::Stopping;
    // The master's copies of the listening sockets go first, so the workers' closing is the last word.
    listeners_.clear();
    listen_fds_.clear();
    for (auto& w : table_.all()) {
        w.phase = WorkerPhase::Retiring;
        (void)kill(w.pid, graceful ? SIGTERM : SIGQUIT);  // ESRCH: already dead, reaped soon
    }
    if (!zombies_.empty()) {
        spdlog::info("reaping {} zombie(s) before exiting", zombies_.size());
        reap(now);
    }
    TimePoint deadline = now + grace;
    kill_deadline_ = kill_deadline_ ? std::min(*kill_deadline_, deadline) : deadline;
    notifier_.stopping(grace + seconds(1));
    publish_status(now, true);
}

void Master::begin_reload(TimePoint now) {
    notifier_.reloading();
    ParsedConfig parsed = parse_config(args_, process_environment(), default_workers_);
    if (!parsed.error.empty()) {
        spdlog::error("SIGHUP: reload failed: {}; keeping the current configuration", parsed.error);
        notifier_.ready();
        return;
    }
    Config next = std::move(parsed.config);
    bool listen_changed =
        next.listen.size() != config_.listen.size() ||
        !std::equal(next.listen.begin(), next.listen.end(), config_.listen.begin(),
                    [](auto& a, auto& b) { return format_address(a) == format_address(b); });
    if (listen_changed && !from_systemd_)
        spdlog::warn("SIGHUP: a change of --listen needs a restart, ignoring it");
    next.listen = config_.listen;
    config_ = std::move(next);
    set_log_level(config_.log_level);
    target_ = config_.workers;
    slots_.assign(std::max<std::size_t>(slots_.size(), target_), SlotState{});  // a reload is a fresh start
    ++generation_;
    state_ = State::Reloading;
    spdlog::info("SIGHUP: reloading: replacing {} worker(s) one by one (generation {})", target_,
                 generation_);
    publish_status(now, true);
}

void Master::scale(int delta, int signo) {
    if (stopping()) return;
    unsigned next = static_cast<unsigned>(
        std::clamp(static_cast<int>(target_) + delta, 1, static_cast<int>(bounds::kMaxWorkers)));
    if (next == target_) {
        spdlog::info("{}: already at {} worker(s), ignoring", signal_name(signo), target_);
        return;
    }
    spdlog::info("{}: {} workers -> {}", signal_name(signo), target_, next);
    target_ = next;
    if (slots_.size() < target_) slots_.resize(target_);
}

void Master::check_heartbeats(TimePoint now) {
    if (config_.worker_timeout == Duration::zero()) return;
    for (auto& w : table_.all()) {
        if (w.killed_as_hung || now - w.last_heartbeat < config_.worker_timeout) continue;
        drain_channel(w, now);  // reports may be queued: judge on them, not on when we last looked
        if (now - w.last_heartbeat < config_.worker_timeout) continue;
        spdlog::error(
            "worker {} (pid {}) sent no heartbeat for {:.1f}s (--worker-timeout {:.1f}s): killing it", w.slot,
            w.pid, to_seconds(now - w.last_heartbeat), to_seconds(config_.worker_timeout));
        w.killed_as_hung = true;
        (void)kill(w.pid, SIGKILL);  // SIGKILL also ends a SIGSTOPped process; ESRCH: already gone
    }
}

void Master::kill_stragglers() {
    kill_deadline_.reset();
    for (auto& w : table_.all()) {
        spdlog::error("worker {} (pid {}) outlived the stop deadline: sending SIGKILL", w.slot, w.pid);
        (void)kill(w.pid, SIGKILL);
        stragglers_killed_ = true;
    }
}

std::string Master::status_line() const {
    std::uint64_t open = 0, accepted = accepted_by_exited_, bytes = bytes_by_exited_;
    for (const auto& w : table_.all()) {
        open += w.last_report.connections_open;
        accepted += w.last_report.connections_accepted;
        bytes += w.last_report.bytes_echoed;
    }
    auto line =
        fmt::format("{}: {}/{} workers serving, {} connections open, {} served, {} echoed, {} restarts",
                    state_name(state_), table_.count(WorkerPhase::Serving), target_, open, accepted,
                    human_bytes(bytes), restarts_);
    if (!zombies_.empty()) line += fmt::format(", {} zombies", zombies_.size());
    return line;
}

void Master::publish_status(TimePoint now, bool force) {
    status_pending_ = !force && now < next_status_;
    if (status_pending_) return;
    notifier_.status(status_line());
    next_status_ = now + kStatusInterval;
}

void Master::log_status_table(TimePoint now) {
    spdlog::info("status: {}", status_line());
    for (const auto& w : table_.all()) {
        spdlog::info(
            "  worker {} pid {} gen {} {}: up {:.0f}s, {} open, {} served, {} echoed, heartbeat {:.1f}s ago",
            w.slot, w.pid, w.generation, phase_name(w.phase), to_seconds(now - w.started_at),
            w.last_report.connections_open, w.last_report.connections_accepted,
            human_bytes(w.last_report.bytes_echoed), to_seconds(now - w.last_heartbeat));
    }
    for (pid_t z : zombies_)
        spdlog::info("  zombie pid {} (not reaped: zombie mode)", z);
}

void Master::arm_timer() {
    std::optional<TimePoint> next;
    auto consider = [&](std::optional<TimePoint> t) {
        if (t && (!next || *t < *next)) next = t;
    };
    consider(kill_deadline_);
    consider(next_watchdog_);
    if (status_pending_) consider(next_status_);
    if (config_.worker_timeout > Duration::zero())
        for (const auto& w : table_.all())
            if (!w.killed_as_hung) consider(w.last_heartbeat + config_.worker_timeout);
    if (!stopping())
        for (unsigned slot = 0; slot < target_; ++slot)
            if (!slots_[slot].fatal && slots_[slot].respawn_after && !table_.active_in_slot(slot))
                consider(slots_[slot].respawn_after);
    expected_wake_ = next;
    if (int r = timer_.arm(next); r < 0)
        spdlog::error("timerfd_settime() failed in the master: {}", errno_text(r));
}

}  // namespace

int run_master(MasterSetup setup) {
    auto epoll = Epoll::open();
    if (!epoll) return spdlog::critical("epoll_create1() failed: {}", errno_text(errno)), kExitFailure;
    auto signals = SignalFd::open(master_signals());
    if (!signals) return spdlog::critical("signalfd() failed: {}", errno_text(errno)), kExitFailure;
    auto timer = TimerFd::open();
    if (!timer) return spdlog::critical("timerfd_create() failed: {}", errno_text(errno)), kExitFailure;
    Master master(std::move(setup), std::move(*epoll), std::move(*signals), std::move(*timer));
    return master.run();
}

}  // namespace echo
